//! Matching: which advisories of the database affect which packages of an image.
//!
//! ```text
//! IndexReport ──> for each package: its space (distribution release or language)
//!                 and lookup name (the source package for OS packages)
//!             ──> Db::lookup(space, name) ──> affected? (ranges with the space's version
//!                 scheme, or an exact `versions` entry) ──> VulnerabilityReport
//! ```
//!
//! The rules, each of which a test pins:
//! - OS packages match through their **source package** at the source version: Debian's
//!   tracker, Ubuntu's and Alpine's secdb key advisories by source (Alpine: origin). RPM
//!   advisories name the source RPM but carry the binary EVR (with epoch), so rpm packages
//!   use the source name with the binary version.
//! - A package matches only advisories **for its own distribution release** (`debian:12`
//!   data says nothing about Debian 11), and not at all when its release is unknown.
//! - **Ranges and `versions` lists both count**: OSV's `versions` are not exhaustive (Debian's
//!   current `apt` is missing from DEBIAN-CVE-2011-3374's list but is inside its range).
//! - **Withdrawn** advisories never match. A version the space's scheme cannot parse does
//!   not match (and is counted), rather than guessing.
//! - **Unfixed** vulnerabilities are reported with an empty `fixed_in_version`.
//!
//! Pure: no I/O; the database is passed in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use berth_advisory::{Advisory, Affected, Event, Range, Space};
use berth_report::{
    CVSS_ENRICHMENT, CvssScore, EPSS_ENRICHMENT, IndexReport, KEV_ENRICHMENT, Package,
    Vulnerability, VulnerabilityReport,
};
use berth_version::{Scheme, cargo, npm};
use berth_vulndb::Db;

/// What one package is looked up as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub space: Space,
    /// Normalized for the space.
    pub name: String,
    pub version: String,
}

/// The lookup of package `id` of `report`, or `None` when berth cannot tell where its
/// advisories would be (unknown ecosystem, OS package of an unknown release).
pub fn query(report: &IndexReport, id: &str) -> Option<Query> {
    let pkg = report.packages.get(id)?;
    let eco = report.ecosystem(id)?;
    if eco.is_os() {
        let dist = report.distribution_of(id)?;
        let space = Space::for_distribution(&dist.did, &dist.version_id, &dist.version_code_name)?;
        let src = pkg.source.as_deref().filter(|s| !s.name.is_empty());
        let name = src.map_or(pkg.name.as_str(), |s| s.name.as_str());
        let version = match space.scheme() {
            // The source RPM's file name drops the epoch; the binary EVR has it.
            Scheme::Rpm => pkg.version.as_str(),
            _ => src
                .map(|s| s.version.as_str())
                .filter(|v| !v.is_empty())
                .unwrap_or(&pkg.version),
        };
        Some(Query {
            name: space.normalize_name(name),
            version: version.to_owned(),
            space,
        })
    } else {
        let space = Space::for_language(eco.osv_name())?;
        Some(Query {
            name: space.normalize_name(&pkg.name),
            version: pkg.version.clone(),
            space,
        })
    }
}

/// Whether `version` is affected by `affected`, and the fixing version when one is known.
/// `Err` when the version cannot be compared in the space's scheme.
pub fn is_affected(
    space: &Space,
    affected: &Affected,
    version: &str,
) -> Result<Option<String>, String> {
    let scheme = space.scheme();
    let version = comparable(space, version);
    if affected
        .versions
        .iter()
        .any(|v| comparable(space, v) == version)
    {
        return Ok(Some(fixed_of(affected, scheme, version)));
    }
    for range in &affected.ranges {
        let hit = match range {
            Range::Events { events } => in_events(scheme, events, version)?,
            Range::Expr {
                vulnerable,
                unaffected,
            } => in_expr(space, vulnerable.as_deref(), unaffected, version)?,
        };
        if hit {
            return Ok(Some(fixed_of(affected, scheme, version)));
        }
    }
    Ok(None)
}

/// Go versions come as `v1.2.3` (modules) and `1.19.8` (stdlib, as the OSV feed writes it);
/// both compare without the prefix.
fn comparable<'a>(space: &Space, v: &'a str) -> &'a str {
    let v = v.trim();
    if space.as_str() == "go" {
        v.strip_prefix('v').unwrap_or(v)
    } else {
        v
    }
}

