//! The real Docker client (dockerd 20.10 from Debian, sandboxed by `shared/clients/
//! dockerd-sandbox.sh`): pull an image skopeo pushed, push it elsewhere (docker converts OCI
//! to Docker schema 2 and mounts layers across repositories), build a new layer on top and
//! push it (docker's own chunked upload), then pull everything back into an empty daemon and
//! run it.
//!
//! berth refuses anonymous `/v2` requests, so docker works after `docker login` (the daemon
//! trades the credentials for registry tokens and keeps a refresh token as the login's
//! `identitytoken`), with its CLI configuration in the sandbox's own folder (`DOCKER_CONFIG`,
//! one per test); skopeo uses `--dest-creds` and the tests' own HTTP checks carry a token
//! issued to the superuser. `docker_login_robot_token_pull_push` logs in with a robot token
//! made by `berth admin` and shows a wrong token, and the old token after `robot regenerate`,
//! are refused; `docker_login_with_app_token_stops_after_revocation` shows that revoking an
//! app token also ends the refresh token docker keeps from that login.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER, BerthServer, require_tool, shared_dir};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A sandboxed dockerd, stopped on drop.
struct Dockerd {
    script: PathBuf,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Dockerd {
    fn start(shared: &Path) -> Dockerd {
        let script = shared.join("clients/dockerd-sandbox.sh");
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let out = run(Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path()));
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Dockerd { script, dir, env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("DOCKER_BUILDKIT", "0");
        c
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = run(&mut self.command(args));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A docker command that must fail; returns stdout and stderr.
    fn docker_failing(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "docker {args:?} should have failed:\n{text}"
        );
        text
    }

    /// `docker login -u USER --password-stdin HOST`; returns the output and whether it worked.
    fn login(&self, host: &str, user: &str, secret: &str) -> (bool, String) {
        let mut child = self
            .command(&["login", "--username", user, "--password-stdin", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker login");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{secret}\n").as_bytes())
            .expect("docker login stdin");
        let out = child.wait_with_output().expect("docker login output");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[track_caller]
    fn login_ok(&self, host: &str, user: &str, secret: &str) {
        let (ok, text) = self.login(host, user, secret);
        assert!(
            ok && text.contains("Login Succeeded"),
            "docker login as {user}:\n{text}"
        );
        let stored = self.stored_login(host);
        assert!(
            stored.is_some(),
            "docker login as {user} stored nothing for {host} in {}",
            self.config_file().display()
        );
    }

    /// The docker CLI's configuration file (in the sandbox's folder).
    fn config_file(&self) -> PathBuf {
        let dir = self
            .env
            .iter()
            .find(|(k, _)| k == "DOCKER_CONFIG")
            .map(|(_, v)| PathBuf::from(v))
            .expect("the sandbox sets DOCKER_CONFIG");
        dir.join("config.json")
    }

    /// What the CLI configuration holds for `host` (`auths.HOST`), if anything.
    fn stored_login(&self, host: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.config_file()).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["auths"]
            .get(host)
            .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
            .cloned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// GET `/v2/REPO/...` (a path) as the superuser.
fn get_json(
    berth: &BerthServer,
    repo: &str,
    path: &str,
    accept: &str,
) -> (String, serde_json::Value) {
    let url = format!("{}/v2/{repo}/{path}", berth.url());
    let resp = reqwest::blocking::Client::new()
        .get(&url)
        .header("Accept", accept)
        .bearer_auth(berth.admin_token(&[&format!("repository:{repo}:pull")]))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, resp.json().unwrap())
}

/// skopeo copy of a recorded image into berth as the superuser.
fn skopeo_push(layout: &Path, tag: &str, target: &str) {
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("--dest-creds={ADMIN_USER}:{ADMIN_PASSWORD}"),
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker://{target}"),
    ]));
}

