//! Formats with no recording in `shared/vulndata` (Red Hat CSAF VEX, NVD CVE JSON 2.0, EPSS
//! CSV, CISA KEV, Ubuntu OSV, Alpine's live JSON secdb, OSV's per-ecosystem zip), tested
//! on small documents written by hand in each publisher's published shape. Field names and
//! nesting follow the publishers' documents; the values are illustrative (taken from the
//! recorded Debian facts where a real CVE was needed), not copies of real files.

use std::io::Write;
use std::path::PathBuf;

use berth_advisory::{Advisory, Event, Range, Severity};
use berth_feeds::{Limits, Parsed, parse_file, parse_path};

fn find<'a>(p: &'a Parsed, id: &str) -> &'a Advisory {
    p.advisories
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("{id} missing: {p:?}"))
}

fn ev(list: &[(&str, &str)]) -> Vec<Range> {
    let events = list
        .iter()
        .map(|(k, v)| match *k {
            "introduced" => Event::Introduced((*v).into()),
            "fixed" => Event::Fixed((*v).into()),
            _ => unreachable!(),
        })
        .collect();
    vec![Range::Events { events }]
}

/// Shape per Red Hat's published CSAF VEX (`security.access.redhat.com/data/csaf/v2/vex/`),
/// hand-written and cut down: one CVE, a product tree with mainline RHEL 8 and 9 platforms,
/// an EUS platform, source and binary rpms, and their `default_component_of` relationships.
const CSAF_GLIBC: &str = r#"{
  "document": {
    "aggregate_severity": {"namespace": "https://access.redhat.com/security/updates/classification/", "text": "Important"},
    "category": "csaf_vex",
    "csaf_version": "2.0",
    "lang": "en",
    "publisher": {"category": "vendor", "name": "Red Hat Product Security", "namespace": "https://www.redhat.com"},
    "title": "glibc: buffer overflow in ld.so leading to privilege escalation",
    "tracking": {
      "current_release_date": "2024-11-06T10:00:00+00:00",
      "id": "CVE-2023-4911",
      "initial_release_date": "2023-10-03T00:00:00+00:00",
      "status": "final",
      "version": "12"
    }
  },
  "product_tree": {
    "branches": [
      {
        "category": "vendor",
        "name": "Red Hat",
        "branches": [
          {
            "category": "product_family",
            "name": "Red Hat Enterprise Linux",
            "branches": [
              {"category": "product_name", "name": "Red Hat Enterprise Linux BaseOS (v. 9)",
               "product": {"name": "Red Hat Enterprise Linux BaseOS (v. 9)", "product_id": "BaseOS-9.2.0.Z.MAIN",
                           "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9::baseos"}}},
              {"category": "product_name", "name": "Red Hat Enterprise Linux BaseOS (v. 8)",
               "product": {"name": "Red Hat Enterprise Linux BaseOS (v. 8)", "product_id": "BaseOS-8.8.0.Z.MAIN",
                           "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:8::baseos"}}},
              {"category": "product_name", "name": "Red Hat Enterprise Linux BaseOS EUS (v.9.0)",
               "product": {"name": "Red Hat Enterprise Linux BaseOS EUS (v.9.0)", "product_id": "BaseOS-9.0.0.Z.EUS",
                           "product_identification_helper": {"cpe": "cpe:/o:redhat:rhel_eus:9.0::baseos"}}}
            ]
          },
          {
            "category": "architecture",
            "name": "src",
            "branches": [
              {"category": "product_version", "name": "glibc-0:2.34-60.el9_2.7.src",
               "product": {"name": "glibc-0:2.34-60.el9_2.7.src", "product_id": "glibc-0:2.34-60.el9_2.7.src",
                           "product_identification_helper": {"purl": "pkg:rpm/redhat/glibc@2.34-60.el9_2.7?arch=src"}}},
              {"category": "product_version", "name": "glibc-0:2.28-225.el8_8.6.src",
               "product": {"name": "glibc-0:2.28-225.el8_8.6.src", "product_id": "glibc-0:2.28-225.el8_8.6.src",
                           "product_identification_helper": {"purl": "pkg:rpm/redhat/glibc@2.28-225.el8_8.6?arch=src"}}},
              {"category": "product_version", "name": "glibc-0:2.34-28.el9_0.5.src",
               "product": {"name": "glibc-0:2.34-28.el9_0.5.src", "product_id": "glibc-0:2.34-28.el9_0.5.src",
                           "product_identification_helper": {"purl": "pkg:rpm/redhat/glibc@2.34-28.el9_0.5?arch=src"}}}
            ]
          },
          {
            "category": "architecture",
            "name": "x86_64",
            "branches": [
              {"category": "product_version", "name": "glibc-common-0:2.34-60.el9_2.7.x86_64",
               "product": {"name": "glibc-common-0:2.34-60.el9_2.7.x86_64", "product_id": "glibc-common-0:2.34-60.el9_2.7.x86_64",
                           "product_identification_helper": {"purl": "pkg:rpm/redhat/glibc-common@2.34-60.el9_2.7?arch=x86_64"}}}
            ]
          }
        ]
      }
    ],
    "relationships": [
      {"category": "default_component_of",
       "full_product_name": {"name": "glibc-0:2.34-60.el9_2.7.src as a component of Red Hat Enterprise Linux BaseOS (v. 9)", "product_id": "BaseOS-9.2.0.Z.MAIN:glibc-0:2.34-60.el9_2.7.src"},
       "product_reference": "glibc-0:2.34-60.el9_2.7.src", "relates_to_product_reference": "BaseOS-9.2.0.Z.MAIN"},
      {"category": "default_component_of",
       "full_product_name": {"name": "glibc-common-0:2.34-60.el9_2.7.x86_64 as a component of Red Hat Enterprise Linux BaseOS (v. 9)", "product_id": "BaseOS-9.2.0.Z.MAIN:glibc-common-0:2.34-60.el9_2.7.x86_64"},
       "product_reference": "glibc-common-0:2.34-60.el9_2.7.x86_64", "relates_to_product_reference": "BaseOS-9.2.0.Z.MAIN"},
      {"category": "default_component_of",
       "full_product_name": {"name": "glibc-0:2.28-225.el8_8.6.src as a component of Red Hat Enterprise Linux BaseOS (v. 8)", "product_id": "BaseOS-8.8.0.Z.MAIN:glibc-0:2.28-225.el8_8.6.src"},
       "product_reference": "glibc-0:2.28-225.el8_8.6.src", "relates_to_product_reference": "BaseOS-8.8.0.Z.MAIN"},
      {"category": "default_component_of",
       "full_product_name": {"name": "glibc-0:2.34-28.el9_0.5.src as a component of Red Hat Enterprise Linux BaseOS EUS (v.9.0)", "product_id": "BaseOS-9.0.0.Z.EUS:glibc-0:2.34-28.el9_0.5.src"},
       "product_reference": "glibc-0:2.34-28.el9_0.5.src", "relates_to_product_reference": "BaseOS-9.0.0.Z.EUS"}
    ]
  },
  "vulnerabilities": [
    {
      "cve": "CVE-2023-4911",
      "cwe": {"id": "CWE-122", "name": "Heap-based Buffer Overflow"},
      "discovery_date": "2023-09-04T00:00:00+00:00",
      "notes": [
        {"category": "description", "text": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.", "title": "Vulnerability description"},
        {"category": "summary", "text": "glibc: buffer overflow in ld.so leading to privilege escalation", "title": "Vulnerability summary"},
        {"category": "general", "text": "The CVSS score(s) listed for this vulnerability do not reflect the associated product's status.", "title": "CVSS score applicability"}
      ],
      "product_status": {
        "fixed": [
          "BaseOS-9.2.0.Z.MAIN:glibc-0:2.34-60.el9_2.7.src",
          "BaseOS-9.2.0.Z.MAIN:glibc-common-0:2.34-60.el9_2.7.x86_64",
          "BaseOS-8.8.0.Z.MAIN:glibc-0:2.28-225.el8_8.6.src",
          "BaseOS-9.0.0.Z.EUS:glibc-0:2.34-28.el9_0.5.src"
        ]
      },
      "references": [
        {"category": "external", "summary": "RHBZ#2238352", "url": "https://bugzilla.redhat.com/show_bug.cgi?id=2238352"},
        {"category": "self", "summary": "Canonical URL", "url": "https://access.redhat.com/security/cve/CVE-2023-4911"}
      ],
      "release_date": "2023-10-03T17:00:00+00:00",
      "remediations": [
        {"category": "vendor_fix", "details": "For details on how to apply this update, refer to the errata.",
         "product_ids": ["BaseOS-9.2.0.Z.MAIN:glibc-0:2.34-60.el9_2.7.src"], "url": "https://access.redhat.com/errata/RHSA-2023:5453"}
      ],
      "scores": [
        {"cvss_v3": {"attackComplexity": "LOW", "attackVector": "LOCAL", "availabilityImpact": "HIGH", "baseScore": 7.8,
                     "baseSeverity": "HIGH", "confidentialityImpact": "HIGH", "integrityImpact": "HIGH", "privilegesRequired": "LOW",
                     "scope": "UNCHANGED", "userInteraction": "NONE", "vectorString": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "version": "3.1"},
         "products": ["BaseOS-9.2.0.Z.MAIN:glibc-0:2.34-60.el9_2.7.src"]}
      ],
      "threats": [
        {"category": "impact", "details": "Important", "product_ids": ["BaseOS-9.2.0.Z.MAIN:glibc-0:2.34-60.el9_2.7.src"]}
      ],
      "title": "glibc: buffer overflow in ld.so leading to privilege escalation"
    }
  ]
}"#;

