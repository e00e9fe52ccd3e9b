//! PEP 440 order checked against Python's `packaging.version.Version` on generated strings and
//! on every version named in the recorded PyPA advisory database.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs};

const WORDS: &[&str] = &[
    "a",
    "b",
    "c",
    "rc",
    "RC",
    "alpha",
    "beta",
    "pre",
    "preview",
    "post",
    "rev",
    "r",
    "dev",
    "+local",
    "+ubuntu.1",
    "+1.a",
    "!",
    "v",
    "x",
    "final",
];
const SEPS: &[&str] = &[".", "-", "_", "", ".", ".", "+"];

const ORACLE: &str = r#"
import sys
from packaging.version import Version, InvalidVersion
out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    a, b = line.split("\t", 1)
    try:
        x, y = Version(a), Version(b)
    except InvalidVersion:
        out.append("E")
        continue
    out.append("<" if x < y else ">" if x > y else "=")
sys.stdout.write("\n".join(out) + "\n")
"#;

/// Every version string in the PyPA records (`versions` lists and range events).
fn pypa_versions() -> Vec<String> {
    let dir = common::unpack("pypa-advisory-database");
    let mut out = Vec::new();
    for f in common::files(dir.path(), ".yaml") {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let mut in_versions = false;
        for line in text.lines() {
            let t = line.trim();
            if t == "versions:" {
                in_versions = true;
                continue;
            }
            let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
            if in_versions && let Some(v) = t.strip_prefix("- ") {
                out.push(unquote(v));
                continue;
            }
            in_versions = false;
            for k in ["introduced:", "fixed:", "- introduced:", "- fixed:"] {
                if let Some(v) = t.strip_prefix(k) {
                    let v = unquote(v);
                    if v != "0" && !v.is_empty() {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn pep440_agrees_with_packaging() {
    common::require("python3", &["-c", "import packaging.version"]);
    let mut real = pypa_versions();
    assert!(
        real.len() > 10_000,
        "expected the PyPA versions, got {}",
        real.len()
    );
    real.sort();
    real.dedup();
    let mut rng = Rng::new(0x9e9);
    let ps = pairs(&mut rng, 5000, WORDS, SEPS, &real);
    let answers = ask(Command::new("python3").arg("-c").arg(ORACLE), &ps);
    common::assert_agree("packaging", Scheme::Pep440, &ps, &answers, &[], 5000);
}
