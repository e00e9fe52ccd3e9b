//! The real Docker client (dockerd 20.10 from Debian, sandboxed by `shared/clients/
//! dockerd-sandbox.sh`): pull an image skopeo pushed, push it elsewhere (docker converts OCI
//! to Docker schema 2 and mounts layers across repositories), build a new layer on top and
//! push it (docker's own chunked upload), then pull everything back into an empty daemon and
//! run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_testkit::{BerthServer, require_tool, shared_dir};

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

    fn docker(&self, args: &[&str]) -> String {
        let out = run(Command::new("docker")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("DOCKER_BUILDKIT", "0"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
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

fn get_json(url: &str, accept: &str) -> (String, serde_json::Value) {
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .header("Accept", accept)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, resp.json().unwrap())
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
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:minbase", layout.display()),
        &format!("docker://{host}/org/base:v1"),
    ]));
    // The image ID docker reports is the config digest of the manifest skopeo pushed.
    let (_, pushed) = get_json(
        &format!("{}/v2/org/base/manifests/v1", berth.url()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let config_digest = pushed["config"]["digest"].as_str().unwrap().to_owned();

    let d = Dockerd::start(&shared);
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
    let (ct, copy) = get_json(
        &format!("{}/v2/other/copy/manifests/v2", berth.url()),
        DOCKER_MANIFEST,
    );
    assert_eq!(ct, DOCKER_MANIFEST);
    assert_eq!(copy["config"]["digest"], config_digest.as_str());
    let client = reqwest::blocking::Client::new();
    for layer in copy["layers"].as_array().unwrap() {
        let url = format!(
            "{}/v2/other/copy/blobs/{}",
            berth.url(),
            layer["digest"].as_str().unwrap()
        );
        let head = client.head(&url).send().unwrap();
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

    let tags: serde_json::Value = client
        .get(format!("{}/v2/org/team/built/tags/list", berth.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}
