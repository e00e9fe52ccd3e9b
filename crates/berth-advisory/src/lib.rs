//! The advisory model: what every feed (OSV, Debian's tracker, Alpine's secdb, RustSec, the
//! Node.js WG, Red Hat's CSAF VEX) is parsed into, what the vulnerability database stores and
//! what the matcher reads.
//!
//! One model for all feeds keeps the matcher ignorant of feed formats: it asks "which
//! advisories name (space, package)?" and evaluates the ranges with the space's version
//! scheme. The model follows OSV where OSV is expressive enough (events, `versions` lists,
//! aliases, withdrawn) and adds what OSV cannot say directly:
//!
//! - **[`Space`]**: the package namespace *including the distribution release* for OS
//!   packages (`debian:12`, `alpine:v3.18`, `rhel:9`), because an advisory for Debian 11 says
//!   nothing about Debian 12 and a package without data for its release must not match.
//! - **[`Range::Expr`]**: a range in the ecosystem's own syntax (npm ranges for the Node.js WG
//!   feed, Cargo requirements for RustSec), kept as written rather than translated, so the
//!   reference tools' semantics apply unchanged.
//!
//! Severity is normalized here ([`Severity`]) so every feed's words (Debian's "unimportant",
//! GHSA's "MODERATE", Red Hat's "Important") map to Clair's scale in one place.
//!
//! Pure: serde types and small functions, no I/O.

mod cvss;
mod severity;
mod space;

pub use cvss::{Cvss, cvss3_base_score};
pub use severity::Severity;
pub use space::{Space, VersionScheme, debian_release_of};

use serde::{Deserialize, Serialize};

/// One advisory from one feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// The feed's own id (`PYSEC-2021-59`, `GO-2023-1840`, `RUSTSEC-2020-0071`,
    /// `DEBIAN-CVE-2011-3374`, `CVE-2020-1967` for Alpine).
    pub id: String,
    /// The feed it came from (its configured name), so a rebuild can replace one feed's
    /// advisories without touching the others.
    pub feed: String,
    /// Other ids of the same vulnerability (CVE, GHSA, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    /// Advisory and reference URLs, the advisory's own page first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// RFC 3339 timestamps as the feed gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Set when the feed withdrew the advisory: it never matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// The severity in the feed's own words (`"low"`, `"MODERATE"`, `"Important"`), empty
    /// when the feed gives none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// CVSS vectors (and scores) the feed carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    pub affected: Vec<Affected>,
}

/// One affected package of an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub space: Space,
    /// The package name as the feed keys it: the *source* package for Debian, Ubuntu and
    /// Alpine, the module path for Go, `group:artifact` for Maven.
    pub package: String,
    /// Affected when any range contains the version ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// ... or the version is listed here exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// A severity specific to this package or release (Debian's per-release urgency),
    /// overriding the advisory's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// Go: the affected import paths and symbols are ignored by berth (it matches modules),
    /// but the `stdlib` and `toolchain` pseudo-modules are kept as package names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
}

/// A version range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Range {
    /// OSV's `ECOSYSTEM` and `SEMVER` ranges: a sorted list of events; a version is
    /// affected when the last event at or below it is an introduction (OSV's algorithm).
    /// `GIT` ranges are dropped by the parsers: berth has no commits to compare.
    Events { events: Vec<Event> },
    /// Expressions in the ecosystem's own range syntax: affected when `vulnerable` matches
    /// (absent: every version) and none of `unaffected` matches.
    Expr {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vulnerable: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unaffected: Vec<String>,
    },
}

/// An OSV range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Advisory {
    /// The CVE this advisory is about: itself, or the first CVE alias.
    pub fn cve(&self) -> Option<&str> {
        std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .find(|i| i.starts_with("CVE-"))
    }

    /// The best CVSS the advisory carries: the newest version with a score.
    pub fn best_cvss(&self) -> Option<&Cvss> {
        self.cvss
            .iter()
            .filter(|c| c.score.is_some())
            .max_by(|a, b| a.version.total_cmp(&b.version))
            .or_else(|| self.cvss.first())
    }

    /// The normalized severity of `affected` (its own word, else the advisory's, else the
    /// CVSS score's band).
    pub fn normalized_severity(&self, affected: &Affected) -> Severity {
        let word = Severity::from_word(&affected.severity);
        if word != Severity::Unknown {
            return word;
        }
        let word = Severity::from_word(&self.severity);
        if word != Severity::Unknown {
            return word;
        }
        self.best_cvss()
            .and_then(|c| c.score)
            .map(Severity::from_cvss_score)
            .unwrap_or(Severity::Unknown)
    }

    /// The first version that fixes `affected`, when the feed names one.
    pub fn fixed_in(affected: &Affected) -> Option<&str> {
        affected.ranges.iter().find_map(|r| match r {
            Range::Events { events } => events.iter().find_map(|e| match e {
                Event::Fixed(v) => Some(v.as_str()),
                _ => None,
            }),
            Range::Expr { .. } => None,
        })
    }
}

/// An enrichment: data about a CVE that is not an advisory of a package (NVD's CVSS, EPSS
/// probabilities, CISA's known-exploited list), attached to matches by CVE id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub cve: String,
    pub feed: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    /// EPSS probability and percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<(f64, f64)>,
    /// CISA KEV: the date it was added to the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev_added: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_prefers_the_package_word_then_the_advisory_then_cvss() {
        let aff = Affected {
            space: Space::new("debian:12"),
            package: "apt".into(),
            ranges: vec![],
            versions: vec![],
            severity: "unimportant".into(),
            arches: vec![],
        };
        let mut adv = Advisory {
            id: "X".into(),
            feed: "f".into(),
            aliases: vec![],
            summary: String::new(),
            details: String::new(),
            links: vec![],
            published: None,
            modified: None,
            withdrawn: None,
            severity: "HIGH".into(),
            cvss: vec![Cvss::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")],
            affected: vec![aff.clone()],
        };
        assert_eq!(adv.normalized_severity(&aff), Severity::Negligible);
        let plain = Affected {
            severity: String::new(),
            ..aff
        };
        assert_eq!(adv.normalized_severity(&plain), Severity::High);
        adv.severity.clear();
        assert_eq!(adv.normalized_severity(&plain), Severity::Critical);
    }
}
