//! OSV records (schema 1.0–1.7), in JSON (Go, GHSA, Debian, Ubuntu, OSV's per-ecosystem
//! zips) and YAML (PyPA). OSV is the model's own shape, so this is mostly field mapping;
//! the work is in what to drop: GIT ranges (berth has no commits to compare), ecosystems
//! berth cannot match, and affected entries that name no version at all.
//!
//! Versions are read as strings the way the record wrote them: a YAML `1.10` must stay
//! `1.10`, never become the float `1.1` (serde-saphyr gives a `String` field the raw text).

use berth_advisory::{Advisory, Affected, Cvss, Event, Range, Space};
use serde::Deserialize;
use serde_json::Value;

use crate::{Ctx, FeedError, Parsed, text};

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<Option<String>>>,
    /// OSV 1.7: the ids this record is derived from (Debian's records name their CVE here).
    #[serde(default)]
    upstream: Option<Vec<Option<String>>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Option<Vec<Severity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Severity {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    score: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<Package>,
    #[serde(default)]
    ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    versions: Option<Vec<Option<String>>>,
    #[serde(default)]
    severity: Option<Vec<Severity>>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ecosystem: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    events: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn is_yaml(path: &str, bytes: &[u8]) -> bool {
    let lower = path.to_ascii_lowercase();
    (lower.ends_with(".yaml") || lower.ends_with(".yml"))
        && !text::sniff_head(bytes).starts_with('{')
}

/// One record in one file; an unreadable file is one malformed record.
pub(crate) fn parse_one(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) {
    let rec: Result<Record, String> = if is_yaml(ctx.path, bytes) {
        text::from_yaml(bytes).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    };
    match rec {
        Ok(r) => convert(ctx, r, out),
        Err(e) => out.bad(ctx.label, e),
    }
}

/// A JSON array of records (some exports and API answers): each element on its own, so one
/// bad element costs only itself.
pub(crate) fn parse_list(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let items: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(bytes).map_err(|e| ctx.parse_error("JSON", e))?;
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_str::<Record>(item.get()) {
            Ok(r) => convert(ctx, r, out),
            Err(e) => out.bad(&format!("{}[{i}]", ctx.label), e),
        }
    }
    Ok(())
}

fn convert(ctx: &Ctx, r: Record, out: &mut Parsed) {
    let id = r.id.trim().to_owned();
    if id.is_empty() {
        out.bad(ctx.label, "record without an id");
        return;
    }
    let mut cvss = Vec::new();
    let mut severity = String::new();
    collect_severity(r.severity.unwrap_or_default(), &mut cvss, &mut severity);
    let db = r.database_specific.as_ref();
    if let Some(s) = text::loose_str(db.and_then(|d| d.get("severity"))) {
        severity = s;
    }

    let mut affected = Vec::new();
    for a in r.affected.unwrap_or_default() {
        if let Some(a) = convert_affected(a, &mut cvss) {
            affected.push(a);
        }
    }
    let withdrawn = r
        .withdrawn
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty());
    // A withdrawn record is kept without packages: it tells a rebuild to drop the advisory.
    if affected.is_empty() && withdrawn.is_none() {
        out.skipped += 1;
        return;
    }

    let mut aliases = Vec::new();
    let ids = r
        .aliases
        .unwrap_or_default()
        .into_iter()
        .chain(r.upstream.unwrap_or_default());
    text::extend_unique(&mut aliases, ids.flatten().filter(|a| a.trim() != id));

    let mut links = Vec::new();
    let own = text::loose_str(db.and_then(|d| d.get("url")))
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or_else(|| own_page(&id));
    links.push(own);
    text::extend_unique(
        &mut links,
        r.references
            .unwrap_or_default()
            .into_iter()
            .filter_map(|x| x.url),
    );

    out.advisories.push(Advisory {
        feed: ctx.feed.to_owned(),
        aliases,
        summary: text::bounded(r.summary),
        details: text::bounded(r.details),
        links,
        // Go's repository writes a zero time (`0001-01-01T00:00:00Z`) where vuln.go.dev
        // has the real one: no date is better than year 1 in a report.
        published: r
            .published
            .filter(|s| !s.trim().is_empty() && !s.starts_with("0001-")),
        modified: r.modified.filter(|s| !s.trim().is_empty()),
        withdrawn,
        severity,
        cvss,
        affected,
        id,
    });
}

/// The advisory's page: the publisher's own where its id says who that is, else OSV.dev's.
fn own_page(id: &str) -> String {
    if id.starts_with("GHSA-") {
        format!("https://github.com/advisories/{id}")
    } else if id.starts_with("RUSTSEC-") {
        format!("https://rustsec.org/advisories/{id}.html")
    } else if id.starts_with("GO-") {
        format!("https://pkg.go.dev/vuln/{id}")
    } else {
        format!("https://osv.dev/vulnerability/{id}")
    }
}

/// CVSS vectors go to the advisory; a distribution's word (`"Ubuntu"` type) to `word`.
fn collect_severity(list: Vec<Severity>, cvss: &mut Vec<Cvss>, word: &mut String) {
    for s in list {
        let (Some(kind), Some(score)) = (s.kind, s.score) else {
            continue;
        };
        let score = score.trim();
        if score.is_empty() {
            continue;
        }
        match kind.as_str() {
            "CVSS_V2" | "CVSS_V3" | "CVSS_V4" => {
                if !cvss.iter().any(|c: &Cvss| c.vector == score) {
                    cvss.push(Cvss::parse(score));
                }
            }
            _ => *word = score.to_owned(),
        }
    }
}

fn convert_affected(a: RawAffected, cvss: &mut Vec<Cvss>) -> Option<Affected> {
    let pkg = a.package?;
    let space = Space::from_osv(pkg.ecosystem.as_deref()?.trim())?;
    let name = space.normalize_name(pkg.name.as_deref()?);
    if name.is_empty() {
        return None;
    }
    let mut ranges = Vec::new();
    for r in a.ranges.unwrap_or_default() {
        match r.kind.as_deref() {
            Some("ECOSYSTEM") | Some("SEMVER") => {}
            _ => continue, // GIT: no commits to compare; unknown types: no semantics
        }
        let mut events = Vec::new();
        for e in r.events.unwrap_or_default() {
            let clean =
                |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            if let Some(v) = clean(e.introduced) {
                events.push(Event::Introduced(v));
            }
            if let Some(v) = clean(e.fixed) {
                events.push(Event::Fixed(v));
            }
            if let Some(v) = clean(e.last_affected) {
                events.push(Event::LastAffected(v));
            }
            if let Some(v) = clean(e.limit) {
                events.push(Event::Limit(v));
            }
        }
        if !events.is_empty() {
            ranges.push(Range::Events { events });
        }
    }
    let versions: Vec<String> = a
        .versions
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if ranges.is_empty() && versions.is_empty() {
        return None;
    }
    let mut severity = String::new();
    collect_severity(a.severity.unwrap_or_default(), cvss, &mut severity);
    for spec in [a.ecosystem_specific.as_ref(), a.database_specific.as_ref()] {
        if severity.is_empty() {
            let field = |k| spec.and_then(|s| s.get(k));
            if let Some(s) =
                text::loose_str(field("urgency")).or_else(|| text::loose_str(field("severity")))
            {
                severity = s;
            }
        }
    }
    Some(Affected {
        space,
        package: name,
        ranges,
        versions,
        severity,
        arches: Vec::new(),
    })
}
