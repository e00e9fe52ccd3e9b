//! `berth scan` and scan on push, end to end with real images and real clients.
//!
//! - The CLI indexes `../shared/images/bookworm` through every transport: `oci:`,
//!   `docker-archive:` (made by real skopeo) and `docker://` against a real berth server with
//!   credentials; all three must agree package for package.
//! - Its SBOMs pass the official CycloneDX 1.5 and SPDX 2.3 schemas (`dev/validate-sbom.py`).
//! - A real berth server indexes a pushed image by itself (its log says so before anyone asks)
//!   and serves the same report, and an SBOM, through the REST API.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER, BerthServer};
use serde_json::Value;

fn berth(args: &[&str], cache: &Path) -> Output {
    Command::new(berth_testkit::berth_bin())
        .arg("scan")
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        // No vulnerability database here: these tests are about indexing.
        .env("BERTH_DATA_DIR", cache.join("no-data"))
        .env_remove("BERTH_SCAN_CREDS")
        .output()
        .expect("run berth scan")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "berth scan failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn bookworm(tag: &str) -> Option<String> {
    let dir = berth_testkit::shared_dir()?.join("images/bookworm");
    Some(format!("oci:{}:{tag}", dir.display()))
}

/// `(ecosystem, name, version, introducing layer)` of every package in a report.
fn packages(report: &Value) -> BTreeSet<(String, String, String, String)> {
    let r: berth_report::IndexReport =
        serde_json::from_value(report.clone()).expect("an index report");
    assert!(r.success, "report failed: {}", r.err);
    r.packages
        .iter()
        .map(|(id, p)| {
            (
                r.ecosystem(id).map_or("?", |e| e.osv_name()).to_owned(),
                p.name.clone(),
                p.version.clone(),
                r.environments[id][0].introduced_in.clone(),
            )
        })
        .collect()
}

