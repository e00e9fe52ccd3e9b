//! Real container clients against a real `berth serve`.
//!
//! Every test starts its own berth (plain HTTP, temp data folder) and drives it with the tools
//! people use: skopeo, podman, buildah (Debian packages) and the oras Python SDK (PyPI `oras`,
//! through `tests/clients/oras_artifact.py`). Images come from the recorded OCI layouts in
//! `../shared/images`; whatever goes in must come back byte-identical (manifest bytes and every
//! blob, checked by digest and by the layout files), tags and deletes must be exactly what the
//! client sees, and the referrers API must list artifacts pushed with a `subject`.
//!
//! berth refuses anonymous `/v2` requests, so every client authenticates as a real user would:
//! skopeo with `--creds`/`--src-creds`/`--dest-creds`, podman and buildah with `login` into an
//! auth file in the test's temp folder (`REGISTRY_AUTH_FILE`, or `--authfile` for a second
//! identity), oras with its login (Basic credentials traded for tokens), and the harness's own
//! HTTP checks with tokens from `/v2/auth`. The round-trip tests act as the superuser every
//! test server starts with; the credential tests (near the end) create users, organizations,
//! robots and app tokens with `berth admin` against the running server's data folder and prove
//! each kind of credential logs in, pushes and pulls, and that wrong, revoked, expired and
//! replaced credentials, read-only grants and other users' private repositories are refused
//! without revealing what exists.
//!
//! Prerequisites (`dev/install-test-deps.sh` installs them): `apt-get install -y skopeo podman
//! buildah runc` and `pip install oras`. A missing tool skips the test loudly, and fails it
//! under `CI=true`.
//!
//! `BERTH_TEST_REGISTRY=127.0.0.1:PORT` points the tests at an already-running plain-HTTP
//! registry instead of starting berth (for comparing behaviour with CNCF Distribution, e.g.
//! `../shared/peers/distribution.sh start 5077 /tmp/dist`; Distribution 2.8 has no referrers
//! API, so the oras test fails there by design). Repository names carry a per-run suffix, so
//! the tests can share one registry and run in parallel. The credential tests need berth's own
//! accounts and skip (loudly) against an external registry.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_testkit::{
    ADMIN_PASSWORD, ADMIN_USER, BerthServer, require_tool, shared_dir, skip_or_fail,
};
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

/// A user name (a robot's is `namespace+name`) and its secret: a password, robot token or app
/// token.
#[derive(Clone, Debug)]
struct Creds {
    user: String,
    secret: String,
}

impl Creds {
    fn new(user: impl Into<String>, secret: impl Into<String>) -> Creds {
        Creds {
            user: user.into(),
            secret: secret.into(),
        }
    }

    /// `--NAME=USER:SECRET` (skopeo's `--creds`, `--src-creds`, `--dest-creds`).
    fn flag(&self, name: &str) -> String {
        format!("--{name}={}:{}", self.user, self.secret)
    }
}

/// The outcome of a client command.
struct Ran {
    ok: bool,
    /// The exit code (`None`: killed by a signal or by the timeout).
    code: Option<i32>,
    out: String,
    err: String,
    /// The command line, for messages.
    shown: String,
}

