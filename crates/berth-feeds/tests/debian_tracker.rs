//! Debian's security tracker JSON against the recorded Debian OSV records.
//!
//! The tracker file (~60 MB) is not recorded, so this test writes a tracker document that
//! states the facts of the recorded `DEBIAN-CVE-*` OSV records (same CVEs, source packages,
//! releases, fixed versions and urgencies) in the tracker's shape
//! (`{srcpkg: {cve: {description, scope, releases: {codename: {status, repositories,
//! fixed_version, urgency}}}}}`), adds the tracker's own cases (sid, `fixed_version "0"`,
//! `undetermined`, a `TEMP-` id), and checks the parser turns both into the same model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_advisory::{Advisory, Event, Range};
use berth_feeds::{Limits, Parsed, parse_file, parse_path};
use serde_json::{Value, json};

fn records() -> PathBuf {
    let shared = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("vulndata/debian-osv-bookworm-subset/records");
    assert!(
        dir.is_dir(),
        "recorded Debian OSV records missing at {}",
        dir.display()
    );
    dir
}

fn codename(ecosystem: &str) -> &'static str {
    match ecosystem {
        "Debian:11" => "bullseye",
        "Debian:12" => "bookworm",
        "Debian:13" => "trixie",
        "Debian:14" => "forky",
        other => panic!("unexpected ecosystem {other}"),
    }
}

/// The tracker document holding the recorded records' facts, read from the records with a
/// plain JSON reader (not the parser under test).
fn tracker_from_records() -> Value {
    let mut tracker: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for f in std::fs::read_dir(records()).unwrap() {
        let path = f.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("DEBIAN-CVE-")
        {
            continue; // DSA records are not in the tracker's per-CVE data
        }
        let rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let cve = rec["upstream"][0].as_str().unwrap().to_owned();
        for aff in rec["affected"].as_array().unwrap() {
            let pkg = aff["package"]["name"].as_str().unwrap().to_owned();
            let rel = codename(aff["package"]["ecosystem"].as_str().unwrap());
            let urgency = aff["ecosystem_specific"]["urgency"].as_str().unwrap();
            let fixed = aff["ranges"][0]["events"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e["fixed"].as_str());
            let current = aff["versions"]
                .as_array()
                .and_then(|v| v.last())
                .and_then(Value::as_str)
                .unwrap_or("1.0-1");
            let release = match fixed {
                Some(v) => {
                    json!({"status": "resolved", "repositories": {rel: v}, "fixed_version": v, "urgency": urgency})
                }
                None => {
                    json!({"status": "open", "repositories": {rel: current}, "urgency": urgency})
                }
            };
            let entry = tracker
                .entry(pkg)
                .or_default()
                .entry(cve.clone())
                .or_insert_with(
                    || json!({"description": rec["details"], "scope": "local", "releases": {}}),
                );
            entry["releases"][rel] = release;
        }
    }
    serde_json::to_value(tracker).unwrap()
}

