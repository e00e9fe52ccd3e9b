//! The vulnerability database on disk, with the real recorded feeds: builds are
//! content-addressed and reproducible, bundles travel and are verified, bad data never
//! empties the database, and each build says what changed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_advisory::Space;
use berth_feeds::Limits;
use berth_vulndb::VulnDb;

fn shared() -> PathBuf {
    let dir = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("vulndata").is_dir(),
        "recorded feeds not found at {}/vulndata (set BERTH_SHARED)",
        dir.display()
    );
    dir
}

fn import(db: &VulnDb, path: &Path, feed: Option<&str>) -> berth_vulndb::Imported {
    db.import(path, feed, &Limits::default(), &|_| {})
        .unwrap_or_else(|e| panic!("import {}: {e}", path.display()))
}

fn ids(db: &berth_vulndb::Db, space: &str, package: &str) -> Vec<String> {
    let mut v: Vec<String> = db
        .lookup(&Space::new(space), package)
        .map(|(a, _)| a.id.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn all_recorded_feeds_build_reload_export_and_import_identically() {
    let vulndata = shared().join("vulndata");
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).unwrap();
    let out = import(&db, &vulndata, None);
    let built = out.rebuilt.expect("rebuilt").db;
    let h = built.header().clone();
    // Seven feeds, every one imported, and the header adds up.
    assert_eq!(h.feeds.len(), 7, "{:?}", h.feeds);
    assert!(
        out.feeds.iter().all(|(_, r)| r == &Ok(true)),
        "{:?}",
        out.feeds
    );
    assert_eq!(
        h.advisories,
        h.feeds.iter().map(|f| f.advisories).sum::<u64>()
    );
    assert!(h.advisories > 15_000, "{}", h.advisories);
    assert!(h.feeds.iter().all(|f| f.fingerprint.starts_with("sha256:")));
    assert!(h.id.ends_with(&h.digest["sha256:".len().."sha256:".len() + 12]));
    assert_eq!(
        ids(&built, "debian:12", "apt"),
        vec!["DEBIAN-CVE-2011-3374"]
    );
    assert!(ids(&built, "pypi", "django").len() > 50);
    assert!(ids(&built, "go", "stdlib").len() > 100);
    assert!(
        ids(&built, "debian:12", "libc6").is_empty(),
        "keyed by source"
    );

    // Compact: the whole of the recorded data in a few MB.
    let file = std::fs::read_dir(dir.path().join("builds"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 16 << 20, "database is {size} bytes");

    // Importing the same data again changes nothing: no new build.
    let again = import(&db, &vulndata, None);
    assert!(
        again.feeds.iter().all(|(_, r)| r == &Ok(false)),
        "{:?}",
        again.feeds
    );
    assert!(!again.rebuilt.unwrap().installed);

    // A second process (a node restart) loads the same build.
    let reopened = VulnDb::open(dir.path()).unwrap();
    assert_eq!(reopened.current().unwrap().header(), &h);

    // The bundle carries it to another machine, verified.
    let bundle = dir.path().join("bundle.bvdb");
    db.export(&bundle, false).unwrap();
    let other = tempfile::tempdir().unwrap();
    let db2 = VulnDb::open(other.path()).unwrap();
    let imported = import(&db2, &bundle, None);
    assert_eq!(imported.bundle.unwrap().header(), &h);
    assert_eq!(
        ids(&db2.current().unwrap(), "debian:12", "apt"),
        vec!["DEBIAN-CVE-2011-3374"]
    );

    // So does the raw-feeds bundle, which rebuilds the same content.
    let raw = dir.path().join("feeds.tar");
    db.export(&raw, true).unwrap();
    let third = tempfile::tempdir().unwrap();
    let db3 = VulnDb::open(third.path()).unwrap();
    let rebuilt = import(&db3, &raw, None).rebuilt.unwrap().db;
    assert_eq!(rebuilt.header().digest, h.digest);
    assert_eq!(
        rebuilt
            .header()
            .feeds
            .iter()
            .map(|f| &f.fingerprint)
            .collect::<Vec<_>>(),
        h.feeds.iter().map(|f| &f.fingerprint).collect::<Vec<_>>()
    );

    // A damaged bundle is refused and the current build stays.
    let damaged = dir.path().join("damaged.bvdb");
    let mut body = String::new();
    zstd::Decoder::new(std::fs::File::open(&bundle).unwrap())
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
    let tampered = body.replacen("\"introduced\":\"0\"", "\"introduced\":\"9\"", 1);
    assert_ne!(tampered, body);
    let mut z = zstd::Encoder::new(std::fs::File::create(&damaged).unwrap(), 3).unwrap();
    z.write_all(tampered.as_bytes()).unwrap();
    z.finish().unwrap();
    let err = db2
        .import(&damaged, None, &Limits::default(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("digest"), "{err}");
    let truncated = dir.path().join("truncated.bvdb");
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(
        db2.import(&truncated, None, &Limits::default(), &|_| {})
            .is_err()
    );
    assert_eq!(db2.current().unwrap().header(), &h);
}

/// Copies the GHSA records folder, so a test can change it.
fn ghsa_copy(to: &Path) -> PathBuf {
    let from = shared().join("vulndata/ghsa-npm-subset/records");
    let dst = to.join("ghsa");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

#[test]
fn a_build_says_what_changed_and_bad_data_keeps_the_last_good() {
    let work = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).unwrap();
    let ghsa = ghsa_copy(work.path());
    let first = import(&db, &ghsa, Some("ghsa")).rebuilt.unwrap().db;
    assert_eq!(first.header().advisories, 4);
    assert!(first.header().changes.is_none());

    // Change one record, remove one, add one.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ghsa)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let changed_id = id_of(&files[0]);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["summary"] = "changed upstream".into();
    std::fs::write(&files[0], v.to_string()).unwrap();
    let removed_id = id_of(&files[1]);
    std::fs::remove_file(&files[1]).unwrap();
    let mut added: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
    added["id"] = "GHSA-test-test-test".into();
    std::fs::write(ghsa.join("GHSA-test-test-test.json"), added.to_string()).unwrap();

    let second = import(&db, &ghsa, Some("ghsa")).rebuilt.unwrap().db;
    let h = second.header();
    assert_eq!(h.previous.as_deref(), Some(first.header().id.as_str()));
    let c = h.changes.as_ref().unwrap();
    assert_eq!((c.added, c.removed, c.changed), (1, 1, 1), "{c:?}");
    assert_eq!(c.added_ids, vec!["ghsa/GHSA-test-test-test"]);
    assert_eq!(c.removed_ids, vec![format!("ghsa/{removed_id}")]);
    assert_eq!(c.changed_ids, vec![format!("ghsa/{changed_id}")]);

    // New data that does not parse never replaces the feed ...
    let garbage = work.path().join("garbage.json");
    std::fs::write(&garbage, b"<html>503 Service Unavailable</html>").unwrap();
    let out = db
        .import(&garbage, Some("ghsa"), &Limits::default(), &|_| {})
        .unwrap();
    assert!(out.feeds[0].1.is_err(), "{:?}", out.feeds);
    assert_eq!(db.current().unwrap().header().digest, h.digest);

    // ... and data that stops parsing on disk (a parser change, a damaged file) keeps the
    // feed's last good advisories in the next build, with the error recorded.
    let data = db.feeds().data_path("ghsa");
    for e in std::fs::read_dir(&data).unwrap() {
        std::fs::write(e.unwrap().path(), b"{ not json").unwrap();
    }
    let state_path = dir.path().join("feeds/ghsa/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["sha256"] = "sha256:damaged".into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    let rebuilt = db.rebuild(&Limits::default(), Default::default()).unwrap();
    assert_eq!(rebuilt.errors.len(), 1, "{:?}", rebuilt.errors);
    let kept = rebuilt.db;
    assert_eq!(kept.header().advisories, 4);
    let info = &kept.header().feeds[0];
    assert!(info.error.is_some());
    assert_eq!(
        info.fingerprint, h.feeds[0].fingerprint,
        "still the good data's"
    );
}

fn id_of(path: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["id"].as_str().unwrap().to_owned()
}
