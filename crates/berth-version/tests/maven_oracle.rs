//! Maven order checked against the real `ComparableVersion` from Debian's maven-artifact jar (libmaven3-core-java).

mod common;

use std::process::Command;

use berth_version::Scheme;
use common::{Rng, ask, pairs};

const WORDS: &[&str] = &[
    "alpha",
    "beta",
    "milestone",
    "rc",
    "cr",
    "snapshot",
    "SNAPSHOT",
    "ga",
    "final",
    "Final",
    "release",
    "sp",
    "a",
    "b",
    "m",
    "foo",
    "RC",
    "x",
    "jre",
    "GA",
    "",
];
const SEPS: &[&str] = &[".", "-", "", ".", "-", "_"];

/// Debian libmaven3-core-java (maven-artifact 3.8.7).
const JAR: &str = "/usr/share/java/maven3-artifact.jar";

const ORACLE: &str = r#"
import org.apache.maven.artifact.versioning.ComparableVersion;
import java.io.*;
public class MavenOracle {
    public static void main(String[] args) throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        PrintWriter w = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, "UTF-8")));
        String l;
        while ((l = r.readLine()) != null) {
            int t = l.indexOf('\t');
            int c = new ComparableVersion(l.substring(0, t)).compareTo(new ComparableVersion(l.substring(t + 1)));
            w.println(c < 0 ? "<" : c > 0 ? ">" : "=");
        }
        w.flush();
    }
}
"#;

#[test]
fn maven_agrees_with_comparable_version() {
    common::require("java", &["-version"]);
    assert!(
        std::path::Path::new(JAR).exists(),
        "{JAR} is missing: run dev/install-test-deps.sh"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("MavenOracle.java");
    std::fs::write(&src, ORACLE).expect("write oracle");
    let mut rng = Rng::new(0x3a7e);
    let mut ps = pairs(&mut rng, 5000, WORDS, SEPS, &[]);
    for (a, b) in [
        ("1.0-alpha", "1.0"),
        ("1.0.0-final", "1"),
        ("1-sp", "1"),
        ("1.0-a1", "1.0-alpha-1"),
        ("1-cr2", "1-rc2"),
    ] {
        ps.push((a.into(), b.into()));
    }
    let answers = ask(Command::new("java").arg("-cp").arg(JAR).arg(&src), &ps);
    common::assert_agree("maven", Scheme::Maven, &ps, &answers, &[], 5000);
}