/// Shape per Red Hat's published CSAF VEX, hand-written: an unfixed component, as Red Hat
/// lists it (an unversioned product under the platform) in `known_affected`.
const CSAF_NCURSES: &str = r#"{
  "document": {"category": "csaf_vex", "csaf_version": "2.0", "title": "ncurses: segmentation fault via _nc_wrap_entry()",
               "tracking": {"current_release_date": "2025-01-10T00:00:00+00:00", "id": "CVE-2023-50495", "status": "final", "version": "5"}},
  "product_tree": {
    "branches": [{"category": "vendor", "name": "Red Hat", "branches": [
      {"category": "product_family", "name": "Red Hat Enterprise Linux", "branches": [
        {"category": "product_name", "name": "Red Hat Enterprise Linux 9",
         "product": {"name": "Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9",
                     "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9"}}}]},
      {"category": "product_version", "name": "ncurses",
       "product": {"name": "ncurses", "product_id": "ncurses", "product_identification_helper": {"purl": "pkg:rpm/redhat/ncurses?arch=src"}}}]}],
    "relationships": [
      {"category": "default_component_of",
       "full_product_name": {"name": "ncurses as a component of Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9:ncurses"},
       "product_reference": "ncurses", "relates_to_product_reference": "red_hat_enterprise_linux_9"}]
  },
  "vulnerabilities": [{
    "cve": "CVE-2023-50495",
    "notes": [{"category": "description", "text": "A segmentation fault in ncurses.", "title": "Vulnerability description"}],
    "product_status": {"known_affected": ["red_hat_enterprise_linux_9:ncurses"]},
    "threats": [{"category": "impact", "details": "Low", "product_ids": ["red_hat_enterprise_linux_9:ncurses"]}],
    "scores": [{"cvss_v3": {"baseScore": 6.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "version": "3.1"}}]
  }]
}"#;

