//! `berth scan --format sarif`: the findings as a SARIF 2.1.0 log
//! (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>), the format GitHub code scanning,
//! GitLab and Azure DevOps import, so image findings appear beside code findings.
//!
//! ```text
//! runs[0]
//!   tool.driver   name berth, version, rules: one per advisory id
//!                 (descriptions, helpUri, security-severity = CVSS score, tags)
//!   results       one per (package, advisory): ruleId/ruleIndex, level, message,
//!                 location = the package database file + the package's purl,
//!                 partialFingerprints["berth/v1"]
//! ```
//!
//! Shaped for GitHub's importer, which is stricter than the schema: every result has a
//! location with a relative `uri` and a `region.startLine` (an image has no lines; `1`
//! points at the top of the file, as other image scanners do), rules carry `help.text`,
//! `security-severity` is a string with the `security` tag beside it, and a fingerprint lets
//! GitHub keep one alert per finding across uploads instead of closing and reopening it.
//! The fingerprint leaves out the installed version, so upgrading a package to a version
//! that is still affected keeps the alert rather than replacing it.

use std::collections::BTreeMap;

use berth_advisory::Severity;
use berth_report::VulnerabilityReport;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{Finding, Options, cve_alias, findings, package_db, purl};

/// The errata01 schema, the one the OASIS standard publishes and GitHub links to.
const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Fingerprint key; bump the version if what is hashed changes, so old and new alerts are
/// never confused.
const FINGERPRINT: &str = "berth/v1";

/// The SARIF log (see the module docs).
pub fn sarif(report: &VulnerabilityReport, opts: &Options) -> Value {
    let found = findings(report, opts.min_severity);

    // Rules in order of first appearance: the most severe advisories first.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules: Vec<Rule> = Vec::new();
    for f in &found {
        let i = *index.entry(&f.vuln.name).or_insert_with(|| {
            rules.push(Rule::new(f));
            rules.len() - 1
        });
        rules[i].add(f);
    }

    let results: Vec<Value> = found
        .iter()
        .map(|f| result(report, opts, f, index[f.vuln.name.as_str()]))
        .collect();

    let mut driver = Map::new();
    driver.insert("name".into(), "berth".into());
    if !opts.tool_version.is_empty() {
        driver.insert("version".into(), opts.tool_version.clone().into());
    }
    driver.insert(
        "rules".into(),
        rules.iter().map(Rule::to_json).collect::<Vec<_>>().into(),
    );
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "results": results,
            "properties": {
                "image": opts.image,
                "manifestDigest": report.manifest_hash,
                "minimumSeverity": opts.min_severity.as_str(),
            },
        }],
    })
}

/// One advisory, described once however many packages it affects.
struct Rule<'a> {
    name: &'a str,
    cve: Option<&'a str>,
    description: &'a str,
    links: Vec<&'a str>,
    severity: Severity,
    score: Option<f64>,
}

