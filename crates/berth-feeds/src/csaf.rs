//! Red Hat's CSAF 2.0 VEX documents (one per CVE, `security.access.redhat.com/data/csaf/v2/vex/`).
//!
//! CSAF states package facts indirectly: a vulnerability lists product ids as `fixed` or
//! `known_affected`, and each id is a relationship ("this rpm is a `default_component_of`
//! that platform") in the product tree, where the rpm carries a purl
//! (`pkg:rpm/redhat/glibc@2.34-60.el9_2.7?arch=src&epoch=0`) and the platform a CPE
//! (`cpe:/o:redhat:enterprise_linux:9::baseos`). Resolving both ends gives the model's
//! (space `rhel:<major>`, source package, fixed EVR).
//!
//! Only mainline RHEL platforms (`enterprise_linux`) map to a space: EUS/E4S/AUS streams
//! carry older fixed versions that would be wrong for a mainline image, and layered
//! products (OpenShift, ...) are not a distribution release. Source rpms are preferred
//! because the model keys RHEL by source package, as it does Debian.

use std::collections::{BTreeSet, HashMap};

use berth_advisory::{Advisory, Affected, Cvss, Event, Range, Space};
use serde::Deserialize;

use crate::{Ctx, Parsed, text};

#[derive(Deserialize)]
struct Doc {
    document: Document,
    #[serde(default)]
    product_tree: Option<ProductTree>,
    #[serde(default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    csaf_version: Option<String>,
    #[serde(default)]
    aggregate_severity: Option<Text>,
    #[serde(default)]
    tracking: Option<Tracking>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Tracking {
    #[serde(default)]
    current_release_date: Option<String>,
}

#[derive(Deserialize, Default)]
struct ProductTree {
    #[serde(default)]
    branches: Option<Vec<Branch>>,
    #[serde(default)]
    full_product_names: Option<Vec<Product>>,
    #[serde(default)]
    relationships: Option<Vec<Relationship>>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(default)]
    product: Option<Product>,
    #[serde(default)]
    branches: Option<Vec<Branch>>,
}

#[derive(Deserialize)]
struct Product {
    product_id: String,
    #[serde(default)]
    product_identification_helper: Option<Helper>,
}

#[derive(Deserialize)]
struct Helper {
    #[serde(default)]
    cpe: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Relationship {
    #[serde(default)]
    category: Option<String>,
    full_product_name: Product,
    product_reference: String,
    relates_to_product_reference: String,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    notes: Option<Vec<Note>>,
    #[serde(default)]
    release_date: Option<String>,
    #[serde(default)]
    product_status: Option<ProductStatus>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(default)]
    scores: Option<Vec<Score>>,
    #[serde(default)]
    threats: Option<Vec<Threat>>,
}