#[test]
fn red_hat_csaf_vex() {
    let mut p = Parsed::default();
    parse_file(
        "redhat",
        "2023/cve-2023-4911.json",
        CSAF_GLIBC.as_bytes(),
        &mut p,
    )
    .unwrap();
    parse_file(
        "redhat",
        "2023/cve-2023-50495.json",
        CSAF_NCURSES.as_bytes(),
        &mut p,
    )
    .unwrap();
    assert_eq!(p.malformed, 0, "{:?}", p.errors);
    assert_eq!(p.files, 2);

    let a = find(&p, "CVE-2023-4911");
    assert_eq!(a.severity, "Important");
    assert_eq!(
        a.summary,
        "glibc: buffer overflow in ld.so leading to privilege escalation"
    );
    assert!(a.details.starts_with("A buffer overflow"));
    assert_eq!(
        a.links[0],
        "https://access.redhat.com/security/cve/CVE-2023-4911"
    );
    assert_eq!(a.cvss[0].score, Some(7.8));
    assert_eq!(a.modified.as_deref(), Some("2024-11-06T10:00:00+00:00"));
    // Source rpms only (glibc-common is a binary of the same fix), mainline only (no EUS).
    let got: Vec<(&str, &str, Vec<Range>)> = a
        .affected
        .iter()
        .map(|d| (d.space.as_str(), d.package.as_str(), d.ranges.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "rhel:9",
                "glibc",
                ev(&[("introduced", "0"), ("fixed", "2.34-60.el9_2.7")])
            ),
            (
                "rhel:8",
                "glibc",
                ev(&[("introduced", "0"), ("fixed", "2.28-225.el8_8.6")])
            ),
        ]
    );
    assert_eq!(a.normalized_severity(&a.affected[0]), Severity::High);

    let a = find(&p, "CVE-2023-50495");
    assert_eq!(a.severity, "Low");
    assert_eq!(a.affected.len(), 1);
    assert_eq!(
        (a.affected[0].space.as_str(), a.affected[0].package.as_str()),
        ("rhel:9", "ncurses")
    );
    assert_eq!(a.affected[0].ranges, ev(&[("introduced", "0")]));
}

