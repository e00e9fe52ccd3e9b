//! Test support shared by berth's integration tests and benchmarks.
//!
//! Tests drive the real `berth` binary over HTTP: [`BerthServer`] starts it on a free loopback
//! port with its own data folder and kills it when dropped. Tests that need something outside
//! the repository (the `../shared` folder, a client tool) ask for it through [`shared_dir`] or
//! [`require_tool`], which skip loudly on a developer machine and fail under CI, so a missing
//! install step can never turn into a silent pass.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when running under CI (`CI=true`), where missing prerequisites are failures.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false)
}

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The `shared/` folder beside the checkout: `BERTH_SHARED` if set, else `../shared`.
/// Returns `None` (after saying so loudly) when it is absent outside CI; panics in CI.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("BERTH_SHARED") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared"),
    };
    if dir.join("README.md").exists() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    skip_or_fail(&format!(
        "shared data folder not found at {} (set BERTH_SHARED)",
        dir.display()
    ));
    None
}

/// Whether `tool` is on PATH. Outside CI a missing tool prints a loud SKIP line and returns
/// false; under CI it panics, because CI must have installed it.
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        skip_or_fail(&format!(
            "{tool} is not installed (run the README's test command, which installs it)"
        ));
    }
    found
}

/// Prints a loud skip notice, or panics under CI.
pub fn skip_or_fail(why: &str) {
    if in_ci() {
        panic!("prerequisite missing under CI: {why}");
    }
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Path of the `berth` binary built by cargo for this test run.
///
/// Integration tests of the `berth` crate should pass `env!("CARGO_BIN_EXE_berth")`; other
/// users (benchmarks) fall back to `target/{release,debug}/berth`.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("berth");
        if p.exists() {
            return p;
        }
    }
    panic!("berth binary not found; build it with cargo build -p berth or set BERTH_BIN")
}

/// A running `berth serve` process with its own data folder.
/// The superuser every [`BerthServer`] is started with (`auth.initial_admin`).
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct BerthServer {
    bin: PathBuf,
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

impl BerthServer {
    /// Starts berth with a fresh temporary data folder.
    pub fn start(bin: impl AsRef<Path>) -> BerthServer {
        Self::builder(bin).start()
    }

    pub fn builder(bin: impl AsRef<Path>) -> BerthServerBuilder {
        BerthServerBuilder {
            bin: bin.as_ref().to_owned(),
            data_dir: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's combined stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    /// Runs `berth admin --data-dir <this server's data folder> ARGS` with the server's extra
    /// environment (the server may be running: SQLite lets the second process write), with
    /// `stdin` as its standard input. Returns the output whatever the exit status.
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        use std::io::Write as _;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("admin")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} admin: {e}", self.bin.display()));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .expect("write berth admin stdin");
        }
        child.wait_with_output().expect("berth admin output")
    }

    /// [`admin`](Self::admin) that must succeed; returns its stdout.
    #[track_caller]
    pub fn admin_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.admin(args, stdin);
        assert!(
            out.status.success(),
            "berth admin {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A registry token for `scopes` (such as `repository:org/app:pull,push`) issued to
    /// [`ADMIN_USER`] by the server's token service, for tests that talk to `/v2` directly.
    #[track_caller]
    pub fn admin_token(&self, scopes: &[&str]) -> String {
        let query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", *s)).collect();
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}/v2/auth", self.url()))
            .query(&query)
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .send()
            .unwrap_or_else(|e| panic!("GET /v2/auth: {e}"));
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "GET /v2/auth {scopes:?}: {status} {body}"
        );
        // `{"token":"<JWT>",...}`: a JWT has no characters JSON would escape.
        body.split_once("\"token\":\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(token, _)| token.to_owned())
            .unwrap_or_else(|| panic!("token response without a token: {body}"))
    }

    /// SIGKILL: the crash case. The data folder stays for a restart.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same port and data folder.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = Command::new(&self.bin);
        // Every test server has the same first superuser unless a test sets its own; the
        // variables come first so a test's own settings win.
        cmd.env("BERTH_AUTH__INITIAL_ADMIN__USERNAME", ADMIN_USER)
            .env("BERTH_AUTH__INITIAL_ADMIN__PASSWORD", ADMIN_PASSWORD)
            // Tests run without internet: feeds come from `berth vulndb import` of the
            // recorded data (a test that exercises the updater points it at a local server).
            .env("BERTH_VULNDB__UPDATE", "false");
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.addr())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display())),
        );
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("berth exited during start ({status}):\n{}", self.log());
            }
            if client.get(format!("{}/v2/", self.url())).send().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "berth did not answer on {} within 30s:\n{}",
            self.url(),
            self.log()
        );
    }
}

impl Drop for BerthServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct BerthServerBuilder {
    bin: PathBuf,
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl BerthServerBuilder {
    /// Use this data folder instead of a temporary one (it is not deleted afterwards).
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Extra arguments after `serve --listen .. --data-dir ..`.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn start(self) -> BerthServer {
        let (tmp, data_dir) = match self.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("berth-test-")
                    .tempdir()
                    .expect("tempdir");
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        let mut s = BerthServer {
            bin: self.bin,
            child: None,
            port: free_port(),
            data_dir,
            extra_args: self.args,
            extra_env: self.env,
            _tmp: tmp,
        };
        s.spawn();
        s
    }
}