impl Ran {
    /// stdout and stderr together.
    fn output(&self) -> String {
        format!("{}\n{}", self.out, self.err)
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
    /// Who the round-trip tests act as: the superuser every test berth starts with (an
    /// external registry without authentication ignores them).
    creds: Creds,
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
            creds: Creds::new(ADMIN_USER, ADMIN_PASSWORD),
        };
        h.write_client_config();
        Some(h)
    }

    /// Like [`new`](Self::new), for tests that manage berth's accounts: `None` with a loud
    /// notice against an external registry (`BERTH_TEST_REGISTRY`), which has none.
    fn new_own(tools: &[&str]) -> Option<Harness> {
        if let Ok(addr) = std::env::var("BERTH_TEST_REGISTRY")
            && !addr.trim().is_empty()
        {
            eprintln!(
                "\n*** SKIPPED against external registry {addr}: this test manages berth's own accounts ***\n"
            );
            return None;
        }
        Self::new(tools)
    }

    /// Our own berth (tests from [`new_own`](Self::new_own) always have one).
    fn berth(&self) -> &BerthServer {
        self.reg
            .server
            .as_ref()
            .expect("this test needs its own berth (Harness::new_own)")
    }

    /// `berth admin ARGS` against the running server's data folder; must succeed.
    fn admin(&self, args: &[&str]) -> String {
        self.berth().admin_ok(args, None)
    }

    /// A user with a password of its own.
    fn create_user(&self, name: &str) -> Creds {
        let password = format!("{name}-password-{}", self.uniq);
        self.berth().admin_ok(
            &["create-user", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
        Creds::new(name, password)
    }

    /// A robot `namespace+name` and the token `berth admin` shows once.
    fn create_robot(&self, namespace: &str, name: &str) -> Creds {
        let out = self.admin(&["robot", "create", namespace, name]);
        Creds::new(
            format!("{namespace}+{name}"),
            printed_secret(&out, "berth_rbt_"),
        )
    }

    /// A new token for the robot; the old one must stop working.
    fn regenerate_robot(&self, namespace: &str, name: &str) -> Creds {
        let out = self.admin(&["robot", "regenerate", namespace, name]);
        Creds::new(
            format!("{namespace}+{name}"),
            printed_secret(&out, "berth_rbt_"),
        )
    }

    /// An app token of `user` (lifetime like `1s` or `1h`; none: until revoked): its id and the
    /// credentials that log in with it.
    fn create_app_token(
        &self,
        user: &str,
        title: &str,
        expires_in: Option<&str>,
    ) -> (String, Creds) {
        let mut args = vec!["app-token", "create", user, title];
        if let Some(e) = expires_in {
            args.extend(["--expires-in", e]);
        }
        let out = self.admin(&args);
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("app token ")?.split(' ').next())
            .unwrap_or_else(|| panic!("no app token id in:\n{out}"))
            .to_owned();
        (id, Creds::new(user, printed_secret(&out, "berth_app_")))
    }

    /// The audit entries whose actor is `actor`, newest first, as JSON objects.
    fn audit_log(&self, actor: &str) -> Vec<Value> {
        self.admin(&["logs", "--user", actor, "--json", "--limit", "1000"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l}: {e}")))
            .collect()
    }

    /// Waits (up to 10 s: the server writes its audit log in the background) for an audit
    /// entry of `actor` matching `want`; returns it.
    fn await_audit(&self, actor: &str, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.audit_log(actor);
            if let Some(e) = log.iter().find(|e| want(e)) {
                return e.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "no audit entry of {actor}: {what}; their log:\n{}",
                    log.iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

    /// `skopeo SUBCOMMAND ARGS` (inspect, list-tags, delete) as the superuser.
    fn skopeo(&self, args: &[&str]) -> String {
        let mut c = self.skopeo_cmd(Some(&self.creds), args);
        self.run(&mut c).0
    }

    /// `skopeo SUBCOMMAND --creds=USER:SECRET ARGS` (no `--creds` for `None`).
    fn skopeo_cmd(&self, creds: Option<&Creds>, args: &[&str]) -> Command {
        let (sub, rest) = args.split_first().expect("a skopeo subcommand");
        let mut c = self.cmd("skopeo");
        c.arg(sub);
        if let Some(creds) = creds {
            c.arg(creds.flag("creds"));
        }
        c.args(rest);
        c
    }

    /// `skopeo copy` between any two transports, plain HTTP on both sides, as the superuser.
    fn skopeo_copy(&self, extra: &[&str], src: &str, dst: &str) {
        self.skopeo_copy_as(Some(&self.creds), extra, src, dst);
    }

    /// `skopeo copy` with `creds` on whichever side is a registry (`docker://`).
    fn skopeo_copy_as(&self, creds: Option<&Creds>, extra: &[&str], src: &str, dst: &str) {
        let mut c = self.skopeo_copy_cmd(creds, extra, src, dst);
        self.run(&mut c);
    }

    /// [`skopeo_copy_as`](Self::skopeo_copy_as) that is expected to fail; returns how it went.
    fn skopeo_copy_refused(&self, creds: Option<&Creds>, src: &str, dst: &str) -> Ran {
        let mut c = self.skopeo_copy_cmd(creds, &[], src, dst);
        let ran = self.exec(&mut c, None);
        assert!(
            !ran.ok,
            "{} should have been refused but succeeded:\n{}",
            ran.shown,
            ran.output()
        );
        ran
    }

    fn skopeo_copy_cmd(
        &self,
        creds: Option<&Creds>,
        extra: &[&str],
        src: &str,
        dst: &str,
    ) -> Command {
        let mut c = self.cmd("skopeo");
        c.args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"]);
        if let Some(creds) = creds {
            if src.starts_with("docker://") {
                c.arg(creds.flag("src-creds"));
            }
            if dst.starts_with("docker://") {
                c.arg(creds.flag("dest-creds"));
            }
        }
        c.args(extra).args([src, dst]);
        c
    }

    /// `PROGRAM login` (podman or buildah) as `creds` into `authfile`, the secret on stdin.
    fn login(&self, program: &str, authfile: &Path, creds: &Creds) -> Ran {
        let mut c = self.cmd(program);
        c.arg("login")
            .arg("--tls-verify=false")
            .arg("--authfile")
            .arg(authfile)
            .args(["--username", &creds.user, "--password-stdin", self.addr()]);
        self.exec(&mut c, Some(&format!("{}\n", creds.secret)))
    }

    /// [`login`](Self::login) that must succeed.
    fn login_ok(&self, program: &str, authfile: &Path, creds: &Creds) {
        let ran = self.login(program, authfile, creds);
        assert!(
            ran.ok && ran.output().contains("Login Succeeded"),
            "{} as {} failed:\n{}\n--- registry log (tail) ---\n{}",
            ran.shown,
            creds.user,
            ran.output(),
            self.reg.log_tail()
        );
    }

    /// [`login`](Self::login) that the registry must refuse: a non-zero exit because the
    /// credentials are wrong (not for any other reason), and nothing stored in `authfile`.
    fn login_refused(&self, program: &str, authfile: &Path, creds: &Creds) {
        let ran = self.login(program, authfile, creds);
        assert!(
            !ran.ok && ran.code.is_some_and(|c| c != 0),
            "{} as {} should have been refused:\n{}",
            ran.shown,
            creds.user,
            ran.output()
        );
        assert!(
            ran.err.contains("invalid username/password"),
            "{} as {}: refused, but not for the credentials:\n{}",
            ran.shown,
            creds.user,
            ran.output()
        );
        assert_eq!(
            stored_auth(authfile, self.addr()),
            None,
            "a refused login left credentials in {}",
            authfile.display()
        );
    }

    /// Runs a command to completion (bounded by [`COMMAND_TIMEOUT`]) and returns
    /// (stdout, stderr); panics with everything (output, berth's log) unless it succeeds.
    fn run(&self, cmd: &mut Command) -> (String, String) {
        let ran = self.exec(cmd, None);
        if !ran.ok {
            panic!(
                "command failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- registry log (tail) ---\n{}",
                ran.shown,
                ran.out,
                ran.err,
                self.reg.log_tail()
            );
        }
        (ran.out, ran.err)
    }

    /// Like [`run`](Self::run) but the command must fail; returns stdout + stderr.
    fn run_failing(&self, cmd: &mut Command) -> String {
        let ran = self.exec(cmd, None);
        assert!(
            !ran.ok,
            "command should have failed but succeeded: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            ran.shown, ran.out, ran.err
        );
        ran.output()
    }

    /// Runs a command (with `input` on its stdin, if given) to completion or the timeout.
    fn exec(&self, cmd: &mut Command, input: Option<&str>) -> Ran {
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
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("{shown}: writing stdin: {e}"));
        }
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
        let (ok, code) = match status {
            None => {
                let _ = write!(err, "\n*** killed after {COMMAND_TIMEOUT:?} ***");
                (false, None)
            }
            Some(s) => {
                if !s.success() {
                    let _ = write!(err, "\n*** exit status: {s} ***");
                }
                (s.success(), s.code())
            }
        };
        Ran {
            ok,
            code,
            out,
            err,
            shown,
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

    /// A request as the superuser.
    fn fetch(&self, method: reqwest::Method, path: &str) -> Fetched {
        self.fetch_as(Some(&self.creds), method, path)
    }

    /// A request the way registry clients make it: without a token first, and on a `Bearer`
    /// challenge once more with a token that `creds` (`None`: anonymous) get from the realm
    /// for the challenged scope. Answers the last response.
    fn fetch_as(&self, creds: Option<&Creds>, method: reqwest::Method, path: &str) -> Fetched {
        let send = |token: Option<&str>| {
            let mut rb = self.http.request(method.clone(), self.url(path)).header(
                "Accept",
                [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", "),
            );
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            rb.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        };
        let mut resp = send(None);
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if resp.status() == 401
            && let Some(challenge) = challenge.filter(|c| c.starts_with("Bearer "))
        {
            let token = self.token(creds, &challenge);
            resp = send(Some(&token));
        }
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

    /// A registry token from the realm of a `Bearer` challenge, for its service and scope.
    fn token(&self, creds: Option<&Creds>, challenge: &str) -> String {
        let param = |key: &str| {
            let start = challenge.find(&format!("{key}=\""))? + key.len() + 2;
            let len = challenge[start..].find('"')?;
            Some(challenge[start..start + len].to_owned())
        };
        let realm =
            param("realm").unwrap_or_else(|| panic!("challenge without realm: {challenge}"));
        let mut query = Vec::new();
        for key in ["service", "scope"] {
            if let Some(v) = param(key) {
                query.push((key, v));
            }
        }
        let mut rb = self.http.get(&realm).query(&query);
        if let Some(c) = creds {
            rb = rb.basic_auth(&c.user, Some(&c.secret));
        }
        let resp = rb.send().unwrap_or_else(|e| panic!("GET {realm}: {e}"));
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "token for {challenge} as {:?}: {status} {body}",
            creds.map(|c| &c.user)
        );
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("token response is not JSON ({e}): {body}"));
        v["token"]
            .as_str()
            .unwrap_or_else(|| panic!("token response without a token: {body}"))
            .to_owned()
    }

    /// The repositories `_catalog` lists, as the superuser.
    fn catalog(&self) -> Vec<String> {
        self.catalog_as(Some(&self.creds))
    }

    fn catalog_as(&self, creds: Option<&Creds>) -> Vec<String> {
        let mut repos = Vec::new();
        let mut path = "/v2/_catalog?n=1000".to_owned();
        loop {
            let r = self.fetch_as(creds, reqwest::Method::GET, &path);
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
    let mut c = h.skopeo_copy_cmd(
        Some(&h.creds),
        &[],
        &h.docker(&repo, &absent),
        &format!("oci:{}:absent", h.path("absent").display()),
    );
    let out = h.run_failing(&mut c);
    assert_manifest_unknown(&out);
}

/// A client's failure output says the manifest is unknown (and not, say, that the credentials
/// were refused).
#[track_caller]
fn assert_manifest_unknown(out: &str) {
    assert!(
        out.to_lowercase().contains("manifest unknown"),
        "the failure is not about an unknown manifest:\n{out}"
    );
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
        &h.creds.flag("src-creds"),
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
    let mut c = h.skopeo_cmd(
        Some(&h.creds),
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &h.docker(&repo, "python-vuln"),
        ],
    );
    assert_manifest_unknown(&h.run_failing(&mut c));

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
        &h.creds.flag("src-creds"),
        &h.creds.flag("dest-creds"),
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
    // Every podman command below reads the test's REGISTRY_AUTH_FILE.
    h.login_ok("podman", &h.path("auth.json"), &h.creds);

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
    // buildah and podman below read the test's REGISTRY_AUTH_FILE, except podman 4.3's
    // `manifest inspect`, which has no --authfile and ignores the variable: it finds
    // credentials in $DOCKER_CONFIG/config.json (the test's own, too).
    h.login_ok("buildah", &h.path("auth.json"), &h.creds);
    h.login_ok("podman", &h.path("docker/config.json"), &h.creds);

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

/// Whether the oras Python package imports; if not, a loud skip (a failure under CI).
fn oras_installed(h: &Harness) -> bool {
    let mut c = h.cmd("python3");
    c.args(["-c", "import oras.client"]);
    if h.exec(&mut c, None).ok {
        return true;
    }
    skip_or_fail("the Python package oras is not installed (pip install oras)");
    false
}

/// Runs the oras helper; with `creds`, the oras client logs in with them first.
fn oras(h: &Harness, creds: Option<&Creds>, mut request: Value) -> Value {
    if let Some(c) = creds {
        request["username"] = json!(c.user);
        request["password"] = json!(c.secret);
        request["auth_config"] = json!(h.path("oras-docker-config.json"));
    }
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
    if !oras_installed(&h) {
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
        Some(&h.creds),
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
        Some(&h.creds),
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
            Some(&h.creds),
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

// ---------------------------------------------------------------------------------------------
// Credentials: passwords, robot tokens and app tokens with real clients, and their refusals
// ---------------------------------------------------------------------------------------------

/// The secret on the `token: ...` line `berth admin` prints once, which must start with `prefix`.
fn printed_secret(out: &str, prefix: &str) -> String {
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token line in:\n{out}"))
        .trim()
        .to_owned();
    assert!(
        secret.starts_with(prefix) && secret.len() > prefix.len() + 20,
        "printed token {secret:?} is not a {prefix}... secret"
    );
    secret
}

/// Standard base64 with padding (what Docker-style auth files hold).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `auth` an auth file (podman, buildah, skopeo and docker share the format) holds for
/// `registry`; `None` when the file, the entry or its `auth` is missing.
fn stored_auth(authfile: &Path, registry: &str) -> Option<String> {
    let text = std::fs::read_to_string(authfile).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", authfile.display()));
    v["auths"][registry]["auth"].as_str().map(str::to_owned)
}

/// The details of an audit entry (stored as a JSON string).
fn audit_meta(entry: &Value) -> Value {
    entry["metadata"]
        .as_str()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null)
}

/// Waits for the audit entry of a successful login by `user` with `method` (`password`,
/// `robot_token` or `app_token`).
fn assert_logged_in_with(h: &Harness, user: &str, method: &str) {
    h.await_audit(user, &format!("a {method} login"), |e| {
        e["kind"] == "login"
            && e["success"] == true
            && e["actor"] == user
            && audit_meta(e)["method"] == method
    });
}

/// Waits for the audit entry of `user` pushing `digest` to `repo:reference`.
fn assert_pushed_by(
    h: &Harness,
    user: &str,
    kind: &str,
    repo: &str,
    reference: &str,
    digest: &str,
) {
    h.await_audit(user, &format!("pushing {repo}:{reference}"), |e| {
        let meta = audit_meta(e);
        e["kind"] == "push"
            && e["actor"] == user
            && e["actor_kind"] == kind
            && e["repository"] == repo
            && meta["reference"] == reference
            && meta["digest"] == digest
    });
}

/// A refusal a client reports because the credentials are wrong: berth's message for them.
#[track_caller]
fn assert_bad_credentials(ran: &Ran) {
    assert!(
        ran.output().contains("invalid username or password"),
        "{}: refused, but not for the credentials:\n{}",
        ran.shown,
        ran.output()
    );
}

/// A refusal a client reports because the token does not grant the action.
#[track_caller]
fn assert_denied(ran: &Ran) {
    let out = ran.output();
    assert!(
        out.contains("denied") || out.contains("unauthorized"),
        "{}: refused, but not as denied:\n{out}",
        ran.shown
    );
    assert!(
        !out.contains("invalid username or password"),
        "{}: the credentials themselves were refused:\n{out}",
        ran.shown
    );
}

/// A user, an organization it owns, and a team of the organization that may create
/// repositories.
fn org_with_creator_team(h: &Harness, org: &str, owner: &str, team: &str) {
    h.admin(&["create-org", org, "--owner", owner]);
    h.admin(&["team", "put", org, team, "--role", "creator"]);
}

/// A robot token pushes into an organization: skopeo `--dest-creds org+robot:TOKEN` creates
/// the (private) repository because the robot is in a team that may create repositories,
/// the image is stored byte-identical, the robot pulls it back, the audit log names the robot
/// as the one who logged in (with its token) and pushed, the robot holds write on the new
/// repository, and an anonymous pull of it is refused.
#[test]
fn skopeo_robot_token_pushes_into_org_repository() {
    let Some(h) = Harness::new_own(&["skopeo"]) else {
        return;
    };
    h.create_user("alice");
    org_with_creator_team(&h, "acme", "alice", "builders");
    let robot = h.create_robot("acme", "ci");
    h.admin(&["team", "add-member", "acme", "builders", "acme+ci"]);

    let src = h.bookworm();
    let repo = "acme/tools/scanner";
    let digest = layout_digest(&src, "python-vuln");
    h.skopeo_copy_as(
        Some(&robot),
        &["--preserve-digests"],
        &format!("oci:{}:python-vuln", src.display()),
        &h.docker(repo, "v1"),
    );
    h.get_manifest(repo, "v1").assert_manifest(
        "GET the robot's push",
        &blob(&src, &digest),
        OCI_MANIFEST,
    );
    assert_registry_has_blobs(&h, repo, &src, &digest);

    let out = h.path("out-robot");
    h.skopeo_copy_as(
        Some(&robot),
        &[],
        &h.docker(repo, "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &digest);

    assert_logged_in_with(&h, "acme+ci", "robot_token");
    assert_pushed_by(&h, "acme+ci", "robot", repo, "v1", &digest);
    let perms = h.admin(&["repo", "permissions", repo]);
    assert!(
        perms
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["robot", "acme+ci", "write"]),
        "the robot that created {repo} should hold write on it:\n{perms}"
    );
    let listed = h.admin(&["repo", "list", "--namespace", "acme"]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [repo, "private"]),
        "{repo} should exist, private:\n{listed}"
    );

    let anon = h.skopeo_copy_refused(
        None,
        &h.docker(repo, "v1"),
        &format!("oci:{}:anon", h.path("out-anon").display()),
    );
    assert_denied(&anon);
}

/// podman logs in with an app token (kept in the test's own auth file, as the token itself),
/// pushes an image to its user's namespace and pulls it back after removing it locally: same
/// image ID and manifest digest; the audit log records an app-token login and the push. After
/// `podman logout` the same pull is refused.
#[test]
fn podman_login_with_app_token_push_pull() {
    let Some(h) = Harness::new_own(&["podman", "runc"]) else {
        return;
    };
    h.create_user("alice");
    let (_, app) = h.create_app_token("alice", "laptop", None);
    let authfile = h.path("alice-auth.json");
    h.login_ok("podman", &authfile, &app);
    assert_eq!(
        stored_auth(&authfile, h.addr()),
        Some(base64(format!("alice:{}", app.secret).as_bytes())),
        "podman login should store the app token for {}",
        h.addr()
    );
    assert_logged_in_with(&h, "alice", "app_token");

    let src = h.bookworm();
    let manifest = blob_json(&src, &layout_digest(&src, "minbase"));
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    let image_id = config_digest.trim_start_matches("sha256:").to_owned();
    let podman = |args: &[&str]| {
        let mut c = h.cmd("podman");
        c.args(args);
        h.run(&mut c).0
    };
    let auth = authfile.display().to_string();
    assert_eq!(
        last_line(&podman(&[
            "pull",
            &format!("oci:{}:minbase", src.display())
        ])),
        image_id
    );
    let repo = "alice/tools/app";
    let target = h.image(repo, "v1");
    podman(&["tag", &image_id, &target]);
    let digest_file = h.path("v1.digest");
    podman(&[
        "push",
        "--authfile",
        &auth,
        "--digestfile",
        &digest_file.display().to_string(),
        &target,
    ]);
    let pushed = read_digest_file(&digest_file);
    assert_pushed_manifest(&h, repo, "v1", &pushed, &config_digest, OCI_MANIFEST);
    assert_pushed_by(&h, "alice", "user", repo, "v1", &pushed);

    podman(&["rmi", "--all", "--force"]);
    assert_eq!(last_line(&podman(&["images", "--quiet"])), "");
    assert_eq!(
        last_line(&podman(&["pull", "--authfile", &auth, &target])),
        image_id,
        "image ID pulled back with the app token"
    );
    assert_eq!(
        last_line(&podman(&[
            "image",
            "inspect",
            "--format",
            "{{.Digest}}",
            &target
        ])),
        pushed,
        "manifest digest pulled back"
    );

    podman(&["logout", "--authfile", &auth, h.addr()]);
    assert_eq!(
        stored_auth(&authfile, h.addr()),
        None,
        "logout kept the token"
    );
    podman(&["rmi", "--all", "--force"]);
    let mut c = h.cmd("podman");
    c.args(["pull", "--authfile", &auth, &target]);
    let out = h.run_failing(&mut c);
    assert!(
        out.contains("unauthorized") || out.contains("denied"),
        "pull after logout failed, but not for want of credentials:\n{out}"
    );
}

/// buildah logs in with a user's password, pushes an image to the user's namespace and pulls
/// it back: same image ID, the manifest stored under the digest buildah reported, a password
/// login and the push in the audit log.
#[test]
fn buildah_login_with_password_push_pull() {
    let Some(h) = Harness::new_own(&["buildah", "runc"]) else {
        return;
    };
    let carol = h.create_user("carol");
    let authfile = h.path("carol-auth.json");
    h.login_ok("buildah", &authfile, &carol);
    assert_logged_in_with(&h, "carol", "password");
    let auth = authfile.display().to_string();
    let buildah = |args: &[&str]| {
        let mut c = h.cmd("buildah");
        c.args(args);
        h.run(&mut c).0
    };

    let src = h.bookworm();
    let manifest = blob_json(&src, &layout_digest(&src, "minbase"));
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    let image_id = config_digest.trim_start_matches("sha256:").to_owned();
    assert_eq!(
        last_line(&buildah(&[
            "pull",
            &format!("oci:{}:minbase", src.display())
        ])),
        image_id
    );
    let repo = "carol/base";
    let digest_file = h.path("carol.digest");
    buildah(&[
        "push",
        "--tls-verify=false",
        "--authfile",
        &auth,
        "--digestfile",
        &digest_file.display().to_string(),
        &image_id,
        &h.docker(repo, "v1"),
    ]);
    let pushed = read_digest_file(&digest_file);
    let media_type = h.get_manifest(repo, "v1").content_type.unwrap_or_default();
    assert!(
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST,
        "buildah push stored as {media_type:?}"
    );
    assert_pushed_manifest(&h, repo, "v1", &pushed, &config_digest, &media_type);
    assert_pushed_by(&h, "carol", "user", repo, "v1", &pushed);

    buildah(&["rmi", "--all", "--force"]);
    assert_eq!(
        last_line(&buildah(&[
            "pull",
            "--tls-verify=false",
            "--authfile",
            &auth,
            &h.image(repo, "v1"),
        ])),
        image_id,
        "image ID pulled back with the password"
    );
}

/// oras (Python SDK) logs in as a robot with write on one organization repository and pushes
/// an artifact (custom config type, annotations): stored under the digest oras reports, pulled
/// back byte-identical by the robot, the push recorded as the robot's. A second robot of the
/// same organization, with no permission, cannot pull it.
#[test]
fn oras_basic_auth_robot_pushes_artifact() {
    let Some(h) = Harness::new_own(&["python3"]) else {
        return;
    };
    if !oras_installed(&h) {
        return;
    }
    h.create_user("alice");
    h.admin(&["create-org", "acme", "--owner", "alice"]);
    let repo = "acme/artifacts/sbom";
    h.admin(&["repo", "create", repo]);
    let robot = h.create_robot("acme", "publisher");
    h.admin(&["permission", repo, "--user", "acme+publisher", "write"]);
    let outsider = h.create_robot("acme", "outsider");

    let file = h.path("report.spdx.json");
    let content =
        json!({"spdxVersion": "SPDX-2.3", "name": format!("report-{}", h.uniq)}).to_string();
    std::fs::write(&file, &content).expect("artifact file");
    let config = h.path("config.json");
    std::fs::write(&config, "{\"generator\":\"berth-tests\"}").expect("config");
    let pushed = oras(
        &h,
        Some(&robot),
        json!({
            "op": "push_with_config", "registry": h.addr(), "target": h.image(repo, "v1"),
            "file": file, "file_media_type": SBOM_FILE_TYPE,
            "config_file": config, "config_media_type": SBOM_CONFIG_TYPE,
            "annotations": {"org.example.kind": "sbom"},
        }),
    );
    assert_eq!(pushed["status"], 201, "oras push as the robot: {pushed}");
    let digest = pushed["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no Docker-Content-Digest on the push: {pushed}"))
        .to_owned();
    let got = h.get_manifest(repo, "v1");
    assert_eq!(got.status, 200, "GET the artifact: {}", got.text());
    assert_eq!(sha256(&got.body), digest, "artifact manifest bytes");
    let m = got.json();
    assert_eq!(m["config"]["mediaType"], SBOM_CONFIG_TYPE);
    assert_eq!(m["layers"][0]["mediaType"], SBOM_FILE_TYPE);
    assert_eq!(m["layers"][0]["digest"], sha256(content.as_bytes()));
    assert_logged_in_with(&h, "acme+publisher", "robot_token");
    assert_pushed_by(&h, "acme+publisher", "robot", repo, "v1", &digest);

    let outdir = h.path("pulled");
    let pulled = oras(
        &h,
        Some(&robot),
        json!({"op": "pull", "registry": h.addr(), "target": h.image(repo, "v1"), "outdir": outdir}),
    );
    assert_eq!(
        pulled["files"],
        json!([outdir.join("report.spdx.json")]),
        "oras pull: {pulled}"
    );
    assert_eq!(
        std::fs::read_to_string(outdir.join("report.spdx.json")).expect("pulled file"),
        content,
        "the artifact pulled back"
    );

    let refused = h.fetch_as(
        Some(&outsider),
        reqwest::Method::GET,
        &format!("/v2/{repo}/manifests/v1"),
    );
    assert_eq!(
        refused.status,
        401,
        "a robot without permission read the artifact: {}",
        refused.text()
    );
}

/// A wrong password: `podman login` exits non-zero saying the credentials are invalid and
/// stores nothing, and skopeo can neither pull nor push with it; an unknown user gets exactly
/// the same refusal (no account enumeration). The right password works before and after.
#[test]
fn wrong_password_refused_by_podman_login_and_skopeo() {
    let Some(h) = Harness::new_own(&["podman", "skopeo"]) else {
        return;
    };
    let alice = h.create_user("alice");
    let src = h.bookworm();
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker("alice/app", "v1"),
    );
    let wrong = Creds::new("alice", format!("not-{}", alice.secret));
    let nobody = Creds::new("nobody", alice.secret.clone());

    let authfile = h.path("wrong-auth.json");
    h.login_refused("podman", &authfile, &wrong);
    h.login_refused("podman", &authfile, &nobody);

    let pull = h.skopeo_copy_refused(
        Some(&wrong),
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", h.path("out-wrong").display()),
    );
    assert_bad_credentials(&pull);
    let push = h.skopeo_copy_refused(
        Some(&wrong),
        &format!("oci:{}:minbase", src.display()),
        &h.docker("alice/app", "v2"),
    );
    assert_bad_credentials(&push);
    assert_eq!(h.tag_set("alice/app"), BTreeSet::from(["v1".into()]));
    h.await_audit("alice", "a failed login", |e| {
        e["kind"] == "login" && e["success"] == false && e["actor"] == "alice"
    });

    h.login_ok("podman", &authfile, &alice);
    let out = h.path("out-right");
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &layout_digest(&src, "minbase"));
}

/// An app token works (podman login, skopeo pull) until `berth admin app-token revoke`; then
/// a new podman login and skopeo are refused as invalid credentials, and podman's stored
/// login from before the revocation stops working too.
#[test]
fn revoked_app_token_refused() {
    let Some(h) = Harness::new_own(&["podman", "skopeo"]) else {
        return;
    };
    let alice = h.create_user("alice");
    let src = h.bookworm();
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker("alice/app", "v1"),
    );
    let (id, app) = h.create_app_token("alice", "ci", None);
    let before = h.path("before-auth.json");
    h.login_ok("podman", &before, &app);
    h.skopeo_copy_as(
        Some(&app),
        &[],
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", h.path("out-before").display()),
    );

    h.admin(&["app-token", "revoke", "alice", &id]);
    let listed = h.admin(&["app-token", "list", "alice"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id) && l.trim_end().ends_with("revoked")),
        "app-token list should show {id} revoked:\n{listed}"
    );
    h.login_refused("podman", &h.path("after-auth.json"), &app);
    let ran = h.skopeo_copy_refused(
        Some(&app),
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", h.path("out-after").display()),
    );
    assert_bad_credentials(&ran);
    let mut c = h.cmd("podman");
    c.args([
        "pull",
        "--authfile",
        &before.display().to_string(),
        &h.image("alice/app", "v1"),
    ]);
    let out = h.run_failing(&mut c);
    assert!(
        out.contains("invalid username or password") || out.contains("invalid username/password"),
        "podman's stored login should fail on the revoked token:\n{out}"
    );
}

