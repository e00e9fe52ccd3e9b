//! The cargo-auditable detector against a section produced by the real tool (see
//! `fixtures/README.md`), both on its own and embedded in a real ELF with `objcopy`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_detect::rust_audit::{parse_binary, parse_section};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// Registry packages of the lock file, the root crate excluded.
fn from_lock() -> BTreeSet<(String, String)> {
    let lock = String::from_utf8(fixture("audit-hello.Cargo.lock")).unwrap();
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
