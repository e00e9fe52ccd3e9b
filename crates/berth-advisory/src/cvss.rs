//! CVSS vectors and their base scores. Feeds such as OSV carry only the vector string, and a
//! vulnerability report must show a score, so berth computes CVSS v2 and v3.x base scores
//! from the vector with the specifications' formulas (FIRST CVSS v3.1 section 7.1 including
//! its `Roundup`, CVSS v2 section 3.2.1). CVSS v4 scores need the specification's lookup
//! tables; a v4 vector keeps the score its feed gave, or none.

use serde::{Deserialize, Serialize};

/// One CVSS vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// 2.0, 3.0, 3.1 or 4.0.
    pub version: f64,
    pub vector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Cvss {
    /// A vector string as feeds give it (`CVSS:3.1/AV:N/...`, or a bare v2 `AV:N/AC:L/...`),
    /// with its base score computed where the version allows.
    pub fn parse(vector: &str) -> Cvss {
        let vector = vector.trim().to_owned();
        let version = if let Some(rest) = vector.strip_prefix("CVSS:") {
            rest.split('/')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        } else if vector.contains("Au:") {
            2.0
        } else {
            0.0
        };
        let score = if (3.0..4.0).contains(&version) {
            cvss3_base_score(&vector)
        } else if version == 2.0 {
            cvss2_base_score(&vector)
        } else {
            None
        };
        Cvss {
            version,
            vector,
            score,
        }
    }

    /// A vector with the score its feed gave (NVD), trusted over the computed one.
    pub fn with_score(vector: &str, score: Option<f64>) -> Cvss {
        let mut c = Cvss::parse(vector);
        if score.is_some() {
            c.score = score;
        }
        c
    }
}

fn metrics(vector: &str) -> impl Iterator<Item = (&str, &str)> {
    vector.split('/').filter_map(|m| m.split_once(':'))
}

/// The CVSS v3.0/v3.1 base score of a vector; `None` when a base metric is missing or
/// unknown.
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    let (mut av, mut ac, mut pr, mut ui, mut s, mut c, mut i, mut a) =
        (None, None, None, None, None, None, None, None);
    for (k, v) in metrics(vector) {
        match k {
            "AV" => av = v.chars().next(),
            "AC" => ac = v.chars().next(),
            "PR" => pr = v.chars().next(),
            "UI" => ui = v.chars().next(),
            "S" => s = v.chars().next(),
            "C" => c = v.chars().next(),
            "I" => i = v.chars().next(),
            "A" => a = v.chars().next(),
            _ => {}
        }
    }
    let changed = match s? {
        'U' => false,
        'C' => true,
        _ => return None,
    };
    let av = match av? {
        'N' => 0.85,
        'A' => 0.62,
        'L' => 0.55,
        'P' => 0.2,
        _ => return None,
    };
    let ac = match ac? {
        'L' => 0.77,
        'H' => 0.44,
        _ => return None,
    };
    let pr = match (pr?, changed) {
        ('N', _) => 0.85,
        ('L', false) => 0.62,
        ('L', true) => 0.68,
        ('H', false) => 0.27,
        ('H', true) => 0.5,
        _ => return None,
    };
    let ui = match ui? {
        'N' => 0.85,
        'R' => 0.62,
        _ => return None,
    };
    let cia = |m: Option<char>| match m? {
        'H' => Some(0.56),
        'L' => Some(0.22),
        'N' => Some(0.0),
        _ => None,
    };
    let iss = 1.0 - (1.0 - cia(c)?) * (1.0 - cia(i)?) * (1.0 - cia(a)?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(raw))
}

/// CVSS v3.1's `Roundup`: the smallest one-decimal number at or above `x`, computed in
/// integers so floating-point noise (4.000000001) does not round up a whole step.
fn roundup(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

/// The CVSS v2 base score of a vector.
fn cvss2_base_score(vector: &str) -> Option<f64> {
    let (mut av, mut ac, mut au, mut c, mut i, mut a) = (None, None, None, None, None, None);
    for (k, v) in metrics(vector) {
        match k {
            "AV" => av = v.chars().next(),
            "AC" => ac = v.chars().next(),
            "Au" => au = v.chars().next(),
            "C" => c = v.chars().next(),
            "I" => i = v.chars().next(),
            "A" => a = v.chars().next(),
            _ => {}
        }
    }
    let av = match av? {
        'L' => 0.395,
        'A' => 0.646,
        'N' => 1.0,
        _ => return None,
    };
    let ac = match ac? {
        'H' => 0.35,
        'M' => 0.61,
        'L' => 0.71,
        _ => return None,
    };
    let au = match au? {
        'M' => 0.45,
        'S' => 0.56,
        'N' => 0.704,
        _ => return None,
    };
    let cia = |m: Option<char>| match m? {
        'N' => Some(0.0),
        'P' => Some(0.275),
        'C' => Some(0.660),
        _ => None,
    };
    let impact = 10.41 * (1.0 - (1.0 - cia(c)?) * (1.0 - cia(i)?) * (1.0 - cia(a)?));
    let exploitability = 20.0 * av * ac * au;
    let f: f64 = if impact == 0.0 { 0.0 } else { 1.176 };
    let raw = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    Some((raw * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores as NVD publishes them for these vectors.
    #[test]
    fn scores_match_published_ones() {
        for (v, s) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8), // CVE-2023-4911
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0), // log4shell
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N", 3.7), // CVE-2011-3374
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:H/A:N", 5.5), // CVE-2016-2781
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
        ] {
            assert_eq!(Cvss::parse(v).score, Some(s), "{v}");
        }
        assert_eq!(Cvss::parse("CVSS:3.1/AV:N").score, None);
        assert_eq!(
            Cvss::parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").score,
            None
        );
        assert_eq!(Cvss::parse("garbage").score, None);
    }
}