/// Shape per NVD's CVE API 2.0 (and its yearly `nvdcve-2.0-*.json` feeds), hand-written.
const NVD: &str = r#"{
  "resultsPerPage": 2, "startIndex": 0, "totalResults": 2, "format": "NVD_CVE", "version": "2.0",
  "timestamp": "2026-04-01T00:00:00.000",
  "vulnerabilities": [
    {"cve": {
      "id": "CVE-2011-3374", "sourceIdentifier": "secalert@redhat.com", "published": "2019-11-26T00:15:11.030",
      "lastModified": "2024-11-21T01:30:22.613", "vulnStatus": "Modified",
      "descriptions": [
        {"lang": "en", "value": "It was found that apt-key in apt, all versions, do not correctly validate gpg keys with the master keyring, leading to a potential man-in-the-middle attack."},
        {"lang": "es", "value": "Se encontró que apt-key en apt no valida correctamente las claves gpg."}
      ],
      "metrics": {
        "cvssMetricV31": [
          {"source": "cna@example.org", "type": "Secondary",
           "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:N/I:L/A:N", "baseScore": 3.1, "baseSeverity": "LOW"}},
          {"source": "nvd@nist.gov", "type": "Primary",
           "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N", "baseScore": 3.7, "baseSeverity": "LOW"},
           "exploitabilityScore": 2.2, "impactScore": 1.4}
        ],
        "cvssMetricV2": [
          {"source": "nvd@nist.gov", "type": "Primary",
           "cvssData": {"version": "2.0", "vectorString": "AV:N/AC:M/Au:N/C:N/I:P/A:N", "baseScore": 4.3}, "baseSeverity": "MEDIUM"}
        ]
      },
      "references": [{"url": "https://security-tracker.debian.org/tracker/CVE-2011-3374", "source": "secalert@redhat.com"}]
    }},
    {"cve": {"id": "CVE-2023-4911", "descriptions": [{"lang": "en", "value": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so."}],
             "metrics": {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary",
                         "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "baseScore": 7.8}}]}}},
    {"cve": {"descriptions": "not a list"}}
  ]
}"#;

/// Shape per FIRST's daily `epss_scores-YYYY-MM-DD.csv.gz`, hand-written values.
const EPSS: &str = "#model_version:v2025.03.14,score_date:2026-04-01T12:55:00Z\n\
cve,epss,percentile\n\
CVE-2011-3374,0.00150,0.36000\n\
CVE-2023-4911,0.79000,0.99000\n\
CVE-2099-0001,high,0.5\n";

/// Shape per CISA's `known_exploited_vulnerabilities.json`, hand-written.
const KEV: &str = r#"{
  "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.04.01",
  "dateReleased": "2026-04-01T17:00:00.000Z", "count": 1,
  "vulnerabilities": [
    {"cveID": "CVE-2023-4911", "vendorProject": "GNU", "product": "GNU C Library",
     "vulnerabilityName": "GNU C Library Buffer Overflow Vulnerability", "dateAdded": "2023-11-21",
     "shortDescription": "GNU C Library's dynamic loader ld.so contains a buffer overflow vulnerability.",
     "requiredAction": "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
     "dueDate": "2023-12-12", "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": ["CWE-122"]}
  ]
}"#;

#[test]
fn nvd_epss_kev_enrichments() {
    let mut p = Parsed::default();
    parse_file("nvd", "nvdcve-2.0-2011.json", NVD.as_bytes(), &mut p).unwrap();
    assert_eq!(p.malformed, 1, "the third item is broken");
    assert!(
        p.errors[0].starts_with("nvdcve-2.0-2011.json: vulnerabilities[2]"),
        "{:?}",
        p.errors
    );
    let e = &p.enrichments[0];
    assert_eq!(e.cve, "CVE-2011-3374");
    assert!(e.description.starts_with("It was found that apt-key"));
    let vectors: Vec<&str> = e.cvss.iter().map(|c| c.vector.as_str()).collect();
    assert_eq!(
        vectors,
        [
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N", // Primary first
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:N/I:L/A:N",
            "AV:N/AC:M/Au:N/C:N/I:P/A:N",
        ]
    );
    assert_eq!(e.cvss[0].score, Some(3.7));
    assert_eq!(e.cvss[2].score, Some(4.3));

    let mut p = Parsed::default();
    parse_file(
        "epss",
        "epss_scores-2026-04-01.csv",
        EPSS.as_bytes(),
        &mut p,
    )
    .unwrap();
    assert_eq!(p.enrichments.len(), 2);
    assert_eq!(p.malformed, 1);
    assert_eq!(p.enrichments[1].epss, Some((0.79, 0.99)));

    let mut p = Parsed::default();
    parse_file(
        "kev",
        "known_exploited_vulnerabilities.json",
        KEV.as_bytes(),
        &mut p,
    )
    .unwrap();
    assert_eq!(p.enrichments.len(), 1);
    assert_eq!(p.enrichments[0].kev_added.as_deref(), Some("2023-11-21"));

    // The same feeds as stored by an updater: gzip-compressed files in a folder.
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("epss_scores-2026-04-01.csv.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(EPSS.as_bytes()).unwrap();
    gz.finish().unwrap();
    std::fs::write(dir.path().join("kev.json"), KEV).unwrap();
    let p = parse_path("enrich", dir.path(), &Limits::default()).unwrap();
    let e = p
        .enrichments
        .iter()
        .find(|e| e.cve == "CVE-2023-4911")
        .unwrap();
    assert_eq!(
        (e.epss, e.kev_added.as_deref()),
        (Some((0.79, 0.99)), Some("2023-11-21"))
    );
}

/// Shape per Ubuntu's OSV records (`UBUNTU-CVE-*`, ecosystem `Ubuntu:22.04:LTS`, priority as
/// a severity of type `Ubuntu`), hand-written; the Pro (ESM) stream has no public space.
const UBUNTU: &str = r#"{
  "schema_version": "1.7.0", "id": "UBUNTU-CVE-2023-4911", "upstream": ["CVE-2023-4911"],
  "modified": "2025-01-01T00:00:00Z", "published": "2023-10-03T18:15:00Z",
  "details": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}, {"type": "Ubuntu", "score": "high"}],
  "affected": [
    {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "glibc", "purl": "pkg:deb/ubuntu/glibc@2.35-0ubuntu3.4?arch=source&distro=jammy"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.35-0ubuntu3.4"}]}],
     "versions": ["2.35-0ubuntu3", "2.35-0ubuntu3.1"],
     "severity": [{"type": "Ubuntu", "score": "high"}]},
    {"package": {"ecosystem": "Ubuntu:Pro:18.04:LTS", "name": "glibc"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}
  ]
}"#;

#[test]
fn ubuntu_osv() {
    let mut p = Parsed::default();
    parse_file(
        "ubuntu",
        "osv/cve/2023/UBUNTU-CVE-2023-4911.json",
        UBUNTU.as_bytes(),
        &mut p,
    )
    .unwrap();
    let a = find(&p, "UBUNTU-CVE-2023-4911");
    assert_eq!(a.aliases, ["CVE-2023-4911"]);
    assert_eq!(a.severity, "high");
    assert_eq!(a.affected.len(), 1, "the Pro stream is dropped");
    let d = &a.affected[0];
    assert_eq!(
        (d.space.as_str(), d.package.as_str(), d.severity.as_str()),
        ("ubuntu:22.04", "glibc", "high")
    );
    assert_eq!(Advisory::fixed_in(d), Some("2.35-0ubuntu3.4"));
}

/// Shape per secdb.alpinelinux.org's `v3.x/main.json` (the YAML fields in JSON), hand-written
/// with the YAML quirks next to it: numeric-looking versions, a `null` secfixes, version
/// `0` (never affected), a line with a note.
#[test]
fn alpine_json_and_yaml_quirks() {
    let json = r#"{"apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
      "archs": ["x86_64", "aarch64"], "reponame": "main", "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
      "distroversion": "v3.19",
      "packages": [
        {"pkg": {"name": "openssl", "secfixes": {"3.1.4-r1": ["CVE-2023-5678"], "0": ["CVE-2022-1234"]}}},
        {"pkg": {"name": "musl", "secfixes": null}}
      ]}"#;
    let yaml = "---\ndistroversion: v3.18\nreponame: main\npackages:\n  - pkg:\n      name: openssl\n      secfixes:\n        3.1.4-r1:\n          - CVE-2023-5678 (X9.42 DH)\n        1.10:\n          - CVE-2020-0001\n  - pkg:\n      name: zlib\n      secfixes:\n  - pkg:\n      name: xen\n      secfixes:\n        4.9.0-r1:\n          - CVE-2017-8904 XSA-214\n";
    let mut p = Parsed::default();
    parse_file("alpine", "v3.19/main.json", json.as_bytes(), &mut p).unwrap();
    parse_file("alpine", "v3.18/main.yaml", yaml.as_bytes(), &mut p).unwrap();
    assert_eq!(p.malformed, 0, "{:?}", p.errors);
    assert_eq!(p.skipped, 1, "version 0");
    let a = find(&p, "CVE-2023-5678");
    let spaces: Vec<&str> = a.affected.iter().map(|d| d.space.as_str()).collect();
    assert_eq!(spaces, ["alpine:v3.19", "alpine:v3.18"]);
    assert!(!p.advisories.iter().any(|a| a.id == "CVE-2022-1234"));
    // YAML's `1.10` stays the version 1.10.
    assert_eq!(
        Advisory::fixed_in(&find(&p, "CVE-2020-0001").affected[0]),
        Some("1.10")
    );
    assert_eq!(find(&p, "CVE-2017-8904").aliases, ["XSA-214"]);
}

