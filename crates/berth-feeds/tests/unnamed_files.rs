//! Feeds stored under names that say nothing (`data`, a temporary download name): the
//! container is told from the bytes, so a downloaded feed parses exactly like the recorded
//! file it came from.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_feeds::{Limits, parse_path};

fn vulndata() -> PathBuf {
    let dir = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("vulndata");
    assert!(
        dir.is_dir(),
        "recorded feeds not found at {} (set BERTH_SHARED)",
        dir.display()
    );
    dir
}

fn first_with(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap()
}

#[test]
fn tarballs_zips_and_single_documents_are_recognized_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    // tar.gz (RustSec).
    let named = first_with(&vulndata().join("rustsec-advisory-db"), ".tar.gz");
    let unnamed = tmp.path().join("data");
    std::fs::copy(&named, &unnamed).unwrap();
    let a = parse_path("rustsec", &named, &limits).unwrap();
    let b = parse_path("rustsec", &unnamed, &limits).unwrap();
    assert_eq!(a.advisories, b.advisories);
    assert!(!a.advisories.is_empty());

    // zip (an OSV all.zip made of the recorded GHSA records).
    let records = vulndata().join("ghsa-npm-subset/records");
    let zip_path = tmp.path().join(".tmp-123-download");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        for e in std::fs::read_dir(&records).unwrap() {
            let e = e.unwrap();
            z.start_file(
                e.file_name().to_string_lossy(),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(&std::fs::read(e.path()).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }
    let from_zip = parse_path("ghsa", &zip_path, &limits).unwrap();
    let from_dir = parse_path("ghsa", &records, &limits).unwrap();
    assert_eq!(from_zip.advisories, from_dir.advisories);

    // A single gzip-compressed JSON document (NVD's and KEV's shape; here an OSV record).
    let one = first_with(&records, ".json");
    let gz = tmp.path().join("blob");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(&one).unwrap()).unwrap();
    enc.finish().unwrap();
    assert_eq!(
        parse_path("ghsa", &gz, &limits).unwrap().advisories.len(),
        1
    );
}
