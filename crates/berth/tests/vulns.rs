//! Vulnerability findings end to end: the real `berth` binary, real clients, real images and
//! the recorded upstream feeds, through both APIs that serve findings.
//!
//! Every server here starts on a data folder prepared by the real CLI,
//! `berth vulndb import ../shared/vulndata --data-dir DIR` (no network: the testkit sets
//! `vulndb.update: false`), with a Clair pre-shared key (`BERTH_CLAIR__PSK`). Images are
//! pushed with real skopeo from the recorded OCI layouts of `../shared/images`, and scanned
//! by the server's own scan-on-push loop: the tests only poll, never ask for an index.
//!
//! What is proven, and why it matters:
//! - **Findings are right on real data** (Quay's security endpoint,
//!   `GET /api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true`): apt
//!   2.6.1 has the unfixed DEBIAN-CVE-2011-3374 (no FixedBy, Negligible), libc6 does NOT have
//!   CVE-2023-4911 (fixed long before the image's glibc: a version-ordering mistake would
//!   report it), Django 3.2 and urllib3 1.24.1 have PYSEC advisories, lodash 4.17.4 has
//!   GHSA-35jh-r3h4-6jhm. Without `vulnerabilities=true` no feature carries the key, as Quay.
//! - **Clair's API agrees with Quay's** (`/matcher/api/v1/vulnerability_report`): the same
//!   (package, version, advisory) set, in Clair's shape, so Quay's security worker and
//!   clairctl see what the UI shows. Its PSK authentication refuses a missing token, a token
//!   signed with another key, an issuer not configured, an expired token and a user's Basic
//!   credentials, each with Clair's error body; index_state honours its ETag; DELETE forgets
//!   a report (and the image goes back to queued until indexed again).
//! - **Clair's POST index_report fetches layers berth does not hold** from the URIs given,
//!   with the headers given (a local HTTP server stands in for the registry Quay points at):
//!   the Go binary's standard library is found and matched against the Go vulnerability
//!   database. A layer URI answering 404 is an error and nothing is stored; a malformed body
//!   is a 400 in Clair's error shape.
//! - **Reading findings is reading the repository**: on a private repository a robot granted
//!   read gets them; an unrelated user and anonymous callers get the same 404 as for a
//!   repository that does not exist (the REST API's rule, see `authz_api.rs`).
//! - **Multi-platform images** are reported per platform (linux/amd64, linux/arm64/v8), each
//!   scanned with Go stdlib findings; **artifacts** (a Helm chart) are `unsupported` with a
//!   reason, never `failed` and never `queued` forever.
//!
//! Missing skopeo or shared data fail these tests (they are the point of the file), under CI
//! or not.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER, BerthServer};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// `bookworm:app-vuln`: Debian minbase + old PyPI packages + old npm packages.
const APP_VULN: &str = "sha256:f6f412b81757deabaffffe75eb6ced182ef955342fdb60da4902089d1e7c85e9";
/// The `multiarch-hello` index and its two images.
const MULTIARCH: &str = "sha256:4d52903fb794e06a61457cc41ff4d63b5ec568f4076f218a7680577fbc4c60f7";
const HELLO_AMD64: &str = "sha256:633e7f3c2a009179dfb9d9188dbef5a4cdc837304d163edbea01d11cb3b0db9a";
const HELLO_ARM64: &str = "sha256:3306e5996cd2f9c1d43b682c0ba4fa17248cb405b7e07ce6619b9722b1a568ea";
/// The Clair pre-shared key the servers are configured with.
const PSK: &[u8] = b"berth end-to-end Clair pre-shared key";
/// How long a pushed image may take to be scanned.
const SCAN_WAIT: Duration = Duration::from_secs(60);

// =============================================================================================
// Prerequisites and the server
// =============================================================================================

fn berth_bin() -> &'static str {
    // The binary cargo built for this test run (`berth_testkit::berth_bin()` looks in
    // `target/` of the workspace, which is stale or absent under another CARGO_TARGET_DIR).
    env!("CARGO_BIN_EXE_berth")
}

/// The shared folder; its absence fails the test.
fn shared() -> PathBuf {
    let dir = match std::env::var_os("BERTH_SHARED") {
        Some(d) => PathBuf::from(d),
        None => berth_testkit::workspace_root().join("../shared"),
    };
    for need in ["vulndata/MANIFEST.md", "images/bookworm/index.json"] {
        assert!(
            dir.join(need).exists(),
            "shared data missing: {} (set BERTH_SHARED to the shared folder)",
            dir.join(need).display()
        );
    }
    dir
}

