//! Clair's normalized severity scale, and the mapping of every feed's words onto it, so a
//! `--severity high` gate means the same thing whichever feed reported the finding.

use serde::{Deserialize, Serialize};

/// Clair v4's normalized severities, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Negligible => "Negligible",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// A feed's severity word: Debian urgencies (`unimportant`, `low**`), GHSA's
    /// (`MODERATE`), Red Hat's (`Important`), Ubuntu's priorities and Clair's own names.
    /// Anything else (`not yet assigned`, `end-of-life`, empty) is `Unknown`.
    pub fn from_word(word: &str) -> Severity {
        let w = word.trim().trim_end_matches('*').to_ascii_lowercase();
        match w.as_str() {
            "unimportant" | "negligible" | "none" | "informational" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => Severity::Unknown,
        }
    }

    /// The CVSS v3 qualitative band of a base score.
    pub fn from_cvss_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Negligible,
        }
    }

    /// Parses a name as given on a command line (`high`, `Critical`).
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_every_feed() {
        for (w, s) in [
            ("unimportant", Severity::Negligible),
            ("low**", Severity::Low),
            ("MODERATE", Severity::Medium),
            ("Important", Severity::High),
            ("CRITICAL", Severity::Critical),
            ("not yet assigned", Severity::Unknown),
            ("", Severity::Unknown),
        ] {
            assert_eq!(Severity::from_word(w), s, "{w}");
        }
        assert_eq!(Severity::from_cvss_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(0.1), Severity::Low);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert!(Severity::Low < Severity::High);
    }
}
