//! The matching rules, one by one, on a small database and an image built by hand: each test
//! is one rule of `berth-match`'s header, with a case that would pass if the rule were not
//! implemented (so the test can fail).

use std::collections::BTreeMap;

use berth_advisory::{Advisory, Affected, Event, Range, Space};
use berth_match::match_report;
use berth_report::{Distribution, Environment, IndexReport, Package, Repository, state};
use berth_vulndb::{Db, FeedInfo, FeedPart};

fn adv(id: &str, affected: Vec<Affected>) -> Advisory {
    Advisory {
        id: id.into(),
        feed: "test".into(),
        aliases: vec![],
        summary: format!("summary of {id}"),
        details: String::new(),
        links: vec![format!("https://example.test/{id}")],
        published: None,
        modified: None,
        withdrawn: None,
        severity: String::new(),
        cvss: vec![],
        affected,
    }
}

fn aff(space: &str, package: &str, events: Vec<Event>, versions: &[&str]) -> Affected {
    Affected {
        space: Space::new(space),
        package: package.into(),
        ranges: if events.is_empty() {
            vec![]
        } else {
            vec![Range::Events { events }]
        },
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        severity: String::new(),
        arches: vec![],
    }
}

fn intro(v: &str) -> Event {
    Event::Introduced(v.into())
}
fn fixed(v: &str) -> Event {
    Event::Fixed(v.into())
}

fn db(advisories: Vec<Advisory>) -> Db {
    Db::build(
        vec![FeedPart {
            info: FeedInfo {
                name: "test".into(),
                fingerprint: "sha256:00".into(),
                advisories: 0,
                enrichments: 0,
                skipped: 0,
                malformed: 0,
                error: None,
            },
            advisories,
            enrichments: vec![],
        }],
        "2026-11-23T00:00:00Z",
        None,
    )
}

/// An image: Debian 12 (or `dist_version`), with OS packages (name, version, source,
/// source version) and language packages (repository, name, version).
fn image(
    dist_version: &str,
    os: &[(&str, &str, &str, &str)],
    lang: &[(&str, &str, &str)],
) -> IndexReport {
    let mut r = IndexReport::new("sha256:feed", state::INDEX_FINISHED);
    r.distributions.insert(
        "1".into(),
        Distribution {
            id: "1".into(),
            did: "debian".into(),
            name: "Debian GNU/Linux".into(),
            version: dist_version.into(),
            version_code_name: String::new(),
            version_id: dist_version.into(),
            arch: String::new(),
            cpe: String::new(),
            pretty_name: String::new(),
        },
    );
    let pkg = |id: usize, name: &str, version: &str, source: Option<(&str, &str)>| Package {
        id: id.to_string(),
        name: name.into(),
        version: version.into(),
        kind: "binary".into(),
        source: source.map(|(n, v)| {
            Box::new(Package {
                id: String::new(),
                name: n.into(),
                version: v.into(),
                kind: "source".into(),
                source: None,
                normalized_version: String::new(),
                module: String::new(),
                arch: String::new(),
                cpe: String::new(),
            })
        }),
        normalized_version: String::new(),
        module: String::new(),
        arch: String::new(),
        cpe: String::new(),
    };
    let mut id = 10;
    for (name, version, src, src_version) in os {
        r.packages.insert(
            id.to_string(),
            pkg(id, name, version, Some((src, src_version))),
        );
        r.environments.insert(
            id.to_string(),
            vec![Environment {
                package_db: "var/lib/dpkg/status".into(),
                introduced_in: "sha256:layer".into(),
                distribution_id: "1".into(),
                repository_ids: vec![],
            }],
        );
        id += 1;
    }
    for (repo, name, version) in lang {
        let rid = format!("r-{repo}");
        r.repository.insert(
            rid.clone(),
            Repository {
                id: rid.clone(),
                name: (*repo).into(),
                key: String::new(),
                uri: String::new(),
                cpe: String::new(),
            },
        );
        r.packages
            .insert(id.to_string(), pkg(id, name, version, None));
        r.environments.insert(
            id.to_string(),
            vec![Environment {
                package_db: "some/METADATA".into(),
                introduced_in: "sha256:layer".into(),
                distribution_id: String::new(),
                repository_ids: vec![rid],
            }],
        );
        id += 1;
    }
    r
}

