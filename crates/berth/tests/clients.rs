//! Real container clients against a real `berth serve`.
//!
//! Every test starts its own berth (plain HTTP, temp data folder) and drives it with the tools
//! people use: skopeo, podman, buildah (Debian packages) and the oras Python SDK (PyPI `oras`,
//! through `tests/clients/oras_artifact.py`). Images come from the recorded OCI layouts in
//! `../shared/images`; whatever goes in must come back byte-identical (manifest bytes and every
//! blob, checked by digest and by the layout files), tags and deletes must be exactly what the
//! client sees, and the referrers API must list artifacts pushed with a `subject`.
//!
//! Prerequisites (`dev/install-test-deps.sh` installs them): `apt-get install -y skopeo podman
//! buildah runc` and `pip install oras`. A missing tool skips the test loudly, and fails it
//! under `CI=true`.
//!
//! `BERTH_TEST_REGISTRY=127.0.0.1:PORT` points the tests at an already-running plain-HTTP
//! registry instead of starting berth (for comparing behaviour with CNCF Distribution, e.g.
//! `../shared/peers/distribution.sh start 5077 /tmp/dist`; Distribution 2.8 has no referrers
//! API, so the oras test fails there by design). Repository names carry a per-run suffix, so
//! the tests can share one registry and run in parallel.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_testkit::{BerthServer, require_tool, shared_dir, skip_or_fail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const BOOKWORM_TAGS: [&str; 4] = ["minbase", "python-vuln", "app-vuln", "app-whiteout"];
/// The longest a single client command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The registry under test: our own berth, or the one named by `BERTH_TEST_REGISTRY`.
struct Registry {
    addr: String,
    server: Option<BerthServer>,
}

impl Registry {
    fn start() -> Registry {
        match std::env::var("BERTH_TEST_REGISTRY") {
            Ok(addr) if !addr.trim().is_empty() => Registry {
                addr: addr.trim().to_owned(),
                server: None,
            },
            _ => {
                let server = BerthServer::start(env!("CARGO_BIN_EXE_berth"));
                Registry {
                    addr: server.addr(),
                    server: Some(server),
                }
            }
        }
    }

    /// The last lines of berth's log (empty for an external registry).
    fn log_tail(&self) -> String {
        let Some(server) = &self.server else {
            return "(external registry: no log)".into();
        };
        let log = server.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }
}

/// One test's world: the registry, the shared images, a temp folder holding the client
/// configuration (registries.conf naming the registry as insecure, container storage, empty
/// auth files) and a unique suffix for repository names.
struct Harness {
    reg: Registry,
    shared: PathBuf,
    tmp: tempfile::TempDir,
    uniq: String,
    http: reqwest::blocking::Client,
}

