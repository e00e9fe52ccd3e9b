//! How a [`VulnerabilityReport`] leaves `berth scan`: a table for a person at a terminal,
//! Clair's JSON for scripts, SARIF for code-scanning dashboards, and the worst severity for a
//! CI gate. All four see the same findings through one filter (`--severity`), so a gate that
//! fails names exactly the rows the table shows.
//!
//! ```text
//! findings()  (package id, vulnerability)  ──filter: severity ≥ min──▶  Finding (sorted)
//!                                                                        ├─▶ table()
//!                                                                        ├─▶ sarif()
//!                                                                        └─▶ worst()
//! json()  the report itself, pruned to the same findings
//! ```
//!
//! Pure: strings and JSON values in, strings and JSON values out; no I/O, no clock, so the
//! same report always renders the same bytes.

mod json;
mod sarif;
mod table;

use berth_advisory::Severity;
use berth_report::{Distribution, Ecosystem, Package, Vulnerability, VulnerabilityReport};

pub use json::json;
pub use sarif::sarif;
pub use table::table;

/// What the caller knows that the report does not.
#[derive(Debug, Clone)]
pub struct Options {
    /// Findings below this are not shown: the same threshold as the CI gate, so what fails
    /// the build is what the output lists.
    pub min_severity: Severity,
    /// The image reference as the user wrote it: the report knows the image only by its
    /// manifest digest, which no reader recognises.
    pub image: String,
    /// berth's version, credited as the tool that produced the SARIF.
    pub tool_version: String,
    /// ANSI colors in the table: only the caller knows whether stdout is a terminal.
    pub color: bool,
}

/// The CI gate's input: the worst normalized severity among the findings at or above `min`,
/// or `None` when there are none, so `--fail-on high` is one comparison for the caller.
pub fn worst(report: &VulnerabilityReport, min: Severity) -> Option<Severity> {
    report
        .findings()
        .map(|(_, v)| severity(v))
        .filter(|s| *s >= min)
        .max()
}

/// A finding's normalized severity; a word Clair's scale does not know counts as Unknown
/// rather than failing the whole report.
pub(crate) fn severity(v: &Vulnerability) -> Severity {
    Severity::parse(&v.normalized_severity).unwrap_or(Severity::Unknown)
}

/// One (installed package, vulnerability) pair, with what every view needs already looked up.
pub(crate) struct Finding<'a> {
    pub package_id: &'a str,
    /// The installed package; a finding whose package is missing from the report still shows,
    /// named after the advisory's package.
    pub package: Option<&'a Package>,
    pub vuln: &'a Vulnerability,
    pub severity: Severity,
}

impl Finding<'_> {
    pub fn package_name(&self) -> &str {
        self.package.map_or(&self.vuln.package.name, |p| &p.name)
    }

    pub fn installed(&self) -> &str {
        self.package
            .map_or(&self.vuln.package.version, |p| &p.version)
    }

    /// The version that fixes it, if one exists yet.
    pub fn fixed(&self) -> Option<&str> {
        Some(self.vuln.fixed_in_version.as_str()).filter(|f| !f.is_empty())
    }
}

/// The findings at or above `min`, most severe first, then by package and advisory, so the
/// output is stable and the rows that matter are on top.
pub(crate) fn findings(report: &VulnerabilityReport, min: Severity) -> Vec<Finding<'_>> {
    let mut out: Vec<Finding> = report
        .findings()
        .map(|(pid, v)| Finding {
            package_id: pid,
            package: report.packages.get(pid),
            vuln: v,
            severity: severity(v),
        })
        .filter(|f| f.severity >= min)
        .collect();
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package_name().cmp(b.package_name()))
            .then_with(|| a.vuln.name.cmp(&b.vuln.name))
            .then_with(|| a.installed().cmp(b.installed()))
            .then_with(|| a.package_id.cmp(b.package_id))
            .then_with(|| a.vuln.id.cmp(&b.vuln.id))
    });
    out
}

/// The advisory's CVE, when its own id is not one: people and NVD search by CVE.
pub(crate) fn cve_alias(v: &Vulnerability) -> Option<&str> {
    if v.name.starts_with("CVE-") {
        return None;
    }
    v.aliases
        .iter()
        .map(String::as_str)
        .find(|a| a.starts_with("CVE-"))
        // `DEBIAN-CVE-2011-3374` already says it.
        .filter(|cve| !v.name.ends_with(cve))
}

// `IndexReport::ecosystem` and `distribution_of` read the same fields, but live on the index
// report; a vulnerability report carries those fields itself, so the lookups are repeated
// here rather than cloning the report into an index report.

/// The packaging system of package `id` (see `IndexReport::ecosystem`).
pub(crate) fn ecosystem(report: &VulnerabilityReport, id: &str) -> Option<Ecosystem> {
    let env = report.environments.get(id)?.first()?;
    env.repository_ids
        .iter()
        .filter_map(|r| report.repository.get(r))
        .find_map(|r| Ecosystem::from_repository_name(&r.name))
        .or_else(|| Ecosystem::from_package_db(&env.package_db))
}

/// The distribution of package `id`, when it has one.
pub(crate) fn distribution_of<'a>(
    report: &'a VulnerabilityReport,
    id: &str,
) -> Option<&'a Distribution> {
    let env = report.environments.get(id)?.first()?;
    report.distributions.get(&env.distribution_id)
}

/// The file package `id` was read from (`var/lib/dpkg/status`, a `METADATA`, a binary).
pub(crate) fn package_db<'a>(report: &'a VulnerabilityReport, id: &str) -> Option<&'a str> {
    let env = report.environments.get(id)?.first()?;
    Some(env.package_db.as_str()).filter(|p| !p.is_empty())
}

/// The package URL of package `id`, when its ecosystem is known.
pub(crate) fn purl(report: &VulnerabilityReport, id: &str) -> Option<String> {
    let p = report.packages.get(id)?;
    let eco = ecosystem(report, id)?;
    Some(berth_report::purl(eco, p, distribution_of(report, id)))
}