#[test]
fn docker_pull_push_build_and_run() {
    let Some(shared) = shared_dir() else { return };
    if !(require_tool("dockerd") && require_tool("docker") && require_tool("skopeo")) {
        return;
    }
    let berth = BerthServer::start(env!("CARGO_BIN_EXE_berth"));
    let host = berth.addr();
    let layout = shared.join("images/bookworm");
    skopeo_push(&layout, "minbase", &format!("{host}/org/base:v1"));
    // The image ID docker reports is the config digest of the manifest skopeo pushed.
    let (_, pushed) = get_json(
        &berth,
        "org/base",
        "manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
    );
    let config_digest = pushed["config"]["digest"].as_str().unwrap().to_owned();

    let d = Dockerd::start(&shared);
    d.login_ok(&host, ADMIN_USER, ADMIN_PASSWORD);
    d.docker(&["pull", "-q", &format!("{host}/org/base:v1")]);
    assert_eq!(
        d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{host}/org/base:v1")
        ]),
        config_digest
    );

    // Push to another repository: docker converts to schema 2 and mounts the layers.
    d.docker(&[
        "tag",
        &format!("{host}/org/base:v1"),
        &format!("{host}/other/copy:v2"),
    ]);
    d.docker(&["push", "-q", &format!("{host}/other/copy:v2")]);
    let (ct, copy) = get_json(&berth, "other/copy", "manifests/v2", DOCKER_MANIFEST);
    assert_eq!(ct, DOCKER_MANIFEST);
    assert_eq!(copy["config"]["digest"], config_digest.as_str());
    let client = reqwest::blocking::Client::new();
    let token = berth.admin_token(&["repository:other/copy:pull"]);
    for layer in copy["layers"].as_array().unwrap() {
        let url = format!(
            "{}/v2/other/copy/blobs/{}",
            berth.url(),
            layer["digest"].as_str().unwrap()
        );
        let head = client.head(&url).bearer_auth(&token).send().unwrap();
        assert_eq!(head.status(), 200, "{url}");
        assert_eq!(
            head.headers()["content-length"].to_str().unwrap(),
            layer["size"].to_string()
        );
    }

    // A new layer, built offline, pushed with docker's own upload path.
    let ctx = tempfile::tempdir().unwrap();
    let marker = format!("built for berth on port {}\n", berth.port());
    std::fs::write(ctx.path().join("hello.txt"), &marker).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {host}/org/base:v1\nCOPY hello.txt /hello.txt\n"),
    )
    .unwrap();
    let built = format!("{host}/org/team/built:v1");
    d.docker(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        &built,
        ctx.path().to_str().unwrap(),
    ]);
    d.docker(&["push", "-q", &built]);
    let built_id = d.docker(&["image", "inspect", "--format", "{{.Id}}", &built]);

    // Forget everything locally, pull back and run.
    for image in [
        format!("{host}/org/base:v1"),
        format!("{host}/other/copy:v2"),
        built.clone(),
    ] {
        d.docker(&["rmi", "-f", &image]);
    }
    assert_eq!(
        d.docker(&["images", "-q"]),
        "",
        "the daemon should hold no images now"
    );
    d.docker(&["pull", "-q", &built]);
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", &built]),
        built_id
    );
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &built,
            "cat",
            "/hello.txt"
        ]),
        marker.trim_end()
    );
    d.docker(&["pull", "-q", &format!("{host}/other/copy:v2")]);
    assert_eq!(
        d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{host}/other/copy:v2")
        ]),
        config_digest
    );

    let (_, tags) = get_json(&berth, "org/team/built", "tags/list", "application/json");
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}

/// The token `berth admin` printed (the `token: ...` line).
fn printed_token(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token line in:\n{out}"))
        .trim()
        .to_owned()
}

