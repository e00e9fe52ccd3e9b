//! Accuracy of the vulnerability findings, end to end through the real CLI: the recorded
//! feeds are imported with `berth vulndb import`, the real images are scanned with
//! `berth scan --format json`, and every finding is compared, both ways, with an
//! independent reference implementation (`tests/reference/reference_match.py`: Python,
//! written from the feed formats, comparing versions with `dpkg --compare-versions`,
//! Python's `packaging` and node's `semver`). Nothing missed, nothing extra.
//!
//! The facts `shared/vulndata/MANIFEST.md` states are asserted by name as well, so a
//! disagreement between berth and the reference cannot hide behind a shared mistake.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

type Finding = (String, String, String);

fn berth(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(berth_testkit::berth_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("BERTH_CONFIG")
        .env("XDG_CACHE_HOME", data.join("cache"))
        .output()
        .expect("run berth")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "berth failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// (package name, package version, advisory id) of every finding of a vulnerability report.
fn berth_findings(report: &Value) -> BTreeSet<Finding> {
    let mut out = BTreeSet::new();
    for (pid, vids) in report["package_vulnerabilities"].as_object().expect("map") {
        let p = &report["packages"][pid];
        for vid in vids.as_array().expect("list") {
            let v = &report["vulnerabilities"][vid.as_str().expect("id")];
            out.insert((
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

fn reference_findings(vulndata: &Path, report_file: &Path) -> BTreeSet<Finding> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node_modules = std::env::var_os("BERTH_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../../dev/oracles/node_modules"));
    assert!(
        node_modules.join("semver/package.json").exists(),
        "node's semver is missing at {}: run dev/install-test-deps.sh",
        node_modules.display()
    );
    let out = Command::new("python3")
        .arg(root.join("tests/reference/reference_match.py"))
        .arg("--vulndata")
        .arg(vulndata)
        .arg("--index-report")
        .arg(report_file)
        .arg("--node-modules")
        .arg(&node_modules)
        .output()
        .expect("python3 (run dev/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "reference matcher failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("reference JSON");
    list.iter()
        .map(|f| {
            (
                f["package"].as_str().unwrap().to_owned(),
                f["version"].as_str().unwrap().to_owned(),
                f["advisory"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn findings_equal_an_independent_reference_on_every_real_image() {
    let Some(shared) = berth_testkit::shared_dir() else {
        return;
    };
    let vulndata = shared.join("vulndata");
    let data = tempfile::tempdir().unwrap();
    let imported = ok(berth(
        &["vulndb", "import", vulndata.to_str().unwrap()],
        data.path(),
    ));
    assert!(imported.contains("feed pypa: imported"), "{imported}");

    let images = [
        ("bookworm:minbase", None),
        ("bookworm:python-vuln", None),
        ("bookworm:app-vuln", None),
        ("bookworm:app-whiteout", None),
        ("multiarch-hello", Some("linux/amd64")),
        ("multiarch-hello", Some("linux/arm64/v8")),
    ];
    let mut reports = std::collections::BTreeMap::new();
    for (image, platform) in images {
        let reference = format!("oci:{}", shared.join("images").join(image).display());
        let mut args = vec!["scan", "--format", "json"];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        args.push(&reference);
        let text = ok(berth(&args, data.path()));
        let file = data.path().join(format!(
            "{}-{}.json",
            image.replace(':', "-"),
            platform.unwrap_or("").replace('/', "-")
        ));
        std::fs::write(&file, &text).unwrap();
        let report: Value = serde_json::from_str(&text).unwrap();
        let got = berth_findings(&report);
        let want = reference_findings(&vulndata, &file);
        let missed: Vec<&Finding> = want.difference(&got).collect();
        let extra: Vec<&Finding> = got.difference(&want).collect();
        assert!(
            missed.is_empty() && extra.is_empty(),
            "{image} {platform:?}: berth missed {missed:?}\nberth reported extra {extra:?}"
        );
        assert!(
            !got.is_empty(),
            "{image}: the comparison must compare something"
        );
        eprintln!(
            "{image} {}: {} findings agree",
            platform.unwrap_or(""),
            got.len()
        );
        reports.insert(format!("{image}{}", platform.unwrap_or("")), got);
    }

    // MANIFEST.md's facts for a freshly bootstrapped bookworm, by name.
    let minbase = &reports["bookworm:minbase"];
    let has = |pkg: &str, adv: &str| minbase.iter().any(|(p, _, a)| p == pkg && a == adv);
    for (pkg, adv) in [
        ("apt", "DEBIAN-CVE-2011-3374"),
        ("coreutils", "DEBIAN-CVE-2016-2781"),
        ("util-linux", "DEBIAN-CVE-2022-0563"),
        ("tar", "DEBIAN-CVE-2005-2541"),
        ("ncurses-bin", "DEBIAN-CVE-2023-50495"),
        ("perl-base", "DEBIAN-CVE-2011-4116"),
        ("login", "DEBIAN-CVE-2007-5686"),
        ("gpgv", "DEBIAN-CVE-2022-3219"),
    ] {
        assert!(has(pkg, adv), "{pkg} must be reported for {adv}");
    }
    assert!(
        !minbase
            .iter()
            .any(|(_, _, a)| a == "DEBIAN-CVE-2023-4911" || a == "DSA-5514-1"),
        "glibc 2.36-9+deb12u14 is fixed for CVE-2023-4911"
    );
    // Whiteouts remove findings: PyYAML and minimist are gone from app-whiteout.
    let app = &reports["bookworm:app-vuln"];
    let whiteout = &reports["bookworm:app-whiteout"];
    assert!(app.iter().any(|(p, _, _)| p == "PyYAML" || p == "minimist"));
    assert!(
        !whiteout
            .iter()
            .any(|(p, _, _)| p == "PyYAML" || p == "minimist")
    );
    // Go binaries: the standard library they were built with.
    assert!(
        reports["multiarch-hellolinux/amd64"]
            .iter()
            .all(|(p, _, a)| p == "stdlib" && a.starts_with("GO-"))
    );
}

#[test]
fn ci_gates_sarif_and_no_database() {
    let Some(shared) = berth_testkit::shared_dir() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let minbase = format!("oci:{}", shared.join("images/bookworm:minbase").display());
    // No database: a gate cannot pass an image nobody judged.
    let out = berth(
        &["scan", "--severity", "high", "--exit-code", "9", &minbase],
        data.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no vulnerability database"));

    let vulndata = shared.join("vulndata");
    ok(berth(
        &["vulndb", "import", vulndata.to_str().unwrap()],
        data.path(),
    ));
    // minbase's worst is Medium (ncurses CVE-2023-50495).
    let high = berth(
        &["scan", "--severity", "high", "--exit-code", "9", &minbase],
        data.path(),
    );
    assert_eq!(high.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&high.stdout).contains("no known vulnerabilities"));
    let medium = berth(
        &["scan", "--severity", "medium", "--exit-code", "9", &minbase],
        data.path(),
    );
    assert_eq!(medium.status.code(), Some(9));
    let table = String::from_utf8_lossy(&medium.stdout).into_owned();
    assert!(table.contains("DEBIAN-CVE-2023-50495"), "{table}");
    assert!(
        !table.contains("DEBIAN-CVE-2011-3374"),
        "Negligible is below the threshold"
    );

    // SARIF passes the official 2.1.0 schema.
    let sarif = data.path().join("minbase.sarif");
    ok(berth(
        &[
            "scan",
            "--format",
            "sarif",
            "-o",
            sarif.to_str().unwrap(),
            &minbase,
        ],
        data.path(),
    ));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = Command::new("python3")
        .arg(root.join("dev/validate-sarif.py"))
        .arg(&sarif)
        .output()
        .expect("python3");
    assert!(
        v.status.success(),
        "SARIF rejected ({}): {}{}",
        v.status,
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // Status shows each feed.
    let status = ok(berth(&["vulndb", "status"], data.path()));
    for feed in [
        "pypa",
        "rustsec",
        "go-vulndb",
        "alpine-secdb",
        "nodejs-security-wg",
    ] {
        assert!(status.contains(feed), "{status}");
    }
}
