//! The detectors against the real images in `../shared/images` (see its README).
//!
//! The layer reading here is a test stand-in for `berth-layer`: it applies the layers in
//! order with whiteouts, keeps the files the detectors want, and resolves symlinks to wanted
//! paths (`etc/os-release -> ../usr/lib/os-release`). Expected answers come from the images
//! themselves by independent means: `dpkg-query` (or a tiny separate status parser), the
//! `dist-info` directory names, and `package-lock.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_detect::{
    Candidate, Detection, Ecosystem, FileSource, MemFiles, OwnedFiles, Package, all_detectors,
    any_wants, python,
};
use serde_json::Value;

/// The shared folder (see `berth_testkit::shared_dir`): a loud SKIP locally when absent, a
/// failure under CI.
fn shared() -> Option<PathBuf> {
    berth_testkit::shared_dir()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob")
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

/// The layer digests of the manifest `digest` in an OCI layout.
fn layers(layout: &Path, digest: &str) -> Vec<String> {
    let m = json(&blob(layout, digest));
    m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// An image's files after applying its layers: the ones any detector (or the ownership
/// helper) wants, with symlinks to them resolved.
struct Image {
    files: MemFiles,
    /// Every regular file's path (to derive expectations from).
    all_paths: BTreeSet<String>,
}

fn read_image(layout: &Path, layer_digests: &[String]) -> Image {
    let detectors = all_detectors();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for d in layer_digests {
        let gz = blob(layout, d);
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for e in ar.entries().expect("entries") {
            let mut e = e.expect("entry");
            let raw = e.path().expect("path").to_string_lossy().into_owned();
            let path = berth_detect::clean_path(&raw)
                .trim_end_matches('/')
                .to_owned();
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                files.retain(|p, _| !p.starts_with(&prefix));
                all_paths.retain(|p| !p.starts_with(&prefix));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    gone.to_owned()
                } else {
                    format!("{dir}/{gone}")
                };
                let prefix = format!("{gone}/");
                files.retain(|p, _| *p != gone && !p.starts_with(&prefix));
                all_paths.retain(|p| *p != gone && !p.starts_with(&prefix));
                links.remove(&gone);
                continue;
            }
            let ty = e.header().entry_type();
            if ty.is_symlink() {
                let target = e
                    .link_name()
                    .expect("link")
                    .expect("target")
                    .to_string_lossy()
                    .into_owned();
                links.insert(path, target);
                continue;
            }
            if !ty.is_file() {
                continue;
            }
            links.remove(&path);
            all_paths.insert(path.clone());
            let mode = e.header().mode().expect("mode");
            let c = Candidate {
                path: &path,
                size: e.size(),
                mode,
            };
            if any_wants(&detectors, &c) {
                let mut b = Vec::new();
                e.read_to_end(&mut b).expect("read");
                files.insert(path, b);
            } else {
                files.remove(&path);
            }
        }
    }
    // Resolve symlinks whose own path a detector wants (one level, relative or absolute).
    for (link, target) in &links {
        if !any_wants(&detectors, &Candidate::file(link, 0)) {
            continue;
        }
        let resolved = if let Some(abs) = target.strip_prefix('/') {
            abs.to_owned()
        } else {
            let mut parts: Vec<&str> = link.split('/').collect();
            parts.pop();
            for seg in target.split('/') {
                match seg {
                    ".." => {
                        parts.pop();
                    }
                    "." | "" => {}
                    s => parts.push(s),
                }
            }
            parts.join("/")
        };
        if let Some(b) = files.get(&resolved).cloned() {
            files.insert(link.clone(), b);
        }
    }
    Image {
        files: files.into_iter().collect(),
        all_paths,
    }
}

/// Runs every detector; asserts nothing was skipped or failed.
fn scan(files: &MemFiles) -> Detection {
    let mut all = Detection::default();
    for d in all_detectors() {
        let det = d
            .detect(files)
            .unwrap_or_else(|e| panic!("{} failed: {e}", d.id()));
        assert!(
            det.skipped.is_empty(),
            "{} skipped files: {:?}",
            d.id(),
            det.skipped
        );
        all.findings.extend(det.findings);
    }
    all
}