impl Harness {
    /// `None` (after a loud skip notice; a panic under CI) when the shared folder or a tool is
    /// missing.
    fn new(tools: &[&str]) -> Option<Harness> {
        let shared = shared_dir()?;
        for tool in tools {
            if !require_tool(tool) {
                return None;
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix("berth-clients-")
            .tempdir()
            .expect("tempdir");
        let reg = Registry::start();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let uniq = format!("t{}x{nanos}", std::process::id());
        let h = Harness {
            reg,
            shared,
            tmp,
            uniq,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .redirect(reqwest::redirect::Policy::limited(5))
                .build()
                .expect("http client"),
        };
        h.write_client_config();
        Some(h)
    }

    fn write_client_config(&self) {
        let t = self.tmp.path();
        std::fs::write(
            t.join("registries.conf"),
            format!(
                "unqualified-search-registries = []\n\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
                self.reg.addr
            ),
        )
        .expect("registries.conf");
        // storage.conf.example with its two paths moved into our temp folder.
        let example = self.shared.join("clients/storage.conf.example");
        let example = std::fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
        let (mut runroot, mut graphroot) = (false, false);
        let storage: String = example
            .lines()
            .map(|line| {
                let key = line.split('=').next().unwrap_or("").trim();
                if key == "runroot" {
                    runroot = true;
                    format!("runroot = \"{}\"", t.join("storage/run").display())
                } else if key == "graphroot" {
                    graphroot = true;
                    format!("graphroot = \"{}\"", t.join("storage/root").display())
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            runroot && graphroot,
            "storage.conf.example lacks runroot/graphroot:\n{example}"
        );
        std::fs::write(t.join("storage.conf"), storage + "\n").expect("storage.conf");
        std::fs::create_dir_all(t.join("docker")).expect("docker config dir");
        std::fs::write(t.join("docker/config.json"), "{}").expect("docker config");
        std::fs::write(t.join("auth.json"), "{\"auths\":{}}").expect("auth.json");
        std::fs::create_dir_all(t.join("cmd")).expect("cmd dir");
    }

    fn addr(&self) -> &str {
        &self.reg.addr
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn bookworm(&self) -> PathBuf {
        self.shared.join("images/bookworm")
    }

    fn multiarch(&self) -> PathBuf {
        self.shared.join("images/multiarch-hello")
    }

    /// A repository name unique to this run: `base` (many path segments) + suffix.
    fn repo(&self, base: &str) -> String {
        format!("{base}-{}", self.uniq)
    }

    /// `ADDR/REPO:TAG` or `ADDR/REPO@DIGEST`.
    fn image(&self, repo: &str, reference: &str) -> String {
        let sep = if reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{}/{repo}{sep}{reference}", self.reg.addr)
    }

    /// `docker://ADDR/REPO:TAG` or `docker://ADDR/REPO@DIGEST`.
    fn docker(&self, repo: &str, reference: &str) -> String {
        format!("docker://{}", self.image(repo, reference))
    }

    /// A command with the client environment: containers.conf from shared/clients, our
    /// registries.conf, storage.conf, auth file and DOCKER_CONFIG.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        let t = self.tmp.path();
        c.env(
            "CONTAINERS_CONF",
            self.shared.join("clients/containers.conf"),
        )
        .env("CONTAINERS_REGISTRIES_CONF", t.join("registries.conf"))
        .env("CONTAINERS_STORAGE_CONF", t.join("storage.conf"))
        .env("REGISTRY_AUTH_FILE", t.join("auth.json"))
        .env("DOCKER_CONFIG", t.join("docker"))
        .stdin(Stdio::null());
        c
    }

    fn skopeo(&self, args: &[&str]) -> String {
        let mut c = self.cmd("skopeo");
        c.args(args);
        self.run(&mut c).0
    }

    /// `skopeo copy` between any two transports, plain HTTP on both sides.
    fn skopeo_copy(&self, extra: &[&str], src: &str, dst: &str) {
        let mut args = vec!["copy", "--src-tls-verify=false", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[src, dst]);
        self.skopeo(&args);
    }

    /// Runs a command to completion (bounded by [`COMMAND_TIMEOUT`]) and returns
    /// (stdout, stderr); panics with everything (output, berth's log) unless it succeeds.
    fn run(&self, cmd: &mut Command) -> (String, String) {
        let (ok, out, err, shown) = self.exec(cmd);
        if !ok {
            panic!(
                "command failed: {shown}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- registry log (tail) ---\n{}",
                self.reg.log_tail()
            );
        }
        (out, err)
    }

    /// Like [`run`](Self::run) but the command must fail; returns stdout + stderr.
    fn run_failing(&self, cmd: &mut Command) -> String {
        let (ok, out, err, shown) = self.exec(cmd);
        assert!(
            !ok,
            "command should have failed but succeeded: {shown}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
        );
        format!("{out}\n{err}")
    }

    fn exec(&self, cmd: &mut Command) -> (bool, String, String, String) {
        let shown = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| format!("'{}'", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // Output goes to files, so a chatty child can never block on a full pipe.
        let dir = tempfile::tempdir_in(self.path("cmd")).expect("cmd tempdir");
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        cmd.stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&out_path).unwrap_or_default();
        let mut err = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status {
            None => {
                let _ = write!(err, "\n*** killed after {COMMAND_TIMEOUT:?} ***");
                (false, out, err, shown)
            }
            Some(s) => {
                if !s.success() {
                    let _ = write!(err, "\n*** exit status: {s} ***");
                }
                (s.success(), out, err, shown)
            }
        }
    }

    // --- HTTP ------------------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.reg.addr)
    }

    /// GET a manifest (any of the four manifest types accepted).
    fn get_manifest(&self, repo: &str, reference: &str) -> Fetched {
        self.fetch(
            reqwest::Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
        )
    }

    fn fetch(&self, method: reqwest::Method, path: &str) -> Fetched {
        let resp = self
            .http
            .request(method.clone(), self.url(path))
            .header(
                "Accept",
                [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", "),
            )
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let digest = header("docker-content-digest");
        let length = header("content-length").and_then(|v| v.parse().ok());
        let filters = header("oci-filters-applied");
        let link = header("link");
        let body = resp
            .bytes()
            .unwrap_or_else(|e| panic!("{method} {path} body: {e}"))
            .to_vec();
        Fetched {
            status,
            content_type,
            digest,
            length,
            filters,
            link,
            body,
        }
    }

    fn catalog(&self) -> Vec<String> {
        let mut repos = Vec::new();
        let mut path = "/v2/_catalog?n=1000".to_owned();
        loop {
            let r = self.fetch(reqwest::Method::GET, &path);
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            repos.extend(
                r.json()["repositories"]
                    .as_array()
                    .unwrap_or_else(|| panic!("catalog without repositories: {}", r.text()))
                    .iter()
                    .map(|v| v.as_str().expect("repository name").to_owned()),
            );
            match r.link.as_deref().and_then(|l| l.split(['<', '>']).nth(1)) {
                Some(next) => {
                    path = next
                        .trim_start_matches(&format!("http://{}", self.reg.addr))
                        .to_owned()
                }
                None => return repos,
            }
        }
    }

    /// The tags `skopeo list-tags` reports, as a set.
    fn tag_set(&self, repo: &str) -> BTreeSet<String> {
        self.list_tags(repo).into_iter().collect()
    }

    /// The tags as `skopeo list-tags` reports them, in the registry's order (the spec wants
    /// lexical order).
    fn list_tags(&self, repo: &str) -> Vec<String> {
        let out = self.skopeo(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/{repo}", self.reg.addr),
        ]);
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("list-tags output {out}: {e}"));
        v["Tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().expect("tag").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Fetched {
    status: u16,
    content_type: Option<String>,
    digest: Option<String>,
    length: Option<u64>,
    filters: Option<String>,
    link: Option<String>,
    body: Vec<u8>,
}

impl Fetched {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a 200 whose body is exactly `expected`, with the digest header (if any) and the
    /// content type right.
    fn assert_manifest(&self, what: &str, expected: &[u8], media_type: &str) {
        assert_eq!(self.status, 200, "{what}: status, body {}", self.text());
        assert_eq!(
            sha256(&self.body),
            sha256(expected),
            "{what}: manifest bytes differ:\n{}",
            self.text()
        );
        assert_eq!(self.body, expected, "{what}: manifest bytes");
        assert_eq!(
            self.content_type.as_deref(),
            Some(media_type),
            "{what}: Content-Type"
        );
        assert_eq!(
            self.digest.as_deref(),
            Some(&sha256(expected)[..]),
            "{what}: Docker-Content-Digest"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OCI layouts
// ---------------------------------------------------------------------------------------------

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn file_sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("bad digest {digest}"));
    layout.join("blobs").join(alg).join(hex)
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let p = blob_path(layout, digest);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn blob_json(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest))
        .unwrap_or_else(|e| panic!("{digest} is not JSON: {e}"))
}

/// The descriptor `index.json` of a layout holds for `ref_name`.
fn layout_ref(layout: &Path, ref_name: &str) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json JSON");
    index["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == ref_name)
        .unwrap_or_else(|| panic!("{}: no ref {ref_name} in {index}", layout.display()))
        .clone()
}

fn layout_digest(layout: &Path, ref_name: &str) -> String {
    layout_ref(layout, ref_name)["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

/// Every blob a manifest or index needs, itself included (walking into indexes).
fn referenced_blobs(layout: &Path, digest: &str) -> BTreeSet<String> {
    let mut all = BTreeSet::from([digest.to_owned()]);
    let doc = blob_json(layout, digest);
    if let Some(children) = doc["manifests"].as_array() {
        for child in children {
            all.extend(referenced_blobs(
                layout,
                child["digest"].as_str().expect("child digest"),
            ));
        }
    }
    if let Some(config) = doc["config"]["digest"].as_str() {
        all.insert(config.to_owned());
    }
    for layer in doc["layers"].as_array().into_iter().flatten() {
        all.insert(layer["digest"].as_str().expect("layer digest").to_owned());
    }
    all
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// Asserts that the layout `out` (written by a client from the registry) holds `ref_name` ->
/// `digest`, and exactly the blobs `digest` needs, each byte-identical to the one in `src`.
fn assert_layout_round_trip(src: &Path, out: &Path, ref_name: &str, digest: &str) {
    assert_eq!(
        layout_digest(out, ref_name),
        digest,
        "{}: digest of {ref_name}",
        out.display()
    );
    let expected = referenced_blobs(src, digest);
    let mut got = BTreeSet::new();
    for entry in std::fs::read_dir(out.join("blobs/sha256")).expect("out blobs") {
        let name = format!(
            "sha256:{}",
            entry.expect("entry").file_name().to_string_lossy()
        );
        got.insert(name);
    }
    assert_eq!(
        got,
        expected,
        "{}: blob set after the round trip",
        out.display()
    );
    for d in &expected {
        let (a, b) = (blob_path(src, d), blob_path(out, d));
        let (la, lb) = (
            a.metadata().expect("src blob").len(),
            b.metadata().expect("out blob").len(),
        );
        assert_eq!(lb, la, "{d}: size after the round trip");
        assert_eq!(file_sha256(&b), *d, "{d}: content after the round trip");
        assert_eq!(
            file_sha256(&a),
            *d,
            "{d}: the source layout itself is corrupt"
        );
    }
}

/// Checks the registry serves every blob of `digest` (from `layout`) in `repo` with the right
/// length (HEAD), and the small ones byte for byte (GET).
fn assert_registry_has_blobs(h: &Harness, repo: &str, layout: &Path, digest: &str) {
    for d in referenced_blobs(layout, digest) {
        let doc = blob_json(layout, digest);
        let is_manifest = d == digest
            || doc["manifests"]
                .as_array()
                .is_some_and(|m| m.iter().any(|c| c["digest"] == d.as_str()));
        if is_manifest {
            continue;
        }
        let size = blob_path(layout, &d).metadata().expect("blob").len();
        let head = h.fetch(reqwest::Method::HEAD, &format!("/v2/{repo}/blobs/{d}"));
        assert_eq!(head.status, 200, "HEAD blob {d} in {repo}");
        assert_eq!(
            head.length,
            Some(size),
            "HEAD blob {d} in {repo}: Content-Length"
        );
        if size < 2_000_000 {
            let get = h.fetch(reqwest::Method::GET, &format!("/v2/{repo}/blobs/{d}"));
            assert_eq!(get.status, 200, "GET blob {d} in {repo}");
            assert_eq!(sha256(&get.body), d, "GET blob {d} in {repo}: content");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------------------------

/// All four bookworm tags in and out of one multi-segment repository: manifests and every blob
/// come back byte-identical, the manifests are served by tag with the right headers, and the
/// repository is in the catalog.
#[test]
fn skopeo_bookworm_tags_round_trip_byte_identical() {
    let Some(h) = Harness::new(&["skopeo"]) else {
        return;
    };
    let src = h.bookworm();
    let repo = h.repo("org/team/sub/app");
    for tag in BOOKWORM_TAGS {
        h.skopeo_copy(
            &["--preserve-digests"],
            &format!("oci:{}:{tag}", src.display()),
            &h.docker(&repo, tag),
        );
    }
    for tag in BOOKWORM_TAGS {
        let digest = layout_digest(&src, tag);
        let got = h.get_manifest(&repo, tag);
        got.assert_manifest(
            &format!("GET {repo}:{tag}"),
            &blob(&src, &digest),
            OCI_MANIFEST,
        );
        let out = h.path(&format!("out-{tag}"));
        h.skopeo_copy(
            &[],
            &h.docker(&repo, tag),
            &format!("oci:{}:{tag}", out.display()),
        );
        assert_layout_round_trip(&src, &out, tag, &digest);
        assert_registry_has_blobs(&h, &repo, &src, &digest);
    }
    let mut expected: Vec<String> = BOOKWORM_TAGS.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(h.list_tags(&repo), expected, "tags of {repo}");
    assert!(
        h.catalog().contains(&repo),
        "{repo} missing from the catalog"
    );
}

/// Push and pull by digest only (`docker://HOST/repo@sha256:...`): the digest reference is
/// served byte-identical, no tag is created, and a pull by a digest the repository lacks fails.
#[test]
fn skopeo_copy_by_digest() {
    let Some(h) = Harness::new(&["skopeo"]) else {
        return;
    };
    let src = h.bookworm();
    let repo = h.repo("digest/only/python");
    let digest = layout_digest(&src, "python-vuln");
    h.skopeo_copy(
        &["--preserve-digests"],
        &format!("oci:{}:python-vuln", src.display()),
        &h.docker(&repo, &digest),
    );

    let got = h.get_manifest(&repo, &digest);
    got.assert_manifest(
        &format!("GET {repo}@{digest}"),
        &blob(&src, &digest),
        OCI_MANIFEST,
    );
    let raw = h.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &h.docker(&repo, &digest),
    ]);
    assert_eq!(
        raw.as_bytes(),
        &blob(&src, &digest)[..],
        "skopeo inspect --raw by digest"
    );

    let out = h.path("out");
    h.skopeo_copy(
        &[],
        &h.docker(&repo, &digest),
        &format!("oci:{}:pulled", out.display()),
    );
    assert_layout_round_trip(&src, &out, "pulled", &digest);

    // Pushed by digest only: the source's tag name does not exist in the registry.
    assert_eq!(
        h.get_manifest(&repo, "python-vuln").status,
        404,
        "a tag appeared from a push by digest"
    );
    // A digest the repository does not hold (minbase was never pushed here).
    let absent = layout_digest(&src, "minbase");
    assert_eq!(
        h.get_manifest(&repo, &absent).status,
        404,
        "GET of a manifest never pushed"
    );
    let mut c = h.cmd("skopeo");
    c.args([
        "copy",
        "--src-tls-verify=false",
        &h.docker(&repo, &absent),
        &format!("oci:{}:absent", h.path("absent").display()),
    ]);
    h.run_failing(&mut c);
}

/// `skopeo copy --all` of the multi-arch OCI index: the index, both platform manifests and all
/// blobs round-trip byte-identical; `inspect --raw` gives the index bytes; a single-platform
/// pull (arm64/v8) resolves through the index to the right manifest.
#[test]
fn skopeo_copy_all_multiarch_index() {
    let Some(h) = Harness::new(&["skopeo"]) else {
        return;
    };
    let src = h.multiarch();
    let repo = h.repo("multi/arch/hello");
    let index_digest = layout_digest(&src, "latest");
    h.skopeo_copy(
        &["--all", "--preserve-digests"],
        &format!("oci:{}:latest", src.display()),
        &h.docker(&repo, "latest"),
    );

    let index_bytes = blob(&src, &index_digest);
    h.get_manifest(&repo, "latest")
        .assert_manifest("GET index by tag", &index_bytes, OCI_INDEX);
    h.get_manifest(&repo, &index_digest).assert_manifest(
        "GET index by digest",
        &index_bytes,
        OCI_INDEX,
    );
    let index = blob_json(&src, &index_digest);
    let children = index["manifests"].as_array().expect("children");
    assert_eq!(
        children.len(),
        2,
        "the shared index should hold two platforms"
    );
    for child in children {
        let d = child["digest"].as_str().expect("digest");
        h.get_manifest(&repo, d).assert_manifest(
            &format!("GET child {d}"),
            &blob(&src, d),
            OCI_MANIFEST,
        );
    }
    let raw = h.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &h.docker(&repo, "latest"),
    ]);
    assert_eq!(
        raw.as_bytes(),
        &index_bytes[..],
        "skopeo inspect --raw of the index"
    );
    assert_registry_has_blobs(&h, &repo, &src, &index_digest);

    let out = h.path("out-all");
    h.skopeo_copy(
        &["--all"],
        &h.docker(&repo, "latest"),
        &format!("oci:{}:latest", out.display()),
    );
    assert_layout_round_trip(&src, &out, "latest", &index_digest);

    let arm = children
        .iter()
        .find(|c| c["platform"]["architecture"] == "arm64")
        .expect("arm64 child");
    let arm_digest = arm["digest"].as_str().expect("digest");
    let out = h.path("out-arm64");
    let mut c = h.cmd("skopeo");
    c.args([
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "copy",
        "--src-tls-verify=false",
        &h.docker(&repo, "latest"),
        &format!("oci:{}:arm", out.display()),
    ]);
    h.run(&mut c);
    assert_layout_round_trip(&src, &out, "arm", arm_digest);
    assert_eq!(h.list_tags(&repo), vec!["latest".to_owned()]);
}

/// `skopeo inspect` (raw, parsed, config), `skopeo list-tags` (exact, sorted) and
/// `skopeo delete` by digest and by tag: a deleted manifest is 404 by digest, its tags are gone,
/// and images sharing its layers are untouched.
#[test]
fn skopeo_inspect_list_tags_delete() {
    let Some(h) = Harness::new(&["skopeo"]) else {
        return;
    };
    let src = h.bookworm();
    let repo = h.repo("ops/inspect/deep/repo");
    for tag in BOOKWORM_TAGS {
        h.skopeo_copy(
            &[],
            &format!("oci:{}:{tag}", src.display()),
            &h.docker(&repo, tag),
        );
    }
    // A second tag on the same manifest.
    h.skopeo_copy(
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker(&repo, "latest"),
    );
    let mut tags = vec![
        "app-vuln",
        "app-whiteout",
        "latest",
        "minbase",
        "python-vuln",
    ];
    assert_eq!(
        h.list_tags(&repo),
        tags,
        "skopeo list-tags (complete, lexically sorted)"
    );

    let whiteout = layout_digest(&src, "app-whiteout");
    let raw = h.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &h.docker(&repo, "app-whiteout"),
    ]);
    assert_eq!(
        raw.as_bytes(),
        &blob(&src, &whiteout)[..],
        "skopeo inspect --raw"
    );
    let manifest = blob_json(&src, &whiteout);
    let info: Value = serde_json::from_str(&h.skopeo(&[
        "inspect",
        "--tls-verify=false",
        &h.docker(&repo, "app-whiteout"),
    ]))
    .expect("inspect JSON");
    assert_eq!(info["Digest"], whiteout.as_str(), "skopeo inspect Digest");
    assert_eq!(
        info["Layers"],
        json!(layer_digests(&manifest)),
        "skopeo inspect Layers"
    );
    assert_eq!(info["RepoTags"], json!(tags), "skopeo inspect RepoTags");
    let config_digest = manifest["config"]["digest"].as_str().expect("config");
    let config = h.skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &h.docker(&repo, "app-whiteout"),
    ]);
    assert_eq!(
        config.as_bytes(),
        &blob(&src, config_digest)[..],
        "skopeo inspect --config --raw"
    );

    // Delete by digest.
    let python = layout_digest(&src, "python-vuln");
    h.skopeo(&["delete", "--tls-verify=false", &h.docker(&repo, &python)]);
    assert_eq!(
        h.get_manifest(&repo, &python).status,
        404,
        "GET deleted manifest by digest"
    );
    assert_eq!(
        h.fetch(
            reqwest::Method::HEAD,
            &format!("/v2/{repo}/manifests/{python}")
        )
        .status,
        404,
        "HEAD deleted manifest"
    );
    assert_eq!(
        h.get_manifest(&repo, "python-vuln").status,
        404,
        "tag of the deleted manifest"
    );
    tags.retain(|t| *t != "python-vuln");
    assert_eq!(h.list_tags(&repo), tags, "tags after deleting python-vuln");
    let mut c = h.cmd("skopeo");
    c.args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &h.docker(&repo, "python-vuln"),
    ]);
    h.run_failing(&mut c);

    // Delete by tag (skopeo resolves the tag and deletes the manifest by digest).
    let app = layout_digest(&src, "app-vuln");
    h.skopeo(&["delete", "--tls-verify=false", &h.docker(&repo, "app-vuln")]);
    assert_eq!(
        h.get_manifest(&repo, &app).status,
        404,
        "GET app-vuln by digest after delete by tag"
    );
    tags.retain(|t| *t != "app-vuln");
    assert_eq!(h.list_tags(&repo), tags, "tags after deleting app-vuln");

    // Layers shared with the deleted images still serve the remaining ones, byte-identical.
    for tag in ["minbase", "app-whiteout"] {
        let digest = layout_digest(&src, tag);
        h.get_manifest(&repo, tag).assert_manifest(
            &format!("GET {tag} after deletes"),
            &blob(&src, &digest),
            OCI_MANIFEST,
        );
        let out = h.path(&format!("out-{tag}"));
        h.skopeo_copy(
            &[],
            &h.docker(&repo, tag),
            &format!("oci:{}:{tag}", out.display()),
        );
        assert_layout_round_trip(&src, &out, tag, &digest);
    }

    // Deleting a manifest removes every tag that points at it.
    let minbase = layout_digest(&src, "minbase");
    h.skopeo(&["delete", "--tls-verify=false", &h.docker(&repo, &minbase)]);
    assert_eq!(
        h.get_manifest(&repo, "latest").status,
        404,
        "second tag of a deleted manifest"
    );
    assert_eq!(
        h.list_tags(&repo),
        vec!["app-whiteout".to_owned()],
        "tags after deleting minbase"
    );
}