/// OSV publishes one `all.zip` per ecosystem with `<ID>.json` at the top: the recorded GHSA
/// and Debian records zipped that way parse to what the loose files do.
#[test]
fn osv_all_zip() {
    let shared = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = shared.join("vulndata");
    assert!(
        data.join("MANIFEST.md").is_file(),
        "recorded feeds missing at {}",
        data.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for sub in [
        "ghsa-npm-subset/records",
        "debian-osv-bookworm-subset/records",
    ] {
        for f in std::fs::read_dir(data.join(sub)).unwrap() {
            let f = f.unwrap();
            zip.start_file(f.file_name().to_string_lossy(), opts)
                .unwrap();
            zip.write_all(&std::fs::read(f.path()).unwrap()).unwrap();
        }
    }
    zip.finish().unwrap();
    let from_zip = parse_path("osv", &zip_path, &Limits::default()).unwrap();
    let ghsa = parse_path("osv", &data.join("ghsa-npm-subset"), &Limits::default()).unwrap();
    let debian = parse_path(
        "osv",
        &data.join("debian-osv-bookworm-subset"),
        &Limits::default(),
    )
    .unwrap();
    let mut loose: Vec<Advisory> = ghsa
        .advisories
        .into_iter()
        .chain(debian.advisories)
        .collect();
    loose.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(from_zip.advisories, loose);
    assert_eq!(from_zip.files, 14);
}
