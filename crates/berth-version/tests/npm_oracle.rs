//! node-semver checked against node-semver itself: `Scheme::Semver` against `SemVer.compare`,
//! and `npm::satisfies` against `Range.test` on generated ranges (odd spacing, hyphens,
//! x-ranges, tildes, carets, prereleases) and on every range in the recorded Node.js
//! security WG advisories.
//!
//! node-semver is found in `$BERTH_NODE_MODULES` or the repository's `dev/oracles/node_modules`
//! (dev/install-test-deps.sh installs it there).

mod common;

use std::path::PathBuf;
use std::process::Command;

use berth_version::{Scheme, npm};
use common::{Rng, ask};

fn node_modules() -> PathBuf {
    let dir = std::env::var_os("BERTH_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dev/oracles/node_modules")
        });
    assert!(
        dir.join("semver/package.json").exists(),
        "node-semver not found in {}: run dev/install-test-deps.sh (CI installs it)",
        dir.display()
    );
    dir
}

const ORACLE: &str = r#"
const path = require('path');
const semver = require(path.join(process.env.NM, 'semver'));
const mode = process.argv[1];
const out = [];
const lines = require('fs').readFileSync(0, 'utf8').split('\n');
for (const l of lines) {
  if (!l) continue;
  const i = l.lastIndexOf('\t');
  const a = l.slice(0, i), b = l.slice(i + 1);
  if (mode === 'compare') {
    let x, y;
    try { x = new semver.SemVer(a); y = new semver.SemVer(b); } catch (e) { out.push('E'); continue; }
    const c = x.compare(y);
    out.push(c < 0 ? '<' : c > 0 ? '>' : '=');
  } else {
    let r, v;
    try { r = new semver.Range(a); } catch (e) { out.push('ER'); continue; }
    try { v = new semver.SemVer(b); } catch (e) { out.push('EV'); continue; }
    out.push(r.test(v) ? 'T' : 'F');
  }
}
process.stdout.write(out.join('\n') + '\n');
"#;

fn node(mode: &str, pairs: &[(String, String)]) -> Vec<String> {
    common::require("node", &["--version"]);
    let nm = node_modules();
    ask(
        Command::new("node")
            .arg("-e")
            .arg(ORACLE)
            .arg(mode)
            .env("NM", nm),
        pairs,
    )
}

fn gen_version(rng: &mut Rng) -> String {
    let n = |rng: &mut Rng| match rng.below(12) {
        0 => "01".to_owned(),
        1 => "10".to_owned(),
        _ => rng.below(4).to_string(),
    };
    let mut s = format!("{}.{}.{}", n(rng), n(rng), n(rng));
    if rng.chance(35) {
        s.push('-');
        s.push_str(rng.pick(&[
            "alpha", "beta", "rc", "0", "1", "alpha.1", "beta.2", "rc.1.2", "x-y", "01", "a1",
        ]));
    }
    if rng.chance(10) {
        s.push_str(rng.pick(&["+build", "+b.1", "+001"]));
    }
    if rng.chance(8) {
        s = format!("{}{s}", rng.pick(&["v", "=", " ", "v "]));
    }
    s
}

fn gen_partial(rng: &mut Rng) -> String {
    let part = |rng: &mut Rng| match rng.below(10) {
        0 => "x".to_owned(),
        1 => "*".to_owned(),
        2 => "X".to_owned(),
        _ => rng.below(4).to_string(),
    };
    let mut s = part(rng);
    let k = rng.below(4);
    if k >= 1 {
        s = format!("{s}.{}", part(rng));
    }
    if k >= 2 {
        s = format!("{s}.{}", part(rng));
        if rng.chance(25) {
            s.push('-');
            s.push_str(rng.pick(&["alpha", "beta.1", "0", "rc.2"]));
        }
        if rng.chance(5) {
            s.push_str("+build.1");
        }
    }
    if rng.chance(8) {
        s = format!("{}{s}", rng.pick(&["v", "=", "v="]));
    }
    s
}

