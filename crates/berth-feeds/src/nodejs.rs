//! The Node.js Security WG's ecosystem advisories (`vuln/npm/<n>.json`), the data `nsp` and
//! early `npm audit` used. Ranges are npm semver ranges written by hand (`"<= 0.3.3"`,
//! `"< 3.1.3  || >= 4.0.0 <4.1.1"`): they are kept exactly as written in a
//! [`Range::Expr`], because node-semver's parser already accepts that spacing and any
//! rewriting here could only change their meaning.

use berth_advisory::{Advisory, Affected, Cvss, Range, Space};
use serde::Deserialize;
use serde_json::Value;

use crate::{Ctx, Parsed, text};

#[derive(Deserialize)]
struct Record {
    id: Value,
    module_name: String,
    #[serde(default)]
    cves: Option<Vec<Option<String>>>,
    #[serde(default)]
    vulnerable_versions: Option<String>,
    #[serde(default)]
    patched_versions: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    overview: Option<String>,
    #[serde(default)]
    recommendation: Option<String>,
    #[serde(default)]
    references: Option<Value>,
    #[serde(default)]
    cvss_vector: Option<String>,
    #[serde(default)]
    cvss_score: Option<f64>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    publish_date: Option<String>,
}

pub(crate) fn parse(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) {
    let r: Record = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => {
            out.bad(ctx.label, e);
            return;
        }
    };
    let Some(num) = text::loose_str(Some(&r.id)) else {
        out.bad(ctx.label, "record without an id");
        return;
    };
    let module = r.module_name.trim();
    if module.is_empty() {
        out.bad(ctx.label, "record without a module_name");
        return;
    }
    let id = format!("NSWG-ECO-{num}");
    let vulnerable = r.vulnerable_versions.filter(|v| !v.trim().is_empty());
    // `<0.0.0` is the WG's way to say "no patched version".
    let unaffected: Vec<String> = r
        .patched_versions
        .filter(|p| !p.trim().is_empty() && p.replace(' ', "") != "<0.0.0")
        .into_iter()
        .collect();
    let mut aliases = Vec::new();
    text::extend_unique(
        &mut aliases,
        r.cves.unwrap_or_default().into_iter().flatten(),
    );
    let mut links = vec![format!(
        "https://github.com/nodejs/security-wg/blob/main/vuln/npm/{num}.json"
    )];
    let refs: Vec<String> = match r.references {
        Some(Value::Array(a)) => a
            .into_iter()
            .filter_map(|v| text::loose_str(Some(&v)))
            .collect(),
        Some(v) => text::loose_str(Some(&v)).into_iter().collect(),
        None => Vec::new(),
    };
    text::extend_unique(&mut links, refs);
    let mut details = r.overview.unwrap_or_default().trim().to_owned();
    if let Some(rec) = r.recommendation.filter(|s| !s.trim().is_empty()) {
        details.push_str("\n\n## Recommendation\n\n");
        details.push_str(rec.trim());
    }
    let cvss = r
        .cvss_vector
        .filter(|v| !v.trim().is_empty())
        .map(|v| Cvss::with_score(&v, r.cvss_score))
        .into_iter()
        .collect();
    let space = Space::new("npm");
    out.advisories.push(Advisory {
        feed: ctx.feed.to_owned(),
        aliases,
        summary: text::bounded(r.title),
        details: text::bounded(Some(details)),
        links,
        published: r.publish_date.filter(|s| !s.trim().is_empty()),
        modified: r.updated_at.filter(|s| !s.trim().is_empty()),
        withdrawn: None,
        severity: String::new(),
        cvss,
        affected: vec![Affected {
            package: space.normalize_name(module),
            space,
            ranges: vec![Range::Expr {
                vulnerable,
                unaffected,
            }],
            versions: Vec::new(),
            severity: String::new(),
            arches: Vec::new(),
        }],
        id,
    });
}
