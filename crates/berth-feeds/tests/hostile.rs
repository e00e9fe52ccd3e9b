//! Feeds are downloads: truncated, corrupted, malicious or simply not what was expected.
//! These tests check each failure ends as an error or a counted bad record, never a panic,
//! an unbounded read, or a silently empty database.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_feeds::{FeedError, Limits, Parsed, parse_file, parse_path};

fn vulndata() -> PathBuf {
    let shared = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("vulndata");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "recorded feeds missing at {}",
        dir.display()
    );
    dir
}

fn ghsa_record() -> Vec<u8> {
    std::fs::read(vulndata().join("ghsa-npm-subset/records/GHSA-35jh-r3h4-6jhm.json")).unwrap()
}

fn tar_gz(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn truncated_tar_gz_is_an_error() {
    let src = std::fs::read_dir(vulndata().join("alpine-secdb"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 10] {
        let path = dir.path().join("alpine-secdb.tar.gz");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = parse_path("alpine", &path, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, FeedError::Archive { .. }),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn zip_bomb_is_stopped_by_the_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("GHSA-35jh-r3h4-6jhm.json", opts).unwrap();
    zip.write_all(&ghsa_record()).unwrap();
    zip.start_file("GHSA-bomb-bomb-bomb.json", opts).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..32 {
        zip.write_all(&zeros).unwrap(); // 32 MiB of spaces deflate to ~32 KiB
    }
    zip.finish().unwrap();
    let err = parse_path("osv", &path, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            FeedError::Limit {
                what: "decompression ratio",
                ..
            }
        ),
        "{err}"
    );
    // The same archive is fine when the ratio allowed is generous and the size is not.
    let limits = Limits {
        max_ratio: 10_000,
        max_file: 8 << 20,
        ..Limits::default()
    };
    let err = parse_path("osv", &path, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            FeedError::Limit {
                what: "file size",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn gzip_bomb_in_a_tarball_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.tar.gz");
    let zeros = vec![0u8; 64 << 20];
    tar_gz(
        &path,
        &[
            ("vulns/x/PYSEC-0000-1.yaml", b"id: PYSEC-0000-1\n"),
            ("filler.bin", &zeros),
        ],
    );
    let err = parse_path("pypa", &path, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            FeedError::Limit {
                what: "decompression ratio",
                ..
            }
        ),
        "{err}"
    );
    let limits = Limits {
        max_total: 1 << 20,
        ..Limits::default()
    };
    let err = parse_path("pypa", &path, &limits).unwrap_err();
    assert!(matches!(err, FeedError::Limit { .. }), "{err}");
}

#[test]
fn too_many_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.tar.gz");
    let rec = ghsa_record();
    tar_gz(
        &path,
        &[
            ("a/GHSA-1.json", &rec),
            ("a/GHSA-2.json", &rec),
            ("a/GHSA-3.json", &rec),
        ],
    );
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let err = parse_path("ghsa", &path, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            FeedError::Limit {
                what: "entries",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn malformed_records_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let rec = ghsa_record();
    for (i, id) in [
        "GHSA-aaaa-aaaa-aaaa",
        "GHSA-bbbb-bbbb-bbbb",
        "GHSA-cccc-cccc-cccc",
    ]
    .iter()
    .enumerate()
    {
        let text = String::from_utf8(rec.clone())
            .unwrap()
            .replace("GHSA-35jh-r3h4-6jhm", id);
        std::fs::write(dir.path().join(format!("{i}.json")), text).unwrap();
    }
    std::fs::write(dir.path().join("broken.json"), &rec[..rec.len() / 2]).unwrap();
    std::fs::write(
        dir.path().join("wrong-types.json"),
        br#"{"id": "GHSA-x", "affected": "everything"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), b"# not a record").unwrap();
    let p = parse_path("ghsa", dir.path(), &Limits::default()).unwrap();
    assert_eq!(p.advisories.len(), 3);
    assert_eq!(p.malformed, 2);
    assert_eq!(p.files, 5);
    assert_eq!(p.errors.len(), 2);
    assert!(
        p.errors.iter().any(|e| e.contains("broken.json: ")),
        "{:?}",
        p.errors
    );
    assert!(
        p.errors.iter().any(|e| e.contains("wrong-types.json: ")),
        "{:?}",
        p.errors
    );

    // Mostly garbage: an error, not a database of three.
    for i in 0..4 {
        std::fs::write(dir.path().join(format!("junk{i}.json")), b"{\"id\": ").unwrap();
    }
    let err = parse_path("ghsa", dir.path(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            FeedError::MostlyMalformed {
                malformed: 6,
                records: 9,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for name in ["feed.bin", "feed.json", "feed.yaml", "feed.md", "feed.csv"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &garbage).unwrap();
        let err = parse_path("x", &path, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                FeedError::Nothing { .. }
                    | FeedError::MostlyMalformed { .. }
                    | FeedError::Parse { .. }
            ),
            "{name}: {err}"
        );
    }
    for name in ["feed.zip", "feed.tar.gz", "feed.tar.zst", "feed.json.gz"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &garbage).unwrap();
        let err = parse_path("x", &path, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, FeedError::Zip { .. } | FeedError::Archive { .. }),
            "{name}: {err}"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        parse_path("x", empty.path(), &Limits::default()),
        Err(FeedError::Nothing { .. })
    ));
    assert!(matches!(
        parse_path("x", &dir.path().join("missing"), &Limits::default()),
        Err(FeedError::Io { .. })
    ));
}

/// The pure core on arbitrary bytes under every name it classifies by: no panic, whatever
/// comes in (a smoke test; the fuzz targets go further).
#[test]
fn parse_file_never_panics() {
    let rec = ghsa_record();
    let names = [
        "x.json",
        "vulns/p/PYSEC-1.yaml",
        "crates/c/RUSTSEC-2020-0001.md",
        "vuln/npm/1.json",
        "v3.11/main.yaml",
        "epss.csv",
        "data/json",
        "x",
    ];
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"[1, {\"id\": 1}]".to_vec(),
        b"null".to_vec(),
        b"```toml\n[advisory]\nid = 1\n```".to_vec(),
        b"```toml\n".to_vec(),
        b"distroversion: v3.1\npackages:\n  - pkg: {name: a, secfixes: {1: [1, null, [x]]}}\n".to_vec(),
        b"id: X\naffected: [{package: {ecosystem: PyPI, name: a}, ranges: [{type: ECOSYSTEM, events: [{}]}]}]\n".to_vec(),
        "#model_version\ncve,epss,percentile\nCVE-1,\u{0},2\n".as_bytes().to_vec(),
        b"{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"open\"}}}}}".to_vec(),
        b"{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_vex\"}, \"vulnerabilities\": [{\"cve\": \"CVE-1\", \"product_status\": {\"fixed\": [\"a:b\"]}}], \"product_tree\": {\"relationships\": [{\"category\": \"default_component_of\", \"full_product_name\": {\"product_id\": \"a:b\"}, \"product_reference\": \"b\", \"relates_to_product_reference\": \"a\"}]}}".to_vec(),
        "\u{feff}{\"id\": \"é\"}".as_bytes().to_vec(),
        "a: &a [*a]\n".as_bytes().to_vec(),
        "a: ".repeat(10_000).into_bytes(),
        "[".repeat(100_000).into_bytes(),
    ];
    for cut in [1, 7, 100, rec.len() / 3, rec.len() - 1] {
        inputs.push(rec[..cut].to_vec());
    }
    for input in &inputs {
        for name in names {
            let mut out = Parsed::default();
            let _ = parse_file("x", name, input, &mut out);
        }
    }
}

#[test]
fn repository_noise_is_not_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vulndb.tar.gz");
    let go = std::fs::read_dir(vulndata().join("go-vulndb"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // One real Go record, out of the recorded tarball.
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(go).unwrap(),
    ));
    let mut record = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("GO-2023-1840.json") {
            std::io::Read::read_to_end(&mut e, &mut record).unwrap();
            break;
        }
    }
    assert!(!record.is_empty());
    tar_gz(
        &path,
        &[
            ("vulndb/README.md", b"# Go vulnerability database\n"),
            ("vulndb/.github/workflows/ci.yaml", b"name: ci\non: push\njobs: {}\n"),
            ("vulndb/data/reports/GO-2023-1840.yaml", b"id: GO-2023-1840\nmodules:\n  - module: std\n    versions:\n      - fixed: 1.19.10\n"),
            ("vulndb/data/osv/GO-2023-1840.json", &record),
            ("vulndb/index/db.json", b"{\"modified\": \"2026-08-21T00:00:00Z\"}"),
            ("vulndb/index/vulns.json", b"[{\"id\": \"GO-2023-1840\", \"modified\": \"2026-08-21T00:00:00Z\", \"aliases\": []}]"),
            ("vulndb/schema/osv.schema.json", b"{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"id\": \"x\", \"details\": 1}"),
            ("vulndb/data/osv/GO-2023-1840.json.gz.sig", b"not read"),
        ],
    );
    let p = parse_path("go", &path, &Limits::default()).unwrap();
    assert_eq!(p.files, 1);
    assert_eq!(p.malformed, 0, "{:?}", p.errors);
    assert_eq!(p.advisories.len(), 1);
    assert_eq!(p.advisories[0].id, "GO-2023-1840");
}