/// Copying inside one registry (repo A -> repo B, different namespaces) makes skopeo mount the
/// layers cross-repository (`POST ?mount=&from=`) instead of downloading and uploading them;
/// the copy is byte-identical and B serves the mounted blobs.
#[test]
fn skopeo_copy_between_repositories_mounts_layers() {
    let Some(h) = Harness::new(&["skopeo"]) else {
        return;
    };
    let src = h.bookworm();
    let a = h.repo("mount/source/team-a/app");
    let b = h.repo("mount/target/b");
    let digest = layout_digest(&src, "app-vuln");
    h.skopeo_copy(
        &[],
        &format!("oci:{}:app-vuln", src.display()),
        &h.docker(&a, "app-vuln"),
    );

    let mut c = h.cmd("skopeo");
    c.args([
        "--debug",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &h.docker(&a, "app-vuln"),
        &h.docker(&b, "copied"),
    ]);
    let (_, log) = h.run(&mut c);
    let manifest = blob_json(&src, &digest);
    for layer in layer_digests(&manifest) {
        let hex = layer.trim_start_matches("sha256:");
        assert!(
            log.lines()
                .any(|l| l.contains("Trying to mount")
                    && l.contains(&format!("mount=sha256%3A{hex}"))),
            "skopeo did not try to mount {layer}:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("Downloading") && l.contains(hex)),
            "skopeo downloaded {layer} instead of mounting it:\n{log}"
        );
    }
    let mounted = log.lines().filter(|l| l.contains("mount OK")).count();
    assert_eq!(
        mounted,
        layer_digests(&manifest).len(),
        "cross-repo mounts answered 201:\n{log}"
    );

    h.get_manifest(&b, "copied").assert_manifest(
        "GET copied manifest",
        &blob(&src, &digest),
        OCI_MANIFEST,
    );
    assert_registry_has_blobs(&h, &b, &src, &digest);
    let out = h.path("out");
    h.skopeo_copy(
        &[],
        &h.docker(&b, "copied"),
        &format!("oci:{}:copied", out.display()),
    );
    assert_layout_round_trip(&src, &out, "copied", &digest);
}

