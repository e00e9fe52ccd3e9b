//! The table `berth scan` prints for a person: one row per affected package, the worst on
//! top, in the same `Image:` header and column style as the package table, so the two read
//! as one tool's output.
//!
//! Every cell comes from the image (package names, versions) or a feed (advisory ids): it is
//! stripped of control characters before it reaches a terminal, so a hostile package name
//! cannot move the cursor or recolor the screen, and cut to a column's cap so one long
//! module path does not push every row off the screen.

use std::collections::BTreeSet;

use berth_advisory::Severity;
use berth_report::VulnerabilityReport;

use crate::{Finding, Options, cve_alias, distribution_of, ecosystem, findings};

const HEADER: [&str; 6] = [
    "SEVERITY",
    "ID",
    "PACKAGE",
    "INSTALLED",
    "FIXED IN",
    "ECOSYSTEM",
];
/// The widest each column may get, in characters; longer values end in `…`. Sized so a row
/// fits 160 columns while a CVE id with its advisory id, a Maven coordinate and a Debian
/// version are rarely cut.
const CAP: [usize; 6] = [10, 36, 32, 24, 24, 16];

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The human view (see the crate docs).
pub fn table(report: &VulnerabilityReport, opts: &Options) -> String {
    let found = findings(report, opts.min_severity);
    let mut out = String::new();
    out.push_str(&format!(
        "Image:        {}\nManifest:     {}\n",
        clean(&opts.image),
        clean(&report.manifest_hash)
    ));
    match report.distributions.values().next() {
        Some(d) => out.push_str(&format!("Distribution: {}\n", clean(&d.pretty_name))),
        None => out.push_str("Distribution: unknown\n"),
    }
    if opts.min_severity > Severity::Unknown {
        out.push_str(&format!("Severity:     {} and above\n", opts.min_severity));
    }
    out.push('\n');
    if found.is_empty() {
        if opts.min_severity > Severity::Unknown {
            out.push_str(&format!(
                "no known vulnerabilities (at or above {})\n",
                lower(opts.min_severity)
            ));
        } else {
            out.push_str("no known vulnerabilities\n");
        }
        return out;
    }

    let rows: Vec<[String; 6]> = found.iter().map(|f| row(report, f)).collect();
    let mut width = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for ((w, cell), cap) in width.iter_mut().zip(row).zip(CAP) {
            *w = (*w).max(cell.chars().count()).min(cap);
        }
    }
    let header = HEADER.map(str::to_owned);
    let color = |s: &str, style: &str| {
        if opts.color {
            format!("{style}{s}{RESET}")
        } else {
            s.to_owned()
        }
    };
    out.push_str(&color(&line(&header, &width, None), BOLD));
    out.push('\n');
    for (row, f) in rows.iter().zip(&found) {
        let style = opts.color.then(|| style(f.severity));
        out.push_str(&line(row, &width, style));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(&found));
    out.push('\n');
    out
}

fn row(report: &VulnerabilityReport, f: &Finding) -> [String; 6] {
    let id = match cve_alias(f.vuln) {
        Some(cve) => format!("{} ({cve})", f.vuln.name),
        None => f.vuln.name.clone(),
    };
    let eco = match (
        ecosystem(report, f.package_id),
        distribution_of(report, f.package_id),
    ) {
        // An OS package is fixed per release: `debian 12`, not just `Debian`.
        (Some(e), Some(d)) if e.is_os() && !d.did.is_empty() => {
            format!("{} {}", d.did, d.version_id).trim_end().to_owned()
        }
        (Some(e), _) => e.osv_name().to_owned(),
        (None, _) => "?".to_owned(),
    };
    [
        f.severity.as_str().to_owned(),
        id,
        f.package_name().to_owned(),
        f.installed().to_owned(),
        f.fixed().unwrap_or("not fixed").to_owned(),
        eco,
    ]
    .map(|c| clean(&c))
}

/// One row: each cell cut to its column and padded, the severity cell colored when
/// `severity_style` is given (escape codes outside the padding, so columns stay aligned).
fn line(cells: &[String; 6], width: &[usize; 6], severity_style: Option<&str>) -> String {
    let mut l = String::new();
    for (i, (cell, &w)) in cells.iter().zip(width).enumerate() {
        let cell = truncate(cell, w);
        let pad = w - cell.chars().count();
        match (i, severity_style) {
            (0, Some(style)) => l.push_str(&format!("{style}{cell}{RESET}")),
            _ => l.push_str(&cell),
        }
        if i + 1 < cells.len() {
            l.push_str(&" ".repeat(pad + 2));
        }
    }
    l.trim_end().to_owned()
}

/// `N vulnerabilities (C critical, H high, ...) in M packages; K fixable`.
fn summary(found: &[Finding]) -> String {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = found.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {}", lower(*s)))
        })
        .collect();
    let packages: BTreeSet<&str> = found.iter().map(|f| f.package_id).collect();
    let fixable = found.iter().filter(|f| f.fixed().is_some()).count();
    format!(
        "{} ({}) in {}; {fixable} fixable",
        plural(found.len(), "vulnerability", "vulnerabilities"),
        counts.join(", "),
        plural(packages.len(), "package", "packages"),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn lower(s: Severity) -> String {
    s.as_str().to_ascii_lowercase()
}

fn style(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Negligible | Severity::Unknown => "\x1b[2m",
    }
}

/// At most `w` characters, the last one `…` when something was cut.
fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Control characters (escape, tab, newline, ...) become `?`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_cleaned() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("日本語のパッケージ", 4), "日本語…");
        assert_eq!(clean("a\x1b[31mb\tc\n"), "a?[31mb?c?");
    }
}