/// (package name, advisory id, fixed_in_version) of every finding.
fn findings(index: &IndexReport, db: &Db) -> Vec<(String, String, String)> {
    let (r, _) = match_report(index, db);
    let mut out: Vec<(String, String, String)> = r
        .findings()
        .map(|(pid, v)| {
            (
                r.packages[pid].name.clone(),
                v.name.clone(),
                v.fixed_in_version.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn os_packages_match_through_their_source_at_the_source_version() {
    let db = db(vec![adv(
        "DEBIAN-CVE-2023-4911",
        vec![aff(
            "debian:12",
            "glibc",
            vec![intro("0"), fixed("2.36-9+deb12u3")],
            &[],
        )],
    )]);
    // libc6 is built from glibc; its own name is not in the feed.
    let old = image(
        "12",
        &[("libc6", "2.36-9+deb12u2", "glibc", "2.36-9+deb12u2")],
        &[],
    );
    assert_eq!(
        findings(&old, &db),
        vec![(
            "libc6".into(),
            "DEBIAN-CVE-2023-4911".into(),
            "2.36-9+deb12u3".into()
        )]
    );
    // The binary's version says affected (a binNMU suffix sorts below the fix) but the
    // source version, which the tracker speaks of, is fixed.
    let binnmu = image(
        "12",
        &[("libc6", "2.36-9+deb12u2+b1", "glibc", "2.36-9+deb12u4")],
        &[],
    );
    assert!(findings(&binnmu, &db).is_empty());
}

#[test]
fn another_release_s_data_says_nothing() {
    let db = db(vec![adv(
        "DEBIAN-CVE-1",
        vec![aff("debian:11", "apt", vec![intro("0")], &[])],
    )]);
    let bookworm = image("12", &[("apt", "2.6.1", "apt", "2.6.1")], &[]);
    assert!(findings(&bookworm, &db).is_empty());
    let bullseye = image("11", &[("apt", "2.2.4", "apt", "2.2.4")], &[]);
    assert_eq!(findings(&bullseye, &db).len(), 1);
    // No release at all: nothing can be said to apply.
    let unknown = image("", &[("apt", "2.2.4", "apt", "2.2.4")], &[]);
    assert!(findings(&unknown, &db).is_empty());
}

#[test]
fn ranges_and_versions_lists_both_count() {
    // The list lacks 2.6.2 (not exhaustive), the open range covers it.
    let db = db(vec![
        adv(
            "DEBIAN-CVE-2011-3374",
            vec![aff("debian:12", "apt", vec![intro("0")], &["2.6.1"])],
        ),
        // A version only in the list, outside the (fixed) range.
        adv(
            "LISTED",
            vec![aff(
                "debian:12",
                "apt",
                vec![intro("3.0"), fixed("3.1")],
                &["2.6.2"],
            )],
        ),
    ]);
    let img = image("12", &[("apt", "2.6.2", "apt", "2.6.2")], &[]);
    assert_eq!(
        findings(&img, &db),
        vec![
            ("apt".into(), "DEBIAN-CVE-2011-3374".into(), "".into()),
            ("apt".into(), "LISTED".into(), "3.1".into()),
        ]
    );
}

#[test]
fn withdrawn_advisories_never_match() {
    let mut a = adv(
        "PYSEC-W",
        vec![aff("pypi", "django", vec![intro("0")], &[])],
    );
    a.withdrawn = Some("2024-01-01T00:00:00Z".into());
    let db = db(vec![
        a,
        adv(
            "PYSEC-OK",
            vec![aff("pypi", "django", vec![intro("0")], &[])],
        ),
    ]);
    let img = image("12", &[], &[("pypi", "Django", "3.2")]);
    assert_eq!(
        findings(&img, &db),
        vec![("Django".into(), "PYSEC-OK".into(), "".into())]
    );
}

#[test]
fn osv_events_last_affected_limit_and_multiple_introductions() {
    let db = db(vec![adv(
        "GO-1",
        vec![Affected {
            ranges: vec![Range::Events {
                // Out of order on purpose: OSV sorts events by version.
                events: vec![
                    fixed("1.20.5"),
                    intro("1.20.0"),
                    fixed("1.19.10"),
                    intro("0"),
                    Event::LastAffected("1.21.3".into()),
                    intro("1.21.0"),
                ],
            }],
            ..aff("go", "stdlib", vec![], &[])
        }],
    )]);
    for (v, hit, fix) in [
        ("1.19.8", true, "1.19.10"),
        ("1.19.10", false, ""),
        ("1.20.4", true, "1.20.5"),
        ("1.20.5", false, ""),
        ("1.21.3", true, ""),
        ("1.21.4", false, ""),
    ] {
        let img = image("12", &[], &[("go", "stdlib", v)]);
        let f = findings(&img, &db);
        assert_eq!(!f.is_empty(), hit, "stdlib {v}");
        if hit {
            assert_eq!(f[0].2, fix, "stdlib {v}");
        }
    }
    // Go module versions carry a `v`.
    let db2 = db_single("go", "golang.org/x/net", vec![intro("0"), fixed("0.7.0")]);
    let img = image("12", &[], &[("go", "golang.org/x/net", "v0.5.0")]);
    assert_eq!(findings(&img, &db2).len(), 1);
}

fn db_single(space: &str, package: &str, events: Vec<Event>) -> Db {
    db(vec![adv("X-1", vec![aff(space, package, events, &[])])])
}

#[test]
fn ecosystem_range_syntax_npm_and_cargo() {
    let npm = db(vec![adv(
        "NSWG-ECO-1",
        vec![Affected {
            ranges: vec![Range::Expr {
                vulnerable: Some("< 3.1.3  || >= 4.0.0 <4.1.1".into()),
                unaffected: vec![">=4.1.1".into()],
            }],
            ..aff("npm", "qs", vec![], &[])
        }],
    )]);
    for (v, hit) in [
        ("3.1.2", true),
        ("3.1.3", false),
        ("4.0.5", true),
        ("4.1.1", false),
    ] {
        let img = image("12", &[], &[("npm", "qs", v)]);
        assert_eq!(!findings(&img, &npm).is_empty(), hit, "qs {v}");
    }
    // A plain `>=V` patch names the fixing version.
    let img = image("12", &[], &[("npm", "qs", "4.0.5")]);
    assert_eq!(findings(&img, &npm)[0].2, "4.1.1");
    let cargo = db(vec![adv(
        "RUSTSEC-1",
        vec![Affected {
            ranges: vec![Range::Expr {
                vulnerable: None,
                unaffected: vec![">= 1.2.3, < 2.0.0".into(), "^2.1".into(), "< 0.5".into()],
            }],
            ..aff("crates.io", "smallvec", vec![], &[])
        }],
    )]);
    for (v, hit) in [
        ("1.2.2", true),
        ("1.2.3", false),
        ("2.0.1", true),
        ("2.1.0", false),
        ("0.4.9", false),
    ] {
        let img = image("12", &[], &[("crates.io", "smallvec", v)]);
        assert_eq!(!findings(&img, &cargo).is_empty(), hit, "smallvec {v}");
    }
}

#[test]
fn pypi_names_are_normalized_and_bad_versions_do_not_match() {
    let db = db_single("pypi", "zope-interface", vec![intro("0"), fixed("5.0")]);
    let img = image("12", &[], &[("pypi", "Zope.Interface", "4.1")]);
    assert_eq!(findings(&img, &db).len(), 1);
    // Not PEP 440: counted, not guessed.
    let bad = image("12", &[], &[("pypi", "zope_interface", "not a version")]);
    let (r, stats) = match_report(&bad, &db);
    assert!(r.package_vulnerabilities.is_empty());
    assert_eq!(stats.incomparable, 1);
}

#[test]
fn reports_carry_severity_cvss_links_and_aliases() {
    let mut a = adv(
        "PYSEC-2021-1",
        vec![aff("pypi", "django", vec![intro("0"), fixed("3.2.1")], &[])],
    );
    a.aliases = vec!["CVE-2021-1".into(), "GHSA-aaaa".into()];
    a.cvss = vec![berth_advisory::Cvss::parse(
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    )];
    let db = db(vec![a]);
    let img = image("12", &[], &[("pypi", "Django", "3.2")]);
    let (r, _) = match_report(&img, &db);
    let v = r.vulnerabilities.values().next().expect("one finding");
    assert_eq!(v.normalized_severity, "Critical");
    assert_eq!(v.cvss.as_ref().and_then(|c| c.score), Some(9.8));
    assert_eq!(v.fixed_in_version, "3.2.1");
    assert_eq!(v.aliases, vec!["CVE-2021-1", "GHSA-aaaa"]);
    assert!(v.links.starts_with("https://example.test/PYSEC-2021-1"));
    assert_eq!(v.package.name, "django");
    let counts: BTreeMap<String, usize> = r.counts();
    assert_eq!(counts.get("Critical"), Some(&1));
}