impl<'a> Rule<'a> {
    fn new(f: &Finding<'a>) -> Rule<'a> {
        Rule {
            name: &f.vuln.name,
            cve: cve_alias(f.vuln),
            description: f.vuln.description.trim(),
            links: f.vuln.links.split_whitespace().collect(),
            severity: f.severity,
            score: None,
        }
    }

    /// Feeds can disagree about one advisory (Debian and OSV both name a CVE): the rule takes
    /// the worst severity and score, and the first description and links that exist.
    fn add(&mut self, f: &Finding<'a>) {
        self.severity = self.severity.max(f.severity);
        let score = f.vuln.cvss.as_ref().and_then(|c| c.score);
        if let Some(s) = score.filter(|s| s.is_finite() && (0.0..=10.0).contains(s)) {
            self.score = Some(self.score.map_or(s, |old| old.max(s)));
        }
        if self.description.is_empty() {
            self.description = f.vuln.description.trim();
        }
        if self.links.is_empty() {
            self.links = f.vuln.links.split_whitespace().collect();
        }
    }

    fn title(&self) -> String {
        match self.cve {
            Some(cve) => format!("{} ({cve})", self.name),
            None => self.name.to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        let title = self.title();
        let first_line = self.description.lines().next().unwrap_or("").trim();
        let short = if first_line.is_empty() {
            format!("{title}: {} severity vulnerability", self.severity)
        } else {
            format!("{title}: {}", cut(first_line, 160))
        };
        let full = if self.description.is_empty() {
            short.clone()
        } else {
            self.description.to_owned()
        };
        let mut help = format!("{title}\nSeverity: {}", self.severity);
        let mut markdown = format!("**{title}**\n\nSeverity: {}", self.severity);
        if let Some(s) = self.score {
            help.push_str(&format!(" (CVSS {s:.1})"));
            markdown.push_str(&format!(" (CVSS {s:.1})"));
        }
        if !self.description.is_empty() {
            help.push_str(&format!("\n\n{}", self.description));
            markdown.push_str(&format!("\n\n{}", self.description));
        }
        let links: Vec<&str> = self.links.iter().copied().filter(|l| is_url(l)).collect();
        if !links.is_empty() {
            help.push_str("\n\nReferences:");
            markdown.push_str("\n\nReferences:\n");
            for l in &links {
                help.push_str(&format!("\n{l}"));
                markdown.push_str(&format!("\n- <{l}>"));
            }
        }

        let mut properties = Map::new();
        if let Some(s) = self.score {
            // GitHub reads a string and maps it onto its own critical/high/medium/low.
            properties.insert("security-severity".into(), format!("{s:.1}").into());
        }
        properties.insert(
            "tags".into(),
            json!([
                "security",
                "vulnerability",
                self.severity.as_str().to_ascii_lowercase()
            ]),
        );
        let mut rule = Map::new();
        rule.insert("id".into(), self.name.into());
        rule.insert("shortDescription".into(), json!({ "text": short }));
        rule.insert("fullDescription".into(), json!({ "text": full }));
        if let Some(uri) = links.first() {
            rule.insert("helpUri".into(), (*uri).into());
        }
        rule.insert("help".into(), json!({ "text": help, "markdown": markdown }));
        rule.insert(
            "defaultConfiguration".into(),
            json!({ "level": level(self.severity) }),
        );
        rule.insert("properties".into(), properties.into());
        rule.into()
    }
}

fn result(report: &VulnerabilityReport, opts: &Options, f: &Finding, rule_index: usize) -> Value {
    let name = f.package_name();
    let installed = f.installed();
    let fix = match f.fixed() {
        Some(v) => format!("fixed in {v}"),
        None => "no fixed version yet".to_owned(),
    };
    let db = package_db(report, f.package_id);
    // A package found nowhere still needs a location for GitHub: the image itself.
    let uri = uri_path(db.unwrap_or(&opts.image));
    let purl = purl(report, f.package_id);

    let mut logical = Map::new();
    logical.insert("name".into(), name.into());
    if let Some(p) = &purl {
        logical.insert("fullyQualifiedName".into(), p.clone().into());
    }
    logical.insert("kind".into(), "package".into());

    let mut properties = Map::new();
    properties.insert("severity".into(), f.severity.as_str().into());
    properties.insert("packageName".into(), name.into());
    properties.insert("installedVersion".into(), installed.into());
    if let Some(v) = f.fixed() {
        properties.insert("fixedVersion".into(), v.into());
    }
    if let Some(p) = &purl {
        properties.insert("purl".into(), p.clone().into());
    }
    if !f.vuln.aliases.is_empty() {
        properties.insert("aliases".into(), f.vuln.aliases.clone().into());
    }
    properties.insert("vulnerabilityId".into(), f.vuln.id.clone().into());

    json!({
        "ruleId": f.vuln.name,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {
            "text": format!("{name} {installed} is affected by {} ({}); {fix}", f.vuln.name, f.severity),
        },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri },
                "region": { "startLine": 1 },
            },
            "logicalLocations": [logical],
        }],
        "partialFingerprints": {
            FINGERPRINT: fingerprint(&opts.image, db.unwrap_or(""), name, &f.vuln.name),
        },
        "properties": properties,
    })
}

/// Critical and High fail a code-scanning check by default, Medium warns, the rest inform.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Negligible | Severity::Unknown => "note",
    }
}

/// sha256 over the image, where the package was found, its name and the advisory: one alert
/// per finding, the same on every upload.
fn fingerprint(image: &str, db: &str, package: &str, advisory: &str) -> String {
    let mut h = Sha256::new();
    for part in [image, db, package, advisory] {
        h.update(part.as_bytes());
        // A separator no part contains, so ("ab", "c") and ("a", "bc") differ.
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// A path as a relative URI reference: percent-encoded (paths from an image may hold spaces,
/// quotes, `:`), never absolute, as GitHub resolves it against the repository root.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

/// Whether a feed's link is an absolute http(s) URL that a SARIF `uri` may hold as is.
fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && r.bytes().all(|b| {
                b.is_ascii_graphic()
                    && !matches!(
                        b,
                        b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`'
                    )
            })
    })
}

/// At most `n` characters, ending in `…` when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(uri_path("var/lib/dpkg/status"), "var/lib/dpkg/status");
        assert_eq!(uri_path("/srv/x y/\"a\".txt"), "srv/x%20y/%22a%22.txt");
        assert_eq!(uri_path("localhost:5000/app:1"), "localhost%3A5000/app%3A1");
        assert_eq!(uri_path(""), ".");
        assert!(is_url(
            "https://security-tracker.debian.org/tracker/CVE-2011-3374"
        ));
        assert!(!is_url("ftp://example.org/x"));
        assert!(!is_url("https://exa mple.org"));
        assert!(!is_url("https://"));
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(
            fingerprint("ab", "c", "p", "x"),
            fingerprint("a", "bc", "p", "x")
        );
        assert_eq!(fingerprint("i", "d", "p", "x").len(), 64);
    }
}