#[derive(Deserialize)]
struct Note {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ProductStatus {
    #[serde(default)]
    fixed: Option<Vec<String>>,
    #[serde(default)]
    known_affected: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Score {
    #[serde(default)]
    cvss_v3: Option<CvssData>,
    #[serde(default)]
    cvss_v2: Option<CvssData>,
}

#[derive(Deserialize)]
struct CvssData {
    #[serde(rename = "vectorString", default)]
    vector_string: Option<String>,
    #[serde(rename = "baseScore", default)]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct Threat {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    details: Option<String>,
}

/// An rpm as a product: its name, whether it is the source rpm, its EVR when versioned.
struct Rpm {
    name: String,
    src: bool,
    evr: Option<String>,
}

pub(crate) fn parse(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) {
    let doc: Doc = match serde_json::from_slice(bytes) {
        Ok(d) => d,
        Err(e) => {
            out.bad(ctx.label, e);
            return;
        }
    };
    let category = doc.document.category.as_deref().unwrap_or("");
    if !doc
        .document
        .csaf_version
        .as_deref()
        .unwrap_or("")
        .starts_with("2.")
    {
        out.bad(ctx.label, "not CSAF 2.x");
        return;
    }
    if category != "csaf_vex" && category != "csaf_security_advisory" {
        out.skipped += 1;
        return;
    }
    let tree = doc.product_tree.unwrap_or_default();
    let mut helpers: HashMap<String, Helper> = HashMap::new();
    let mut stack: Vec<Branch> = tree.branches.unwrap_or_default();
    for p in tree.full_product_names.unwrap_or_default() {
        add_product(&mut helpers, p);
    }
    while let Some(b) = stack.pop() {
        if let Some(p) = b.product {
            add_product(&mut helpers, p);
        }
        stack.extend(b.branches.unwrap_or_default());
    }
    // composite product id -> (rpm, rhel major)
    let mut components: HashMap<String, (Rpm, String)> = HashMap::new();
    for r in tree.relationships.unwrap_or_default() {
        if r.category.as_deref() != Some("default_component_of") {
            continue;
        }
        let platform = helpers
            .get(&r.relates_to_product_reference)
            .and_then(|h| h.cpe.as_deref());
        let Some(major) = platform.and_then(rhel_major) else {
            continue;
        };
        let purl = helpers
            .get(&r.product_reference)
            .and_then(|h| h.purl.as_deref());
        let rpm = match purl {
            Some(p) => rpm_from_purl(p),
            None => rpm_from_product_id(&r.product_reference),
        };
        if let Some(rpm) = rpm {
            components.insert(r.full_product_name.product_id, (rpm, major));
        }
    }

    let aggregate = doc
        .document
        .aggregate_severity
        .and_then(|t| t.text)
        .unwrap_or_default();
    let modified = doc.document.tracking.and_then(|t| t.current_release_date);
    for v in doc.vulnerabilities.unwrap_or_default() {
        let Some(cve) = v.cve.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()) else {
            out.bad(ctx.label, "vulnerability without a cve");
            continue;
        };
        let status = v.product_status.unwrap_or(ProductStatus {
            fixed: None,
            known_affected: None,
        });
        let affected = affected_of(&components, status);
        if affected.is_empty() {
            out.skipped += 1;
            continue;
        }
        let notes = v.notes.unwrap_or_default();
        let note = |cat: &str| {
            notes
                .iter()
                .find(|n| n.category.as_deref() == Some(cat))
                .and_then(|n| n.text.clone())
        };
        let refs = v.references.unwrap_or_default();
        let mut links = Vec::new();
        let (own, others): (Vec<&Reference>, Vec<&Reference>) = refs
            .iter()
            .partition(|r| r.category.as_deref() == Some("self"));
        text::extend_unique(
            &mut links,
            own.into_iter().chain(others).filter_map(|r| r.url.clone()),
        );
        if links.is_empty() {
            links.push(format!("https://access.redhat.com/security/cve/{cve}"));
        }
        let mut cvss: Vec<Cvss> = Vec::new();
        for s in v.scores.unwrap_or_default() {
            for d in [s.cvss_v3, s.cvss_v2].into_iter().flatten() {
                let Some(vector) = d.vector_string.filter(|x| !x.trim().is_empty()) else {
                    continue;
                };
                if !cvss.iter().any(|c| c.vector == vector.trim()) {
                    cvss.push(Cvss::with_score(&vector, d.base_score));
                }
            }
        }
        let severity = v
            .threats
            .unwrap_or_default()
            .into_iter()
            .find(|t| t.category.as_deref() == Some("impact"))
            .and_then(|t| t.details)
            .unwrap_or_else(|| aggregate.clone());
        out.advisories.push(Advisory {
            feed: ctx.feed.to_owned(),
            aliases: Vec::new(),
            summary: text::bounded(note("summary").or(v.title)),
            details: text::bounded(note("description")),
            links,
            published: v.release_date,
            modified: modified.clone(),
            withdrawn: None,
            severity: severity.trim().to_owned(),
            cvss,
            affected,
            id: cve,
        });
    }
}

fn add_product(helpers: &mut HashMap<String, Helper>, p: Product) {
    if let Some(h) = p.product_identification_helper {
        helpers.insert(p.product_id, h);
    }
}

fn affected_of(
    components: &HashMap<String, (Rpm, String)>,
    status: ProductStatus,
) -> Vec<Affected> {
    let resolve = |ids: Option<Vec<String>>| -> Vec<&(Rpm, String)> {
        ids.unwrap_or_default()
            .iter()
            .filter_map(|id| components.get(id))
            .collect()
    };
    let fixed = resolve(status.fixed);
    let open = resolve(status.known_affected);
    // Releases with a source rpm among their fixes use only source rpms: binary rpms
    // (glibc-devel, glibc-common) repeat the same fix under other names.
    let src_releases: BTreeSet<&str> = fixed
        .iter()
        .filter(|(r, _)| r.src)
        .map(|(_, m)| m.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (rpm, major) in fixed {
        let Some(evr) = &rpm.evr else { continue };
        if src_releases.contains(major.as_str()) && !rpm.src {
            continue;
        }
        if seen.insert((major.clone(), rpm.name.clone(), Some(evr.clone()))) {
            out.push(affected(
                major,
                &rpm.name,
                vec![Event::Introduced("0".into()), Event::Fixed(evr.clone())],
            ));
        }
    }
    for (rpm, major) in open {
        if seen.insert((major.clone(), rpm.name.clone(), None)) {
            out.push(affected(
                major,
                &rpm.name,
                vec![Event::Introduced("0".into())],
            ));
        }
    }
    out
}

fn affected(major: &str, name: &str, events: Vec<Event>) -> Affected {
    Affected {
        space: Space::new(&format!("rhel:{major}")),
        package: name.to_owned(),
        ranges: vec![Range::Events { events }],
        versions: Vec::new(),
        severity: String::new(),
        arches: Vec::new(),
    }
}

/// The RHEL major release of a mainline platform CPE, in CPE 2.2
/// (`cpe:/o:redhat:enterprise_linux:9::baseos`) or 2.3 (`cpe:2.3:o:redhat:enterprise_linux:9:…`) form.
fn rhel_major(cpe: &str) -> Option<String> {
    let parts: Vec<&str> = cpe.trim().split(':').collect();
    let (vendor, product, version) = if parts.get(1) == Some(&"2.3") {
        (*parts.get(3)?, *parts.get(4)?, *parts.get(5)?)
    } else {
        (*parts.get(2)?, *parts.get(3)?, *parts.get(4)?)
    };
    if vendor != "redhat" || product != "enterprise_linux" {
        return None;
    }
    let major = version.split('.').next()?;
    (!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())).then(|| major.to_owned())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `pkg:rpm/redhat/<name>@<version>-<release>?arch=…&epoch=N`; `None` for other purl types.
fn rpm_from_purl(purl: &str) -> Option<Rpm> {
    let rest = purl.trim().strip_prefix("pkg:")?;
    let rest = rest.split('#').next()?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (kind, path) = path.split_once('/')?;
    if !kind.eq_ignore_ascii_case("rpm") {
        return None;
    }
    let (name_path, version) = match path.split_once('@') {
        Some((n, v)) => (n, Some(percent_decode(v))),
        None => (path, None),
    };
    let name = percent_decode(name_path.rsplit('/').next()?);
    if name.is_empty() {
        return None;
    }
    let mut arch = "";
    let mut epoch = "";
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("arch", a)) => arch = a,
            Some(("epoch", e)) => epoch = e,
            _ => {}
        }
    }
    let evr = version.filter(|v| !v.is_empty()).map(|v| match epoch {
        "" | "0" => v,
        e => format!("{e}:{v}"),
    });
    Some(Rpm {
        name,
        src: arch == "src",
        evr,
    })
}