// ---------------------------------------------------------------------------------------------
// podman, buildah
// ---------------------------------------------------------------------------------------------

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn read_digest_file(path: &Path) -> String {
    let d = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned();
    assert!(
        d.starts_with("sha256:") && d.len() == 71,
        "digest file {}: {d:?}",
        path.display()
    );
    d
}

/// Asserts the registry holds `repo:tag` as a manifest of `digest` (bytes hash to it, header
/// agrees) with config `config_digest`, and serves every layer it names; returns the manifest.
fn assert_pushed_manifest(
    h: &Harness,
    repo: &str,
    tag: &str,
    digest: &str,
    config_digest: &str,
    media_type: &str,
) -> Value {
    let got = h.get_manifest(repo, tag);
    assert_eq!(got.status, 200, "GET {repo}:{tag}: {}", got.text());
    assert_eq!(
        sha256(&got.body),
        digest,
        "GET {repo}:{tag}: bytes vs the digest the client reported"
    );
    assert_eq!(
        got.digest.as_deref(),
        Some(digest),
        "GET {repo}:{tag}: Docker-Content-Digest"
    );
    assert_eq!(
        got.content_type.as_deref(),
        Some(media_type),
        "GET {repo}:{tag}: Content-Type"
    );
    let m = got.json();
    assert_eq!(
        m["config"]["digest"], config_digest,
        "config of {repo}:{tag}"
    );
    for layer in m["layers"].as_array().expect("layers") {
        let d = layer["digest"].as_str().expect("digest");
        let head = h.fetch(reqwest::Method::HEAD, &format!("/v2/{repo}/blobs/{d}"));
        assert_eq!(head.status, 200, "HEAD {repo} blob {d}");
        assert_eq!(
            head.length,
            layer["size"].as_u64(),
            "HEAD {repo} blob {d}: Content-Length"
        );
    }
    m
}

