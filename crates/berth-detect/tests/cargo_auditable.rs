//! The cargo-auditable detector against real output of `cargo auditable` (see
//! `fixtures/README.md`): a whole binary built by it from crates.io crates (`itoa`, `memchr`),
//! its `.dep-v0` section on its own and copied into another ELF with `objcopy`, and, where
//! `cargo-auditable` is installed (`cargo install cargo-auditable --locked`), the same crate
//! built again by the installed tool. The expected crates come from the crate's `Cargo.lock`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_detect::golang::GoBinaryDetector;
use berth_detect::rust_audit::{CargoAuditableDetector, parse_binary, parse_section};
use berth_detect::{Candidate, Detector, Ecosystem, MemFiles};

/// The crate the fixtures were built from (with the fixture lock file as its `Cargo.lock`).
const HELLO_CARGO_TOML: &str = "[package]\nname = \"audit-hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\nmemchr = \"2\"\n\n[profile.release]\nopt-level = \"z\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n";
const HELLO_MAIN_RS: &str = "fn main() {\n    let mut buf = itoa::Buffer::new();\n    let n = std::env::args().count() as u64;\n    let s = buf.format(n);\n    println!(\"{} {:?}\", s, memchr::memchr(b'1', s.as_bytes()));\n}\n";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// Registry packages of the fixture lock file, the root crate excluded.
fn from_lock() -> BTreeSet<(String, String)> {
    registry_packages(&String::from_utf8(fixture("audit-hello.Cargo.lock")).unwrap())
}

/// Registry packages of a lock file.
fn registry_packages(lock: &str) -> BTreeSet<(String, String)> {
    lock.split("[[package]]")
        .skip(1)
        .filter(|block| block.contains("source = \"registry+"))
        .map(|block| {
            let field = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                    .and_then(|r| r.strip_suffix('"'))
                    .unwrap()
                    .to_owned()
            };
            (field("name"), field("version"))
        })
        .collect()
}

#[test]
fn real_section_lists_the_lock_files_crates() {
    let ps = parse_section("usr/bin/audit-hello", &fixture("audit-hello.dep-v0")).unwrap();
    let got: BTreeSet<_> = ps
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let want = from_lock();
    assert_eq!(want.len(), 2);
    assert_eq!(got, want);
}

#[test]
fn section_embedded_in_a_real_elf() {
    if !berth_testkit::require_tool("objcopy") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("berth-detect-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("app");
    let status = Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(
            ".dep-v0={}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/audit-hello.dep-v0")
                .display()
        ))
        .arg(&exe)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got: BTreeSet<_> = parse_binary("app", &bytes)
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(got, from_lock());
    // The same binary without the section: nothing, and no error.
    let plain = std::fs::read(&exe).unwrap();
    assert!(parse_binary("test", &plain).unwrap().is_empty());
}

/// The whole stripped release binary `cargo auditable build --release` made (fixture
/// `audit-hello`), through the detector as the indexer hands it over.
#[test]
fn real_binary_through_the_detector() {
    let bytes = fixture("audit-hello");
    let cand = Candidate {
        path: "usr/local/bin/audit-hello",
        size: bytes.len() as u64,
        mode: 0o755,
    };
    assert!(CargoAuditableDetector.wants(&cand));
    let mut m = MemFiles::new();
    m.insert(cand.path, bytes);
    let det = CargoAuditableDetector.detect(&m).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let got: BTreeSet<_> = det
        .packages()
        .map(|p| {
            assert_eq!(p.ecosystem, Ecosystem::Cargo);
            assert_eq!(p.path, "usr/local/bin/audit-hello");
            (p.name.clone(), p.version.clone())
        })
        .collect();
    assert_eq!(got, from_lock());
    // Not a Go binary: the Go detector finds nothing and reports nothing.
    let go = GoBinaryDetector.detect(&m).unwrap();
    assert!(go.findings.is_empty() && go.skipped.is_empty());
}

/// The installed `cargo auditable` builds the crate again (a debug build, a few seconds);
/// what it embeds is what the crate's lock file lists. Ignored in CI, which does not install
/// cargo-auditable: the committed real binary above covers the detector; run with
/// `cargo test -- --ignored` after `cargo install cargo-auditable --locked`.
#[test]
#[ignore = "needs cargo-auditable installed"]
fn cargo_auditable_build_matches_its_lock_file() {
    if !berth_testkit::require_tool("cargo-auditable") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("berth-detect-audit-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), HELLO_CARGO_TOML).unwrap();
    std::fs::write(dir.join("src/main.rs"), HELLO_MAIN_RS).unwrap();
    std::fs::write(dir.join("Cargo.lock"), fixture("audit-hello.Cargo.lock")).unwrap();
    let out = Command::new("cargo")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .args(["auditable", "build", "--locked", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo auditable build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.join("target/debug/audit-hello")).unwrap();
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got: BTreeSet<_> = parse_binary("audit-hello", &bytes)
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(got, registry_packages(&lock));
    assert_eq!(got.len(), 2);
}
