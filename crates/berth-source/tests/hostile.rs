//! Hostile and broken input: every case is a clean, specific error, never a panic, a hang
//! or an unbounded read. OCI layouts are written by hand (blobs named by their real sha256,
//! except where the point is that they are not); archives are made with GNU tar, including
//! `tar -P`, which keeps `..` in member names as a path-traversal archive would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_source::{Options, SourceError};
use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn sha256(b: &[u8]) -> String {
    let h = sha2::Sha256::digest(b);
    format!(
        "sha256:{}",
        h.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// A hand-written OCI layout in a temporary folder.
struct Layout {
    tmp: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            tmp.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout { tmp }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Stores `bytes` under their digest; returns a descriptor for them.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let d = sha256(bytes);
        std::fs::write(blob_path(self.dir(), &d), bytes).unwrap();
        json!({"mediaType": media_type, "digest": d, "size": bytes.len()})
    }

    /// Stores `bytes` under `digest`, whatever they hash to.
    fn blob_as(&self, digest: &str, bytes: &[u8]) {
        std::fs::write(blob_path(self.dir(), digest), bytes).unwrap();
    }

    /// A one-layer image for `arch`; returns the manifest's descriptor.
    fn image(&self, arch: &str) -> Value {
        let config = self.blob(
            CONFIG_TYPE,
            json!({"os": "linux", "architecture": arch, "rootfs": {"type": "layers", "diff_ids": []}})
                .to_string()
                .as_bytes(),
        );
        let layer = self.blob(LAYER_TYPE, format!("layer for {arch}").as_bytes());
        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]});
        self.blob(OCI_MANIFEST, m.to_string().as_bytes())
    }

    fn index(&self, manifests: Vec<Value>) {
        let index = json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(self.dir().join("index.json"), index.to_string()).unwrap();
    }

    fn reference(&self) -> String {
        format!("oci:{}", self.dir().display())
    }
}

fn with_platform(mut d: Value, os: &str, arch: &str) -> Value {
    d["platform"] = json!({"os": os, "architecture": arch});
    d
}

#[test]
fn a_valid_hand_made_layout_opens() {
    // The baseline the other cases break.
    let l = Layout::new();
    let m = l.image("amd64");
    l.index(vec![m.clone()]);
    let src = open_ok(&l.reference(), &Options::default());
    assert_eq!(src.image().manifest_digest.to_string(), m["digest"]);
    verify_all_blobs_in_parallel(src.as_ref());
}

#[test]
fn huge_manifest_is_refused_by_its_descriptor_and_by_its_length() {
    let l = Layout::new();
    let big = vec![b' '; 5 << 20];
    // The descriptor admits to 5 MiB: refused without reading.
    let d = l.blob(OCI_MANIFEST, &big);
    l.index(vec![d.clone()]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(
        matches!(e, SourceError::TooLarge { limit, .. } if limit == 4 << 20),
        "{e:?}"
    );
    // The descriptor lies (300 bytes): the read stops one byte past 300.
    let mut lying = d;
    lying["size"] = json!(300);
    l.index(vec![lying]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(
        matches!(
            e,
            SourceError::SizeMismatch {
                expected: 300,
                actual: 301,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn huge_index_json_is_refused() {
    let l = Layout::new();
    let mut index = b"{\"schemaVersion\":2,\"manifests\":[]".to_vec();
    index.extend(std::iter::repeat_n(b' ', 5 << 20));
    index.push(b'}');
    std::fs::write(l.dir().join("index.json"), index).unwrap();
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e:?}");
}

#[test]
fn bad_json_is_refused() {
    let l = Layout::new();
    let d = l.blob(OCI_MANIFEST, b"{\"schemaVersion\":2,\"config\":");
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(
        matches!(
            e,
            SourceError::Manifest {
                source: berth_oci::ManifestError::Json(_),
                ..
            }
        ),
        "{e:?}"
    );
    std::fs::write(l.dir().join("index.json"), b"not json").unwrap();
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::Manifest { .. }), "{e:?}");
    // A config that is not JSON.
    let l = Layout::new();
    let config = l.blob(CONFIG_TYPE, b"\xff\xfe garbage");
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []});
    let d = l.blob(OCI_MANIFEST, m.to_string().as_bytes());
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::Json { .. }), "{e:?}");
}

