//! The vulnerability report the tests render, built by hand so each test knows exactly what is
//! in it: a Debian 12 image with apt (DEBIAN-CVE-2011-3374, Negligible, never fixed), libc6
//! and libc-bin sharing one glibc finding (High, fixed), Django 3.2 with a Critical PYSEC
//! (CVSS 9.8) and a Medium GHSA, a Go module with a long pseudo-version, an npm package with a
//! long scoped name, a package whose name carries terminal escapes, and bash, which is clean.

#![allow(dead_code)]

use std::collections::BTreeMap;

use berth_advisory::Severity;
use berth_present::Options;
use berth_report::{
    CVSS_ENRICHMENT, CvssScore, Distribution, Environment, Package, Repository, Vulnerability,
    VulnerabilityReport,
};

pub const MANIFEST: &str =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const LAYER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const IMAGE: &str = "localhost:5000/team/app:1.2";
pub const DPKG: &str = "var/lib/dpkg/status";
pub const DJANGO_DB: &str = "usr/local/lib/python3.11/site-packages/Django-3.2.dist-info/METADATA";

pub const APT_VULN: &str = "debian/DEBIAN-CVE-2011-3374/debian:12/apt";
pub const GLIBC_VULN: &str = "debian/DEBIAN-CVE-2023-4911/debian:12/glibc";
pub const DJANGO_SQLI: &str = "osv/PYSEC-2021-98/pypi/django";
pub const DJANGO_TRAVERSAL: &str = "osv/GHSA-68w8-qjq3-2gfm/pypi/django";
pub const NET_VULN: &str = "osv/GO-2024-2687/go/golang.org/x/net";
pub const NPM_VULN: &str =
    "osv/GHSA-9c47-m6qq-7p4h/npm/@example-organization/a-deliberately-long-package-name";
pub const EVIL_VULN: &str = "osv/PYSEC-2099-1/pypi/evil";

pub fn options(min: Severity) -> Options {
    Options {
        min_severity: min,
        image: IMAGE.into(),
        tool_version: "0.1.0".into(),
        color: false,
    }
}