/// podman: load an image from the OCI layout, push it (OCI, then converted to Docker schema 2),
/// remove it locally and pull it back by tag and by digest: same image ID (config digest), same
/// manifest digest, same uncompressed layers (diff IDs, which podman verifies while pulling).
#[test]
fn podman_push_pull_round_trip() {
    let Some(h) = Harness::new(&["podman", "runc"]) else {
        return;
    };
    let src = h.bookworm();
    let manifest = blob_json(&src, &layout_digest(&src, "app-vuln"));
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    let config = blob_json(&src, &config_digest);
    let image_id = config_digest.trim_start_matches("sha256:").to_owned();
    let podman = |args: &[&str]| {
        let mut c = h.cmd("podman");
        c.args(args);
        h.run(&mut c).0
    };
    let inspect = |reference: &str, format: &str| {
        last_line(&podman(&[
            "image", "inspect", "--format", format, reference,
        ]))
    };

    let loaded = last_line(&podman(&[
        "pull",
        &format!("oci:{}:app-vuln", src.display()),
    ]));
    assert_eq!(
        loaded, image_id,
        "image ID of the image loaded from the OCI layout"
    );

    let repo = h.repo("podman/team/nested/app");
    let (v1, docker) = (h.image(&repo, "v1"), h.image(&repo, "docker"));
    podman(&["tag", &image_id, &v1]);
    let digest_file = h.path("v1.digest");
    podman(&[
        "push",
        "--digestfile",
        &digest_file.display().to_string(),
        &v1,
    ]);
    let pushed = read_digest_file(&digest_file);
    assert_pushed_manifest(&h, &repo, "v1", &pushed, &config_digest, OCI_MANIFEST);

    let docker_digest_file = h.path("docker.digest");
    podman(&[
        "push",
        "--format",
        "v2s2",
        "--digestfile",
        &docker_digest_file.display().to_string(),
        &v1,
        &docker,
    ]);
    let docker_digest = read_digest_file(&docker_digest_file);
    let m = assert_pushed_manifest(
        &h,
        &repo,
        "docker",
        &docker_digest,
        &config_digest,
        DOCKER_MANIFEST,
    );
    assert_eq!(m["mediaType"], DOCKER_MANIFEST);
    assert_eq!(
        h.tag_set(&repo),
        BTreeSet::from(["docker".into(), "v1".into()])
    );

    let diff_ids = json!(config["rootfs"]["diff_ids"]);
    for (reference, digest) in [
        (v1.clone(), pushed.clone()),
        (docker.clone(), docker_digest.clone()),
        (h.image(&repo, &pushed), pushed.clone()),
    ] {
        podman(&["rmi", "--all", "--force"]);
        assert_eq!(
            last_line(&podman(&["images", "--quiet"])),
            "",
            "local images left after rmi --all"
        );
        let pulled = last_line(&podman(&["pull", &reference]));
        assert_eq!(pulled, image_id, "image ID after pulling {reference}");
        assert_eq!(
            inspect(&reference, "{{.Digest}}"),
            digest,
            "manifest digest after pulling {reference}"
        );
        let layers: Value = serde_json::from_str(&inspect(&reference, "{{json .RootFS.Layers}}"))
            .expect("RootFS.Layers");
        assert_eq!(
            layers, diff_ids,
            "uncompressed layers after pulling {reference}"
        );
    }
}