#[test]
fn tracker_matches_the_recorded_osv_records() {
    let mut doc = tracker_from_records();
    // The shape, spelled out for the two facts the scanner's results hinge on.
    assert_eq!(
        doc["glibc"]["CVE-2023-4911"]["releases"]["bookworm"],
        json!({"status": "resolved", "repositories": {"bookworm": "2.36-9+deb12u3"}, "fixed_version": "2.36-9+deb12u3", "urgency": "not yet assigned"})
    );
    assert_eq!(
        doc["apt"]["CVE-2011-3374"]["releases"]["bookworm"]["status"],
        "open"
    );
    assert_eq!(
        doc["apt"]["CVE-2011-3374"]["releases"]["bookworm"]["urgency"],
        "unimportant"
    );
    // Tracker-only cases: unstable, not affected (fixed_version "0"), undetermined, TEMP ids.
    doc["glibc"]["CVE-2023-4911"]["releases"]["sid"] = json!({"status": "resolved", "repositories": {"sid": "2.41-6"}, "fixed_version": "2.37-12", "urgency": "not yet assigned"});
    doc["glibc"]["CVE-2023-4911"]["releases"]["buster"] = json!({"status": "resolved", "repositories": {"buster": "2.28-10+deb10u2"}, "fixed_version": "0", "urgency": "not yet assigned"});
    doc["glibc"]["CVE-2099-0001"] = json!({"description": "not yet triaged", "releases": {
        "bookworm": {"status": "undetermined", "repositories": {"bookworm": "2.36-9+deb12u10"}, "urgency": "not yet assigned"}}});
    doc["tar"]["TEMP-0290435-0B57B5"] = json!({"description": "tar: 'dangerous' mode", "releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "1.34+dfsg-1.2+deb12u1"}, "urgency": "unimportant", "nodsa": "Minor issue"}}});
    doc["broken"] = json!({"CVE-2099-0002": {"releases": "not an object"}});
    let bytes = serde_json::to_vec(&doc).unwrap();

    let mut tracker = Parsed::default();
    parse_file("debian", "data/json", &bytes, &mut tracker).unwrap();
    assert_eq!(tracker.malformed, 1, "{:?}", tracker.errors);
    assert!(
        tracker.errors[0].contains("broken/CVE-2099-0002"),
        "{:?}",
        tracker.errors
    );
    assert_eq!(tracker.skipped, 1, "the undetermined-only CVE");

    let osv = parse_path(
        "debian-osv",
        records().parent().unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let mut compared = 0;
    for o in osv
        .advisories
        .iter()
        .filter(|a| a.id.starts_with("DEBIAN-CVE-"))
    {
        let cve = o.id.trim_start_matches("DEBIAN-");
        let t = tracker
            .advisories
            .iter()
            .find(|a| a.id == cve)
            .unwrap_or_else(|| panic!("{cve}"));
        assert!(t.aliases.is_empty());
        assert_eq!(t.details, o.details);
        for oa in &o.affected {
            let ta = t
                .affected
                .iter()
                .find(|a| a.space == oa.space && a.package == oa.package)
                .unwrap_or_else(|| panic!("{cve} {} {}", oa.space, oa.package));
            assert_eq!(ta.ranges, oa.ranges, "{cve} {}", oa.space);
            assert_eq!(ta.severity, oa.severity, "{cve} {}", oa.space);
            compared += 1;
        }
        assert_eq!(
            t.affected.len(),
            o.affected.len(),
            "{cve}: sid and not-affected releases add nothing"
        );
    }
    assert_eq!(compared, 9 * 4);

    let glibc = tracker
        .advisories
        .iter()
        .find(|a| a.id == "CVE-2023-4911")
        .unwrap();
    let bookworm = glibc
        .affected
        .iter()
        .find(|a| a.space.as_str() == "debian:12")
        .unwrap();
    assert_eq!(Advisory::fixed_in(bookworm), Some("2.36-9+deb12u3"));
    assert!(
        !glibc
            .affected
            .iter()
            .any(|a| a.space.as_str() == "debian:10")
    );
    let apt = tracker
        .advisories
        .iter()
        .find(|a| a.id == "CVE-2011-3374")
        .unwrap();
    let bookworm = apt
        .affected
        .iter()
        .find(|a| a.space.as_str() == "debian:12")
        .unwrap();
    assert_eq!(
        bookworm.ranges,
        [Range::Events {
            events: vec![Event::Introduced("0".into())]
        }]
    );
    assert_eq!(bookworm.severity, "unimportant");
    let temp = tracker
        .advisories
        .iter()
        .find(|a| a.id == "TEMP-0290435-0B57B5")
        .unwrap();
    assert_eq!(temp.affected[0].package, "tar");
    assert_eq!(
        temp.links,
        ["https://security-tracker.debian.org/tracker/TEMP-0290435-0B57B5"]
    );
}