#[test]
fn digest_mismatch_is_refused_for_manifests_and_configs() {
    let l = Layout::new();
    let good = l.image("amd64");
    let digest = good["digest"].as_str().unwrap().to_owned();
    let original = std::fs::read(blob_path(l.dir(), &digest)).unwrap();
    // Same length, one byte changed.
    let mut tampered = original.clone();
    let i = tampered.iter().position(|&b| b == b'2').unwrap();
    tampered[i] = b'3';
    l.blob_as(&digest, &tampered);
    l.index(vec![good.clone()]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(
        matches!(e, SourceError::DigestMismatch { ref expected, .. } if expected.to_string() == digest),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("does not match its digest"), "{msg}");

    // The config is checked too.
    l.blob_as(&digest, &original);
    let manifest: Value = serde_json::from_slice(&original).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let mut bytes = std::fs::read(blob_path(l.dir(), config)).unwrap();
    bytes[0] = b' ';
    l.blob_as(config, &bytes);
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn index_with_no_matching_platform_lists_what_it_has() {
    let l = Layout::new();
    let ppc = with_platform(l.image("ppc64le"), "linux", "ppc64le");
    let win = with_platform(l.image("amd64"), "windows", "amd64");
    let no_platform = l.image("riscv64");
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [ppc, win, no_platform]});
    let d = l.blob(
        "application/vnd.oci.image.index.v1+json",
        index.to_string().as_bytes(),
    );
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert_eq!(
        e.to_string(),
        format!(
            "no manifest for platform linux/amd64 in index {}; available: linux/ppc64le, windows/amd64",
            sha256(index.to_string().as_bytes())
        )
    );
    let ok = open_ok(
        &l.reference(),
        &Options {
            platform: Some("linux/ppc64le".parse().unwrap()),
            ..Options::default()
        },
    );
    assert_eq!(
        ok.image().platform.as_ref().unwrap().architecture,
        "ppc64le"
    );
}

#[test]
fn schema1_and_artifacts_are_refused_clearly() {
    let l = Layout::new();
    let s1 = json!({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": [], "history": []});
    let d = l.blob(
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        s1.to_string().as_bytes(),
    );
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::Schema1 { .. }), "{e:?}");
    assert!(e.to_string().contains("schema 1"), "{e}");

    let l = Layout::new();
    let config = l.blob("application/vnd.cncf.helm.config.v1+json", b"{}");
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []});
    let d = l.blob(OCI_MANIFEST, m.to_string().as_bytes());
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(matches!(e, SourceError::NotAnImage { .. }), "{e:?}");
    assert!(e.to_string().contains("helm"), "{e}");
}

#[test]
fn deeply_nested_indexes_stop() {
    let l = Layout::new();
    let mut d = with_platform(l.image("amd64"), "linux", "amd64");
    for _ in 0..6 {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [d]});
        d = with_platform(
            l.blob(
                "application/vnd.oci.image.index.v1+json",
                index.to_string().as_bytes(),
            ),
            "linux",
            "amd64",
        );
    }
    l.index(vec![d]);
    let e = open_err(&l.reference(), &Options::default());
    assert!(
        matches!(e, SourceError::Unsupported(ref m) if m.contains("nested")),
        "{e:?}"
    );
}

// -------------------------------------------------------------------------------------------
// Archives
// -------------------------------------------------------------------------------------------

/// `tar -cf ARCHIVE [flags] -C DIR MEMBERS...` with GNU tar.
fn gnu_tar(archive: &Path, dir: &Path, flags: &[&str], members: &[&str]) {
    run(Command::new("tar")
        .arg("-cf")
        .arg(archive)
        .args(flags)
        .arg("-C")
        .arg(dir)
        .args(members));
}

/// A minimal legacy archive folder: one config and one plain-tar layer (itself made with
/// GNU tar), with `manifest.json` entries from `entries(config, layer)`.
fn legacy_dir(root: &Path, entries: impl Fn(&str, &str) -> Value) -> PathBuf {
    let dir = root.join("save");
    std::fs::create_dir_all(dir.join("content")).unwrap();
    std::fs::write(dir.join("content/hello.txt"), "hello\n").unwrap();
    gnu_tar(&dir.join("layer.tar"), &dir.join("content"), &[], &["."]);
    std::fs::remove_dir_all(dir.join("content")).unwrap();
    let layer = std::fs::read(dir.join("layer.tar")).unwrap();
    let config = json!({"os": "linux", "architecture": "amd64",
                        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        entries("config.json", "layer.tar").to_string(),
    )
    .unwrap();
    dir
}

fn archive_err(archive: &Path) -> SourceError {
    open_err(
        &format!("docker-archive:{}", archive.display()),
        &Options::default(),
    )
}

#[test]
fn archive_members_with_dotdot_are_refused() {
    if !berth_testkit::require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = legacy_dir(
        tmp.path(),
        |c, l| json!([{"Config": c, "RepoTags": [], "Layers": [l]}]),
    );
    // The baseline opens, and its plain-tar layer streams with the diff_id as digest.
    let ok = tmp.path().join("ok.tar");
    gnu_tar(
        &ok,
        &dir,
        &[],
        &["manifest.json", "config.json", "layer.tar"],
    );
    let src = open_ok(
        &format!("docker-archive:{}", ok.display()),
        &Options::default(),
    );
    verify_all_blobs_in_parallel(src.as_ref());

    // A member named `../evil` (tar -P keeps it): the whole archive is refused.
    std::fs::write(tmp.path().join("evil"), "x").unwrap();
    let evil = tmp.path().join("evil.tar");
    gnu_tar(
        &evil,
        &dir,
        &["-P"],
        &["manifest.json", "config.json", "layer.tar", "../evil"],
    );
    let listing = run(Command::new("tar").arg("tf").arg(&evil)).stdout;
    assert!(String::from_utf8_lossy(&listing).contains("../evil"));
    let e = archive_err(&evil);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("path-traversal")),
        "{e:?}"
    );

    // manifest.json naming a layer outside the archive.
    let dir2 = legacy_dir(
        &tmp.path().join("2"),
        |c, _| json!([{"Config": c, "Layers": ["../../etc/passwd"]}]),
    );
    let out = tmp.path().join("outside.tar");
    gnu_tar(
        &out,
        &dir2,
        &[],
        &["manifest.json", "config.json", "layer.tar"],
    );
    let e = archive_err(&out);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("not a relative path")),
        "{e:?}"
    );

    // A layer that is a symlink climbing out of the archive.
    let dir3 = legacy_dir(
        &tmp.path().join("3"),
        |c, _| json!([{"Config": c, "Layers": ["id/layer.tar"]}]),
    );
    std::fs::create_dir(dir3.join("id")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", dir3.join("id/layer.tar")).unwrap();
    let link = tmp.path().join("link.tar");
    gnu_tar(&link, &dir3, &[], &["manifest.json", "config.json", "id"]);
    let e = archive_err(&link);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("outside the archive")),
        "{e:?}"
    );
}