fn bookworm() -> Option<PathBuf> {
    shared().map(|s| s.join("images/bookworm"))
}

const MINBASE: &str = "sha256:28c0f153f2006ecc18c375da87d504bab38f6b12ec398b6ce06b5b8eb081e9fc";
const PYTHON_VULN: &str = "sha256:760b8d2c8796f94ffd68f7d4d5ac1b1278144a8613de437b6f24b4a9489447c5";
const APP_VULN: &str = "sha256:f6f412b81757deabaffffe75eb6ced182ef955342fdb60da4902089d1e7c85e9";
const APP_WHITEOUT: &str =
    "sha256:b9de8d437be600eed70cc123e5b1ceaac776950eadfab26d47b3f72530f0d1c8";

/// `name version` lines of the installed packages in a status file, by an independent
/// reader: dpkg-query when installed, else a tiny stanza splitter.
fn expected_dpkg(status: &[u8]) -> BTreeSet<(String, String, String, String)> {
    let dir = std::env::temp_dir().join(format!("berth-detect-dpkg-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("updates")).expect("tmp");
    std::fs::write(dir.join("status"), status).expect("write");
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", dir.display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\\n",
        ])
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(out) = out
        && out.status.success()
    {
        eprintln!("expected dpkg set from dpkg-query");
        return String::from_utf8(out.stdout)
            .expect("utf8")
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w.first() == Some(&"installed") && w.len() == 5).then(|| {
                    (
                        w[1].to_owned(),
                        w[2].to_owned(),
                        w[3].to_owned(),
                        w[4].to_owned(),
                    )
                })
            })
            .collect();
    }
    eprintln!("dpkg-query unavailable: expected dpkg set from the test's own parser");
    let text = String::from_utf8_lossy(status);
    let mut set = BTreeSet::new();
    for stanza in text.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(": ")))
                .map(str::to_owned)
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        let (p, v) = (field("Package").unwrap(), field("Version").unwrap());
        let (sp, sv) = match field("Source") {
            None => (p.clone(), v.clone()),
            Some(s) => match s.split_once(" (") {
                Some((n, sv)) => (n.to_owned(), sv.trim_end_matches(')').to_owned()),
                None => (s, v.clone()),
            },
        };
        set.insert((p, v, sp, sv));
    }
    set
}

