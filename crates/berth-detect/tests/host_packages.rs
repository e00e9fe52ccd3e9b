//! The detectors against real packages installed on a Debian host, checked against the
//! packages' own tools (Python's `importlib.metadata`, Ruby's `Gem::Specification`, `unzip`,
//! `dpkg -S`).
//!
//! What they need: `apt-get install python3 ruby-rack libcommons-lang3-java unzip` (bookworm;
//! ruby-rack brings ruby and its gem specifications). These are extra real data beside the
//! shared images; a missing prerequisite is a loud SKIP, and a failure under CI, whose test
//! command installs them.

use std::collections::BTreeSet;
use std::io::{Cursor, Write as _};
use std::path::Path;
use std::process::Command;

use berth_detect::gem::GemDetector;
use berth_detect::java::{JavaArchiveDetector, parse_archive};
use berth_detect::python::{PythonDetector, normalize_name};
use berth_detect::{Candidate, Detector, Ecosystem, FileSource, MemFiles, OwnedFiles};

fn skip(why: &str) {
    berth_testkit::skip_or_fail(why);
}

fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(&format!("{tool} is not installed"));
    }
    ok
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Files (relative to `/`) directly in `dir` or one level below that `wanted` accepts.
fn collect(dir: &str, wanted: impl Fn(&str) -> bool, files: &mut MemFiles) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let mut check = |p: &Path| {
            let rel = p.to_string_lossy().trim_start_matches('/').to_owned();
            if p.is_file() && wanted(&rel) {
                files.insert(&rel, std::fs::read(p).expect("read"));
            }
        };
        check(&p);
        if p.is_dir()
            && let Ok(inner) = std::fs::read_dir(&p)
        {
            for f in inner.flatten() {
                check(&f.path());
            }
        }
    }
}

#[test]
fn debian_python_packages_match_importlib_and_are_owned_by_dpkg() {
    const DIR: &str = "/usr/lib/python3/dist-packages";
    if !Path::new(DIR).is_dir() || !have("python3") || !have("dpkg") {
        return;
    }
    let mut files = MemFiles::new();
    collect(
        DIR,
        |p| PythonDetector.wants(&Candidate::file(p, 0)),
        &mut files,
    );
    collect(
        "/var/lib/dpkg/info",
        berth_detect::ownership::wants,
        &mut files,
    );
    let det = PythonDetector.detect(&files).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let found: BTreeSet<(String, String)> = det
        .packages()
        .map(|p| (normalize_name(&p.name), p.version.clone()))
        .collect();
    assert!(!found.is_empty());

    // Python's own reader of the same directory.
    let script = format!(
        "import importlib.metadata as m\nfor d in m.distributions(path=['{DIR}']):\n    n = d.metadata['Name']\n    if n: print(n, d.version)"
    );
    let want: BTreeSet<(String, String)> = run("python3", &["-c", &script])
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(n, v)| (normalize_name(n), v.to_owned()))
        .collect();
    assert_eq!(found, want);

    // Every one of them was installed by dpkg, which is why the indexer drops them.
    let (owned, skipped) = OwnedFiles::from_files(&files);
    assert!(skipped.is_empty());
    let mut findings = det.findings.clone();
    let dropped = owned.retain_unowned(&mut findings);
    let unowned: Vec<_> = findings.iter().collect();
    assert_eq!(dropped, det.findings.len(), "left: {unowned:?}");
    if let Some(yaml) = det.packages().find(|p| p.name == "PyYAML") {
        let dpkg = run("dpkg", &["-S", &format!("/{}", yaml.path)]);
        let pkg = dpkg.split(':').next().unwrap();
        assert_eq!(owned.owner(&yaml.path), Some(pkg));
    }
}

#[test]
fn debian_gem_specifications_match_rubygems() {
    const DIR: &str = "/usr/share/rubygems-integration/all/specifications";
    if !Path::new(DIR).is_dir() || !have("ruby") {
        skip("ruby-rack's gem specifications are not installed");
        return;
    }
    let mut files = MemFiles::new();
    collect(
        DIR,
        |p| GemDetector.wants(&Candidate::file(p, 0)),
        &mut files,
    );
    let det = GemDetector.detect(&files).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let found: BTreeSet<(String, String)> = det
        .packages()
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect();
    let script = format!(
        "Dir['{DIR}/*.gemspec'].each {{ |f| s = Gem::Specification.load(f); puts \"#{{s.name}} #{{s.version}}\" if s }}"
    );
    let want: BTreeSet<(String, String)> = run("ruby", &["-e", &script])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(found, want);
    assert!(
        det.packages()
            .any(|p| p.name == "rack" && p.ecosystem == Ecosystem::RubyGems)
    );
}

#[test]
fn debian_jars_match_unzip() {
    const JAR: &str = "/usr/share/java/commons-lang3.jar";
    if !Path::new(JAR).is_file() || !have("unzip") {
        skip("libcommons-lang3-java is not installed");
        return;
    }
    let bytes = std::fs::read(JAR).unwrap();
    let ps = parse_archive("usr/share/java/commons-lang3.jar", &bytes).unwrap();
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(got, vec![("org.apache.commons:commons-lang3", "3.12.0")]);

    // Every regular jar of the host: read without error, one Maven package per
    // pom.properties that unzip lists.
    let mut files = MemFiles::new();
    collect(
        "/usr/share/java",
        |p| {
            JavaArchiveDetector.wants(&Candidate::file(p, 0))
                && !Path::new(&format!("/{p}")).is_symlink()
        },
        &mut files,
    );
    let det = JavaArchiveDetector.detect(&files).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    for path in files.paths() {
        let listing = run("unzip", &["-Z1", &format!("/{path}")]);
        let poms = listing
            .lines()
            .filter(|l| l.starts_with("META-INF/maven/") && l.ends_with("/pom.properties"))
            .count();
        let found = det.packages().filter(|p| p.path == path).count();
        if poms > 0 {
            assert_eq!(found, poms, "{path}");
        }
    }

    // The real jar nested in a war, as an application server image holds it.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(
        "WEB-INF/lib/commons-lang3-3.12.0.jar",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(&bytes).unwrap();
    let war = w.finish().unwrap().into_inner();
    let ps = parse_archive("srv/app.war", &war).unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(
        ps[0].path,
        "srv/app.war!WEB-INF/lib/commons-lang3-3.12.0.jar"
    );
    assert_eq!(ps[0].name, "org.apache.commons:commons-lang3");
}
