//! The parsers against the real feeds recorded in `shared/vulndata` (see its MANIFEST.md),
//! in their upstream formats: counts that must agree with the manifest and with independent
//! counts (made with Python's yaml/tomllib/json over the same files while writing these
//! tests), and named facts a scanner's results depend on.
//!
//! The recorded data is required: a missing `shared/` fails here rather than passing
//! silently, because these are the only tests that see real feed quirks.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use berth_advisory::{Advisory, Event, Range, Severity, Space};
use berth_feeds::{Limits, Parsed, parse_path};

fn vulndata() -> PathBuf {
    let shared = match std::env::var_os("BERTH_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = shared.join("vulndata");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "recorded feeds not found at {} (set BERTH_SHARED to the shared/ folder)",
        dir.display()
    );
    dir
}

/// Each recorded feed parsed once for all tests (and timed).
struct Feeds {
    pypa: Parsed,
    rustsec: Parsed,
    go: Parsed,
    node: Parsed,
    ghsa: Parsed,
    debian: Parsed,
    alpine: Parsed,
}

fn feeds() -> &'static Feeds {
    static FEEDS: OnceLock<Feeds> = OnceLock::new();
    FEEDS.get_or_init(|| {
        let dir = vulndata();
        let limits = Limits::default();
        let start = Instant::now();
        let parse = |feed: &str, sub: &str| {
            let t = Instant::now();
            let p =
                parse_path(feed, &dir.join(sub), &limits).unwrap_or_else(|e| panic!("{feed}: {e}"));
            eprintln!(
                "{feed}: {} advisories, {} files, {} skipped, {} malformed in {:?}",
                p.advisories.len(),
                p.files,
                p.skipped,
                p.malformed,
                t.elapsed()
            );
            p
        };
        let f = Feeds {
            pypa: parse("pypa", "pypa-advisory-database"),
            rustsec: parse("rustsec", "rustsec-advisory-db"),
            go: parse("go", "go-vulndb"),
            node: parse("nodejs-wg", "nodejs-security-wg"),
            ghsa: parse("ghsa", "ghsa-npm-subset"),
            debian: parse("debian-osv", "debian-osv-bookworm-subset"),
            alpine: parse("alpine", "alpine-secdb"),
        };
        eprintln!("all recorded feeds parsed in {:?}", start.elapsed());
        f
    })
}

fn find<'a>(p: &'a Parsed, id: &str) -> &'a Advisory {
    p.advisories
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("{id} not parsed"))
}

fn events(r: &Range) -> &[Event] {
    match r {
        Range::Events { events } => events,
        Range::Expr { .. } => panic!("expected events, got {r:?}"),
    }
}

fn assert_clean(p: &Parsed) {
    assert_eq!(p.malformed, 0, "{:?}", p.errors);
    assert!(p.errors.is_empty());
    assert!(
        p.advisories.windows(2).all(|w| w[0].id < w[1].id),
        "sorted, unique ids"
    );
}

/// MANIFEST: 7,080 advisories, 269 withdrawn. 11 records list a package with neither a range
/// nor versions and are not withdrawn (e.g. PYSEC-2025-73 datasette): nothing to match, so
/// skipped. 9 withdrawn records have no affected package either; they are kept, withdrawn.
#[test]
fn pypa() {
    let p = &feeds().pypa;
    assert_clean(p);
    assert_eq!(p.files, 7_080);
    assert_eq!(p.advisories.len(), 7_069);
    assert_eq!(p.skipped, 11);
    assert_eq!(
        p.advisories
            .iter()
            .filter(|a| a.withdrawn.is_some())
            .count(),
        269
    );
    assert!(
        p.advisories
            .iter()
            .all(|a| a.feed == "pypa" && a.id.starts_with("PYSEC-"))
    );
    assert!(!p.advisories.iter().any(|a| a.id == "PYSEC-2025-73"));

    let a = find(p, "PYSEC-2007-1");
    assert_eq!(a.aliases, ["CVE-2007-5712", "GHSA-9v8h-57gv-qch6"]);
    assert_eq!(a.links[0], "https://osv.dev/vulnerability/PYSEC-2007-1");
    assert_eq!(a.modified.as_deref(), Some("2021-07-15T02:22:07.728618Z"));
    let d = &a.affected[0];
    assert_eq!((d.space.as_str(), d.package.as_str()), ("pypi", "django"));
    assert_eq!(
        events(&d.ranges[0]),
        [Event::Introduced("0".into()), Event::Fixed("1.1".into())]
    );
    assert_eq!(d.versions, ["1.0.1", "1.0.2", "1.0.3", "1.0.4"]);
    // Names are PEP 503-normalized, so the lookup key matches an installed distribution's.
    assert!(
        p.advisories
            .iter()
            .flat_map(|a| &a.affected)
            .all(|d| d.package == Space::new("pypi").normalize_name(&d.package))
    );
    // GIT ranges (1,554 in the data) are dropped, ECOSYSTEM ones kept.
    assert!(
        p.advisories
            .iter()
            .flat_map(|a| &a.affected)
            .all(|d| !d.ranges.is_empty() || !d.versions.is_empty())
    );
}

