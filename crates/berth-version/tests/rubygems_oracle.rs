//! RubyGems order checked against Ruby's own `Gem::Version`.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs, sign};

const WORDS: &[&str] = &[
    "a", "b", "pre", "rc", "beta", "alpha", "x", "Z", "A", "-", "0", "00",
];
const SEPS: &[&str] = &[".", "-", "", ".", "."];

const ORACLE: &str = r#"
out = []
STDIN.each_line do |l|
  a, b = l.chomp.split("\t", 2)
  begin
    x = Gem::Version.new(a)
    y = Gem::Version.new(b)
    out << {-1 => "<", 0 => "=", 1 => ">"}[x <=> y]
  rescue ArgumentError
    out << "E"
  end
end
puts out
"#;

#[test]
fn rubygems_agrees_with_gem_version() {
    common::require("ruby", &["-e", "Gem::Version"]);
    let mut rng = Rng::new(0x12b);
    let mut ps = pairs(&mut rng, 5000, WORDS, SEPS, &[]);
    for (a, b) in [
        ("1.0.a", "1.0"),
        ("1.0.0", "1"),
        ("1-1", "1.pre.1"),
        ("", "0"),
        (" 1.2 ", "1.2"),
    ] {
        ps.push((a.into(), b.into()));
    }
    let answers = ask(Command::new("ruby").arg("-e").arg(ORACLE), &ps);
    let (mut compared, mut rejected) = (0, 0);
    let mut bad = Vec::new();
    for ((a, b), want) in ps.iter().zip(&answers) {
        let got = Scheme::RubyGems.compare(a, b).map(sign).unwrap_or("E");
        if want == "E" {
            rejected += 1;
        } else {
            compared += 1;
        }
        if got != want {
            bad.push(format!("{a:?} vs {b:?}: ruby {want}, berth {got}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
    assert!(compared >= 3000, "only {compared} pairs compared");
    eprintln!("rubygems: {compared} pairs agree, {rejected} rejected by both");
}