/// An app token created with `--expires-in 1s` is refused two seconds later (podman login and
/// skopeo), while one of the same user with a longer lifetime still logs in.
#[test]
fn expired_app_token_refused() {
    let Some(h) = Harness::new_own(&["podman", "skopeo"]) else {
        return;
    };
    let alice = h.create_user("alice");
    let src = h.bookworm();
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker("alice/app", "v1"),
    );
    let (short_id, short) = h.create_app_token("alice", "short", Some("1s"));
    let (_, long) = h.create_app_token("alice", "long", Some("1h"));
    std::thread::sleep(Duration::from_secs(2));

    let listed = h.admin(&["app-token", "list", "alice"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&short_id) && l.trim_end().ends_with("expired")),
        "app-token list should show {short_id} expired:\n{listed}"
    );
    h.login_refused("podman", &h.path("short-auth.json"), &short);
    let ran = h.skopeo_copy_refused(
        Some(&short),
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", h.path("out-short").display()),
    );
    assert_bad_credentials(&ran);

    h.login_ok("podman", &h.path("long-auth.json"), &long);
    let out = h.path("out-long");
    h.skopeo_copy_as(
        Some(&long),
        &[],
        &h.docker("alice/app", "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &layout_digest(&src, "minbase"));
}

/// `berth admin robot regenerate`: the robot's old token, which pushed a moment ago, is
/// refused (podman login, skopeo) and the new one pulls what the old one pushed.
#[test]
fn regenerated_robot_old_token_refused() {
    let Some(h) = Harness::new_own(&["podman", "skopeo"]) else {
        return;
    };
    h.create_user("alice");
    h.admin(&["create-org", "acme", "--owner", "alice"]);
    h.admin(&["repo", "create", "acme/app"]);
    let old = h.create_robot("acme", "deployer");
    h.admin(&["permission", "acme/app", "--user", "acme+deployer", "write"]);
    let src = h.bookworm();
    h.skopeo_copy_as(
        Some(&old),
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker("acme/app", "v1"),
    );
    h.login_ok("podman", &h.path("old-auth.json"), &old);

    let new = h.regenerate_robot("acme", "deployer");
    assert_ne!(new.secret, old.secret);
    h.login_refused("podman", &h.path("old-again-auth.json"), &old);
    let ran = h.skopeo_copy_refused(
        Some(&old),
        &h.docker("acme/app", "v1"),
        &format!("oci:{}:v1", h.path("out-old").display()),
    );
    assert_bad_credentials(&ran);

    h.login_ok("podman", &h.path("new-auth.json"), &new);
    let out = h.path("out-new");
    h.skopeo_copy_as(
        Some(&new),
        &[],
        &h.docker("acme/app", "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &layout_digest(&src, "minbase"));
}

/// A robot granted only read on a repository pulls it (byte-identical), but its pushes to
/// that repository, to a new repository of the organization, and its delete are refused as
/// denied (its login itself is fine), leaving the registry as it was.
#[test]
fn read_only_robot_pulls_but_cannot_push() {
    let Some(h) = Harness::new_own(&["skopeo"]) else {
        return;
    };
    h.create_user("alice");
    h.admin(&["create-org", "acme", "--owner", "alice"]);
    let src = h.bookworm();
    let minbase = layout_digest(&src, "minbase");
    h.skopeo_copy(
        &["--preserve-digests"],
        &format!("oci:{}:minbase", src.display()),
        &h.docker("acme/app", "v1"),
    );
    let reader = h.create_robot("acme", "reader");
    h.admin(&["permission", "acme/app", "--user", "acme+reader", "read"]);

    let out = h.path("out-reader");
    h.skopeo_copy_as(
        Some(&reader),
        &[],
        &h.docker("acme/app", "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &minbase);
    assert_logged_in_with(&h, "acme+reader", "robot_token");

    let push = h.skopeo_copy_refused(
        Some(&reader),
        &format!("oci:{}:python-vuln", src.display()),
        &h.docker("acme/app", "v2"),
    );
    assert_denied(&push);
    let create = h.skopeo_copy_refused(
        Some(&reader),
        &format!("oci:{}:minbase", src.display()),
        &h.docker("acme/new", "v1"),
    );
    assert_denied(&create);
    let mut c = h.skopeo_cmd(
        Some(&reader),
        &[
            "delete",
            "--tls-verify=false",
            &h.docker("acme/app", &minbase),
        ],
    );
    let out = h.run_failing(&mut c);
    assert!(
        !out.contains("invalid username or password"),
        "the delete was refused for the credentials, not the permission:\n{out}"
    );

    assert_eq!(h.tag_set("acme/app"), BTreeSet::from(["v1".into()]));
    h.get_manifest("acme/app", "v1").assert_manifest(
        "acme/app:v1 after the refusals",
        &blob(&src, &minbase),
        OCI_MANIFEST,
    );
    let listed = h.admin(&["repo", "list", "--namespace", "acme"]);
    assert_eq!(
        listed
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect::<Vec<_>>(),
        ["acme/app"],
        "a refused push created a repository"
    );
}

/// A user cannot pull another user's private repository, and cannot tell it from one that
/// does not exist: skopeo fails with the same message for both (names aside), the raw
/// manifest and tags requests answer the same status and body, and the catalog does not list
/// it. The owner pulls it fine.
#[test]
fn private_repository_hidden_from_other_user() {
    let Some(h) = Harness::new_own(&["skopeo"]) else {
        return;
    };
    let alice = h.create_user("alice");
    let bob = h.create_user("bob");
    let src = h.bookworm();
    let (secret, absent) = ("alice/secret", "alice/absent");
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &format!("oci:{}:minbase", src.display()),
        &h.docker(secret, "v1"),
    );

    let refusal = |repo: &str| {
        let ran = h.skopeo_copy_refused(
            Some(&bob),
            &h.docker(repo, "v1"),
            &format!(
                "oci:{}:v1",
                h.path(&format!("out-{}", repo.replace('/', "-"))).display()
            ),
        );
        assert_denied(&ran);
        // Timestamps and the name differ; nothing else may.
        ran.err
            .lines()
            .map(|l| {
                l.split_once("msg=")
                    .map_or(l, |(_, m)| m)
                    .replace(repo, "REPO")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (a, b) = (refusal(secret), refusal(absent));
    assert_eq!(
        a, b,
        "bob can tell alice's private repository from a missing one"
    );
    for word in ["unknown", "UNKNOWN", "not found"] {
        assert!(!a.contains(word), "the refusal reveals something: {a}");
    }

    for path in ["manifests/v1", "tags/list"] {
        let get = |repo: &str| {
            let r = h.fetch_as(
                Some(&bob),
                reqwest::Method::GET,
                &format!("/v2/{repo}/{path}"),
            );
            (r.status, r.text().replace(repo, "REPO"))
        };
        let (s, n) = (get(secret), get(absent));
        assert_eq!(s.0, 401, "bob's GET {secret}/{path}: {}", s.1);
        assert_eq!(
            s, n,
            "GET {path}: alice's private repository vs a missing one"
        );
    }
    assert!(
        !h.catalog_as(Some(&bob)).contains(&secret.to_owned()),
        "bob's catalog lists {secret}"
    );
    let push = h.skopeo_copy_refused(
        Some(&bob),
        &format!("oci:{}:minbase", src.display()),
        &h.docker(secret, "v2"),
    );
    assert_denied(&push);

    let out = h.path("out-alice");
    h.skopeo_copy_as(
        Some(&alice),
        &[],
        &h.docker(secret, "v1"),
        &format!("oci:{}:v1", out.display()),
    );
    assert_layout_round_trip(&src, &out, "v1", &layout_digest(&src, "minbase"));
    assert!(h.catalog_as(Some(&alice)).contains(&secret.to_owned()));
}