/// buildah: pull an image from berth and push it to another repository; build a manifest list
/// from the two platform images held in berth (`manifest add`), `manifest push --all` it, and
/// pull it back (podman manifest inspect, a platform pull, skopeo copy --all): the list and every
/// instance and blob are byte-identical to the source images.
#[test]
fn buildah_push_and_manifest_push_all() {
    let Some(h) = Harness::new(&["buildah", "podman", "skopeo", "runc"]) else {
        return;
    };
    let src = h.multiarch();
    let index = blob_json(&src, &layout_digest(&src, "latest"));
    let child = |arch: &str| -> (String, String) {
        let c = index["manifests"]
            .as_array()
            .expect("children")
            .iter()
            .find(|c| c["platform"]["architecture"] == arch)
            .expect("platform");
        let d = c["digest"].as_str().expect("digest").to_owned();
        let config = blob_json(&src, &d)["config"]["digest"]
            .as_str()
            .expect("config")
            .to_owned();
        (d, config)
    };
    let (amd, amd_config) = child("amd64");
    let (arm, arm_config) = child("arm64");
    let buildah = |args: &[&str]| {
        let mut c = h.cmd("buildah");
        c.args(args);
        h.run(&mut c).0
    };

    let source_repo = h.repo("buildah/source/hello");
    h.skopeo_copy(
        &["--all", "--preserve-digests"],
        &format!("oci:{}:latest", src.display()),
        &h.docker(&source_repo, "latest"),
    );

    // Pull + push of a single image.
    let pulled = last_line(&buildah(&[
        "pull",
        "--tls-verify=false",
        "--arch",
        "amd64",
        &h.image(&source_repo, "latest"),
    ]));
    assert_eq!(
        pulled,
        amd_config.trim_start_matches("sha256:"),
        "image ID pulled by buildah (amd64 through the index)"
    );
    let single = h.repo("buildah/single/hello");
    let digest_file = h.path("single.digest");
    buildah(&[
        "push",
        "--tls-verify=false",
        "--digestfile",
        &digest_file.display().to_string(),
        &pulled,
        &h.docker(&single, "v1"),
    ]);
    let single_digest = read_digest_file(&digest_file);
    let media_type = h
        .get_manifest(&single, "v1")
        .content_type
        .unwrap_or_default();
    assert!(
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST,
        "buildah push stored as {media_type:?}"
    );
    assert_pushed_manifest(&h, &single, "v1", &single_digest, &amd_config, &media_type);

    // Manifest list from instances in the registry.
    let list = format!("list-{}", h.uniq);
    buildah(&["manifest", "create", &list]);
    buildah(&[
        "manifest",
        "add",
        "--tls-verify=false",
        &list,
        &h.docker(&source_repo, &amd),
    ]);
    buildah(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--variant",
        "v8",
        &list,
        &h.docker(&source_repo, &arm),
    ]);
    let list_repo = h.repo("buildah/lists/hello");
    let list_file = h.path("list.digest");
    buildah(&[
        "manifest",
        "push",
        "--tls-verify=false",
        "--all",
        "--digestfile",
        &list_file.display().to_string(),
        &list,
        &h.docker(&list_repo, "v1"),
    ]);
    let list_digest = read_digest_file(&list_file);

    let got = h.get_manifest(&list_repo, "v1");
    assert_eq!(got.status, 200, "GET pushed list: {}", got.text());
    assert_eq!(
        sha256(&got.body),
        list_digest,
        "pushed list bytes vs buildah's digest"
    );
    assert_eq!(
        got.digest.as_deref(),
        Some(&list_digest[..]),
        "Docker-Content-Digest of the list"
    );
    let list_type = got.content_type.clone().unwrap_or_default();
    assert!(
        list_type == OCI_INDEX || list_type == DOCKER_LIST,
        "list stored as {list_type:?}"
    );
    let pushed_list = got.json();
    let platforms: BTreeMap<String, (String, String)> = pushed_list["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let plat = format!(
                "{}/{}/{}",
                p["os"].as_str().unwrap_or(""),
                p["architecture"].as_str().unwrap_or(""),
                p["variant"].as_str().unwrap_or("")
            );
            (
                m["digest"].as_str().expect("digest").to_owned(),
                (plat, m["mediaType"].as_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        BTreeMap::from([
            (
                amd.clone(),
                ("linux/amd64/".to_owned(), OCI_MANIFEST.to_owned())
            ),
            (
                arm.clone(),
                ("linux/arm64/v8".to_owned(), OCI_MANIFEST.to_owned())
            ),
        ]),
        "instances of the pushed list"
    );
    for d in [&amd, &arm] {
        h.get_manifest(&list_repo, d).assert_manifest(
            &format!("instance {d} in {list_repo}"),
            &blob(&src, d),
            OCI_MANIFEST,
        );
        assert_registry_has_blobs(&h, &list_repo, &src, d);
    }

    // Pull the list back: the remote list as podman sees it, one platform, everything.
    let mut c = h.cmd("podman");
    c.args(["manifest", "inspect", &h.image(&list_repo, "v1")]);
    let inspected: Value =
        serde_json::from_str(&h.run(&mut c).0).expect("podman manifest inspect JSON");
    let seen: BTreeSet<&str> = inspected["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["digest"].as_str().expect("digest"))
        .collect();
    assert_eq!(
        seen,
        BTreeSet::from([amd.as_str(), arm.as_str()]),
        "podman manifest inspect"
    );
    let mut c = h.cmd("podman");
    c.args([
        "pull",
        "--arch",
        "arm64",
        "--variant",
        "v8",
        &h.image(&list_repo, "v1"),
    ]);
    assert_eq!(
        last_line(&h.run(&mut c).0),
        arm_config.trim_start_matches("sha256:"),
        "arm64 image pulled through the list"
    );

    let out = h.path("out-list");
    h.skopeo_copy(
        &["--all"],
        &h.docker(&list_repo, "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_eq!(
        layout_digest(&out, "v1"),
        list_digest,
        "list digest after skopeo copy --all"
    );
    assert_eq!(file_sha256(&blob_path(&out, &list_digest)), list_digest);
    for d in [&amd, &arm] {
        for b in referenced_blobs(&src, d) {
            assert_eq!(
                file_sha256(&blob_path(&out, &b)),
                b,
                "blob {b} of {d} after the round trip"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// oras (Python): artifacts with a subject, referrers API
// ---------------------------------------------------------------------------------------------

const SBOM_FILE_TYPE: &str = "application/spdx+json";
const SBOM_CONFIG_TYPE: &str = "application/vnd.berth.test.sbom.config.v1+json";
const SIG_FILE_TYPE: &str = "application/vnd.berth.test.signature.layer.v1";
const SIG_ARTIFACT_TYPE: &str = "application/vnd.berth.test.signature.v1";

fn oras(h: &Harness, request: Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/oras_artifact.py");
    let mut c = h.cmd("python3");
    c.arg(&script).arg(request.to_string());
    let out = h.run(&mut c).0;
    serde_json::from_str(&last_line(&out))
        .unwrap_or_else(|e| panic!("oras helper output is not JSON ({e}):\n{out}"))
}

fn referrers(h: &Harness, repo: &str, digest: &str, artifact_type: Option<&str>) -> Fetched {
    let query = artifact_type
        .map(|t| format!("?artifactType={}", t.replace('+', "%2B")))
        .unwrap_or_default();
    let r = h.fetch(
        reqwest::Method::GET,
        &format!("/v2/{repo}/referrers/{digest}{query}"),
    );
    assert_eq!(
        r.status,
        200,
        "GET referrers of {digest}{query}: {}",
        r.text()
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some(OCI_INDEX),
        "referrers Content-Type"
    );
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2, "referrers index: {v}");
    assert_eq!(v["mediaType"], OCI_INDEX, "referrers index: {v}");
    r
}

/// The referrers' descriptors, keyed by digest, reduced to the fields the spec defines.
fn referrer_descriptors(r: &Fetched) -> BTreeMap<String, Value> {
    r.json()["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("referrers without manifests: {}", r.text()))
        .iter()
        .map(|d| {
            let mut kept = serde_json::Map::new();
            for k in ["mediaType", "digest", "size", "artifactType", "annotations"] {
                if let Some(v) = d.get(k) {
                    kept.insert(k.to_owned(), v.clone());
                }
            }
            (
                d["digest"].as_str().expect("digest").to_owned(),
                Value::Object(kept),
            )
        })
        .collect()
}

/// oras pushes an SBOM (artifact type from its config) and a signature (explicit
/// `artifactType`, empty config, chunked layer upload, pushed by digest only), both with a
/// `subject` on an image pushed by skopeo. The referrers API lists exactly their descriptors
/// (with and without `?artifactType=`), the pushes answer `OCI-Subject`, oras pulls both back
/// byte-identical, and deleting one drops it from the referrers.
#[test]
fn oras_artifacts_with_subject_and_referrers() {
    let Some(h) = Harness::new(&["skopeo", "python3"]) else {
        return;
    };
    let mut c = h.cmd("python3");
    c.args(["-c", "import oras.client"]);
    if !h.exec(&mut c).0 {
        skip_or_fail("the Python package oras is not installed (pip install oras)");
        return;
    }
    let src = h.bookworm();
    let repo = h.repo("oras/supply/chain/app");
    let subject_digest = layout_digest(&src, "minbase");
    h.skopeo_copy(
        &["--preserve-digests"],
        &format!("oci:{}:minbase", src.display()),
        &h.docker(&repo, "minbase"),
    );
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": blob(&src, &subject_digest).len()});

    let sbom_path = h.path("sbom.spdx.json");
    let sbom = json!({
        "spdxVersion": "SPDX-2.3",
        "name": format!("bookworm-minbase-{}", h.uniq),
        "packages": [{"name": "dpkg", "versionInfo": "1.21.22"}],
    })
    .to_string();
    std::fs::write(&sbom_path, &sbom).expect("sbom");
    let sbom_config = h.path("sbom-config.json");
    std::fs::write(&sbom_config, "{\"generator\":\"berth-tests\"}").expect("config");
    let sig_path = h.path("signature.bin");
    let sig: Vec<u8> = (0..2500u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&sig_path, &sig).expect("signature");

    let sbom_annotations = json!({"org.opencontainers.image.created": "2024-01-02T03:04:05Z", "org.example.kind": "sbom"});
    let a = oras(
        &h,
        json!({
            "op": "push_with_config", "registry": h.addr(), "target": h.image(&repo, "sbom"),
            "file": sbom_path, "file_media_type": SBOM_FILE_TYPE,
            "config_file": sbom_config, "config_media_type": SBOM_CONFIG_TYPE,
            "annotations": sbom_annotations, "subject": subject,
        }),
    );
    assert_eq!(a["status"], 201, "oras push of the SBOM: {a}");
    let a_digest = a["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no Docker-Content-Digest on the SBOM push: {a}"))
        .to_owned();
    assert_eq!(
        a["oci_subject"],
        subject_digest.as_str(),
        "OCI-Subject header on the SBOM push: {a}"
    );
    let a_manifest = h.get_manifest(&repo, &a_digest);
    assert_eq!(a_manifest.status, 200);
    assert_eq!(sha256(&a_manifest.body), a_digest, "SBOM manifest bytes");
    assert_eq!(a_manifest.content_type.as_deref(), Some(OCI_MANIFEST));
    assert_eq!(
        a_manifest.json()["subject"],
        subject,
        "subject kept in the SBOM manifest"
    );

    let sig_annotations = json!({"org.example.kind": "signature"});
    let b = oras(
        &h,
        json!({
            "op": "push_typed", "registry": h.addr(), "target": format!("{}/{repo}", h.addr()), "by_digest": true,
            "file": sig_path, "file_media_type": SIG_FILE_TYPE, "artifact_type": SIG_ARTIFACT_TYPE,
            "annotations": sig_annotations, "subject": subject,
        }),
    );
    assert_eq!(b["status"], 201, "push of the signature manifest: {b}");
    let b_digest = b["sent_digest"].as_str().expect("sent_digest").to_owned();
    assert_eq!(
        b["digest"],
        b_digest.as_str(),
        "Docker-Content-Digest of the signature push"
    );
    assert_eq!(
        b["oci_subject"],
        subject_digest.as_str(),
        "OCI-Subject header on the signature push: {b}"
    );
    let b_manifest = h.get_manifest(&repo, &b_digest);
    assert_eq!(b_manifest.status, 200);
    assert_eq!(
        sha256(&b_manifest.body),
        b_digest,
        "signature manifest bytes"
    );
    assert_eq!(
        h.tag_set(&repo),
        BTreeSet::from(["minbase".into(), "sbom".into()]),
        "a push by digest created a tag"
    );

    let a_desc = json!({
        "mediaType": OCI_MANIFEST, "digest": a_digest, "size": a_manifest.body.len(),
        "artifactType": SBOM_CONFIG_TYPE, "annotations": sbom_annotations,
    });
    let b_desc = json!({
        "mediaType": OCI_MANIFEST, "digest": b_digest, "size": b["manifest_size"],
        "artifactType": SIG_ARTIFACT_TYPE, "annotations": sig_annotations,
    });
    assert_eq!(
        b_manifest.body.len() as u64,
        b["manifest_size"].as_u64().expect("size")
    );

    let all = referrers(&h, &repo, &subject_digest, None);
    assert_eq!(
        referrer_descriptors(&all),
        BTreeMap::from([
            (a_digest.clone(), a_desc.clone()),
            (b_digest.clone(), b_desc.clone())
        ]),
        "referrers of the image: {}",
        all.text()
    );
    let filtered = referrers(&h, &repo, &subject_digest, Some(SIG_ARTIFACT_TYPE));
    assert_eq!(
        referrer_descriptors(&filtered),
        BTreeMap::from([(b_digest.clone(), b_desc.clone())]),
        "filtered referrers: {}",
        filtered.text()
    );
    assert_eq!(
        filtered.filters.as_deref(),
        Some("artifactType"),
        "OCI-Filters-Applied"
    );
    let filtered = referrers(&h, &repo, &subject_digest, Some(SBOM_CONFIG_TYPE));
    assert_eq!(
        referrer_descriptors(&filtered),
        BTreeMap::from([(a_digest.clone(), a_desc.clone())]),
        "filtered referrers: {}",
        filtered.text()
    );
    let none = referrers(
        &h,
        &repo,
        &subject_digest,
        Some("application/vnd.berth.test.none"),
    );
    assert!(
        referrer_descriptors(&none).is_empty(),
        "referrers of an unused type: {}",
        none.text()
    );
    let config_of_subject = blob_json(&src, &subject_digest)["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    let unrelated = referrers(&h, &repo, &config_of_subject, None);
    assert!(
        referrer_descriptors(&unrelated).is_empty(),
        "referrers of a digest nothing refers to: {}",
        unrelated.text()
    );

    // oras pulls both back byte-identical (by tag, and by digest).
    for (target, file, want) in [
        (h.image(&repo, "sbom"), "sbom.spdx.json", sbom.as_bytes()),
        (h.image(&repo, &b_digest), "signature.bin", &sig[..]),
    ] {
        let outdir = h.path(&format!("pulled-{}", file.replace('.', "-")));
        let pulled = oras(
            &h,
            json!({"op": "pull", "registry": h.addr(), "target": target, "outdir": outdir}),
        );
        assert_eq!(
            pulled["files"],
            json!([outdir.join(file)]),
            "oras pull of {target}"
        );
        assert_eq!(
            std::fs::read(outdir.join(file)).expect("pulled file"),
            want,
            "oras pull of {target}: content"
        );
    }

    // Deleting a referrer drops it from the list.
    let del = h.fetch(
        reqwest::Method::DELETE,
        &format!("/v2/{repo}/manifests/{b_digest}"),
    );
    assert_eq!(del.status, 202, "DELETE signature manifest: {}", del.text());
    let after = referrers(&h, &repo, &subject_digest, None);
    assert_eq!(
        referrer_descriptors(&after),
        BTreeMap::from([(a_digest, a_desc)]),
        "referrers after deleting the signature: {}",
        after.text()
    );
}