/// 1,225 advisories = 1,205 under crates/ + 20 under rust/ (std, cargo, rustdoc: toolchain,
/// skipped). Of the 1,205, 273 are informational other than "unsound" (267 unmaintained,
/// 6 notice: skipped) and 203 unsound (kept): 932 advisories, 293 skipped, 4 withdrawn.
#[test]
fn rustsec() {
    let p = &feeds().rustsec;
    assert_clean(p);
    assert_eq!(p.files, 1_225);
    assert_eq!(p.advisories.len(), 932);
    assert_eq!(p.skipped, 293);
    assert_eq!(p.advisories.len() as u64 + p.skipped, 1_225);
    assert_eq!(
        p.advisories
            .iter()
            .filter(|a| a.withdrawn.is_some())
            .count(),
        4
    );

    let a = find(p, "RUSTSEC-2025-0165");
    assert_eq!(
        a.summary,
        "i_tree allowed out-of-bounds access through safe public node accessors"
    );
    assert!(a.details.starts_with("Affected versions of `i_tree`"));
    assert_eq!(
        a.links[0],
        "https://rustsec.org/advisories/RUSTSEC-2025-0165.html"
    );
    assert_eq!(a.links[1], "https://github.com/iShape-Rust/iTree/issues/1");
    assert_eq!(a.published.as_deref(), Some("2025-07-04"));
    let d = &a.affected[0];
    assert_eq!(
        (d.space.as_str(), d.package.as_str()),
        ("crates.io", "i_tree")
    );
    assert_eq!(
        d.ranges,
        [Range::Expr {
            vulnerable: None,
            unaffected: vec![">= 0.10.0".into()]
        }]
    );
    // patched ++ unaffected, Cargo syntax untouched.
    let all = p
        .advisories
        .iter()
        .flat_map(|a| &a.affected)
        .flat_map(|d| &d.ranges);
    assert!(all.clone().any(|r| matches!(r, Range::Expr { unaffected, .. } if unaffected.iter().any(|u| u == ">= 0.6.1, < 0.7.0"))));
    assert!(
        !p.advisories
            .iter()
            .any(|a| a.affected.iter().any(|d| d.package == "std"))
    );
}

/// MANIFEST: 4,291 records, all SEMVER ranges; 17 withdrawn.
#[test]
fn go() {
    let p = &feeds().go;
    assert_clean(p);
    assert_eq!(p.files, 4_291);
    assert_eq!(p.advisories.len(), 4_291);
    assert_eq!(p.skipped, 0);
    assert_eq!(
        p.advisories
            .iter()
            .filter(|a| a.withdrawn.is_some())
            .count(),
        17
    );
    let pkgs = |name: &str| {
        p.advisories
            .iter()
            .filter(|a| a.affected.iter().any(|d| d.package == name))
            .count()
    };
    assert!(pkgs("stdlib") > 100 && pkgs("toolchain") > 0);
    let a = find(p, "GO-2023-1840");
    assert_eq!(a.aliases, ["CVE-2023-29403"]);
    assert_eq!(a.links[0], "https://pkg.go.dev/vuln/GO-2023-1840");
    // The repository's zero time is not a publication date.
    assert_eq!(a.published, None);
    let d = &a.affected[0];
    assert_eq!((d.space.as_str(), d.package.as_str()), ("go", "stdlib"));
    assert_eq!(
        events(&d.ranges[0]),
        [
            Event::Introduced("0".into()),
            Event::Fixed("1.19.10".into()),
            Event::Introduced("1.20.0-0".into()),
            Event::Fixed("1.20.5".into()),
        ]
    );
}

