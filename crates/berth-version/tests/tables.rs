//! Schemes with no reference tool installable on Debian (Go, apk, NuGet) and the generic
//! fallback, checked against tables of documented orderings and against the recorded feeds:
//! every Go vulndb range must ascend, every Alpine secdb version must sort consistently, and
//! every RustSec requirement must parse.

mod common;

use std::cmp::Ordering::{self, Equal, Greater, Less};

use berth_version::{Scheme, cargo, npm};

fn check(scheme: Scheme, table: &[(&str, &str, Ordering)]) {
    for &(a, b, want) in table {
        assert_eq!(
            scheme.compare(a, b).ok(),
            Some(want),
            "{} {a:?} vs {b:?}",
            scheme.name()
        );
        assert_eq!(
            scheme.compare(b, a).ok(),
            Some(want.reverse()),
            "{} {b:?} vs {a:?}",
            scheme.name()
        );
    }
}

/// Orderings from golang.org/x/mod/semver's tests and go/version's documentation.
#[test]
fn go_table() {
    check(
        Scheme::Go,
        &[
            ("v1.0.0", "v1.0.1", Less),
            ("v1", "v1.0.0", Equal),
            ("v1.2", "v1.2.0", Equal),
            ("1.2.3", "v1.2.3", Equal),
            ("v1.0.0-alpha", "v1.0.0-alpha.1", Less),
            ("v1.0.0-alpha.1", "v1.0.0-alpha.beta", Less),
            ("v1.0.0-beta.2", "v1.0.0-beta.11", Less),
            ("v1.0.0-rc.1", "v1.0.0", Less),
            ("v2.0.0+incompatible", "v2.0.0", Equal),
            ("v2.1.0+incompatible", "v2.0.0", Greater),
            (
                "v0.0.0-20210101000000-abcdefabcdef",
                "v0.0.0-20220101000000-abcdefabcdef",
                Less,
            ),
            ("v0.0.0-20210101000000-abcdefabcdef", "v0.0.1", Less),
            ("v1.2.4-0.20230101000000-abcdefabcdef", "v1.2.4", Less),
            ("v1.2.4-0.20230101000000-abcdefabcdef", "v1.2.3", Greater),
            ("go1.21rc2", "1.21.0-rc.2", Equal),
            ("1.21rc2", "1.21.0", Less),
            ("1.21beta1", "1.21rc1", Less),
            ("go1.19.8", "1.19.10", Less),
            ("1.21", "1.21.0", Equal),
        ],
    );
    for bad in [
        "",
        "v",
        "v1.2.3.4",
        "v01.2.3",
        "v1.2-pre",
        "1.2.3-",
        "v1.0.0-01",
        "go",
    ] {
        assert!(
            Scheme::Go.compare(bad, "v1.0.0").is_err(),
            "{bad:?} should be rejected"
        );
    }
}