const RPM_ARCHES: &[&str] = &[
    "src", "noarch", "x86_64", "aarch64", "ppc64le", "s390x", "i686", "i386",
];

/// A product id without a purl: `glibc-0:2.34-60.el9_2.7.src`, or a bare name for a
/// component not yet fixed.
fn rpm_from_product_id(id: &str) -> Option<Rpm> {
    let id = id.trim();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return None;
    }
    let Some((nevr, arch)) = id.rsplit_once('.').filter(|(_, a)| RPM_ARCHES.contains(a)) else {
        return Some(Rpm {
            name: id.to_owned(),
            src: false,
            evr: None,
        });
    };
    let (nv, release) = nevr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    let version = version.strip_prefix("0:").unwrap_or(version);
    Some(Rpm {
        name: name.to_owned(),
        src: arch == "src",
        evr: Some(format!("{version}-{release}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_and_cpes() {
        let r = rpm_from_purl("pkg:rpm/redhat/glibc@2.34-60.el9_2.7?arch=src").unwrap();
        assert_eq!(
            (r.name.as_str(), r.src, r.evr.as_deref()),
            ("glibc", true, Some("2.34-60.el9_2.7"))
        );
        let r = rpm_from_purl("pkg:rpm/redhat/grub2@2.06-61.el9?arch=src&epoch=1").unwrap();
        assert_eq!(r.evr.as_deref(), Some("1:2.06-61.el9"));
        let r = rpm_from_purl("pkg:rpm/redhat/libstdc%2B%2B@11.4.1-2.el9?arch=x86_64").unwrap();
        assert_eq!((r.name.as_str(), r.src), ("libstdc++", false));
        assert!(rpm_from_purl("pkg:oci/ubi9@sha256:abc").is_none());
        assert_eq!(
            rhel_major("cpe:/o:redhat:enterprise_linux:9::baseos").as_deref(),
            Some("9")
        );
        assert_eq!(
            rhel_major("cpe:/a:redhat:enterprise_linux:8::appstream").as_deref(),
            Some("8")
        );
        assert_eq!(
            rhel_major("cpe:2.3:o:redhat:enterprise_linux:9:*:*:*:*:*:*:*").as_deref(),
            Some("9")
        );
        assert_eq!(rhel_major("cpe:/o:redhat:rhel_eus:9.2::baseos"), None);
        let r = rpm_from_product_id("glibc-0:2.34-60.el9_2.7.src").unwrap();
        assert_eq!(
            (r.name.as_str(), r.evr.as_deref()),
            ("glibc", Some("2.34-60.el9_2.7"))
        );
        assert_eq!(percent_decode("a%2Bb%"), "a+b%");
    }
}
