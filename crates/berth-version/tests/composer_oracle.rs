//! Composer order checked against composer/semver itself (Debian's php-composer-semver):
//! `VersionParser::normalize`, then `Comparator`.

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs};

const WORDS: &[&str] = &[
    "alpha", "beta", "RC", "rc", "a", "b", "p", "pl", "patch", "stable", "dev", "x", "x-dev",
    "@dev", "@stable", "-dev", "v", "*", "foo",
];
const SEPS: &[&str] = &[".", "-", "_", "", ".", "."];

const ORACLE: &str = r#"
require '/usr/share/php/Composer/Semver/autoload.php';
use Composer\Semver\VersionParser;
use Composer\Semver\Comparator;
$p = new VersionParser();
$out = [];
while (($l = fgets(STDIN)) !== false) {
    [$a, $b] = explode("\t", rtrim($l, "\n"), 2);
    try { $x = $p->normalize($a); $y = $p->normalize($b); } catch (\Exception $e) { $out[] = "E"; continue; }
    if (strpos($x, 'dev-') === 0 && strpos($y, 'dev-') === 0 && $x !== $y) { $out[] = "B"; continue; }
    $out[] = Comparator::lessThan($x, $y) ? "<" : (Comparator::greaterThan($x, $y) ? ">" : "=");
}
echo implode("\n", $out), "\n";
"#;

#[test]
fn composer_agrees_with_composer_semver() {
    common::require(
        "php",
        &[
            "-r",
            "require '/usr/share/php/Composer/Semver/autoload.php';",
        ],
    );
    let mut rng = Rng::new(0xc0);
    let mut ps = pairs(&mut rng, 15000, WORDS, SEPS, &[]);
    for (a, b) in [
        ("v1.0.0", "1.0"),
        ("1.0.0-RC1", "1.0.0rc1"),
        ("1.x-dev", "1.9999"),
        ("dev-master", "1.0"),
        ("master", "dev-master"),
        ("2010-01-02", "2010.01.02"),
        ("1.0.0-p1", "1.0.0"),
        ("1.0.0-dev", "1.0.0-alpha"),
    ] {
        ps.push((a.into(), b.into()));
    }
    let answers = ask(Command::new("php").arg("-r").arg(ORACLE), &ps);
    common::assert_agree("composer", Scheme::Composer, &ps, &answers, &["B"], 4000);
}
