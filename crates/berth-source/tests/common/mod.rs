//! Test support: the recorded images in `../shared/images`, real tools (skopeo, CNCF
//! Distribution, the berth binary), and reading blobs back with an independent hash.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_source::{Digest, ImageSource, Options, SourceError, Transport};
use sha2::Digest as _;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// `(tag, manifest digest, layer count)` of the recorded bookworm layout (images/README.md).
pub const BOOKWORM: [(&str, &str, usize); 4] = [
    (
        "minbase",
        "sha256:28c0f153f2006ecc18c375da87d504bab38f6b12ec398b6ce06b5b8eb081e9fc",
        1,
    ),
    (
        "python-vuln",
        "sha256:760b8d2c8796f94ffd68f7d4d5ac1b1278144a8613de437b6f24b4a9489447c5",
        2,
    ),
    (
        "app-vuln",
        "sha256:f6f412b81757deabaffffe75eb6ced182ef955342fdb60da4902089d1e7c85e9",
        3,
    ),
    (
        "app-whiteout",
        "sha256:b9de8d437be600eed70cc123e5b1ceaac776950eadfab26d47b3f72530f0d1c8",
        4,
    ),
];
/// The nested image index of `multiarch-hello`.
pub const MULTIARCH_INDEX: &str =
    "sha256:4d52903fb794e06a61457cc41ff4d63b5ec568f4076f218a7680577fbc4c60f7";

/// `shared/images`: a loud SKIP locally when absent, a failure under CI.
pub fn images_dir() -> Option<PathBuf> {
    berth_testkit::shared_dir().map(|s| s.join("images"))
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest");
    layout.join("blobs").join(alg).join(hex)
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .expect("json")
}

/// The layout's own manifest JSON for `digest`, read without berth-source.
pub fn layout_manifest(layout: &Path, digest: &str) -> serde_json::Value {
    read_json(&blob_path(layout, digest))
}

/// `(platform "os/arch[/variant]", manifest digest)` of each entry of the multiarch index,
/// read straight from the layout.
pub fn multiarch_entries(layout: &Path) -> Vec<(String, String)> {
    let index = layout_manifest(layout, MULTIARCH_INDEX);
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut plat = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                plat.push('/');
                plat.push_str(v);
            }
            (plat, m["digest"].as_str().unwrap().to_owned())
        })
        .collect()
}

pub fn open_str(reference: &str, opts: &Options) -> Result<Box<dyn ImageSource>, SourceError> {
    let t: Transport = berth_source::parse(reference)?;
    berth_source::open(&t, opts)
}

#[track_caller]
pub fn open_ok(reference: &str, opts: &Options) -> Box<dyn ImageSource> {
    open_str(reference, opts).unwrap_or_else(|e| panic!("{reference}: {e} ({e:?})"))
}

#[track_caller]
pub fn open_err(reference: &str, opts: &Options) -> SourceError {
    match open_str(reference, opts) {
        Ok(s) => panic!(
            "{reference} should have failed, resolved to {}",
            s.image().manifest_digest
        ),
        Err(e) => e,
    }
}

/// sha256 (computed with `sha2` directly, not berth's hasher) and length of a stream.
pub fn sha256_stream(mut r: impl Read) -> (String, u64) {
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).expect("read blob");
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    (format!("sha256:{}", hex(&h.finalize())), n)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Streams every layer (and the config) of the image on its own thread at once, checking
/// each stream's sha256 and length against the descriptor.
pub fn verify_all_blobs_in_parallel(src: &dyn ImageSource) {
    let img = src.image();
    let mut blobs = img.layers.clone();
    blobs.push(img.config.clone());
    std::thread::scope(|s| {
        let handles: Vec<_> = blobs
            .iter()
            .map(|b| {
                s.spawn(move || {
                    let r = src
                        .open_blob(&b.digest)
                        .unwrap_or_else(|e| panic!("open_blob {}: {e}", b.digest));
                    (b, sha256_stream(r))
                })
            })
            .collect();
        for h in handles {
            let (b, (digest, len)) = h.join().expect("thread");
            assert_eq!(
                digest,
                b.digest.to_string(),
                "streamed bytes of {}",
                b.digest
            );
            assert_eq!(len, b.size, "length of {}", b.digest);
        }
    });
}

pub fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// Runs a command that must succeed.
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
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

/// `skopeo copy --insecure-policy` with plain-http registries allowed, plus `extra` flags.
#[track_caller]
pub fn skopeo_copy(extra: &[&str], src: &str, dst: &str) {
    run(Command::new("skopeo")
        .args([
            "copy",
            "--insecure-policy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(extra)
        .args([src, dst]));
}

/// CNCF Distribution 2.8 on a loopback port (`shared/peers/distribution.sh`), stopped on
/// drop. Its filesystem store is reachable for tests that tamper with stored content.
pub struct Distribution {
    script: PathBuf,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Distribution {
    /// `None` (after a loud SKIP, or a panic under CI) when shared/ or docker-registry is
    /// missing.
    pub fn start() -> Option<Distribution> {
        let shared = berth_testkit::shared_dir()?;
        if !berth_testkit::require_tool("docker-registry") {
            return None;
        }
        let script = shared.join("peers/distribution.sh");
        let dir = tempfile::Builder::new()
            .prefix("berth-source-dist-")
            .tempdir()
            .unwrap();
        let port = berth_testkit::free_port();
        run(Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(port.to_string())
            .arg(dir.path()));
        Some(Distribution { script, port, dir })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The stored blob file for `digest` in Distribution's filesystem driver layout.
    pub fn stored_blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .status();
    }
}

/// The berth binary for the token-auth tests: `BERTH_BIN`, else the one cargo built next to
/// this test (same target dir and profile, built by `cargo test --workspace`), else the
/// workspace's `target/`. `None` after a loud SKIP (a panic under CI) when there is none.
pub fn berth_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> → target/<profile>/berth
    if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
        let p = profile_dir.join("berth");
        if p.exists() {
            return Some(p);
        }
    }
    let root = berth_testkit::workspace_root();
    for profile in ["debug", "release"] {
        let p = root.join("target").join(profile).join("berth");
        if p.exists() {
            return Some(p);
        }
    }
    berth_testkit::skip_or_fail(
        "the berth binary is not built (cargo build -p berth, or set BERTH_BIN)",
    );
    None
}
