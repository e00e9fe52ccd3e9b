//! rpm order checked against rpm's own `rpm.vercmp` (rpm's Lua interpreter) on generated EVR
//! strings. rpm skips the release when one side has none; berth's total order treats a
//! missing release as empty (labelCompare's reading), so the oracle gets "-" appended to a
//! version without a release, which is exactly that.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs};

const WORDS: &[&str] = &[
    "a", "b", "rc", "alpha", "el8", "fc38", "git", "Z", "~", "^", "~rc", "^post", "_", "svn",
];
const SEPS: &[&str] = &[".", "-", "_", "~", "^", "", ".", "+", "%"];

fn has_release(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s[digits..].contains('-')
}

#[test]
fn rpm_agrees_with_rpm_vercmp() {
    common::require("rpm", &["--version"]);
    let mut rng = Rng::new(0x7e1);
    let mut ps = pairs(&mut rng, 4000, WORDS, SEPS, &[]);
    for i in 0..400 {
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
    let dir = tempfile::tempdir().expect("tempdir");
    let lua = dir.path().join("oracle.lua");
    std::fs::write(
        &lua,
        "for line in io.lines() do\n\
           local a, b = line:match('^(.-)\\t(.*)$')\n\
           local ok, r = pcall(rpm.vercmp, a, b)\n\
           local w = 'E'; if ok then w = (r < 0 and '<') or (r > 0 and '>') or '=' end; io.write(w, '\\n')\n\
         end\n",
    )
    .expect("write lua");
    let oracle_pairs: Vec<(String, String)> = ps
        .iter()
        .map(|(a, b)| {
            let fix = |s: &String| {
                if has_release(s) {
                    s.clone()
                } else {
                    format!("{s}-")
                }
            };
            (fix(a), fix(b))
        })
        .collect();
    let answers = ask(
        Command::new("rpm")
            .arg("--eval")
            .arg(format!("%{{lua: dofile('{}')}}", lua.display())),
        &oracle_pairs,
    );
    common::assert_agree("rpm", Scheme::Rpm, &ps, &answers, &["E"], 4000);
}