/// MANIFEST: 467 npm advisories and 171 Node core ones (about the node binary: skipped);
/// the two index.json files and vuln/deps are not records.
#[test]
fn nodejs_wg() {
    let p = &feeds().node;
    assert_clean(p);
    assert_eq!(p.advisories.len(), 467);
    assert_eq!(p.skipped, 171);
    assert_eq!(p.files, 467 + 171);
    let a = find(p, "NSWG-ECO-77");
    let d = &a.affected[0];
    assert_eq!(d.space.as_str(), "npm");
    // The odd spacing is preserved: node-semver reads it as written.
    let Range::Expr { vulnerable, .. } = &d.ranges[0] else {
        panic!()
    };
    assert!(
        vulnerable.as_deref().unwrap().contains("< 3.1.3  ||"),
        "{vulnerable:?}"
    );
    let a = find(p, "NSWG-ECO-1");
    assert_eq!(a.aliases, ["CVE-2014-7205"]);
    assert_eq!(a.summary, "Arbitrary JavaScript Execution");
    assert_eq!(
        a.affected[0].ranges,
        [Range::Expr {
            vulnerable: Some("<=1.5.1".into()),
            unaffected: vec![">=1.5.2".into()]
        }]
    );
    assert_eq!(a.cvss[0].score, Some(6.5));
    // "<0.0.0" means no patch: nothing is unaffected.
    let unpatched = p.advisories.iter().filter(|a| matches!(&a.affected[0].ranges[0], Range::Expr { unaffected, .. } if unaffected.is_empty())).count();
    assert_eq!(unpatched, 137 + 55);
}

#[test]
fn ghsa() {
    let p = &feeds().ghsa;
    assert_clean(p);
    assert_eq!(p.advisories.len(), 4);
    let a = find(p, "GHSA-35jh-r3h4-6jhm");
    assert_eq!(a.severity, "HIGH");
    assert_eq!(
        a.links[0],
        "https://github.com/advisories/GHSA-35jh-r3h4-6jhm"
    );
    assert_eq!(
        a.cvss[0].vector,
        "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"
    );
    assert_eq!(a.cvss[0].score, Some(7.2));
    let names: Vec<&str> = a.affected.iter().map(|d| d.package.as_str()).collect();
    assert_eq!(names, ["lodash", "lodash-es"]);
}

#[test]
fn debian_osv() {
    let p = &feeds().debian;
    assert_clean(p);
    assert_eq!(p.advisories.len(), 10);
    let a = find(p, "DEBIAN-CVE-2011-3374");
    assert_eq!(a.aliases, ["CVE-2011-3374"]);
    let d = a
        .affected
        .iter()
        .find(|d| d.space.as_str() == "debian:12")
        .unwrap();
    assert_eq!(d.package, "apt");
    assert_eq!(
        d.ranges,
        [Range::Events {
            events: vec![Event::Introduced("0".into())]
        }]
    );
    assert_eq!(d.severity, "unimportant");
    assert_eq!(a.normalized_severity(d), Severity::Negligible);
    assert!(d.versions.iter().any(|v| v == "2.6.1"));

    let a = find(p, "DEBIAN-CVE-2023-4911");
    let d = a
        .affected
        .iter()
        .find(|d| d.space.as_str() == "debian:12")
        .unwrap();
    assert_eq!(d.package, "glibc");
    assert_eq!(Advisory::fixed_in(d), Some("2.36-9+deb12u3"));
    assert_eq!(a.cvss[0].score, Some(7.8));

    let dsa = find(p, "DSA-5514-1");
    assert_eq!(dsa.aliases, ["CVE-2023-4911", "DEBIAN-CVE-2023-4911"]);
    assert_eq!(dsa.affected.len(), 2);
}

/// Independent count (Python, BaseLoader so versions stay text, same id rules): 12,028
/// secfix lines in 18 files; 10 unusable (fixed version "0", or no id on the line); 2,464
/// distinct vulnerabilities with 11,995 (release, package, fixed version) entries.
#[test]
fn alpine() {
    let p = &feeds().alpine;
    assert_clean(p);
    assert_eq!(p.files, 18);
    assert_eq!(p.skipped, 10);
    assert_eq!(p.advisories.len(), 2_464);
    assert_eq!(
        p.advisories.iter().map(|a| a.affected.len()).sum::<usize>(),
        11_995
    );
    // Merged across releases and packages into one advisory.
    let a = find(p, "CVE-2018-0732");
    let mut seen: Vec<(String, String, String)> = a
        .affected
        .iter()
        .map(|d| {
            (
                d.space.to_string(),
                d.package.clone(),
                Advisory::fixed_in(d).unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 10);
    assert!(seen.contains(&("alpine:v3.8".into(), "openssl".into(), "1.0.2o-r1".into())));
    assert!(seen.contains(&("alpine:v3.11".into(), "libressl".into(), "2.7.4-r0".into())));
    // Lines with two ids: the CVE is the advisory, the XSA its alias.
    let a = find(p, "CVE-2017-8904");
    assert_eq!(a.aliases, ["XSA-214"]);
    // Alpine's sub-issue and underscore spellings read as the CVE.
    find(p, "CVE-2017-17434");
    find(p, "CVE-2019-2426");
    assert!(!p.advisories.iter().any(|a| a.id.contains('?')));
}