#[test]
fn broken_archives_are_refused() {
    if !berth_testkit::require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // Two images and no reference: ambiguous, naming both.
    let dir = legacy_dir(tmp.path(), |c, l| {
        json!([{"Config": c, "RepoTags": ["a:1"], "Layers": [l]},
               {"Config": c, "RepoTags": ["b:2"], "Layers": [l]}])
    });
    let two = tmp.path().join("two.tar");
    gnu_tar(
        &two,
        &dir,
        &[],
        &["manifest.json", "config.json", "layer.tar"],
    );
    let e = archive_err(&two);
    assert!(
        matches!(e, SourceError::Ambiguous { ref choices, .. } if choices == &["a:1 (@0)", "b:2 (@1)"]),
        "{e:?}"
    );
    open_ok(
        &format!("docker-archive:{}:b:2", two.display()),
        &Options::default(),
    );

    // Truncated in the middle of the layer member.
    let bytes = std::fs::read(&two).unwrap();
    let cut = tmp.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 700]).unwrap();
    let e = archive_err(&cut);
    assert!(matches!(e, SourceError::Archive { .. }), "{e:?}");

    // Not a tar at all.
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = archive_err(&junk);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("checksum")),
        "{e:?}"
    );

    // diff_ids that do not match the layer list.
    let dir = legacy_dir(
        &tmp.path().join("m"),
        |c, l| json!([{"Config": c, "Layers": [l, l]}]),
    );
    let mismatch = tmp.path().join("mismatch.tar");
    gnu_tar(
        &mismatch,
        &dir,
        &[],
        &["manifest.json", "config.json", "layer.tar"],
    );
    let e = archive_err(&mismatch);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("diff_ids")),
        "{e:?}"
    );

    // A manifest.json over the bound.
    let dir = legacy_dir(
        &tmp.path().join("h"),
        |c, l| json!([{"Config": c, "Layers": [l]}]),
    );
    let mut huge = std::fs::read(dir.join("manifest.json")).unwrap();
    huge.extend(std::iter::repeat_n(b' ', 5 << 20));
    std::fs::write(dir.join("manifest.json"), huge).unwrap();
    let big = tmp.path().join("big.tar");
    gnu_tar(
        &big,
        &dir,
        &[],
        &["manifest.json", "config.json", "layer.tar"],
    );
    let e = archive_err(&big);
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e:?}");

    // Not a docker archive: a tar without manifest.json; a directory; a missing file.
    let plain = tmp.path().join("plain.tar");
    gnu_tar(&plain, &dir, &[], &["config.json"]);
    let e = archive_err(&plain);
    assert!(
        matches!(e, SourceError::Archive { ref reason, .. } if reason.contains("manifest.json")),
        "{e:?}"
    );
    let e = archive_err(tmp.path());
    assert!(matches!(e, SourceError::Archive { .. }), "{e:?}");
    let e = archive_err(&tmp.path().join("missing.tar"));
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
}

#[test]
fn bad_references_are_refused_before_any_io() {
    for r in [
        "",
        "oci:",
        "docker:/host/x",
        "docker://host:5000/UPPER:tag",
        "docker://host/repo@sha256:short",
        "docker-archive:/x.tar:@-1",
        "ftp://host/x",
    ] {
        let e = open_err(r, &Options::default());
        assert!(
            matches!(e, SourceError::BadReference { .. }),
            "{r:?}: {e:?}"
        );
    }
    assert!(matches!(
        "linux".parse::<berth_source::Platform>(),
        Err(SourceError::BadPlatform { .. })
    ));
}