#[test]
fn minbase_distribution_and_dpkg_packages() {
    let Some(layout) = bookworm() else { return };
    let img = read_image(&layout, &layers(&layout, MINBASE));
    let det = scan(&img.files);

    let d = det.distribution().expect("distribution");
    assert_eq!(d.did, "debian");
    assert_eq!(d.version_id, "12");
    assert_eq!(d.version_codename, "bookworm");
    assert_eq!(d.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(d.path, "etc/os-release", "read through the symlink");

    let pkgs: Vec<&Package> = det.packages().collect();
    assert!(
        pkgs.iter().all(|p| p.ecosystem == Ecosystem::Debian),
        "only dpkg packages in minbase"
    );
    let got: BTreeSet<_> = pkgs
        .iter()
        .map(|p| {
            let s = p.source.as_ref().expect("source");
            (
                p.name.clone(),
                p.version.clone(),
                s.name.clone(),
                s.version.clone(),
            )
        })
        .collect();
    assert_eq!(got.len(), pkgs.len(), "no duplicates");
    let want = expected_dpkg(img.files.read("var/lib/dpkg/status").expect("status"));
    assert_eq!(
        got.difference(&want).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new()
    );
    assert_eq!(
        want.difference(&got).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new()
    );
    assert_eq!(got.len(), 88, "the README's count");

    let source_of = |n: &str| {
        pkgs.iter()
            .find(|p| p.name == n)
            .and_then(|p| p.source.as_ref())
            .map(|s| s.name.clone())
    };
    assert_eq!(source_of("libc6").as_deref(), Some("glibc"));
    assert_eq!(source_of("libapt-pkg6.0").as_deref(), Some("apt"));
    assert_eq!(source_of("dpkg").as_deref(), Some("dpkg"));

    // The ownership helper reads every .list file of the image.
    let (owned, skipped) = OwnedFiles::from_files(&img.files);
    assert!(skipped.is_empty());
    assert_eq!(owned.owner("usr/bin/dpkg"), Some("dpkg"));
    assert_eq!(owned.owner("/usr/lib/os-release"), Some("base-files"));
}

/// `Django-3.2.dist-info` → (`django`, `3.2`).
fn dist_info_dirs(img: &Image) -> BTreeSet<(String, String)> {
    img.all_paths
        .iter()
        .filter_map(|p| p.strip_suffix(".dist-info/METADATA"))
        .map(|stem| {
            let dir = stem.rsplit('/').next().unwrap();
            let (n, v) = dir.split_once('-').expect("name-version");
            (python::normalize_name(n), v.to_owned())
        })
        .collect()
}

#[test]
fn python_vuln_pypi_packages() {
    let Some(layout) = bookworm() else { return };
    let img = read_image(&layout, &layers(&layout, PYTHON_VULN));
    let mut det = scan(&img.files);
    let (owned, _) = OwnedFiles::from_files(&img.files);
    assert_eq!(
        owned.retain_unowned(&mut det.findings),
        0,
        "pip-installed packages are not dpkg's"
    );

    let got: BTreeSet<_> = det
        .packages()
        .filter(|p| p.ecosystem == Ecosystem::PyPI)
        .map(|p| (python::normalize_name(&p.name), p.version.clone()))
        .collect();
    let want = dist_info_dirs(&img);
    assert_eq!(got, want);
    for (n, v) in [
        ("django", "3.2"),
        ("urllib3", "1.24.1"),
        ("requests", "2.19.1"),
        ("pyyaml", "5.3"),
        ("jinja2", "2.10"),
        ("markupsafe", "1.1.1"),
        ("certifi", "2018.4.16"),
    ] {
        assert!(
            got.contains(&(n.to_owned(), v.to_owned())),
            "{n} {v} in {got:?}"
        );
    }
    for n in ["asgiref", "sqlparse", "pytz", "chardet", "idna"] {
        assert!(got.iter().any(|(g, _)| g == n), "{n}");
    }
    // Names are reported as the metadata spells them.
    assert!(
        det.packages()
            .any(|p| p.name == "Django" && p.path.ends_with("Django-3.2.dist-info/METADATA"))
    );
    assert!(det.packages().any(|p| p.name == "PyYAML"));
}

/// (install location, name, version) from package-lock.json's `packages` map.
fn lock_entries(lock: &Value) -> BTreeSet<(String, String, String)> {
    lock["packages"]
        .as_object()
        .expect("lockfile v2/v3 packages")
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let name = k.rsplit("node_modules/").next().unwrap().to_owned();
            (
                k.clone(),
                name,
                v["version"].as_str().expect("version").to_owned(),
            )
        })
        .collect()
}

fn npm_found(det: &Detection) -> BTreeSet<(String, String, String)> {
    det.packages()
        .filter(|p| p.ecosystem == Ecosystem::Npm)
        .map(|p| {
            let loc = p
                .path
                .strip_prefix("app/")
                .unwrap()
                .strip_suffix("/package.json")
                .unwrap();
            (loc.to_owned(), p.name.clone(), p.version.clone())
        })
        .collect()
}

#[test]
fn app_vuln_npm_packages() {
    let Some(layout) = bookworm() else { return };
    let digests = layers(&layout, APP_VULN);
    let img = read_image(&layout, &digests);
    let det = scan(&img.files);
    let found = npm_found(&det);
    assert_eq!(
        found.len(),
        56,
        "the README's count, nested copies included"
    );
    assert_eq!(
        det.packages()
            .filter(|p| p.ecosystem == Ecosystem::Npm)
            .count(),
        56
    );

    // The lock file of the same layer, read straight from the tarball.
    let gz = blob(&layout, digests.last().unwrap());
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut lock = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_start_matches("./") == "app/package-lock.json" {
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            lock = Some(json(&b));
        }
    }
    let want = lock_entries(&lock.expect("app/package-lock.json"));
    assert_eq!(found, want);
    for (n, v) in [
        ("lodash", "4.17.4"),
        ("minimist", "0.0.8"),
        ("axios", "0.18.0"),
        ("express", "4.16.0"),
    ] {
        assert!(
            found.contains(&(format!("node_modules/{n}"), n.to_owned(), v.to_owned())),
            "{n} {v}"
        );
    }
    // The application's own package.json is not a package; the PyPI layer is still there.
    assert!(det.packages().all(|p| p.path != "app/package.json"));
    assert!(
        det.packages()
            .any(|p| p.ecosystem == Ecosystem::PyPI && p.name == "PyYAML")
    );
}

