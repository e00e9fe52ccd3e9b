//! dpkg order checked against the real `dpkg --compare-versions` on generated pairs and on
//! every version in the recorded Debian OSV records.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, debian_versions, pairs};

const WORDS: &[&str] = &[
    "a", "b", "rc", "alpha", "dfsg", "deb12u", "ubuntu", "~", "+", "Z", "z", "build", "~~", "git",
];
const SEPS: &[&str] = &[".", "-", "+", "~", "", "~rc", ".", "+deb", "-"];

/// Asks dpkg about each pair with `lt`, then `gt`; dpkg's exit status 2 (rejected) is `E`.
fn dpkg(pairs: &[(String, String)]) -> Vec<String> {
    let chunks: Vec<&[(String, String)]> = pairs.chunks(pairs.len().div_ceil(8).max(1)).collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let mut script = String::new();
            for (a, b) in chunk {
                script.push_str(&format!(
                    "dpkg --compare-versions '{a}' lt '{b}' 2>/dev/null; case $? in 0) echo '<';; \
                     1) if dpkg --compare-versions '{a}' gt '{b}' 2>/dev/null; then echo '>'; else echo '='; fi;; \
                     *) echo E;; esac\n"
                ));
            }
            std::thread::spawn(move || {
                let out = Command::new("sh").arg("-c").arg(script).output().expect("sh");
                String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("dpkg thread"))
        .collect()
}

#[test]
fn dpkg_agrees_with_dpkg_compare_versions() {
    common::require("dpkg", &["--version"]);
    let mut real = debian_versions();
    assert!(
        real.len() > 100,
        "expected the Debian OSV versions, got {}",
        real.len()
    );
    real.sort();
    real.dedup();
    let mut rng = Rng::new(0xd9c6);
    let mut ps = pairs(&mut rng, 3000, WORDS, SEPS, &real);
    // Epochs, on both sides.
    for i in 0..300 {
        let (a, b) = ps[i].clone();
        let ea = if rng.chance(50) {
            format!("{}:", rng.below(3))
        } else {
            String::new()
        };
        let eb = if rng.chance(50) {
            format!("{}:", rng.below(3))
        } else {
            String::new()
        };
        ps.push((format!("{ea}{a}"), format!("{eb}{b}")));
    }
    let answers = dpkg(&ps);
    common::assert_agree("dpkg", Scheme::Dpkg, &ps, &answers, &["E"], 3000);
}