fn gen_range(rng: &mut Rng) -> String {
    let sets = 1 + rng.below(3);
    let mut out = Vec::new();
    for _ in 0..sets {
        if rng.chance(15) {
            let sp = rng.pick(&[" - ", "  -  ", " -", "-"]);
            out.push(format!("{}{sp}{}", gen_partial(rng), gen_partial(rng)));
            continue;
        }
        let comps = 1 + rng.below(3);
        let mut set = Vec::new();
        for _ in 0..comps {
            let op = rng.pick(&["", "", "=", "<", "<=", ">", ">=", "~", "^", "~>", ">=", "<"]);
            let gap = rng.pick(&["", "", "", " ", "  "]);
            set.push(format!("{op}{gap}{}", gen_partial(rng)));
        }
        let join = rng.pick(&[" ", " ", "  ", "\t"]);
        out.push(set.join(join));
    }
    let sep = rng.pick(&["||", " || ", "  ||  ", " ||"]);
    let mut r = out.join(sep);
    if rng.chance(5) {
        r = rng
            .pick(&[
                "", "*", "x", "latest", ">=0.0.0", "<0.0.0-0", "1.2.3 - ", "^ 1.2", "~ 1.2",
            ])
            .to_string();
    }
    r
}

/// Every `vulnerable_versions` and `patched_versions` in the Node.js WG npm advisories.
fn wg_ranges() -> Vec<String> {
    let dir = common::unpack("nodejs-security-wg");
    let mut out = Vec::new();
    for f in common::files(dir.path(), ".json") {
        if !f.to_string_lossy().contains("/vuln/npm/") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
        for k in ["vulnerable_versions", "patched_versions"] {
            if let Some(s) = v[k].as_str() {
                out.push(s.to_owned());
            }
        }
    }
    out
}

#[test]
fn semver_agrees_with_node_semver_compare() {
    let mut rng = Rng::new(0x5e);
    let mut ps = Vec::new();
    for _ in 0..5000 {
        let a = gen_version(&mut rng);
        let b = if rng.chance(20) {
            a.clone()
        } else {
            gen_version(&mut rng)
        };
        ps.push((a, b));
    }
    let answers = node("compare", &ps);
    common::assert_agree("node", Scheme::Semver, &ps, &answers, &[], 2500);
}

#[test]
fn npm_satisfies_agrees_with_node_semver() {
    let mut rng = Rng::new(0x9a);
    let real = wg_ranges();
    assert!(
        real.len() > 400,
        "expected the Node.js WG ranges, got {}",
        real.len()
    );
    let mut ps = Vec::new();
    for _ in 0..8000 {
        ps.push((gen_range(&mut rng), gen_version(&mut rng)));
    }
    for r in &real {
        // Versions near the ones the range names, plus random ones.
        let mut versions: Vec<String> = Vec::new();
        for tok in r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')) {
            let nums: Vec<&str> = tok.split('.').collect();
            if nums.len() == 3 && nums.iter().all(|n| n.parse::<u32>().is_ok()) {
                let (a, b, c): (u32, u32, u32) = (
                    nums[0].parse().unwrap_or(0),
                    nums[1].parse().unwrap_or(0),
                    nums[2].parse().unwrap_or(0),
                );
                versions.push(format!("{a}.{b}.{c}"));
                versions.push(format!("{a}.{b}.{}", c + 1));
                versions.push(format!("{a}.{}.0", b + 1));
                versions.push(format!("{a}.{b}.{c}-beta.1"));
                if c > 0 {
                    versions.push(format!("{a}.{b}.{}", c - 1));
                }
            }
        }
        for _ in 0..3 {
            versions.push(gen_version(&mut rng));
        }
        for v in versions {
            ps.push((r.clone(), v));
        }
    }
    let answers = node("satisfies", &ps);
    let (mut compared, mut rejected) = (0, 0);
    let mut bad = Vec::new();
    for ((r, v), want) in ps.iter().zip(&answers) {
        let got = match npm::satisfies(r, v) {
            Ok(true) => "T",
            Ok(false) => "F",
            Err(berth_version::VersionError::InvalidRange { .. }) => "ER",
            Err(_) => "EV",
        };
        if want.starts_with('E') {
            rejected += 1;
        } else {
            compared += 1;
        }
        if got != want {
            bad.push(format!("{r:?} @ {v:?}: node {want}, berth {got}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(30)]
    );
    assert!(compared >= 8000, "only {compared} pairs compared");
    eprintln!("npm satisfies: {compared} pairs agree, {rejected} rejected by both");
}