/// OSV's range evaluation: events sorted by version (`introduced: 0` first); the version is
/// affected when the last event at or below it is an introduction (a `last_affected` counts
/// as at-or-below only when the version is strictly above it; a `limit` ends the range).
fn in_events(scheme: Scheme, events: &[Event], version: &str) -> Result<bool, String> {
    let cmp = |a: &str, b: &str| -> Result<Ordering, String> {
        if a == b {
            return Ok(Ordering::Equal);
        }
        scheme.compare(a, b).map_err(|e| e.to_string())
    };
    // Validate the package version once: an unparsable version never matches.
    cmp(version, version)?;
    let mut sorted: Vec<(&Event, Option<&str>)> = events
        .iter()
        .map(|e| match e {
            Event::Introduced(v) if v == "0" => (e, None),
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => {
                (e, Some(v.as_str()))
            }
        })
        .collect();
    let mut err = None;
    sorted.sort_by(|a, b| match (a.1, b.1) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp(x, y).unwrap_or_else(|e| {
            err.get_or_insert(e);
            Ordering::Equal
        }),
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut affected = false;
    for (e, at) in sorted {
        let Some(v) = at else {
            // `introduced: 0`: affected from the very first version.
            affected = true;
            continue;
        };
        let order = cmp(version, v)?;
        match e {
            Event::Introduced(_) => affected |= order != Ordering::Less,
            Event::Fixed(_) | Event::Limit(_) if order != Ordering::Less => affected = false,
            Event::LastAffected(_) if order == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    Ok(affected)
}

/// A range in the ecosystem's own syntax: npm ranges for npm, Cargo requirements for
/// crates.io.
fn in_expr(
    space: &Space,
    vulnerable: Option<&str>,
    unaffected: &[String],
    version: &str,
) -> Result<bool, String> {
    let test = |expr: &str| -> Result<bool, String> {
        match space.as_str() {
            "crates.io" => cargo::matches(expr, version).map_err(|e| e.to_string()),
            _ => npm::satisfies(expr, version).map_err(|e| e.to_string()),
        }
    };
    if let Some(v) = vulnerable.map(str::trim).filter(|v| !v.is_empty())
        && !test(v)?
    {
        return Ok(false);
    }
    for u in unaffected
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
    {
        if test(u)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The fixing version to report: the smallest `fixed` event above the version; for
/// expression ranges the patched expressions as written (`>= 1.2.3`).
fn fixed_of(affected: &Affected, scheme: Scheme, version: &str) -> String {
    let mut best: Option<&str> = None;
    let mut exprs: Vec<&str> = Vec::new();
    for r in &affected.ranges {
        match r {
            Range::Events { events } => {
                for e in events {
                    if let Event::Fixed(f) = e
                        && scheme
                            .compare(f, version)
                            .is_ok_and(|o| o == Ordering::Greater)
                        && best
                            .is_none_or(|b| scheme.compare(f, b).is_ok_and(|o| o == Ordering::Less))
                    {
                        best = Some(f);
                    }
                }
            }
            Range::Expr { unaffected, .. } => exprs.extend(
                unaffected
                    .iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty()),
            ),
        }
    }
    if best.is_none() {
        // `>= 1.2.3` (the common shape of npm `patched_versions` and RustSec `patched`)
        // names a version, which is what clients expect in fixed-in; anything else is
        // shown as written.
        for e in &exprs {
            let v = e.strip_prefix(">=").map(str::trim).unwrap_or("");
            let plain =
                !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || "|,<>=^~*".contains(c));
            if plain
                && scheme
                    .compare(v, version)
                    .is_ok_and(|o| o == Ordering::Greater)
                && best.is_none_or(|b| scheme.compare(v, b).is_ok_and(|o| o == Ordering::Less))
            {
                best = Some(v);
            }
        }
    }
    match best {
        Some(b) => b.to_owned(),
        None => exprs.join(" || "),
    }
}

/// Statistics of one match.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub packages: usize,
    /// Packages with no space (unknown ecosystem or release).
    pub unmatched: usize,
    /// (package, advisory) pairs whose versions could not be compared.
    pub incomparable: usize,
}

/// Matches an index report against the database.
pub fn match_report(index: &IndexReport, db: &Db) -> (VulnerabilityReport, Stats) {
    let mut out = VulnerabilityReport::for_index(index);
    let mut stats = Stats::default();
    let mut cvss_enrich: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut epss_enrich: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut kev_enrich: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (pid, pkg) in &index.packages {
        // Source packages are listed for completeness; their binaries are what is matched.
        if pkg.kind == "source" {
            continue;
        }
        stats.packages += 1;
        let Some(q) = query(index, pid) else {
            stats.unmatched += 1;
            continue;
        };
        let mut ids: Vec<String> = Vec::new();
        for (adv, aff) in db.lookup(&q.space, &q.name) {
            if adv.withdrawn.is_some() {
                continue;
            }
            let fixed = match is_affected(&q.space, aff, &q.version) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(_) => {
                    stats.incomparable += 1;
                    continue;
                }
            };
            let vid = vulnerability_id(adv, aff);
            if ids.contains(&vid) {
                continue;
            }
            if !out.vulnerabilities.contains_key(&vid) {
                let v = vulnerability(vid.clone(), adv, aff, &q, fixed, index, pid, db);
                if let Some(cve) = adv.cve() {
                    for e in db.enrichments_of(cve) {
                        for c in &e.cvss {
                            cvss_enrich
                                .entry(vid.clone())
                                .or_default()
                                .push(serde_json::json!({
                                    "version": version_label(c.version),
                                    "vectorString": c.vector,
                                    "baseScore": c.score,
                                    "source": e.feed,
                                }));
                        }
                        if let Some((p, pct)) = e.epss {
                            epss_enrich.entry(vid.clone()).or_default().push(
                                serde_json::json!({"cve": cve, "epss": p, "percentile": pct}),
                            );
                        }
                        if let Some(added) = &e.kev_added {
                            kev_enrich
                                .entry(vid.clone())
                                .or_default()
                                .push(serde_json::json!({"cve": cve, "dateAdded": added}));
                        }
                    }
                }
                out.vulnerabilities.insert(vid.clone(), v);
            }
            ids.push(vid);
        }
        if !ids.is_empty() {
            ids.sort();
            out.package_vulnerabilities.insert(pid.clone(), ids);
        }
    }
    for (kind, map) in [
        (CVSS_ENRICHMENT, cvss_enrich),
        (EPSS_ENRICHMENT, epss_enrich),
        (KEV_ENRICHMENT, kev_enrich),
    ] {
        if !map.is_empty() {
            out.enrichments.insert(kind.to_owned(), vec![map]);
        }
    }
    (out, stats)
}

/// A stable id per (advisory, affected entry): the same finding keeps its id across
/// reports and builds.
fn vulnerability_id(adv: &Advisory, aff: &Affected) -> String {
    format!("{}/{}/{}/{}", adv.feed, adv.id, aff.space, aff.package)
}

fn version_label(v: f64) -> String {
    if v == 2.0 {
        "2.0".into()
    } else {
        format!("{v}")
    }
}

#[allow(clippy::too_many_arguments)]
fn vulnerability(
    id: String,
    adv: &Advisory,
    aff: &Affected,
    q: &Query,
    fixed: String,
    index: &IndexReport,
    pid: &str,
    db: &Db,
) -> Vulnerability {
    let severity = adv.normalized_severity(aff);
    // The advisory's own CVSS, else an enrichment's (NVD).
    let enriched;
    let cvss = match adv.best_cvss() {
        Some(c) => Some(c),
        None => {
            enriched = adv.cve().and_then(|cve| {
                db.enrichments_of(cve)
                    .flat_map(|e| e.cvss.iter())
                    .filter(|c| c.score.is_some())
                    .max_by(|a, b| a.version.total_cmp(&b.version))
                    .cloned()
            });
            enriched.as_ref()
        }
    };
    let severity = if severity == berth_advisory::Severity::Unknown {
        cvss.and_then(|c| c.score)
            .map(berth_advisory::Severity::from_cvss_score)
            .unwrap_or(severity)
    } else {
        severity
    };
    let mut description = if adv.summary.is_empty() || adv.details.starts_with(&adv.summary) {
        adv.details.clone()
    } else if adv.details.is_empty() {
        adv.summary.clone()
    } else {
        format!("{}\n\n{}", adv.summary, adv.details)
    };
    if description.is_empty()
        && let Some(cve) = adv.cve()
    {
        description = db
            .enrichments_of(cve)
            .map(|e| e.description.clone())
            .find(|d| !d.is_empty())
            .unwrap_or_default();
    }
    let env = index.environments.get(pid).and_then(|e| e.first());
    let distribution = env
        .and_then(|e| index.distributions.get(&e.distribution_id))
        .cloned();
    let repository = env
        .and_then(|e| e.repository_ids.first())
        .and_then(|r| index.repository.get(r))
        .cloned();
    Vulnerability {
        id,
        updater: adv.feed.clone(),
        name: adv.id.clone(),
        description,
        issued: adv.published.clone().unwrap_or_default(),
        links: adv.links.join(" "),
        severity: if aff.severity.is_empty() {
            adv.severity.clone()
        } else {
            aff.severity.clone()
        },
        normalized_severity: severity.as_str().to_owned(),
        package: Package {
            id: String::new(),
            name: aff.package.clone(),
            version: q.version.clone(),
            kind: if q.space.distribution().is_some() {
                "source".into()
            } else {
                "binary".into()
            },
            source: None,
            normalized_version: String::new(),
            module: String::new(),
            arch: String::new(),
            cpe: String::new(),
        },
        distribution,
        repository,
        fixed_in_version: fixed,
        aliases: adv.aliases.clone(),
        cvss: cvss.map(|c| CvssScore {
            version: version_label(c.version),
            vector: c.vector.clone(),
            score: c.score,
        }),
    }
}
