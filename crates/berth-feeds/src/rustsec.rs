//! RustSec advisories (`crates/<crate>/RUSTSEC-*.md`): a ```` ```toml ```` fenced front
//! matter, then Markdown whose first `# ` heading is the title.
//!
//! RustSec states affected versions as Cargo requirements of what is *not* affected
//! (`patched`, `unaffected`), so they are kept verbatim as a [`Range::Expr`] for the matcher
//! to evaluate with Cargo's semantics. Informational advisories (unmaintained crates,
//! notices) are not vulnerabilities of a version and are skipped, except `unsound`, which
//! is a real defect with patched versions. Advisories under `rust/` are about the toolchain
//! (std, cargo, rustdoc), which an image's crates.io packages do not include: skipped.

use berth_advisory::{Advisory, Affected, Cvss, Range, Space};
use serde::Deserialize;

use crate::{Ctx, Parsed, text};

#[derive(Deserialize)]
struct FrontMatter {
    advisory: Meta,
    #[serde(default)]
    versions: Option<Versions>,
}

#[derive(Deserialize)]
struct Meta {
    id: String,
    package: String,
    #[serde(default)]
    date: Option<toml::Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    cvss: Option<String>,
    #[serde(default)]
    withdrawn: Option<toml::Value>,
    #[serde(default)]
    informational: Option<String>,
    #[serde(default)]
    references: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Versions {
    #[serde(default)]
    patched: Option<Vec<String>>,
    #[serde(default)]
    unaffected: Option<Vec<String>>,
}

/// A date RustSec writes as a string, or that TOML could carry as a date literal.
fn date(v: Option<toml::Value>) -> Option<String> {
    match v? {
        toml::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Splits the file into front matter and Markdown body.
fn split(doc: &str) -> Option<(&str, &str)> {
    let doc = doc.trim_start_matches('\u{feff}').trim_start();
    let rest = doc.strip_prefix("```toml")?;
    let end = rest.find("\n```")?;
    let body = &rest[end + 4..];
    Some((&rest[..end], body))
}

pub(crate) fn parse(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) {
    let Ok(doc) = std::str::from_utf8(bytes) else {
        out.bad(ctx.label, "not UTF-8");
        return;
    };
    let Some((front, body)) = split(doc) else {
        out.bad(ctx.label, "no ```toml front matter");
        return;
    };
    let fm: FrontMatter = match toml::from_str(front) {
        Ok(f) => f,
        Err(e) => {
            out.bad(ctx.label, e.to_string().trim());
            return;
        }
    };
    // `rust/<component>/<file>.md`, beside `crates/<crate>/<file>.md`.
    let toolchain = {
        let p = ctx.path.replace('\\', "/");
        let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
        comps.len() >= 3 && comps[comps.len() - 3] == "rust"
    };
    let informational = fm
        .advisory
        .informational
        .as_deref()
        .map(str::trim)
        .unwrap_or("");
    if toolchain || !(informational.is_empty() || informational == "unsound") {
        out.skipped += 1;
        return;
    }
    let a = fm.advisory;
    let id = a.id.trim().to_owned();
    let package = a.package.trim().to_owned();
    if id.is_empty() || package.is_empty() {
        out.bad(ctx.label, "advisory without id or package");
        return;
    }
    let (summary, details) = title_and_rest(body);
    let mut links = vec![format!("https://rustsec.org/advisories/{id}.html")];
    text::extend_unique(
        &mut links,
        a.url.into_iter().chain(a.references.unwrap_or_default()),
    );
    let mut aliases = Vec::new();
    text::extend_unique(
        &mut aliases,
        a.aliases
            .unwrap_or_default()
            .into_iter()
            .filter(|x| x.trim() != id),
    );
    let versions = fm.versions.unwrap_or(Versions {
        patched: None,
        unaffected: None,
    });
    let unaffected: Vec<String> = versions
        .patched
        .unwrap_or_default()
        .into_iter()
        .chain(versions.unaffected.unwrap_or_default())
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let space = Space::new("crates.io");
    out.advisories.push(Advisory {
        feed: ctx.feed.to_owned(),
        aliases,
        summary,
        details,
        links,
        published: date(a.date),
        modified: None,
        withdrawn: date(a.withdrawn),
        severity: String::new(),
        cvss: a.cvss.map(|c| Cvss::parse(&c)).into_iter().collect(),
        affected: vec![Affected {
            package: space.normalize_name(&package),
            space,
            ranges: vec![Range::Expr {
                vulnerable: None,
                unaffected,
            }],
            versions: Vec::new(),
            severity: String::new(),
            arches: Vec::new(),
        }],
        id,
    });
}

/// The first `# ` heading, and the Markdown after it.
fn title_and_rest(body: &str) -> (String, String) {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if let Some(title) = line.strip_prefix("# ") {
            let rest = &body[offset + line.len()..];
            return (
                text::bounded(Some(title.trim().to_owned())),
                text::bounded(Some(rest.to_owned())),
            );
        }
        offset += line.len();
    }
    (String::new(), text::bounded(Some(body.to_owned())))
}
