//! RubyGems order checked against Ruby's own `Gem::Version`.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs};

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
    common::assert_agree("ruby", Scheme::RubyGems, &ps, &answers, &[], 3000);
}
