//! The Go detector against binaries built by the real Go toolchain, compared field by field
//! with `go version -m`. Needs a Go toolchain (`apt-get install golang-go`; Debian's 1.19 is
//! what the shared image was built with); without one the test is a loud SKIP, and a failure
//! under CI, whose test command installs it.
//!
//! The module built here has dependencies replaced by local directories, so `go build`
//! needs no network: `GOPROXY=off`, `GOFLAGS=-mod=mod`.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_detect::golang::{BuildInfo, parse_binary, parse_modinfo};

fn go() -> Option<PathBuf> {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v go || ls /usr/lib/go-*/bin/go 2>/dev/null | tail -1",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if found.is_none() {
        berth_testkit::skip_or_fail("no Go toolchain (apt-get install golang-go)");
    }
    found
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// What `go version -m` prints, parsed: the first line gives the toolchain, the rest is the
/// same module text the binary holds (with a leading tab on each line).
fn go_version_m(go: &Path, bin: &Path) -> BuildInfo {
    let out = Command::new(go)
        .args(["version", "-m"])
        .arg(bin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let version = first.rsplit(": ").next().unwrap().to_owned();
    let body: String = lines
        .map(|l| format!("{}\n", l.strip_prefix('\t').unwrap_or(l)))
        .collect();
    let mut info = parse_modinfo("go version -m", body.as_bytes()).unwrap();
    info.go_version = version;
    info
}

#[test]
fn built_binaries_match_go_version_m() {
    let Some(go) = go() else { return };
    let dir = std::env::temp_dir().join(format!("berth-detect-go-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(
        &dir,
        "app/go.mod",
        "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/greet v1.2.3\n\texample.com/util v0.4.0\n)\n\nreplace example.com/greet v1.2.3 => ../greet\n\nreplace example.com/util => ../util\n",
    );
    write(
        &dir,
        "app/main.go",
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n\t\"example.com/util\"\n)\n\nfunc main() { fmt.Println(greet.Hello(), util.N) }\n",
    );
    write(
        &dir,
        "greet/go.mod",
        "module example.com/greet\n\ngo 1.19\n",
    );
    write(
        &dir,
        "greet/greet.go",
        "package greet\n\nfunc Hello() string { return \"hello\" }\n",
    );
    write(&dir, "util/go.mod", "module example.com/util\n\ngo 1.19\n");
    write(&dir, "util/util.go", "package util\n\nvar N = 4\n");
    let bin = dir.join("app/app");
    let out = Command::new(&go)
        .current_dir(dir.join("app"))
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .env("CGO_ENABLED", "0")
        .args(["build", "-buildvcs=false", "-o"])
        .arg(&bin)
        .arg(".")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bytes = std::fs::read(&bin).unwrap();
    let ours = parse_binary("app", &bytes).unwrap().expect("a Go binary");
    let theirs = go_version_m(&go, &bin);
    assert_eq!(ours, theirs);
    assert_eq!(ours.path, "example.com/app");
    assert_eq!(ours.deps.len(), 2);
    assert!(ours.deps.iter().all(|d| d.replace.is_some()));
    // Local replacements have no version: the required version is what is reported.
    let pkgs: Vec<_> = ours
        .packages("app")
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert!(pkgs.contains(&("example.com/greet".to_owned(), "v1.2.3".to_owned())));
    assert!(pkgs.contains(&("example.com/util".to_owned(), "v0.4.0".to_owned())));
    assert!(pkgs.iter().any(|(n, _)| n == "stdlib"));

    // The toolchain's own binary, too.
    let go_bytes = std::fs::read(std::fs::canonicalize(&go).unwrap()).unwrap();
    let ours = parse_binary("go", &go_bytes)
        .unwrap()
        .expect("go is a Go binary");
    assert_eq!(ours, go_version_m(&go, &go));
    assert_eq!(ours.path, "cmd/go");
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(&dir)
        .status();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Go binaries from Debian packages: Distribution's `docker-registry` (package
/// `docker-registry`, which CI installs as the benchmarks' peer), and whichever other Go
/// programs Debian installed here (skopeo, the go command). Debian builds Go programs in GOPATH
/// mode, so their build information has the main package path and the toolchain but no module
/// lines: exactly what `go version -m` shows, and the toolchain becomes the `stdlib` package.
#[test]
fn debian_go_binaries_match_go_version_m() {
    use berth_detect::golang::GoBinaryDetector;
    use berth_detect::{Candidate, Detector, Ecosystem, MemFiles};

    let Some(go) = go() else { return };
    const REGISTRY: &str = "/usr/bin/docker-registry";
    if !Path::new(REGISTRY).is_file() {
        berth_testkit::skip_or_fail(
            "docker-registry is not installed (apt-get install docker-registry)",
        );
        return;
    }
    let mut bins = vec![PathBuf::from(REGISTRY)];
    for other in ["/usr/bin/skopeo", "/usr/bin/podman", "/usr/bin/buildah"] {
        if Path::new(other).is_file() {
            bins.push(PathBuf::from(other));
        }
    }
    bins.push(std::fs::canonicalize(&go).unwrap());
    for bin in &bins {
        let bytes = std::fs::read(bin).unwrap();
        let ours = parse_binary("bin", &bytes)
            .unwrap()
            .unwrap_or_else(|| panic!("{} is a Go binary", bin.display()));
        let theirs = go_version_m(&go, bin);
        assert_eq!(ours, theirs, "{}", bin.display());
    }

    // Through the detector, as the indexer sees the file in an image.
    let bytes = std::fs::read(REGISTRY).unwrap();
    let theirs = go_version_m(&go, Path::new(REGISTRY));
    assert_eq!(theirs.path, "github.com/docker/distribution/cmd/registry");
    let size = bytes.len() as u64;
    let cand = Candidate {
        path: "usr/bin/docker-registry",
        size,
        mode: 0o755,
    };
    assert!(GoBinaryDetector.wants(&cand));
    let mut m = MemFiles::new();
    m.insert("usr/bin/docker-registry", bytes);
    let det = GoBinaryDetector.detect(&m).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let got: Vec<_> = det
        .packages()
        .map(|p| (p.name.clone(), p.version.clone(), p.ecosystem))
        .collect();
    // One package per module line `go version -m` prints, then the toolchain.
    let mut want: Vec<_> = theirs
        .main
        .iter()
        .chain(&theirs.deps)
        .map(|m| {
            let m = m.replace.as_deref().filter(|r| !r.is_local()).unwrap_or(m);
            (m.path.clone(), m.version.clone(), Ecosystem::Go)
        })
        .collect();
    let toolchain = theirs.go_version.strip_prefix("go").unwrap().to_owned();
    want.push(("stdlib".to_owned(), toolchain, Ecosystem::Go));
    assert_eq!(got, want);
    assert!(got.iter().all(|(_, _, e)| *e == Ecosystem::Go));
}