fn validate_sbom(kind: &str, file: &Path) {
    if !berth_testkit::require_tool("python3") {
        return;
    }
    let script = berth_testkit::workspace_root().join("dev/validate-sbom.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("--{kind}"))
        .arg(file)
        .output()
        .expect("run validate-sbom.py");
    if out.status.code() == Some(3) {
        berth_testkit::skip_or_fail(&format!(
            "SBOM schema packages are not installed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    assert!(
        out.status.success(),
        "{kind} SBOM rejected: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn oci_layout_reports_tables_and_sboms() {
    let Some(image) = bookworm("app-whiteout") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let json: Value =
        serde_json::from_str(&ok(berth(&["--format", "index", &image], cache.path())))
            .expect("JSON report");
    assert_eq!(
        json["manifest_hash"],
        "sha256:b9de8d437be600eed70cc123e5b1ceaac776950eadfab26d47b3f72530f0d1c8"
    );
    let pk = packages(&json);
    let names: BTreeSet<&str> = pk.iter().map(|p| p.1.as_str()).collect();
    assert!(names.contains("Django") && names.contains("lodash") && names.contains("libc6"));
    assert!(
        !names.contains("PyYAML") && !names.contains("minimist"),
        "whiteouts ignored"
    );
    assert_eq!(pk.iter().filter(|p| p.0 == "Debian").count(), 88);

    // The table lists the same packages, one per line, after a header.
    let table = ok(berth(&[&image], cache.path()));
    assert!(
        table.contains("Distribution: Debian GNU/Linux 12 (bookworm)"),
        "{table}"
    );
    let rows = table
        .lines()
        .skip_while(|l| !l.starts_with("NAME"))
        .skip(1)
        .count();
    assert_eq!(rows, pk.len());

    // SBOMs, written with --output, valid against the official schemas.
    for kind in ["cyclonedx", "spdx"] {
        let file = cache.path().join(format!("sbom.{kind}.json"));
        ok(berth(
            &["--format", kind, "--output", file.to_str().unwrap(), &image],
            cache.path(),
        ));
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let listed = if kind == "spdx" {
            doc["packages"].as_array().unwrap().len()
        } else {
            doc["components"].as_array().unwrap().len()
        };
        assert!(
            listed >= pk.len(),
            "{kind}: {listed} entries for {} packages",
            pk.len()
        );
        validate_sbom(kind, &file);
    }
}

#[test]
fn bad_references_and_missing_images_fail_clearly() {
    let cache = tempfile::tempdir().unwrap();
    for (image, says) in [
        ("nonsense:thing", "transport"),
        ("oci:/nonexistent/layout:tag", "nonexistent"),
    ] {
        let out = berth(&[image], cache.path());
        assert!(!out.status.success(), "{image} should fail");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains(says), "{image}: {err}");
    }
}

/// Copies `from` to `to` with skopeo.
fn skopeo_copy(extra: &[&str], from: &str, to: &str) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .args(extra)
        .args([from, to])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {from} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_transport_and_the_server_agree() {
    let Some(image) = bookworm("app-vuln") else {
        return;
    };
    if !berth_testkit::require_tool("skopeo") {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let scan_json = |args: &[&str]| -> Value {
        serde_json::from_str(&ok(berth(args, cache.path()))).expect("JSON report")
    };
    let from_oci = scan_json(&["--format", "index", "--no-cache", &image]);
    let expected = packages(&from_oci);
    assert!(expected.len() > 100);

    // docker-archive, made by skopeo (its manifest digest differs; the packages do not,
    // except that the layers are named by the archive's digests).
    let archive: PathBuf = cache.path().join("app.tar");
    skopeo_copy(
        &[],
        &image,
        &format!("docker-archive:{}", archive.display()),
    );
    let from_archive = scan_json(&[
        "--format",
        "index",
        &format!("docker-archive:{}", archive.display()),
    ]);
    let strip =
        |s: &BTreeSet<(String, String, String, String)>| -> BTreeSet<(String, String, String)> {
            s.iter()
                .map(|(e, n, v, _)| (e.clone(), n.clone(), v.clone()))
                .collect()
        };
    assert_eq!(strip(&packages(&from_archive)), strip(&expected));

    // A real berth server: push with credentials, then scan it over docker://.
    let server = BerthServer::start(berth_testkit::berth_bin());
    let creds = format!("{ADMIN_USER}:{ADMIN_PASSWORD}");
    let remote = format!("docker://{}/acme/app:1", server.addr());
    skopeo_copy(
        &["--dest-tls-verify=false", "--dest-creds", &creds],
        &image,
        &remote,
    );
    let from_registry = scan_json(&[
        "--format",
        "index",
        "--tls-verify=false",
        "--creds",
        &creds,
        "--no-cache",
        &remote,
    ]);
    assert_eq!(packages(&from_registry), expected);
    assert_eq!(from_registry["manifest_hash"], from_oci["manifest_hash"]);
    // Private: no credentials, no scan.
    let denied = berth(&["--tls-verify=false", "--no-cache", &remote], cache.path());
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr)
            .to_lowercase()
            .contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    // Scan on push: the server indexed the image by itself (no request asked for it).
    let digest = from_oci["manifest_hash"].as_str().unwrap().to_owned();
    wait_indexed(&server, &digest);
    // ... and serves the same report and a valid SBOM through the REST API.
    let http = reqwest::blocking::Client::new();
    let get = |path: &str, auth: bool| {
        let mut rq = http.get(format!("{}{path}", server.url()));
        if auth {
            rq = rq.basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD));
        }
        rq.send().expect("request")
    };
    let report_path = format!("/api/v1/repository/acme/app/manifest/{digest}/index_report");
    let resp = get(&report_path, true);
    assert_eq!(resp.status(), 200);
    let served: Value = resp.json().unwrap();
    assert_eq!(packages(&served), expected);
    // Anonymous callers cannot tell a private repository from a missing one.
    assert_eq!(get(&report_path, false).status(), 404);
    let sbom = get(
        &format!("/api/v1/repository/acme/app/manifest/{digest}/sbom?format=spdx"),
        true,
    );
    assert_eq!(sbom.status(), 200);
    let file = cache.path().join("served.spdx.json");
    std::fs::write(&file, sbom.bytes().unwrap()).unwrap();
    validate_sbom("spdx", &file);
    let bad = get(
        &format!("/api/v1/repository/acme/app/manifest/{digest}/sbom?format=xml"),
        true,
    );
    assert_eq!(bad.status(), 400);
    let unknown = get(
        &format!(
            "/api/v1/repository/acme/app/manifest/sha256:{}/index_report",
            "0".repeat(64)
        ),
        true,
    );
    assert_eq!(unknown.status(), 404);
}

/// Waits until the server's log says it indexed `digest`.
fn wait_indexed(server: &BerthServer, digest: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server
        .log()
        .lines()
        .any(|l| l.contains("indexed") && l.contains(digest))
    {
        assert!(
            Instant::now() < deadline,
            "{digest} was not indexed; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn images_pushed_while_scanning_was_off_are_indexed_at_the_next_start() {
    let Some(image) = bookworm("python-vuln") else {
        return;
    };
    if !berth_testkit::require_tool("skopeo") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let creds = format!("{ADMIN_USER}:{ADMIN_PASSWORD}");
    let digest = "sha256:760b8d2c8796f94ffd68f7d4d5ac1b1278144a8613de437b6f24b4a9489447c5";
    {
        let mut off = BerthServer::builder(berth_testkit::berth_bin())
            .data_dir(data.path())
            .env("BERTH_SCANNER__ON_PUSH", "false")
            .start();
        skopeo_copy(
            &["--dest-tls-verify=false", "--dest-creds", &creds],
            &image,
            &format!("docker://{}/acme/py:1", off.addr()),
        );
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !off.log().lines().any(|l| l.contains("indexed")),
            "indexed although scanning on push was off"
        );
        off.kill();
    }
    // The queue is the database: the next server finds the image without any push.
    let on = BerthServer::builder(berth_testkit::berth_bin())
        .data_dir(data.path())
        .start();
    wait_indexed(&on, digest);
}