/// Every Go vulndb range must ascend: introduced < fixed < introduced ...
#[test]
fn go_vulndb_ranges_ascend() {
    let dir = common::unpack("go-vulndb");
    let mut checked = 0;
    for f in common::files(dir.path(), ".json") {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
        for a in v["affected"].as_array().into_iter().flatten() {
            for r in a["ranges"].as_array().into_iter().flatten() {
                let events: Vec<&str> = r["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["introduced"].as_str().or(e["fixed"].as_str()))
                    .filter(|s| *s != "0")
                    .collect();
                for w in events.windows(2) {
                    let o = Scheme::Go.compare(w[0], w[1]);
                    assert_eq!(o, Ok(Less), "{}: {} then {}", f.display(), w[0], w[1]);
                    checked += 1;
                }
                for e in events {
                    assert!(Scheme::Go.compare(e, e).is_ok(), "{}: {e}", f.display());
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} Go range steps checked");
    eprintln!("go: {checked} ascending range steps from go-vulndb");
}

/// apk-tools' documented order: `_alpha _beta _pre _rc` < release < `_cvs _svn _git _hg _p`.
#[test]
fn apk_table() {
    check(
        Scheme::Apk,
        &[
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0-r0", "1.0-r1", Less),
            ("1.0", "1.0-r0", Less),
            ("1.0_alpha", "1.0_beta", Less),
            ("1.0_beta", "1.0_pre", Less),
            ("1.0_pre", "1.0_rc", Less),
            ("1.1_rc1", "1.1", Less),
            ("1.1_alpha1", "1.1", Less),
            ("1.0", "1.0_cvs", Less),
            ("1.0_cvs", "1.0_svn", Less),
            ("1.0_svn", "1.0_git", Less),
            ("1.0_git", "1.0_hg", Less),
            ("1.0_hg", "1.0_p1", Less),
            ("1.0_rc1", "1.0_rc2", Less),
            ("1.0a", "1.0b", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0.1", Less),
            ("1.01", "1.1", Less),
            ("1.2.3-r10", "1.2.3-r9", Greater),
            ("2.9.3-r0", "2.8.6-r0", Greater),
            ("1.1.1g-r0", "1.1.1d-r3", Greater),
            ("1.0_p1-r1", "1.0_p1-r0", Greater),
            ("10.0", "9.9", Greater),
            // From apk-tools' test/version.data (GPL-2.0; cited, not copied wholesale).
            ("0.1.0_alpha_pre2", "0.1.0_alpha", Less),
            (
                "1.0.0_pre20191002222144-r0",
                "1.0.0_pre20210530193627-r0",
                Less,
            ),
            ("2.5.1-r8", "2.5.1a-r1", Less),
            ("3.0.0-r2", "021109-r3", Less),
            ("0.9.28.1", "087-r1", Less),
            ("2.10.1", "02.08.01b", Greater),
            ("1.6d", "1.2.07.8", Greater),
            ("0.20070207_rc1", "1.0", Less),
            ("1.3_pre1-r1", "1.3.2", Less),
            ("2.9.11_pre20051101-r3", "2.9.11_pre20051101", Greater),
        ],
    );
}

/// The Alpine secdb's versions sort into one consistent order (no a < b < a cycles).
#[test]
fn apk_secdb_versions_sort_consistently() {
    let dir = common::unpack("alpine-secdb");
    let mut versions = Vec::new();
    for f in common::files(dir.path(), ".yaml") {
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let t = line.trim();
            if line.starts_with("        ") && !t.starts_with('-') && t.ends_with(':') {
                versions.push(t.trim_end_matches(':').trim_matches('"').to_owned());
            }
        }
    }
    assert!(
        versions.len() > 1000,
        "expected secdb versions, got {}",
        versions.len()
    );
    versions.sort_by(|a, b| Scheme::Apk.compare(a, b).unwrap_or(Equal));
    let mut rng = common::Rng::new(0xa1);
    for _ in 0..20_000 {
        let i = rng.below(versions.len());
        let j = rng.below(versions.len());
        let (i, j) = (i.min(j), i.max(j));
        let o = Scheme::Apk
            .compare(&versions[i], &versions[j])
            .expect("apk never fails");
        assert_ne!(o, Greater, "{} sorted before {}", versions[i], versions[j]);
    }
    eprintln!("apk: {} secdb versions in one order", versions.len());
}

/// NuGet.Versioning's documented order.
#[test]
fn nuget_table() {
    check(
        Scheme::NuGet,
        &[
            ("1.0", "1.0.0", Equal),
            ("1.0.0.0", "1.0.0", Equal),
            ("1.0.0.1", "1.0.0", Greater),
            ("1.0.0-beta", "1.0.0", Less),
            ("1.0.0-BETA", "1.0.0-beta", Equal),
            ("1.0.0-alpha", "1.0.0-beta", Less),
            ("1.0.0-beta.2", "1.0.0-beta.10", Less),
            ("1.0.0-1", "1.0.0-a", Less),
            ("1.0.0+meta", "1.0.0", Equal),
            ("01.2", "1.2", Equal),
            ("2.0.0-rc.1", "2.0.0-rc", Greater),
        ],
    );
    for bad in ["", "a", "1.2.3.4.5", "1.0.0-", "1.0.0-01", "3000000000.0"] {
        assert!(
            Scheme::NuGet.compare(bad, "1.0").is_err(),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn generic_table() {
    check(
        Scheme::Generic,
        &[
            ("1.2", "1.10", Less),
            ("1.2a", "1.2b", Less),
            ("1.2", "1.2.1", Less),
            ("1.2", "1-2", Equal),
            ("1.2", "1.2a", Less),
            ("1.a", "1.1", Less),
            ("R2", "r2", Equal),
        ],
    );
    assert!(Scheme::Generic.compare("", "1").is_err());
}

/// Every `patched`/`unaffected` requirement in RustSec parses, and Cargo's rules hold.
#[test]
fn cargo_requirements_from_rustsec() {
    let outer = common::unpack("rustsec-advisory-db");
    // The recorded folder holds one more tarball inside.
    let inner = common::files(outer.path(), ".tar.gz");
    let dir = if let Some(t) = inner.first() {
        let d = tempfile::tempdir().expect("tempdir");
        let st = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(t)
            .arg("-C")
            .arg(d.path())
            .status()
            .expect("tar");
        assert!(st.success());
        d
    } else {
        outer
    };
    let mut reqs = Vec::new();
    for f in common::files(dir.path(), ".md") {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for key in ["\npatched = ", "\nunaffected = "] {
            let mut from = 0;
            while let Some(k) = text[from..].find(key) {
                let start = from + k + key.len();
                let Some(len) = text[start..].find(']') else {
                    break;
                };
                // TOML allows a trailing comma; JSON does not.
                let inner = text[start + 1..start + len].trim().trim_end_matches(',');
                let array = format!("[{inner}]");
                let list: Vec<String> = serde_json::from_str(&array)
                    .unwrap_or_else(|e| panic!("{}: {array}: {e}", f.display()));
                reqs.extend(list);
                from = start;
            }
        }
    }
    assert!(
        reqs.len() > 800,
        "expected RustSec requirements, got {}",
        reqs.len()
    );
    for r in &reqs {
        assert!(
            cargo::matches(r, "0.1.0").is_ok(),
            "RustSec requirement {r:?} should parse"
        );
    }
    let table = [
        (">= 1.2.3", "1.2.3", true),
        (">= 1.2.3", "1.2.2", false),
        ("^0.4.5", "0.4.9", true),
        ("^0.4.5", "0.5.0", false),
        ("1.2", "1.9.0", true),
        ("~1.2.3", "1.3.0", false),
        (">= 1.0.0, < 1.5.0", "1.4.9", true),
        (">= 1.0.0, < 1.5.0", "1.5.0", false),
        (">= 1.0.0", "2.0.0-alpha.1", false),
        (">= 2.0.0-alpha.0", "2.0.0-alpha.1", true),
        ("*", "0.0.1", true),
        ("= 0.3.1", "0.3.1", true),
    ];
    for (req, v, want) in table {
        assert_eq!(cargo::matches(req, v), Ok(want), "{req} @ {v}");
    }
    assert!(cargo::matches(">= x", "1.0.0").is_err());
    eprintln!("cargo: {} RustSec requirements parse", reqs.len());
}

/// The odd spellings the Node.js WG feed uses, by hand (the oracle test covers the rest).
#[test]
fn npm_odd_spacing() {
    assert_eq!(npm::satisfies("<= 0.3.3", "0.3.3"), Ok(true));
    assert_eq!(
        npm::satisfies("< 3.1.3  || >= 4.0.0 <4.1.1", "4.1.0"),
        Ok(true)
    );
    assert_eq!(
        npm::satisfies("< 3.1.3  || >= 4.0.0 <4.1.1", "4.1.1"),
        Ok(false)
    );
    assert_eq!(npm::satisfies("1.2.3 - 2.3", "2.3.9"), Ok(true));
    assert_eq!(npm::satisfies("^1.2.3", "1.3.0-beta"), Ok(false));
    assert_eq!(npm::satisfies("^1.2.3-beta.1", "1.2.3-beta.2"), Ok(true));
    assert!(npm::satisfies("not a range", "1.0.0").is_err());
}

/// Garbage in: every scheme answers (or errs) without panicking.
#[test]
fn no_panics_on_garbage() {
    let schemes = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::Semver,
        Scheme::Maven,
        Scheme::RubyGems,
        Scheme::Go,
        Scheme::NuGet,
        Scheme::Composer,
        Scheme::Generic,
    ];
    let alphabet: Vec<char> = "0123456789.-_+~^:!*xXvV=<>| \tabcdeprlsgtéß\u{3000}\u{feff}"
        .chars()
        .collect();
    let mut rng = common::Rng::new(0xbad);
    for _ in 0..20_000 {
        let s = |rng: &mut common::Rng| -> String {
            let n = rng.below(24);
            (0..n)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        let (a, b) = (s(&mut rng), s(&mut rng));
        for sc in schemes {
            let _ = sc.compare(&a, &b);
        }
        let _ = npm::satisfies(&a, &b);
        let _ = cargo::matches(&a, &b);
    }
    for sc in [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Maven,
        Scheme::Generic,
    ] {
        assert!(
            sc.compare("1 2 \u{3000}", "~~^^").is_ok(),
            "{} is lenient",
            sc.name()
        );
    }
}