/// `docker login` with a robot token (a robot with write on one organization repository,
/// made by `berth admin` while the server runs): docker pulls what the superuser pushed (same
/// image ID), pushes a new tag (stored as Docker schema 2 over the same config, the push on
/// record as the robot's), and pulls it back. A wrong token is refused at login; after
/// `berth admin robot regenerate` the daemon's stored login stops working and the old token is
/// refused, while the new token logs in and pulls.
#[test]
fn docker_login_robot_token_pull_push() {
    let Some(shared) = shared_dir() else { return };
    if !(require_tool("dockerd") && require_tool("docker") && require_tool("skopeo")) {
        return;
    }
    let berth = BerthServer::start(env!("CARGO_BIN_EXE_berth"));
    let host = berth.addr();
    berth.admin_ok(
        &["create-user", "alice", "--password-stdin"],
        Some("alice-password-for-docker\n"),
    );
    berth.admin_ok(&["create-org", "acme", "--owner", "alice"], None);
    berth.admin_ok(&["repo", "create", "acme/base"], None);
    let token = printed_token(&berth.admin_ok(&["robot", "create", "acme", "ci"], None));
    berth.admin_ok(
        &["permission", "acme/base", "--user", "acme+ci", "write"],
        None,
    );
    let layout = shared.join("images/bookworm");
    skopeo_push(&layout, "minbase", &format!("{host}/acme/base:v1"));
    let (_, pushed) = get_json(
        &berth,
        "acme/base",
        "manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
    );
    let config_digest = pushed["config"]["digest"].as_str().unwrap().to_owned();

    let d = Dockerd::start(&shared);
    let (ok, text) = d.login(&host, "acme+ci", &format!("{token}x"));
    assert!(
        !ok,
        "docker login with a wrong robot token succeeded:\n{text}"
    );
    assert!(
        text.contains("invalid username or password"),
        "docker login refused, but not for the credentials:\n{text}"
    );
    assert_eq!(d.stored_login(&host), None, "a refused login was stored");

    d.login_ok(&host, "acme+ci", &token);
    let v1 = format!("{host}/acme/base:v1");
    d.docker(&["pull", "-q", &v1]);
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", &v1]),
        config_digest
    );
    let v2 = format!("{host}/acme/base:v2");
    d.docker(&["tag", &v1, &v2]);
    d.docker(&["push", "-q", &v2]);
    let (ct, m) = get_json(&berth, "acme/base", "manifests/v2", DOCKER_MANIFEST);
    assert_eq!(ct, DOCKER_MANIFEST);
    assert_eq!(m["config"]["digest"], config_digest.as_str());
    let log = berth.admin_ok(
        &[
            "logs",
            "--json",
            "--limit",
            "1000",
            "--repository",
            "acme/base",
        ],
        None,
    );
    assert!(
        log.lines().any(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let meta: serde_json::Value =
                serde_json::from_str(e["metadata"].as_str().unwrap_or("{}")).unwrap_or_default();
            e["kind"] == "push" && e["actor"] == "acme+ci" && meta["reference"] == "v2"
        }),
        "no audit entry of acme+ci pushing v2:\n{log}"
    );
    d.docker(&["rmi", "-f", &v1, &v2]);
    d.docker(&["pull", "-q", &v2]);
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", &v2]),
        config_digest
    );

    // A new token: the daemon's stored login (its refresh token) and the old token both stop.
    let new_token = printed_token(&berth.admin_ok(&["robot", "regenerate", "acme", "ci"], None));
    d.docker(&["rmi", "-f", &v2]);
    let out = d.docker_failing(&["pull", "-q", &v2]);
    assert!(
        out.contains("unauthorized"),
        "pull with the login from before the regeneration failed, but not as unauthorized:\n{out}"
    );
    let (ok, text) = d.login(&host, "acme+ci", &token);
    assert!(
        !ok,
        "docker login with the replaced robot token succeeded:\n{text}"
    );
    assert!(text.contains("invalid username or password"), "{text}");
    d.login_ok(&host, "acme+ci", &new_token);
    d.docker(&["pull", "-q", &v2]);
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", &v2]),
        config_digest
    );
}

/// `docker login` with an app token, then `berth admin app-token revoke`: the daemon's stored
/// login must stop working, as a new login with the token does.
///
/// docker's login asks `/v2/auth` for a refresh token (`offline_token=true`) and keeps it;
/// a revocation must reach that refresh token too (it once did not).
#[test]
fn docker_login_with_app_token_stops_after_revocation() {
    let Some(shared) = shared_dir() else { return };
    if !(require_tool("dockerd") && require_tool("docker") && require_tool("skopeo")) {
        return;
    }
    let berth = BerthServer::start(env!("CARGO_BIN_EXE_berth"));
    let host = berth.addr();
    berth.admin_ok(
        &["create-user", "alice", "--password-stdin"],
        Some("alice-password-for-docker\n"),
    );
    let created = berth.admin_ok(&["app-token", "create", "alice", "laptop"], None);
    let id = created
        .lines()
        .find_map(|l| l.strip_prefix("app token ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no app token id in:\n{created}"))
        .to_owned();
    let token = printed_token(&created);
    let image = format!("{host}/alice/base:v1");
    skopeo_push(&shared.join("images/bookworm"), "minbase", &image);

    let d = Dockerd::start(&shared);
    d.login_ok(&host, "alice", &token);
    d.docker(&["pull", "-q", &image]);
    berth.admin_ok(&["app-token", "revoke", "alice", &id], None);
    d.docker(&["rmi", "-f", &image]);
    let out = d.docker_failing(&["pull", "-q", &image]);
    assert!(out.contains("unauthorized"), "{out}");
    let (ok, text) = d.login(&host, "alice", &token);
    assert!(
        !ok,
        "docker login with the revoked app token succeeded:\n{text}"
    );
}