#[test]
fn app_whiteout_removes_packages() {
    let Some(layout) = bookworm() else { return };
    let img = read_image(&layout, &layers(&layout, APP_WHITEOUT));
    let det = scan(&img.files);
    assert!(!det.packages().any(|p| p.name == "PyYAML"));
    assert!(!det.packages().any(|p| p.name == "minimist"));
    assert!(det.packages().any(|p| p.name == "Django"));
    assert!(det.packages().any(|p| p.name == "lodash"));
}

#[test]
fn multiarch_hello_go_binary() {
    let Some(shared) = shared() else { return };
    let layout = shared.join("images/multiarch-hello");
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    let top = index["manifests"][0]["digest"].as_str().unwrap();
    let image_index = json(&blob(&layout, top));
    let mut arches = HashMap::new();
    for m in image_index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap().to_owned();
        let digest = m["digest"].as_str().unwrap();
        let img = read_image(&layout, &layers(&layout, digest));
        assert_eq!(
            img.files.paths(),
            vec!["hello"],
            "only the binary is wanted"
        );
        let info = berth_detect::golang::parse_binary("hello", img.files.read("hello").unwrap())
            .unwrap()
            .expect("a Go binary");
        assert_eq!(info.go_version, "go1.19.8", "Debian's Go 1.19");
        assert_eq!(info.path, "hello");
        assert!(info.deps.is_empty());
        let goarch = info
            .settings
            .iter()
            .find(|(k, _)| k == "GOARCH")
            .map(|(_, v)| v.clone());
        assert_eq!(goarch.as_deref(), Some(arch.as_str()));

        let det = scan(&img.files);
        let got: Vec<_> = det
            .packages()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.ecosystem))
            .collect();
        assert_eq!(
            got,
            vec![
                ("hello", "(devel)", Ecosystem::Go),
                ("stdlib", "1.19.8", Ecosystem::Go)
            ]
        );
        arches.insert(arch, ());
    }
    assert!(arches.contains_key("amd64") && arches.contains_key("arm64"));
}

/// Every detector over truncated and corrupted copies of the real files it reads: errors
/// and skips are fine, panics are not.
#[test]
fn damaged_real_files_never_panic() {
    let Some(shared) = shared() else { return };
    let layout = shared.join("images/bookworm");
    let mut images = vec![read_image(&layout, &layers(&layout, APP_WHITEOUT))];
    let hello = shared.join("images/multiarch-hello");
    let index = json(&std::fs::read(hello.join("index.json")).unwrap());
    let image_index = json(&blob(
        &hello,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let first = image_index["manifests"][0]["digest"].as_str().unwrap();
    images.push(read_image(&hello, &layers(&hello, first)));
    let detectors = all_detectors();
    let mut tried = 0;
    for img in &images {
        for path in img.files.paths() {
            let bytes = img.files.read(path).unwrap();
            // Executables other than the Go binary are many and large; one is enough.
            if bytes.len() > 2 * 1024 * 1024 || (bytes.starts_with(b"\x7fELF") && path != "hello") {
                continue;
            }
            let n = bytes.len();
            let mut variants: Vec<Vec<u8>> = [0, 1, n / 7, n / 3, n / 2, n.saturating_sub(1)]
                .iter()
                .map(|&cut| bytes[..cut].to_vec())
                .collect();
            let mut flipped = bytes.to_vec();
            for b in flipped.iter_mut().step_by(97) {
                *b ^= 0x5a;
            }
            variants.push(flipped);
            for v in variants {
                let mut one = MemFiles::new();
                one.insert(path, v);
                for d in &detectors {
                    let _ = d.detect(&one);
                }
                let _ = OwnedFiles::from_files(&one);
                tried += 1;
            }
        }
    }
    assert!(tried > 500, "{tried}");
}