pub fn package(id: &str, name: &str, version: &str, arch: &str, source: Option<&str>) -> Package {
    Package {
        id: id.into(),
        name: name.into(),
        version: version.into(),
        kind: "binary".into(),
        source: source.map(|s| {
            Box::new(Package {
                id: String::new(),
                name: s.into(),
                version: version.into(),
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
        arch: arch.into(),
        cpe: String::new(),
    }
}

fn debian() -> Distribution {
    Distribution {
        id: "1".into(),
        did: "debian".into(),
        name: "Debian GNU/Linux".into(),
        version: "12 (bookworm)".into(),
        version_code_name: "bookworm".into(),
        version_id: "12".into(),
        arch: String::new(),
        cpe: String::new(),
        pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
    }
}

struct Advisory<'a> {
    id: &'a str,
    feed: &'a str,
    name: &'a str,
    aliases: &'a [&'a str],
    description: &'a str,
    links: &'a str,
    severity: &'a str,
    normalized: Severity,
    package: &'a str,
    version: &'a str,
    fixed: &'a str,
    cvss: Option<(&'a str, f64)>,
}

fn vulnerability(a: Advisory) -> Vulnerability {
    Vulnerability {
        id: a.id.into(),
        updater: a.feed.into(),
        name: a.name.into(),
        description: a.description.into(),
        issued: String::new(),
        links: a.links.into(),
        severity: a.severity.into(),
        normalized_severity: a.normalized.as_str().into(),
        package: Package {
            kind: if a.feed == "debian" {
                "source"
            } else {
                "binary"
            }
            .into(),
            ..package("", a.package, a.version, "", None)
        },
        distribution: (a.feed == "debian").then(debian),
        repository: None,
        fixed_in_version: a.fixed.into(),
        aliases: a.aliases.iter().map(|s| s.to_string()).collect(),
        cvss: a.cvss.map(|(vector, score)| CvssScore {
            version: "3.1".into(),
            vector: vector.into(),
            score: Some(score),
        }),
    }
}

pub fn report() -> VulnerabilityReport {
    let mut r = VulnerabilityReport {
        manifest_hash: MANIFEST.into(),
        packages: BTreeMap::new(),
        distributions: BTreeMap::from([("1".into(), debian())]),
        repository: BTreeMap::new(),
        environments: BTreeMap::new(),
        vulnerabilities: BTreeMap::new(),
        package_vulnerabilities: BTreeMap::new(),
        enrichments: BTreeMap::new(),
    };
    for (id, name, uri) in [
        ("r1", "pypi", "https://pypi.org/simple"),
        ("r2", "go", "https://proxy.golang.org"),
        ("r3", "npm", "https://registry.npmjs.org"),
    ] {
        r.repository.insert(
            id.into(),
            Repository {
                id: id.into(),
                name: name.into(),
                key: String::new(),
                uri: uri.into(),
                cpe: String::new(),
            },
        );
    }
    let mut add = |p: Package, db: &str, dist: &str, repo: Option<&str>, vulns: &[&str]| {
        r.environments.insert(
            p.id.clone(),
            vec![Environment {
                package_db: db.into(),
                introduced_in: LAYER.into(),
                distribution_id: dist.into(),
                repository_ids: repo.into_iter().map(str::to_owned).collect(),
            }],
        );
        if !vulns.is_empty() {
            r.package_vulnerabilities
                .insert(p.id.clone(), vulns.iter().map(|v| v.to_string()).collect());
        }
        r.packages.insert(p.id.clone(), p);
    };
    add(
        package("1", "apt", "2.6.1", "amd64", None),
        DPKG,
        "1",
        None,
        &[APT_VULN],
    );
    add(
        package("2", "libc6", "2.36-9+deb12u1", "amd64", Some("glibc")),
        DPKG,
        "1",
        None,
        &[GLIBC_VULN],
    );
    add(
        package("3", "libc-bin", "2.36-9+deb12u1", "amd64", Some("glibc")),
        DPKG,
        "1",
        None,
        &[GLIBC_VULN],
    );
    add(
        package("4", "Django", "3.2", "", None),
        DJANGO_DB,
        "1",
        Some("r1"),
        &[DJANGO_TRAVERSAL, DJANGO_SQLI],
    );
    add(
        package("5", "bash", "5.2.15-2+b2", "amd64", Some("bash")),
        DPKG,
        "1",
        None,
        &[],
    );
    add(
        package(
            "6",
            "golang.org/x/net",
            "v0.0.0-20220722155237-a158d28d115b",
            "",
            None,
        ),
        "usr/local/bin/server",
        "1",
        Some("r2"),
        &[NET_VULN],
    );
    add(
        package(
            "7",
            "@example-organization/a-deliberately-long-package-name",
            "1.0.0",
            "",
            None,
        ),
        "app/node_modules/@example-organization/a-deliberately-long-package-name/package.json",
        "1",
        Some("r3"),
        &[NPM_VULN],
    );
    add(
        package("8", "evil\x1b[2Jpkg\tname", "1.0", "", None),
        "srv/x y/evil-1.0.dist-info/METADATA",
        "1",
        Some("r1"),
        &[EVIL_VULN],
    );

    for v in [
        vulnerability(Advisory {
            id: APT_VULN,
            feed: "debian",
            name: "DEBIAN-CVE-2011-3374",
            aliases: &["CVE-2011-3374"],
            description: "It was found that apt-key in apt, all versions, do not correctly validate gpg keys with the master keyring, leading to a potential man-in-the-middle attack.",
            links: "https://security-tracker.debian.org/tracker/CVE-2011-3374 https://nvd.nist.gov/vuln/detail/CVE-2011-3374",
            severity: "unimportant",
            normalized: Severity::Negligible,
            package: "apt",
            version: "2.6.1",
            fixed: "",
            cvss: Some(("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N", 3.7)),
        }),
        vulnerability(Advisory {
            id: GLIBC_VULN,
            feed: "debian",
            name: "DEBIAN-CVE-2023-4911",
            aliases: &["CVE-2023-4911"],
            description: "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.",
            links: "https://security-tracker.debian.org/tracker/CVE-2023-4911",
            severity: "high",
            normalized: Severity::High,
            package: "glibc",
            version: "2.36-9+deb12u1",
            fixed: "2.36-9+deb12u3",
            cvss: Some(("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8)),
        }),
        vulnerability(Advisory {
            id: DJANGO_SQLI,
            feed: "osv",
            name: "PYSEC-2021-98",
            aliases: &["CVE-2021-35042", "GHSA-xpfp-f569-q3p2"],
            description: "Django 3.1.x before 3.1.13 and 3.2.x before 3.2.5 allows QuerySet.order_by SQL injection if order_by is untrusted input from a client of a web application.",
            links: "https://osv.dev/vulnerability/PYSEC-2021-98 https://www.djangoproject.com/weblog/2021/jul/01/security-releases/",
            severity: "",
            normalized: Severity::Critical,
            package: "django",
            version: "3.2",
            fixed: "3.2.5",
            cvss: Some(("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)),
        }),
        vulnerability(Advisory {
            id: DJANGO_TRAVERSAL,
            feed: "osv",
            name: "GHSA-68w8-qjq3-2gfm",
            aliases: &["CVE-2021-33203"],
            description: "Potential directory traversal via admindocs\n\nStaff members could use the admindocs TemplateDetailView view to check the existence of arbitrary files.",
            links: "https://github.com/advisories/GHSA-68w8-qjq3-2gfm",
            severity: "MODERATE",
            normalized: Severity::Medium,
            package: "django",
            version: "3.2",
            fixed: "3.2.4",
            cvss: None,
        }),
        vulnerability(Advisory {
            id: NET_VULN,
            feed: "osv",
            name: "GO-2024-2687",
            aliases: &["CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"],
            description: "HTTP/2 CONTINUATION flood in net/http",
            links: "https://pkg.go.dev/vuln/GO-2024-2687",
            severity: "",
            normalized: Severity::Medium,
            package: "golang.org/x/net",
            version: "v0.0.0-20220722155237-a158d28d115b",
            fixed: "0.23.0",
            cvss: None,
        }),
        vulnerability(Advisory {
            id: NPM_VULN,
            feed: "osv",
            name: "GHSA-9c47-m6qq-7p4h",
            aliases: &[],
            description: "",
            links: "",
            severity: "LOW",
            normalized: Severity::Low,
            package: "@example-organization/a-deliberately-long-package-name",
            version: "1.0.0",
            fixed: "1.0.1",
            cvss: None,
        }),
        vulnerability(Advisory {
            id: EVIL_VULN,
            feed: "osv",
            name: "PYSEC-2099-1",
            aliases: &[],
            description: "Evil\x1b[2J description",
            links: "not-a-url https://example.org/a b",
            severity: "",
            normalized: Severity::Unknown,
            package: "evil",
            version: "1.0",
            fixed: "",
            cvss: None,
        }),
    ] {
        r.vulnerabilities.insert(v.id.clone(), v);
    }
    let cvss = |vector: &str, score: f64| {
        vec![
            serde_json::json!({"version": "3.1", "vectorString": vector, "baseScore": score, "source": "nvd"}),
        ]
    };
    r.enrichments.insert(
        CVSS_ENRICHMENT.into(),
        vec![BTreeMap::from([
            (
                APT_VULN.to_owned(),
                cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N", 3.7),
            ),
            (
                GLIBC_VULN.to_owned(),
                cvss("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ),
            (
                DJANGO_SQLI.to_owned(),
                cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ),
        ])],
    );
    r
}

/// The report with no findings at all.
pub fn clean_report() -> VulnerabilityReport {
    let mut r = report();
    r.vulnerabilities.clear();
    r.package_vulnerabilities.clear();
    r.enrichments.clear();
    r
}
