//! What each view shows of the hand-built report (`common`): the table's rows, order, cuts and
//! summary, the JSON's pruning at every threshold, the CI gate's answer, and the SARIF log's
//! rules, results and fingerprints. Schema validity is `sarif_schema.rs`.

mod common;

use std::collections::BTreeSet;

use berth_advisory::Severity;
use berth_present::{json, sarif, table, worst};
use berth_report::{CVSS_ENRICHMENT, VulnerabilityReport};
use common::*;
use serde_json::Value;

const FULL_TABLE: &str = "\
Image:        localhost:5000/team/app:1.2
Manifest:     sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Distribution: Debian GNU/Linux 12 (bookworm)

SEVERITY    ID                                    PACKAGE                           INSTALLED                 FIXED IN        ECOSYSTEM
Critical    PYSEC-2021-98 (CVE-2021-35042)        Django                            3.2                       3.2.5           PyPI
High        DEBIAN-CVE-2023-4911                  libc-bin                          2.36-9+deb12u1            2.36-9+deb12u3  debian 12
High        DEBIAN-CVE-2023-4911                  libc6                             2.36-9+deb12u1            2.36-9+deb12u3  debian 12
Medium      GHSA-68w8-qjq3-2gfm (CVE-2021-33203)  Django                            3.2                       3.2.4           PyPI
Medium      GO-2024-2687 (CVE-2023-45288)         golang.org/x/net                  v0.0.0-20220722155237-a…  0.23.0          Go
Low         GHSA-9c47-m6qq-7p4h                   @example-organization/a-deliber…  1.0.0                     1.0.1           npm
Negligible  DEBIAN-CVE-2011-3374                  apt                               2.6.1                     not fixed       debian 12
Unknown     PYSEC-2099-1                          evil?[2Jpkg?name                  1.0                       not fixed       PyPI

8 vulnerabilities (1 critical, 2 high, 2 medium, 1 low, 1 negligible, 1 unknown) in 7 packages; 6 fixable
";

#[test]
fn the_table_lists_every_finding_worst_first() {
    let r = report();
    let out = table(&r, &options(Severity::Unknown));
    assert_eq!(out, FULL_TABLE, "got:\n{out}");
    // The clean package has no row; the shared glibc finding has one per binary package.
    assert!(!out.contains("bash"));
}

#[test]
fn the_table_cuts_long_cells_and_keeps_rows_aligned() {
    let out = table(&report(), &options(Severity::Unknown));
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("SEVERITY"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 9);
    // Columns start where the header's do, whatever a row holds.
    let starts = |l: &str| -> Vec<usize> {
        let chars: Vec<char> = l.chars().collect();
        (2..chars.len())
            .filter(|&i| chars[i] != ' ' && chars[i - 1] == ' ' && chars[i - 2..i] == [' ', ' '])
            .collect()
    };
    let header = starts(rows[0]);
    assert_eq!(header.len(), 5, "{header:?}");
    for row in &rows[1..] {
        let chars: Vec<char> = row.chars().collect();
        for &s in &header {
            assert!(
                chars[s - 1] == ' ' && chars[s] != ' ',
                "misaligned at {s}: {row:?}"
            );
        }
        assert!(chars.len() <= 140, "{} chars: {row}", chars.len());
    }
    // Cut values keep their start and end in '…'.
    assert!(out.contains("@example-organization/a-deliber… "));
    assert!(out.contains("v0.0.0-20220722155237-a… "));
    // Terminal escapes from a package name never reach the terminal.
    assert!(!out.contains('\x1b') && !out.contains('\t'));
}

#[test]
fn the_threshold_hides_rows_and_says_so() {
    let r = report();
    let out = table(&r, &options(Severity::High));
    let expected = "\
Image:        localhost:5000/team/app:1.2
Manifest:     sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Distribution: Debian GNU/Linux 12 (bookworm)
Severity:     High and above

SEVERITY  ID                              PACKAGE   INSTALLED       FIXED IN        ECOSYSTEM
Critical  PYSEC-2021-98 (CVE-2021-35042)  Django    3.2             3.2.5           PyPI
High      DEBIAN-CVE-2023-4911            libc-bin  2.36-9+deb12u1  2.36-9+deb12u3  debian 12
High      DEBIAN-CVE-2023-4911            libc6     2.36-9+deb12u1  2.36-9+deb12u3  debian 12

3 vulnerabilities (1 critical, 2 high) in 3 packages; 3 fixable
";
    assert_eq!(out, expected, "got:\n{out}");

    let one = table(&r, &options(Severity::Critical));
    assert!(
        one.ends_with("\n1 vulnerability (1 critical) in 1 package; 1 fixable\n"),
        "{one}"
    );
}

#[test]
fn nothing_to_show() {
    let clean = clean_report();
    let out = table(&clean, &options(Severity::High));
    assert!(
        out.ends_with(
            "Severity:     High and above\n\nno known vulnerabilities (at or above high)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("SEVERITY"));
    let out = table(&clean, &options(Severity::Unknown));
    assert!(out.ends_with("\n\nno known vulnerabilities\n"), "{out}");
    assert!(!out.contains("Severity:"));

    // Findings exist, but all below the threshold.
    let mut r = report();
    r.package_vulnerabilities.retain(|p, _| p == "1");
    let out = table(&r, &options(Severity::Low));
    assert!(
        out.ends_with("no known vulnerabilities (at or above low)\n"),
        "{out}"
    );
}

#[test]
fn color_marks_the_severity_and_nothing_else_moves() {
    let r = report();
    let mut opts = options(Severity::Unknown);
    opts.color = true;
    let colored = table(&r, &opts);
    assert!(colored.contains("\x1b[1;31mCritical\x1b[0m"), "{colored}");
    assert!(colored.contains("\x1b[31mHigh\x1b[0m"));
    assert!(colored.contains("\x1b[33mMedium\x1b[0m"));
    assert!(colored.contains("\x1b[1mSEVERITY"));
    assert!(
        !colored.contains("\x1b[2J"),
        "a package's escape reached the output"
    );
    assert_eq!(strip_ansi(&colored), FULL_TABLE);
    assert!(!table(&r, &options(Severity::Unknown)).contains('\x1b'));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn json_is_pruned_consistently_at_every_threshold() {
    let r = report();
    for min in Severity::ALL {
        let value = json(&r, &options(min));
        let out: VulnerabilityReport = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{min}: not Clair's shape: {e}"));

        // Every listed id exists, and every vulnerability is listed by some package.
        let listed: BTreeSet<&String> = out.package_vulnerabilities.values().flatten().collect();
        let present: BTreeSet<&String> = out.vulnerabilities.keys().collect();
        assert_eq!(listed, present, "{min}");
        assert!(out.package_vulnerabilities.values().all(|v| !v.is_empty()));
        // Exactly the findings at or above the threshold, the ones the table counts.
        assert!(
            out.vulnerabilities
                .values()
                .all(|v| { Severity::parse(&v.normalized_severity).unwrap() >= min })
        );
        let expected: usize = r
            .findings()
            .filter(|(_, v)| Severity::parse(&v.normalized_severity).unwrap() >= min)
            .count();
        assert_eq!(out.findings().count(), expected, "{min}");
        // The image is described in full whatever is filtered.
        assert_eq!(out.packages, r.packages);
        assert_eq!(out.environments, r.environments);
        assert_eq!(out.distributions, r.distributions);
        assert_eq!(out.manifest_hash, r.manifest_hash);
        // Enrichments only for vulnerabilities still there.
        for maps in out.enrichments.values() {
            for m in maps {
                assert!(!m.is_empty());
                assert!(
                    m.keys().all(|k| out.vulnerabilities.contains_key(k)),
                    "{min}"
                );
            }
        }
    }

    let high = json(&r, &options(Severity::High));
    let ids: BTreeSet<&str> = high["vulnerabilities"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(ids, BTreeSet::from([GLIBC_VULN, DJANGO_SQLI]));
    assert_eq!(
        high["package_vulnerabilities"],
        serde_json::json!({ "2": [GLIBC_VULN], "3": [GLIBC_VULN], "4": [DJANGO_SQLI] })
    );
    let cvss: BTreeSet<&str> = high["enrichments"][CVSS_ENRICHMENT][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(cvss, BTreeSet::from([GLIBC_VULN, DJANGO_SQLI]));

    // Nothing filtered: the report as it was.
    assert_eq!(
        json(&r, &options(Severity::Unknown)),
        serde_json::to_value(&r).unwrap()
    );
    // Nothing left: no enrichment kind without entries.
    let none = json(&clean_report(), &options(Severity::Critical));
    assert_eq!(none["enrichments"], serde_json::json!({}));
    assert_eq!(
        none["packages"].as_object().unwrap().len(),
        r.packages.len()
    );
}

#[test]
fn json_drops_ids_that_name_nothing() {
    let mut r = report();
    r.package_vulnerabilities
        .get_mut("1")
        .unwrap()
        .push("no/such/vulnerability".into());
    r.vulnerabilities
        .insert("orphan".into(), r.vulnerabilities[APT_VULN].clone());
    let out = json(&r, &options(Severity::Unknown));
    assert_eq!(
        out["package_vulnerabilities"]["1"],
        serde_json::json!([APT_VULN])
    );
    assert!(out["vulnerabilities"].get("orphan").is_none());
}

#[test]
fn worst_is_the_gate() {
    let r = report();
    assert_eq!(worst(&r, Severity::Unknown), Some(Severity::Critical));
    assert_eq!(worst(&r, Severity::Critical), Some(Severity::Critical));
    assert_eq!(worst(&clean_report(), Severity::Unknown), None);

    // Without Django the worst is the glibc finding; above it, nothing.
    let mut r = report();
    r.package_vulnerabilities.remove("4");
    assert_eq!(worst(&r, Severity::Low), Some(Severity::High));
    assert_eq!(worst(&r, Severity::Critical), None);

    // Only apt: Negligible counts at Unknown and Negligible, not at Low.
    r.package_vulnerabilities.retain(|p, _| p == "1");
    assert_eq!(worst(&r, Severity::Unknown), Some(Severity::Negligible));
    assert_eq!(worst(&r, Severity::Negligible), Some(Severity::Negligible));
    assert_eq!(worst(&r, Severity::Low), None);

    // A severity word outside Clair's scale is Unknown, not an error.
    let mut r = report();
    r.vulnerabilities
        .get_mut(DJANGO_SQLI)
        .unwrap()
        .normalized_severity = "Catastrophic".into();
    assert_eq!(worst(&r, Severity::High), Some(Severity::High));
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

fn rules(log: &Value) -> &Vec<Value> {
    log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
}

#[test]
fn sarif_has_one_rule_per_advisory_and_one_result_per_finding() {
    let r = report();
    let log = sarif(&r, &options(Severity::Unknown));
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["$schema"],
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    );
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "berth");
    assert_eq!(driver["version"], "0.1.0");
    assert_eq!(log["runs"][0]["properties"]["image"], IMAGE);
    assert_eq!(log["runs"][0]["properties"]["manifestDigest"], MANIFEST);

    let ids: Vec<&str> = rules(&log)
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "PYSEC-2021-98",
            "DEBIAN-CVE-2023-4911",
            "GHSA-68w8-qjq3-2gfm",
            "GO-2024-2687",
            "GHSA-9c47-m6qq-7p4h",
            "DEBIAN-CVE-2011-3374",
            "PYSEC-2099-1",
        ]
    );
    assert_eq!(results(&log).len(), r.findings().count());
    for res in results(&log) {
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules(&log)[i]["id"], res["ruleId"]);
    }

    let rule = |id: &str| rules(&log).iter().find(|r| r["id"] == id).unwrap().clone();
    let django = rule("PYSEC-2021-98");
    assert_eq!(django["properties"]["security-severity"], "9.8");
    assert_eq!(
        django["properties"]["tags"],
        serde_json::json!(["security", "vulnerability", "critical"])
    );
    assert_eq!(
        django["helpUri"],
        "https://osv.dev/vulnerability/PYSEC-2021-98"
    );
    assert_eq!(django["defaultConfiguration"]["level"], "error");
    assert!(
        django["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .starts_with("PYSEC-2021-98 (CVE-2021-35042): Django 3.1.x before 3.1.13")
    );
    assert!(
        django["fullDescription"]["text"]
            .as_str()
            .unwrap()
            .contains("QuerySet.order_by SQL injection")
    );
    assert!(
        django["help"]["text"]
            .as_str()
            .unwrap()
            .contains("CVSS 9.8")
    );
    // No score known: no security-severity, and the level says it instead.
    let traversal = rule("GHSA-68w8-qjq3-2gfm");
    assert!(traversal["properties"].get("security-severity").is_none());
    assert_eq!(
        traversal["shortDescription"]["text"],
        "GHSA-68w8-qjq3-2gfm (CVE-2021-33203): Potential directory traversal via admindocs"
    );
    assert_eq!(
        rule("DEBIAN-CVE-2011-3374")["properties"]["security-severity"],
        "3.7"
    );
    // No description and no links: still a description, and no helpUri.
    let npm = rule("GHSA-9c47-m6qq-7p4h");
    assert_eq!(
        npm["shortDescription"]["text"],
        "GHSA-9c47-m6qq-7p4h: Low severity vulnerability"
    );
    assert!(npm.get("helpUri").is_none());
    // A feed's link that is not a URL is not a helpUri.
    assert_eq!(rule("PYSEC-2099-1")["helpUri"], "https://example.org/a");

    let levels: Vec<(&str, &str)> = results(&log)
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        [
            ("PYSEC-2021-98", "error"),
            ("DEBIAN-CVE-2023-4911", "error"),
            ("DEBIAN-CVE-2023-4911", "error"),
            ("GHSA-68w8-qjq3-2gfm", "warning"),
            ("GO-2024-2687", "warning"),
            ("GHSA-9c47-m6qq-7p4h", "note"),
            ("DEBIAN-CVE-2011-3374", "note"),
            ("PYSEC-2099-1", "note"),
        ]
    );
}

#[test]
fn sarif_results_say_where_and_what() {
    let log = sarif(&report(), &options(Severity::Unknown));
    let res = |rule: &str, pkg: &str| {
        results(&log)
            .iter()
            .find(|r| {
                r["ruleId"] == rule && r["locations"][0]["logicalLocations"][0]["name"] == pkg
            })
            .unwrap_or_else(|| panic!("no result {rule} {pkg}"))
            .clone()
    };
    let django = res("PYSEC-2021-98", "Django");
    assert_eq!(
        django["message"]["text"],
        "Django 3.2 is affected by PYSEC-2021-98 (Critical); fixed in 3.2.5"
    );
    let loc = &django["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        DJANGO_DB
    );
    assert_eq!(loc["physicalLocation"]["region"]["startLine"], 1);
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "pkg:pypi/django@3.2"
    );

    let apt = res("DEBIAN-CVE-2011-3374", "apt");
    assert_eq!(
        apt["message"]["text"],
        "apt 2.6.1 is affected by DEBIAN-CVE-2011-3374 (Negligible); no fixed version yet"
    );
    assert_eq!(
        apt["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "var/lib/dpkg/status"
    );
    assert_eq!(
        apt["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "pkg:deb/debian/apt@2.6.1?arch=amd64&distro=debian-12"
    );
    let libc = res("DEBIAN-CVE-2023-4911", "libc6");
    assert_eq!(
        libc["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=glibc"
    );
    assert_eq!(libc["properties"]["fixedVersion"], "2.36-9+deb12u3");
    // A path with a space and a scoped npm directory, as URI references.
    assert_eq!(
        res("PYSEC-2099-1", "evil\x1b[2Jpkg\tname")["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"],
        "srv/x%20y/evil-1.0.dist-info/METADATA"
    );
    assert_eq!(
        res(
            "GHSA-9c47-m6qq-7p4h",
            "@example-organization/a-deliberately-long-package-name"
        )["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app/node_modules/%40example-organization/a-deliberately-long-package-name/package.json"
    );
}

#[test]
fn sarif_fingerprints_are_unique_and_stable() {
    let r = report();
    let fingerprints = |log: &Value| -> Vec<String> {
        results(log)
            .iter()
            .map(|r| {
                r["partialFingerprints"]["berth/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let a = fingerprints(&sarif(&r, &options(Severity::Unknown)));
    assert!(
        a.iter()
            .all(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    assert_eq!(a.iter().collect::<BTreeSet<_>>().len(), a.len(), "{a:#?}");
    // The same report renders the same log.
    assert_eq!(
        sarif(&r, &options(Severity::Unknown)),
        sarif(&report(), &options(Severity::Unknown))
    );
    // An upgrade that is still affected keeps its alert.
    let mut upgraded = report();
    upgraded.packages.get_mut("2").unwrap().version = "2.36-9+deb12u2".into();
    assert_eq!(
        fingerprints(&sarif(&upgraded, &options(Severity::Unknown))),
        a
    );
    // Another image: other alerts.
    let mut other = options(Severity::Unknown);
    other.image = "localhost:5000/team/app:1.3".into();
    let b = fingerprints(&sarif(&r, &other));
    assert!(a.iter().all(|f| !b.contains(f)));
}

#[test]
fn sarif_follows_the_threshold() {
    let r = report();
    let log = sarif(&r, &options(Severity::High));
    assert_eq!(rules(&log).len(), 2);
    assert_eq!(results(&log).len(), 3);
    assert_eq!(log["runs"][0]["properties"]["minimumSeverity"], "High");
    let empty = sarif(&clean_report(), &options(Severity::Unknown));
    assert_eq!(results(&empty).len(), 0);
    assert_eq!(rules(&empty).len(), 0);
    // Without a version, none is claimed.
    let mut opts = options(Severity::Unknown);
    opts.tool_version = String::new();
    assert!(
        sarif(&r, &opts)["runs"][0]["tool"]["driver"]
            .get("version")
            .is_none()
    );
}
