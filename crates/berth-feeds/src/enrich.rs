//! Enrichment feeds: facts about a CVE rather than about a package version. NVD's CVE API
//! 2.0 JSON (and its yearly feed files, same shape) gives CVSS and the description; FIRST's
//! EPSS CSV the exploitation probability; CISA's KEV catalog the date a CVE was seen
//! exploited. Each is keyed by CVE and attached to matches that name the CVE.
//!
//! These files hold many records, so each record is read on its own (a raw slice, or a CSV
//! line) and one bad record is counted rather than losing the file.

use berth_advisory::{Cvss, Enrichment};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Ctx, FeedError, Parsed, text};

#[derive(Deserialize)]
struct Many<'a> {
    #[serde(borrow, default)]
    vulnerabilities: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct NvdItem {
    cve: NvdCve,
}

#[derive(Deserialize)]
struct NvdCve {
    id: String,
    #[serde(default)]
    descriptions: Option<Vec<NvdDescription>>,
    #[serde(default)]
    metrics: Option<NvdMetrics>,
}

#[derive(Deserialize)]
struct NvdDescription {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct NvdMetrics {
    #[serde(rename = "cvssMetricV40", default)]
    v40: Option<Vec<NvdMetric>>,
    #[serde(rename = "cvssMetricV31", default)]
    v31: Option<Vec<NvdMetric>>,
    #[serde(rename = "cvssMetricV30", default)]
    v30: Option<Vec<NvdMetric>>,
    #[serde(rename = "cvssMetricV2", default)]
    v2: Option<Vec<NvdMetric>>,
}

#[derive(Deserialize)]
struct NvdMetric {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "cvssData")]
    data: NvdCvssData,
}

#[derive(Deserialize)]
struct NvdCvssData {
    #[serde(rename = "vectorString")]
    vector: String,
    #[serde(rename = "baseScore", default)]
    score: Option<f64>,
}

fn enrichment(ctx: &Ctx, cve: String) -> Enrichment {
    Enrichment {
        cve,
        feed: ctx.feed.to_owned(),
        cvss: Vec::new(),
        epss: None,
        kev_added: None,
        description: String::new(),
    }
}

pub(crate) fn parse_nvd(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let many: Many =
        serde_json::from_slice(bytes).map_err(|e| ctx.parse_error("NVD CVE JSON", e))?;
    for (i, raw) in many.vulnerabilities.into_iter().enumerate() {
        let item: NvdItem = match serde_json::from_str(raw.get()) {
            Ok(v) => v,
            Err(e) => {
                out.bad(&format!("{}: vulnerabilities[{i}]", ctx.label), e);
                continue;
            }
        };
        let c = item.cve;
        let mut e = enrichment(ctx, c.id.trim().to_owned());
        if e.cve.is_empty() {
            out.bad(&format!("{}: vulnerabilities[{i}]", ctx.label), "no cve id");
            continue;
        }
        e.description = text::bounded(
            c.descriptions
                .unwrap_or_default()
                .into_iter()
                .find(|d| d.lang.as_deref() == Some("en"))
                .and_then(|d| d.value),
        );
        if let Some(m) = c.metrics {
            // Newest CVSS version first; within one, NVD's own (Primary) before the CNA's.
            for list in [m.v40, m.v31, m.v30, m.v2] {
                let mut list = list.unwrap_or_default();
                list.sort_by_key(|x| x.kind.as_deref() != Some("Primary"));
                for x in list {
                    let v = x.data.vector.trim();
                    if !v.is_empty() && !e.cvss.iter().any(|c| c.vector == v) {
                        e.cvss.push(Cvss::with_score(v, x.data.score));
                    }
                }
            }
        }
        out.enrichments.push(e);
    }
    Ok(())
}

#[derive(Deserialize)]
struct KevItem {
    #[serde(rename = "cveID")]
    cve: String,
    #[serde(rename = "dateAdded", default)]
    date_added: Option<String>,
    #[serde(rename = "shortDescription", default)]
    description: Option<String>,
}

pub(crate) fn parse_kev(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let many: Many =
        serde_json::from_slice(bytes).map_err(|e| ctx.parse_error("CISA KEV JSON", e))?;
    for (i, raw) in many.vulnerabilities.into_iter().enumerate() {
        let item: KevItem = match serde_json::from_str(raw.get()) {
            Ok(v) => v,
            Err(e) => {
                out.bad(&format!("{}: vulnerabilities[{i}]", ctx.label), e);
                continue;
            }
        };
        let cve = item.cve.trim().to_owned();
        let Some(added) = item.date_added.filter(|d| !d.trim().is_empty()) else {
            out.bad(&format!("{}: {cve}", ctx.label), "no dateAdded");
            continue;
        };
        let mut e = enrichment(ctx, cve);
        e.kev_added = Some(added.trim().to_owned());
        e.description = text::bounded(item.description);
        out.enrichments.push(e);
    }
    Ok(())
}

/// EPSS's daily CSV: a `#model_version:…,score_date:…` comment, the header
/// `cve,epss,percentile`, one line per CVE. Columns are found by header name.
pub(crate) fn parse_epss(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ctx.parse_error("EPSS CSV", e))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Ok(());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(ci), Some(ei), Some(pi)) = (col("cve"), col("epss"), col("percentile")) else {
        return Err(FeedError::Parse {
            path: ctx.label.to_owned(),
            format: "EPSS CSV",
            source: format!("header {header:?} lacks cve,epss,percentile").into(),
        });
    };
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        let cve = get(ci);
        let (Ok(epss), Ok(pct)) = (get(ei).parse::<f64>(), get(pi).parse::<f64>()) else {
            out.bad(
                &format!("{}:{}", ctx.label, n + 1),
                "epss or percentile is not a number",
            );
            continue;
        };
        if !cve.starts_with("CVE-") || !(0.0..=1.0).contains(&epss) || !(0.0..=1.0).contains(&pct) {
            out.bad(
                &format!("{}:{}", ctx.label, n + 1),
                "not a CVE line with probabilities",
            );
            continue;
        }
        let mut e = enrichment(ctx, cve.to_owned());
        e.epss = Some((epss, pct));
        out.enrichments.push(e);
    }
    Ok(())
}