fn require_skopeo() {
    let ok = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "skopeo is not installed: these tests push real images with it (dev/install-test-deps.sh)"
    );
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A berth server on a data folder with the recorded feeds imported by the real CLI.
struct Env {
    server: BerthServer,
    http: Client,
    /// The superuser's application token (Basic with a password costs an argon2 hash).
    admin_token: String,
    shared: PathBuf,
    started: Instant,
    _dir: tempfile::TempDir,
}

impl Env {
    fn start(name: &str) -> Env {
        let shared = shared();
        require_skopeo();
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("berth-vulns-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        let out = Command::new(berth_bin())
            .args(["vulndb", "import"])
            .arg(shared.join("vulndata"))
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run berth vulndb import");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "berth vulndb import failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for feed in [
            "debian-osv-bookworm-subset",
            "pypa",
            "ghsa-npm-subset",
            "go-vulndb",
        ] {
            assert!(
                stdout.contains(&format!("feed {feed}: imported")),
                "{feed} not imported:\n{stdout}"
            );
        }
        eprintln!(
            "[{name}] vulndb import: {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let server = BerthServer::builder(berth_bin())
            .data_dir(&data)
            .env(
                "BERTH_CLAIR__PSK",
                base64::engine::general_purpose::STANDARD.encode(PSK),
            )
            .start();
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let mut env = Env {
            server,
            http,
            admin_token: String::new(),
            shared,
            started,
            _dir: dir,
        };
        let t = env.rest(
            Method::POST,
            "/api/v1/user/apptoken",
            &Who::Basic(ADMIN_USER.into(), ADMIN_PASSWORD.into()),
            Some(json!({ "title": "vulns" })),
        );
        assert_eq!(t.0, 201, "admin app token: {}", t.1);
        env.admin_token = t.1["token"]["token_code"]
            .as_str()
            .expect("token_code")
            .to_owned();
        env
    }

    fn note(&self, name: &str, what: &str) {
        eprintln!(
            "[{name}] {what}: {:.1}s",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn admin(&self) -> Who {
        Who::Basic(ADMIN_USER.into(), self.admin_token.clone())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    #[track_caller]
    fn send(&self, rb: RequestBuilder) -> Response {
        rb.send()
            .unwrap_or_else(|e| panic!("request failed: {e}\nserver log:\n{}", self.server.log()))
    }

    /// A REST call; returns the status and the JSON body (`Null` when not JSON).
    fn rest(&self, method: Method, path: &str, who: &Who, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.http.request(method, self.url(path));
        if let Who::Basic(u, p) = who {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = self.send(rb);
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Quay's security endpoint for a manifest of `repo`.
    fn security(&self, who: &Who, repo: &str, digest: &str, vulns: bool) -> (u16, Value) {
        let q = if vulns { "?vulnerabilities=true" } else { "" };
        self.rest(
            Method::GET,
            &format!("/api/v1/repository/{repo}/manifest/{digest}/security{q}"),
            who,
            None,
        )
    }

    /// Polls the security endpoint until the manifest is no longer queued; asserts `want`.
    #[track_caller]
    fn wait_status(&self, repo: &str, digest: &str, want: &str) -> Value {
        let deadline = Instant::now() + SCAN_WAIT;
        loop {
            let (status, body) = self.security(&self.admin(), repo, digest, false);
            assert_eq!(status, 200, "security of {repo}@{digest}: {body}");
            if body["status"] != "queued" {
                assert_eq!(
                    body["status"],
                    want,
                    "{repo}@{digest}: {body:#}\nserver log:\n{}",
                    self.server.log()
                );
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{repo}@{digest} still queued after {SCAN_WAIT:?}\nserver log:\n{}",
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `skopeo copy` into this server as the superuser.
    fn push(&self, extra: &[&str], from: &str, repo_tag: &str) {
        let creds = format!("{ADMIN_USER}:{ADMIN_PASSWORD}");
        let out = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q"])
            .args(extra)
            .args(["--dest-tls-verify=false", "--dest-creds", &creds, from])
            .arg(format!("docker://{}/{repo_tag}", self.server.addr()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {from} {repo_tag}: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.server.log()
        );
    }

    fn layout(&self, name: &str, tag: &str) -> String {
        format!(
            "oci:{}:{tag}",
            self.shared.join("images").join(name).display()
        )
    }

    /// A Clair API call: the status, headers and body text.
    fn clair(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        let resp = self.send(rb);
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().unwrap_or_default())
    }
}

#[derive(Clone, Debug)]
enum Who {
    Anon,
    Basic(String, String),
}

/// A token as Quay's security worker makes it.
fn quay_token() -> String {
    berth_auth::sign_psk(&json!({ "iss": "quay", "exp": unix_now() + 300 }), PSK)
}

/// Asserts Clair's error shape: the status, `{"code": "...", "message": "..."}` as JSON.
#[track_caller]
fn clair_error(what: &str, got: &(u16, reqwest::header::HeaderMap, String), status: u16) -> Value {
    assert_eq!(got.0, status, "{what}: {}", got.2);
    let ct = got
        .1
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct}"
    );
    let v: Value =
        serde_json::from_str(&got.2).unwrap_or_else(|e| panic!("{what}: {e}: {}", got.2));
    for k in ["code", "message"] {
        assert!(
            v[k].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: no {k} in {v}"
        );
    }
    if status == 401 {
        assert!(
            got.1.contains_key("www-authenticate"),
            "{what}: 401 without WWW-Authenticate"
        );
    }
    v
}

// =============================================================================================
// Reading reports
// =============================================================================================

/// The Features of a scanned image's security data.
fn features(data: &Value) -> &Vec<Value> {
    data["Layer"]["Features"]
        .as_array()
        .unwrap_or_else(|| panic!("no data.Layer.Features in {data:#}"))
}

/// The features named `name` (several versions may be installed).
fn named<'a>(features: &'a [Value], name: &str) -> Vec<&'a Value> {
    features.iter().filter(|f| f["Name"] == name).collect()
}

fn vuln_names(feature: &Value) -> Vec<&str> {
    feature["Vulnerabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("no Vulnerabilities in {feature}"))
        .iter()
        .map(|v| v["Name"].as_str().expect("Name"))
        .collect()
}

type Finding = (String, String, String);

/// (package, version, advisory) of every finding of Quay's security data.
fn quay_findings(data: &Value) -> BTreeSet<Finding> {
    let mut out = BTreeSet::new();
    for f in features(data) {
        for v in f["Vulnerabilities"].as_array().into_iter().flatten() {
            out.insert((
                f["Name"].as_str().unwrap().to_owned(),
                f["Version"].as_str().unwrap().to_owned(),
                v["Name"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// (package, version, advisory) of every finding of a Clair vulnerability report, and those
/// of source packages apart (Quay's Features list binary packages only).
fn clair_findings(report: &Value) -> (BTreeSet<Finding>, BTreeSet<Finding>) {
    let (mut binary, mut source) = (BTreeSet::new(), BTreeSet::new());
    let pv = report["package_vulnerabilities"]
        .as_object()
        .unwrap_or_else(|| panic!("no package_vulnerabilities: {report:.500}"));
    for (pid, vids) in pv {
        let p = &report["packages"][pid];
        assert!(
            p.is_object(),
            "package {pid} of package_vulnerabilities is not listed"
        );
        for vid in vids.as_array().expect("vulnerability ids") {
            let v = &report["vulnerabilities"][vid.as_str().expect("id")];
            assert!(v.is_object(), "vulnerability {vid} is not listed");
            let f = (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
            );
            if p["kind"] == "source" {
                source.insert(f);
            } else {
                binary.insert(f);
            }
        }
    }
    (binary, source)
}

/// Go standard library findings (`GO-...`) of Quay's security data.
#[track_caller]
fn assert_go_stdlib_findings(what: &str, data: &Value) {
    let stdlib = named(features(data), "stdlib");
    assert_eq!(stdlib.len(), 1, "{what}: stdlib features: {stdlib:?}");
    assert!(
        stdlib[0]["Version"].as_str().unwrap().starts_with("1.19"),
        "{what}: built with Go 1.19: {}",
        stdlib[0]
    );
    let names = vuln_names(stdlib[0]);
    assert!(
        names.len() > 10 && names.iter().all(|n| n.starts_with("GO-")),
        "{what}: Go 1.19's stdlib has many GO- advisories: {names:?}"
    );
}

// =============================================================================================
// 1. One image, both APIs, and who may read it
// =============================================================================================

#[test]
fn app_vuln_findings_through_quay_and_clair_apis() {
    const T: &str = "app-vuln";
    let env = Env::start(T);
    let admin = env.admin();
    // A private repository of an organization, pushed to by real skopeo.
    let (s, b) = env.rest(
        Method::POST,
        "/api/v1/organization/",
        &admin,
        Some(json!({ "name": "acme" })),
    );
    assert_eq!(s, 201, "create acme: {b}");
    let (s, b) = env.rest(
        Method::POST,
        "/api/v1/repository",
        &admin,
        Some(json!({ "namespace": "acme", "repository": "app", "visibility": "private", "description": "vulns" })),
    );
    assert_eq!(s, 201, "create acme/app: {b}");
    env.push(&[], &env.layout("bookworm", "app-vuln"), "acme/app:1");
    env.note(T, "pushed");
    env.wait_status("acme/app", APP_VULN, "scanned");
    env.note(T, "scanned");

    // ---- Quay's security endpoint, with the findings.
    let (s, body) = env.security(&admin, "acme/app", APP_VULN, true);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "scanned");
    assert!(body.get("platforms").is_none(), "an image has no platforms");
    let data = &body["data"];
    assert_eq!(data["Layer"]["Name"], APP_VULN);
    let fs = features(data);
    assert!(
        fs.iter().all(|f| f["Vulnerabilities"].is_array()),
        "with vulnerabilities=true every feature lists them (maybe empty)"
    );
    // apt: the Debian tracker's open issue, no fix, negligible.
    let apt = named(fs, "apt");
    assert_eq!(apt.len(), 1, "{apt:?}");
    assert_eq!(apt[0]["Version"], "2.6.1");
    assert_eq!(apt[0]["NamespaceName"], "debian:12");
    let cve = apt[0]["Vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "DEBIAN-CVE-2011-3374")
        .unwrap_or_else(|| panic!("apt lacks DEBIAN-CVE-2011-3374: {:#}", apt[0]));
    assert_eq!(cve["FixedBy"], "", "{cve:#}");
    assert_eq!(cve["Severity"], "Negligible", "{cve:#}");
    assert!(
        apt[0]["CVEIds"]
            .as_array()
            .unwrap()
            .contains(&json!("CVE-2011-3374")),
        "{:#}",
        apt[0]
    );
    // libc6: glibc 2.36-9+deb12u* after the fix of CVE-2023-4911 (DSA-5514-1).
    let libc = named(fs, "libc6");
    assert_eq!(libc.len(), 1, "{libc:?}");
    let libc_vulns = vuln_names(libc[0]);
    assert!(
        !libc_vulns
            .iter()
            .any(|n| n.contains("CVE-2023-4911") || n.contains("DSA-5514")),
        "libc6 {} must not report CVE-2023-4911: {libc_vulns:?}",
        libc[0]["Version"]
    );
    assert!(
        !libc[0]["CVEIds"]
            .as_array()
            .unwrap()
            .contains(&json!("CVE-2023-4911"))
    );
    // Python and npm packages.
    for (pkg, version, prefix) in [("Django", "3.2", "PYSEC-"), ("urllib3", "1.24.1", "PYSEC-")] {
        let f = named(fs, pkg);
        assert_eq!(f.len(), 1, "{pkg}: {f:?}");
        assert_eq!(f[0]["Version"], version);
        assert_eq!(f[0]["VersionFormat"], "PyPI");
        let names = vuln_names(f[0]);
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "{pkg} {version} has no {prefix} advisory: {names:?}"
        );
    }
    let lodash: Vec<&Value> = named(fs, "lodash")
        .into_iter()
        .filter(|f| f["Version"] == "4.17.4")
        .collect();
    assert!(!lodash.is_empty(), "no lodash 4.17.4");
    for f in &lodash {
        let names = vuln_names(f);
        assert!(
            names.contains(&"GHSA-35jh-r3h4-6jhm"),
            "lodash 4.17.4 lacks GHSA-35jh-r3h4-6jhm: {names:?}"
        );
    }
    let quay = quay_findings(data);
    // Without vulnerabilities=true: the same packages, no Vulnerabilities key at all.
    let (s, plain) = env.security(&admin, "acme/app", APP_VULN, false);
    assert_eq!(s, 200);
    assert_eq!(plain["status"], "scanned");
    let plain_fs = features(&plain["data"]);
    assert_eq!(plain_fs.len(), fs.len());
    assert!(
        plain_fs.iter().all(|f| f.get("Vulnerabilities").is_none()),
        "Vulnerabilities listed without vulnerabilities=true"
    );
    env.note(T, "quay endpoint checked");

    // ---- Clair's matcher: the same findings in Clair's shape.
    let token = quay_token();
    let report_path = format!("/matcher/api/v1/vulnerability_report/{APP_VULN}");
    let (s, _, text) = env.clair(Method::GET, &report_path, Some(&token), None, &[]);
    assert_eq!(s, 200, "{text:.500}");
    let report: Value = serde_json::from_str(&text).expect("vulnerability report JSON");
    assert_eq!(report["manifest_hash"], APP_VULN);
    for k in [
        "packages",
        "distributions",
        "environments",
        "vulnerabilities",
        "package_vulnerabilities",
    ] {
        assert!(report[k].is_object(), "{k} is not an object");
    }
    let (clair_bin, clair_src) = clair_findings(&report);
    assert_eq!(
        clair_bin,
        quay,
        "Clair and Quay disagree:\nonly Clair: {:?}\nonly Quay: {:?}",
        clair_bin.difference(&quay).collect::<Vec<_>>(),
        quay.difference(&clair_bin).collect::<Vec<_>>()
    );
    assert!(
        clair_src.is_empty(),
        "findings on source packages, which Quay's Features never show: {clair_src:?}"
    );
    assert!(
        report["distributions"]
            .as_object()
            .unwrap()
            .values()
            .any(|d| d["did"] == "debian" && d["version_id"] == "12"),
        "{}",
        report["distributions"]
    );
    // A clairctl token (the other default issuer) reads the same report.
    let clairctl = berth_auth::sign_psk(&json!({ "iss": "clairctl" }), PSK);
    assert_eq!(
        env.clair(Method::GET, &report_path, Some(&clairctl), None, &[])
            .0,
        200
    );

    // ---- Clair's authentication: every kind of refusal, in Clair's error shape.
    let robot = env.rest(
        Method::PUT,
        "/api/v1/organization/acme/robots/reader",
        &admin,
        Some(json!({})),
    );
    assert_eq!(robot.0, 201, "robot: {}", robot.1);
    let robot_token = robot.1["token"].as_str().expect("robot token").to_owned();
    let other_key = berth_auth::sign_psk(
        &json!({ "iss": "quay", "exp": unix_now() + 300 }),
        b"some other key of reasonable length",
    );
    let mallory = berth_auth::sign_psk(&json!({ "iss": "mallory", "exp": unix_now() + 300 }), PSK);
    let expired = berth_auth::sign_psk(&json!({ "iss": "quay", "exp": unix_now() - 3600 }), PSK);
    let robot_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("acme+reader:{robot_token}"))
    );
    for (what, tok, extra) in [
        ("no token", None, vec![]),
        ("another key", Some(other_key.as_str()), vec![]),
        ("issuer mallory", Some(mallory.as_str()), vec![]),
        ("expired", Some(expired.as_str()), vec![]),
        ("garbage", Some("not.a.jwt"), vec![]),
        (
            "a robot's Basic credentials",
            None,
            vec![("authorization", robot_basic.as_str())],
        ),
    ] {
        let got = env.clair(Method::GET, &report_path, tok, None, &extra);
        let v = clair_error(what, &got, 401);
        assert!(
            !got.2.contains("DEBIAN-CVE"),
            "{what}: the refusal leaks findings: {v}"
        );
    }
    // An unknown path is 404 whoever asks; an unknown manifest 404 for a good token.
    let zero = format!("sha256:{}", "0".repeat(64));
    clair_error(
        "unknown endpoint",
        &env.clair(Method::GET, "/matcher/api/v1/nothing", None, None, &[]),
        404,
    );
    for path in [
        format!("/matcher/api/v1/vulnerability_report/{zero}"),
        format!("/indexer/api/v1/index_report/{zero}"),
    ] {
        clair_error(
            &path,
            &env.clair(Method::GET, &path, Some(&token), None, &[]),
            404,
        );
    }
    clair_error(
        "not a digest",
        &env.clair(
            Method::GET,
            "/indexer/api/v1/index_report/latest",
            Some(&token),
            None,
            &[],
        ),
        400,
    );

    // ---- The indexer side: the stored report, the state and its ETag.
    let index_path = format!("/indexer/api/v1/index_report/{APP_VULN}");
    let (s, _, text) = env.clair(Method::GET, &index_path, Some(&token), None, &[]);
    assert_eq!(s, 200, "{text:.300}");
    let index: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(index["manifest_hash"], APP_VULN);
    assert_eq!(index["state"], "IndexFinished");
    assert_eq!(index["success"], true);
    assert_eq!(
        index["packages"].as_object().unwrap().len(),
        report["packages"].as_object().unwrap().len()
    );
    let (s, headers, text) = env.clair(
        Method::GET,
        "/indexer/api/v1/index_state",
        Some(&token),
        None,
        &[],
    );
    assert_eq!(s, 200, "{text}");
    let state: Value = serde_json::from_str(&text).unwrap();
    let etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("index_state has an ETag")
        .to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", state["state"].as_str().expect("state")),
        "the ETag is the quoted state"
    );
    let (s, headers, text) = env.clair(
        Method::GET,
        "/indexer/api/v1/index_state",
        Some(&token),
        None,
        &[("if-none-match", &etag)],
    );
    assert_eq!(s, 304, "{text}");
    assert!(text.is_empty());
    assert_eq!(headers.get("etag").unwrap().to_str().unwrap(), etag);
    let (s, _, _) = env.clair(
        Method::GET,
        "/indexer/api/v1/index_state",
        Some(&token),
        None,
        &[("if-none-match", "\"stale\"")],
    );
    assert_eq!(s, 200, "a stale ETag gets the state");
    env.note(T, "clair api checked");

    // ---- Who may read the findings of the private repository.
    check_private_repository_access(&env, &robot_token);
    env.note(T, "access checked");

    // ---- DELETE forgets the report: Clair's GETs are 404, Quay's status is queued until
    // the image is indexed again (here by asking for its index report, which indexes on
    // the spot), and then it is scanned with the same findings.
    let (s, _, text) = env.clair(Method::DELETE, &index_path, Some(&token), None, &[]);
    assert_eq!(s, 204, "{text}");
    for path in [&index_path, &report_path] {
        clair_error(
            path,
            &env.clair(Method::GET, path, Some(&token), None, &[]),
            404,
        );
    }
    let (s, body) = env.security(&admin, "acme/app", APP_VULN, false);
    assert_eq!((s, &body["status"]), (200, &json!("queued")), "{body}");
    let (s, _) = env.rest(
        Method::GET,
        &format!("/api/v1/repository/acme/app/manifest/{APP_VULN}/index_report"),
        &admin,
        None,
    );
    assert_eq!(s, 200);
    let (s, again) = env.security(&admin, "acme/app", APP_VULN, true);
    assert_eq!((s, &again["status"]), (200, &json!("scanned")), "{again}");
    assert_eq!(quay_findings(&again["data"]), quay);
    env.note(T, "done");
}

/// A robot granted read gets the findings of a private repository; an unrelated user and
/// anonymous callers get what the REST API gives them for any private repository they cannot
/// see: the 404 of a repository that does not exist, with the same body.
fn check_private_repository_access(env: &Env, robot_token: &str) {
    let admin = env.admin();
    let (s, b) = env.rest(
        Method::PUT,
        "/api/v1/repository/acme/app/permissions/user/acme+reader",
        &admin,
        Some(json!({ "role": "read" })),
    );
    assert_eq!(s, 200, "grant: {b}");
    let (s, b) = env.rest(
        Method::POST,
        "/api/v1/superuser/users/",
        &admin,
        Some(json!({ "username": "stranger", "password": "stranger-password", "email": "stranger@example.com" })),
    );
    assert_eq!(s, 201, "user: {b}");
    let robot = Who::Basic("acme+reader".into(), robot_token.into());
    let (s, body) = env.security(&robot, "acme/app", APP_VULN, true);
    assert_eq!(s, 200, "robot with read: {body}");
    assert_eq!(body["status"], "scanned");
    assert!(!quay_findings(&body["data"]).is_empty());
    let stranger = Who::Basic("stranger".into(), "stranger-password".into());
    for who in [stranger, Who::Anon] {
        let (s, body) = env.security(&who, "acme/app", APP_VULN, true);
        let (s_missing, body_missing) = env.security(&who, "acme/nothing", APP_VULN, true);
        assert_eq!(s, 404, "{who:?} on a private repository: {body}");
        assert_eq!(
            s_missing, 404,
            "{who:?} on a missing repository: {body_missing}"
        );
        assert_eq!(
            body.to_string().replace("acme/app", "acme/nothing"),
            body_missing.to_string(),
            "{who:?}: a private repository must look missing"
        );
        assert!(!body.to_string().contains("Features"));
    }
}

// =============================================================================================
// 2. Clair's POST index_report with layers berth does not hold
// =============================================================================================

/// A tiny HTTP server for Clair layer URIs: `GET /blobs/<digest>` answers the file given
/// for that digest, anything else 404. Keeps every request's head.
struct LayerServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl LayerServer {
    fn start(files: HashMap<String, PathBuf>) -> LayerServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        // Lives until the test process ends.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                log.lock().unwrap().push(head);
                let body = path
                    .strip_prefix("/blobs/")
                    .and_then(|d| files.get(d))
                    .and_then(|p| std::fs::read(p).ok());
                let _ = match body {
                    Some(b) => s
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                                b.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| s.write_all(&b)),
                    None => s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        LayerServer { port, seen }
    }

    fn uri(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A blob of an OCI layout, parsed as JSON.
fn layout_json(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("layout blob");
    serde_json::from_slice(&bytes).expect("JSON blob")
}

/// The linux/amd64 image of `multiarch-hello`: its manifest digest and its one layer.
fn hello_amd64_layer(layout: &Path) -> (String, String, PathBuf) {
    let top: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let index = layout_json(layout, top["manifests"][0]["digest"].as_str().unwrap());
    let amd64 = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64" && m["platform"]["os"] == "linux")
        .expect("a linux/amd64 image");
    let manifest_digest = amd64["digest"].as_str().unwrap().to_owned();
    let manifest = layout_json(layout, &manifest_digest);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "hello has one layer");
    let layer = layers[0]["digest"].as_str().unwrap().to_owned();
    let file = layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    (manifest_digest, layer, file)
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[test]
fn clair_indexes_manifests_whose_layers_it_fetches() {
    const T: &str = "clair-post";
    let env = Env::start(T);
    let layout = env.shared.join("images/multiarch-hello");
    let (manifest, layer, file) = hello_amd64_layer(&layout);
    assert_eq!(manifest, HELLO_AMD64);
    let layers = LayerServer::start(HashMap::from([(layer.clone(), file)]));
    let token = quay_token();
    let post = |body: &str| {
        env.clair(
            Method::POST,
            "/indexer/api/v1/index_report",
            Some(&token),
            Some(body),
            &[],
        )
    };

    // A layer URI that answers 404: an error (the layer could not be fetched), nothing
    // stored, so the next attempt starts afresh.
    let missing_layer = sha256(b"a layer nobody has");
    let missing_manifest = sha256(b"a manifest whose layer is gone");
    let body = json!({
        "hash": missing_manifest,
        "layers": [{ "hash": missing_layer, "uri": layers.uri("/gone"), "headers": {} }],
    });
    let got = post(&body.to_string());
    let v = clair_error("layer URI 404", &got, 502);
    assert!(
        v["message"].as_str().unwrap().contains("404"),
        "the reason names the HTTP status: {v}"
    );
    assert!(
        layers
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /gone ")),
        "berth did not fetch the layer URI: {:?}",
        layers.requests()
    );
    clair_error(
        "report of the failed manifest",
        &env.clair(
            Method::GET,
            &format!("/indexer/api/v1/index_report/{missing_manifest}"),
            Some(&token),
            None,
            &[],
        ),
        404,
    );

    // Malformed bodies: Clair's 400.
    for (what, body) in [
        ("not JSON", "{\"hash\": "),
        ("no hash", "{\"layers\": []}"),
        (
            "a hash that is no digest",
            "{\"hash\": \"latest\", \"layers\": []}",
        ),
        (
            "a layer hash that is no digest",
            &json!({ "hash": HELLO_AMD64, "layers": [{ "hash": "x", "uri": layers.uri("/x") }] })
                .to_string(),
        ),
    ] {
        let v = clair_error(what, &post(body), 400);
        assert_eq!(v["code"], "bad-request", "{what}: {v}");
    }
    // Without a token nothing is fetched.
    let before = layers.requests().len();
    let good = json!({
        "hash": HELLO_AMD64,
        "layers": [{
            "hash": layer,
            "uri": layers.uri(&format!("/blobs/{layer}")),
            "headers": { "Authorization": ["Bearer registry-token-for-the-layer"] },
        }],
    })
    .to_string();
    clair_error(
        "POST without a token",
        &env.clair(
            Method::POST,
            "/indexer/api/v1/index_report",
            None,
            Some(&good),
            &[],
        ),
        401,
    );
    assert_eq!(layers.requests().len(), before);

    // The layer berth does not hold, fetched from its URI with the headers given.
    let (s, _, text) = post(&good);
    assert_eq!(s, 201, "{text:.500}\nserver log:\n{}", env.server.log());
    let index: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(index["manifest_hash"], HELLO_AMD64);
    assert_eq!(index["state"], "IndexFinished", "{index:#}");
    let stdlib: Vec<&Value> = index["packages"]
        .as_object()
        .unwrap()
        .values()
        .filter(|p| p["name"] == "stdlib")
        .collect();
    assert_eq!(stdlib.len(), 1, "{:#}", index["packages"]);
    assert!(stdlib[0]["version"].as_str().unwrap().contains("1.19"));
    let fetches: Vec<String> = layers
        .requests()
        .into_iter()
        .filter(|r| r.starts_with(&format!("GET /blobs/{layer} ")))
        .collect();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert!(
        fetches[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer registry-token-for-the-layer"),
        "the layer's headers were not sent: {}",
        fetches[0]
    );
    env.note(T, "indexed through the layer URI");

    // Stored: GET finds it, a second POST answers it without fetching again.
    let (s, _, text) = env.clair(
        Method::GET,
        &format!("/indexer/api/v1/index_report/{HELLO_AMD64}"),
        Some(&token),
        None,
        &[],
    );
    assert_eq!(s, 200, "{text:.300}");
    let (s, _, _) = post(&good);
    assert_eq!(s, 201);
    assert_eq!(
        layers
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /blobs/"))
            .count(),
        1,
        "a stored report is not made again"
    );

    // The matcher: Go vulnerabilities of that standard library.
    let (s, _, text) = env.clair(
        Method::GET,
        &format!("/matcher/api/v1/vulnerability_report/{HELLO_AMD64}"),
        Some(&token),
        None,
        &[],
    );
    assert_eq!(s, 200, "{text:.300}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let (found, _) = clair_findings(&report);
    let go: Vec<&Finding> = found.iter().filter(|f| f.0 == "stdlib").collect();
    assert!(
        go.len() > 10 && go.iter().all(|f| f.2.starts_with("GO-")),
        "Go 1.19's stdlib has many GO- advisories: {go:?}"
    );
    // The image is in no repository of this server: nothing the REST API would show.
    env.note(T, "done");
}

// =============================================================================================
// 3. Multi-platform images and artifacts
// =============================================================================================

#[test]
fn multiarch_images_per_platform_and_artifacts_unsupported() {
    const T: &str = "multiarch";
    let env = Env::start(T);
    let admin = env.admin();
    env.push(
        &["--all"],
        &env.layout("multiarch-hello", "latest"),
        "org/hello:1",
    );
    env.note(T, "pushed");
    // Artifacts pushed meanwhile, through /v2 as any OCI client does.
    push_helm_chart(&env, "org/chart", "0.1.0");
    env.wait_status("org/hello", MULTIARCH, "scanned");
    env.note(T, "scanned");

    let (s, body) = env.security(&admin, "org/hello", MULTIARCH, true);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "scanned");
    assert!(
        body["data"].is_null(),
        "an index has data per platform: {body:#}"
    );
    let platforms = body["platforms"].as_array().expect("platforms");
    let mut seen = BTreeSet::new();
    for p in platforms {
        let platform = p["platform"].as_str().unwrap();
        assert_eq!(p["status"], "scanned", "{p:#}");
        assert_go_stdlib_findings(platform, &p["data"]);
        seen.insert((
            platform.to_owned(),
            p["digest"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        BTreeSet::from([
            ("linux/amd64".to_owned(), HELLO_AMD64.to_owned()),
            ("linux/arm64/v8".to_owned(), HELLO_ARM64.to_owned()),
        ])
    );
    // Each image on its own answers the same as its platform entry.
    for p in platforms {
        let digest = p["digest"].as_str().unwrap();
        let (s, one) = env.security(&admin, "org/hello", digest, true);
        assert_eq!(s, 200);
        assert_eq!(one["status"], "scanned");
        assert!(one.get("platforms").is_none());
        assert_eq!(quay_findings(&one["data"]), quay_findings(&p["data"]));
    }
    // Without vulnerabilities=true, no platform's features carry them.
    let (_, plain) = env.security(&admin, "org/hello", MULTIARCH, false);
    for p in plain["platforms"].as_array().unwrap() {
        assert!(
            features(&p["data"])
                .iter()
                .all(|f| f.get("Vulnerabilities").is_none())
        );
    }
    env.note(T, "multiarch checked");

    // The Helm chart: unsupported, with the reason, and it stays so.
    let chart = env.wait_status("org/chart", &helm_digest(), "unsupported");
    let reason = chart["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("not a container image") && reason.contains("helm"),
        "reason: {chart:#}"
    );
    assert!(chart["data"].is_null(), "{chart:#}");
    let (_, again) = env.security(&admin, "org/chart", &helm_digest(), true);
    assert_eq!(again["status"], "unsupported", "{again:#}");
    // A digest the repository does not have.
    let (s, _) = env.security(
        &admin,
        "org/hello",
        &format!("sha256:{}", "0".repeat(64)),
        true,
    );
    assert_eq!(s, 404);
    let (s, _) = env.security(&admin, "org/hello", "latest", true);
    assert_eq!(s, 400, "a tag is not a manifest digest");
    env.note(T, "done");
}

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

fn helm_blobs() -> (Vec<u8>, Vec<u8>) {
    (
        br#"{"name":"demo","version":"0.1.0","apiVersion":"v2"}"#.to_vec(),
        b"not really a gzipped chart, but berth must not care".to_vec(),
    )
}

fn helm_manifest() -> Vec<u8> {
    let (config, chart) = helm_blobs();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": HELM_CONFIG, "digest": sha256(&config), "size": config.len() },
        "layers": [{ "mediaType": HELM_CHART, "digest": sha256(&chart), "size": chart.len() }],
    }))
    .unwrap()
}

fn helm_digest() -> String {
    sha256(&helm_manifest())
}

/// Pushes a Helm chart as Helm does (an OCI manifest whose config names the artifact).
fn push_helm_chart(env: &Env, repo: &str, tag: &str) {
    let token = env
        .server
        .admin_token(&[&format!("repository:{repo}:pull,push")]);
    let (config, chart) = helm_blobs();
    for blob in [config, chart] {
        let resp = env.send(
            env.http
                .post(env.url(&format!(
                    "/v2/{repo}/blobs/uploads/?digest={}",
                    sha256(&blob)
                )))
                .bearer_auth(&token)
                .header("content-type", "application/octet-stream")
                .body(blob),
        );
        assert_eq!(resp.status(), 201, "blob upload: {:?}", resp.text());
    }
    let resp = env.send(
        env.http
            .put(env.url(&format!("/v2/{repo}/manifests/{tag}")))
            .bearer_auth(&token)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(helm_manifest()),
    );
    assert_eq!(resp.status(), 201, "manifest: {:?}", resp.text());
}
