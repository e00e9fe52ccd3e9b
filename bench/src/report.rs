//! Results: the comparison table on stdout and the JSON file.
//!
//! Every figure is measured on both registries in the same run and printed side by side with
//! the ratio berth/peer. Targets are printed as PASS/MISS next to the figure they apply to and
//! never fail the run: the bench informs, it does not gate.

use std::fmt::Write as _;

use serde::Serialize;

/// What a figure is compared against.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// berth / peer must be at least this.
    RatioAtLeast(f64),
    /// berth's own value must be at least this.
    BerthAtLeast(f64),
    /// berth's own value must be below this.
    BerthBelow(f64),
}

impl Target {
    /// The target as printed; `reference` names what ratios compare with.
    fn describe(self, reference: &str) -> String {
        match self {
            Target::RatioAtLeast(r) => format!(">= {r}x {reference}"),
            Target::BerthAtLeast(v) => format!(">= {v}"),
            Target::BerthBelow(v) => format!("< {v}"),
        }
    }

    /// PASS/MISS, or None when a needed value is missing.
    fn verdict(self, berth: Option<f64>, peer: Option<f64>) -> Option<bool> {
        let b = berth?;
        Some(match self {
            Target::RatioAtLeast(r) => b / peer? >= r,
            Target::BerthAtLeast(v) => b >= v,
            Target::BerthBelow(v) => b < v,
        })
    }
}

/// One figure measured on one registry.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Stable key shared by both registries' samples of the same figure.
    pub id: String,
    pub label: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub value: f64,
    /// How the figure was obtained (counts, sizes, elapsed time).
    pub detail: String,
    /// Highest server VmRSS sampled during the measurement, MiB.
    pub server_max_rss_mib: f64,
    /// Server CPU seconds (user + system) spent during the measurement.
    pub server_cpu_s: f64,
    /// The bench's own CPU seconds during the measurement.
    pub client_cpu_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// A measurement that could not complete on a registry, with the failing request.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub registry: &'static str,
    pub measurement: String,
    pub error: String,
}

/// A row of the comparison table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub label: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub berth: Option<f64>,
    pub peer: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    pub verdict: Option<&'static str>,
}

/// Merges the two registries' samples into rows, in the order figures were first measured.
pub fn rows(berth: &[Sample], peer: &[Sample]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for s in berth.iter().chain(peer) {
        if out.iter().any(|r| r.id == s.id) {
            continue;
        }
        let b = berth.iter().find(|x| x.id == s.id).map(|x| x.value);
        let p = peer.iter().find(|x| x.id == s.id).map(|x| x.value);
        let target = berth
            .iter()
            .chain(peer)
            .find_map(|x| if x.id == s.id { x.target } else { None });
        let ratio = match (b, p) {
            (Some(b), Some(p)) if p != 0.0 => Some(b / p),
            _ => None,
        };
        let verdict = target
            .and_then(|t| t.verdict(b, p))
            .map(|ok| if ok { "PASS" } else { "MISS" });
        out.push(Row {
            id: s.id.clone(),
            label: s.label.clone(),
            unit: s.unit,
            higher_is_better: s.higher_is_better,
            berth: b,
            peer: p,
            ratio,
            target,
            verdict,
        });
    }
    out
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The comparison table as text.
pub fn table(rows: &[Row]) -> String {
    table_with(
        rows,
        "peer",
        "berth/peer",
        "(↓ = lower is better; ratios are always berth/peer)",
    )
}

/// A table whose second column is another reference than the peer registry (`index`
/// compares with gzip decompression); `ratio` heads the berth/reference column.
pub fn table_with(rows: &[Row], reference: &str, ratio_head: &str, footer: &str) -> String {
    let mut s = String::new();
    let w = rows
        .iter()
        .map(|r| r.label.len())
        .max()
        .unwrap_or(10)
        .max(11);
    let _ = writeln!(
        s,
        "{:<w$}  {:<7} {:>10} {:>10} {:>11}  {:<16} verdict",
        "measurement", "unit", "berth", reference, ratio_head, "target"
    );
    let _ = writeln!(s, "{}", "-".repeat(w + 68));
    for r in rows {
        let unit = if r.higher_is_better {
            r.unit.to_owned()
        } else {
            format!("{}↓", r.unit)
        };
        let ratio = r
            .ratio
            .map(|x| format!("{x:.2}x"))
            .unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            s,
            "{:<w$}  {:<7} {:>10} {:>10} {:>11}  {:<16} {}",
            r.label,
            unit,
            num(r.berth),
            num(r.peer),
            ratio,
            r.target.map(|t| t.describe(reference)).unwrap_or_default(),
            r.verdict.unwrap_or("")
        );
    }
    let _ = writeln!(s, "{footer}");
    s
}

/// `YYYYMMDDTHHMMSSZ` for file names, from the system clock, without a date crate.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
