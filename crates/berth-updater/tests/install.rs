//! `FeedDir::install`, the air-gapped path: recorded files and folders go in with the same
//! guarantees as a download (validated first, swapped in atomically, identical bytes, state
//! recorded), including a folder replacing a file and a folder replacing a folder.

mod common;

use std::path::{Path, PathBuf};

use berth_updater::{FeedDir, Outcome, UpdateError};
use common::{gzip_validator, leftovers, recorded, sha256_hex, vulndata};

fn setup() -> (tempfile::TempDir, FeedDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FeedDir::open(&tmp.path().join("feeds")).unwrap();
    (tmp, dir)
}

/// Every file is an OSV record: JSON with an `id`.
fn osv_folder_validator(p: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(p).map_err(|e| e.to_string())?;
    let mut n = 0;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if v.get("id").and_then(|id| id.as_str()).is_none() {
            return Err(format!("{}: no id", path.display()));
        }
        n += 1;
    }
    if n == 0 {
        return Err("no records".to_owned());
    }
    Ok(())
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn install_a_recorded_file() {
    let (path, bytes) = recorded("rustsec-advisory-db");
    let (_t, dir) = setup();
    let out = dir.install("rustsec", &path, &gzip_validator).unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes)
        }
    );
    assert_eq!(std::fs::read(dir.data_path("rustsec")).unwrap(), bytes);
    let st = dir.state("rustsec").unwrap().unwrap();
    assert_eq!(st.url, format!("file://{}", path.display()));
    assert!(st.fetched_at.is_some() && st.etag.is_none());
    assert_eq!(
        dir.install("rustsec", &path, &gzip_validator).unwrap(),
        Outcome::Unchanged
    );
    assert!(leftovers(&dir.root().join("rustsec")).is_empty());
}

#[test]
fn install_folders_replacing_a_file_and_each_other() {
    let debian: PathBuf = vulndata().join("debian-osv-bookworm-subset/records");
    let ghsa: PathBuf = vulndata().join("ghsa-npm-subset/records");
    let (tarball, _) = recorded("alpine-secdb");
    let (_t, dir) = setup();

    // Start with a file, so the first folder install changes the kind of `data`.
    dir.install("osv", &tarball, &gzip_validator).unwrap();

    let out = dir.install("osv", &debian, &osv_folder_validator).unwrap();
    let Outcome::Updated { size, sha256 } = out else {
        panic!("{out:?}")
    };
    let data = dir.data_path("osv");
    assert!(data.is_dir());
    assert_eq!(files_of(&data), files_of(&debian));
    assert_eq!(files_of(&data).len(), 10);
    let total: u64 = files_of(&debian).iter().map(|(_, b)| b.len() as u64).sum();
    assert_eq!(size, total);
    assert_eq!(
        dir.state("osv").unwrap().unwrap().sha256,
        Some(sha256.clone())
    );

    // The same tree again is recognised by its fingerprint.
    assert_eq!(
        dir.install("osv", &debian, &osv_folder_validator).unwrap(),
        Outcome::Unchanged
    );

    // A different folder replaces the whole tree: nothing of the old one remains.
    let out = dir.install("osv", &ghsa, &osv_folder_validator).unwrap();
    assert!(matches!(out, Outcome::Updated { sha256: ref s, .. } if *s != sha256));
    assert_eq!(files_of(&data), files_of(&ghsa));
    assert!(leftovers(&dir.root().join("osv")).is_empty());

    // And back to a file.
    dir.install("osv", &tarball, &gzip_validator).unwrap();
    assert!(dir.data_path("osv").is_file());
    assert!(leftovers(&dir.root().join("osv")).is_empty());
}

#[test]
fn rejected_or_unsafe_installs_keep_the_good_copy() {
    let debian = vulndata().join("debian-osv-bookworm-subset/records");
    let (tarball, _) = recorded("rustsec-advisory-db");
    let (t, dir) = setup();
    dir.install("osv", &debian, &osv_folder_validator).unwrap();
    let before = files_of(&dir.data_path("osv"));

    // A tarball where records are expected: the validator says no.
    let err = dir
        .install("osv", &tarball, &osv_folder_validator)
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::Invalid { .. }),
        "{}",
        err.chain()
    );
    assert_eq!(files_of(&dir.data_path("osv")), before);
    let st = dir.state("osv").unwrap().unwrap();
    assert_eq!(st.attempts, 1);
    assert!(st.last_error.unwrap().contains("rejected"));

    // A folder with a symlink pointing outside is refused before validation.
    let evil = t.path().join("evil");
    std::fs::create_dir(&evil).unwrap();
    std::fs::copy(debian.join("DSA-5514-1.json"), evil.join("DSA-5514-1.json")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", evil.join("passwd.json")).unwrap();
    let err = dir.install("osv", &evil, &|_| Ok(())).unwrap_err();
    assert!(
        matches!(err, UpdateError::BadInstallSource { ref reason, .. } if reason.contains("symlink")),
        "{}",
        err.chain()
    );
    assert_eq!(files_of(&dir.data_path("osv")), before);
    assert_eq!(dir.state("osv").unwrap().unwrap().attempts, 2);
    assert!(leftovers(&dir.root().join("osv")).is_empty());

    // A missing source is an error naming it.
    let err = dir
        .install("osv", &t.path().join("nope"), &|_| Ok(()))
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    // Success clears the failure streak.
    dir.install("osv", &debian, &osv_folder_validator).unwrap();
    let st = dir.state("osv").unwrap().unwrap();
    assert_eq!((st.attempts, st.last_error), (0, None));
}

#[test]
fn states_lists_feeds_and_ignores_strangers() {
    let (path, _) = recorded("alpine-secdb");
    let (_t, dir) = setup();
    dir.install("b-feed", &path, &gzip_validator).unwrap();
    dir.install("a-feed", &path, &gzip_validator).unwrap();
    std::fs::create_dir(dir.root().join("Not A Feed")).unwrap();
    std::fs::create_dir(dir.root().join("empty")).unwrap();
    let names: Vec<String> = dir.states().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a-feed", "b-feed"]);
    assert_eq!(dir.state("empty").unwrap(), None);
    assert!(matches!(
        dir.state("../x").unwrap_err(),
        UpdateError::BadName { .. }
    ));
    assert!(dir.data_path("../x").starts_with(dir.root()));

    std::fs::write(dir.root().join("a-feed/state.json"), b"{not json").unwrap();
    assert!(matches!(
        dir.state("a-feed").unwrap_err(),
        UpdateError::State { .. }
    ));
    // An update repairs a damaged state file instead of getting stuck on it.
    assert_eq!(
        dir.install("a-feed", &path, &gzip_validator).unwrap(),
        Outcome::Updated {
            size: std::fs::metadata(&path).unwrap().len(),
            sha256: sha256_hex(&std::fs::read(&path).unwrap())
        }
    );
    assert!(dir.state("a-feed").unwrap().is_some());
}
