//! Alpine's secdb: one document per release and repository (`v3.11/main.yaml` in the old
//! repository, `v3.19/main.json` on secdb.alpinelinux.org, same fields), listing per package
//! the versions that fixed which vulnerabilities.
//!
//! The secdb is keyed by package and release, the model by vulnerability, so every
//! (release, package, fixed version) pair becomes an `Affected` of the vulnerability's one
//! advisory; [`crate::Parsed::finish`] merges the pieces across files. The data is hand-kept
//! and it shows: lines with two ids or a note (`CVE-2017-8904 XSA-214`,
//! `CVE-2018-14881 (BGP)`), `CVE_2019-2426`, placeholders (`CVE-????-?????`), versions that
//! YAML would read as numbers, `null` secfixes, and fixed version `0` meaning "never
//! affected in this release".

use std::fmt;

use berth_advisory::{Advisory, Affected, Event, Range, Space};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use crate::{Ctx, FeedError, Parsed, text};

#[derive(Deserialize)]
struct Release {
    distroversion: String,
    #[serde(default)]
    packages: Option<Vec<Option<PackageEntry>>>,
}

#[derive(Deserialize)]
struct PackageEntry {
    #[serde(default)]
    pkg: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    secfixes: Option<Secfixes>,
}

/// `version: [line, ...]` pairs in file order, repeated versions kept (a YAML map would
/// lose one of them), a single line or `null` accepted where a list belongs.
struct Secfixes(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Secfixes {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SecfixesVisitor)
    }
}

struct SecfixesVisitor;

impl<'de> Visitor<'de> for SecfixesVisitor {
    type Value = Secfixes;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of fixed versions to vulnerability ids")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secfixes, A::Error> {
        let mut out = Vec::new();
        while let Some(version) = map.next_key::<String>()? {
            let lines = map
                .next_value::<Option<Lines>>()?
                .map(|l| l.0)
                .unwrap_or_default();
            out.push((version, lines));
        }
        Ok(Secfixes(out))
    }
    fn visit_unit<E>(self) -> Result<Secfixes, E> {
        Ok(Secfixes(Vec::new()))
    }
}

struct Lines(Vec<String>);

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LinesVisitor)
    }
}

struct LinesVisitor;

impl<'de> Visitor<'de> for LinesVisitor {
    type Value = Lines;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of vulnerability ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lines, A::Error> {
        let mut out = Vec::new();
        while let Some(line) = seq.next_element::<Option<String>>()? {
            out.extend(line);
        }
        Ok(Lines(out))
    }
    fn visit_str<E>(self, v: &str) -> Result<Lines, E> {
        Ok(Lines(vec![v.to_owned()]))
    }
    fn visit_unit<E>(self) -> Result<Lines, E> {
        Ok(Lines(Vec::new()))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Lines, E> {
        Ok(Lines(Vec::new()))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Lines, E> {
        Ok(Lines(Vec::new()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Lines, E> {
        Ok(Lines(Vec::new()))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Lines, E> {
        Ok(Lines(Vec::new()))
    }
}

pub(crate) fn parse(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let json = text::sniff_head(bytes).starts_with('{');
    let release: Release = if json {
        serde_json::from_slice(bytes).map_err(|e| ctx.parse_error("Alpine secdb JSON", e))?
    } else {
        text::from_yaml(bytes).map_err(|e| ctx.parse_error("Alpine secdb YAML", e))?
    };
    let space = Space::alpine(&release.distroversion);
    for entry in release.packages.unwrap_or_default().into_iter().flatten() {
        let Some(pkg) = entry.pkg else { continue };
        let Some(name) = pkg
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
        else {
            out.bad(ctx.label, "package without a name");
            continue;
        };
        for (version, lines) in pkg.secfixes.map(|s| s.0).unwrap_or_default() {
            let version = version.trim();
            for line in lines {
                let ids: Vec<String> = line.split_whitespace().filter_map(text::vuln_id).collect();
                // A CVE on the line is the vulnerability; other ids beside it (XSA-, TALOS-)
                // are its aliases. Without a CVE each id stands for itself.
                let (primary, others): (Vec<String>, Vec<String>) =
                    ids.into_iter().partition(|i| i.starts_with("CVE-"));
                let (primary, others) = if primary.is_empty() {
                    (others, Vec::new())
                } else {
                    (primary, others)
                };
                if primary.is_empty() || version.is_empty() || version == "0" {
                    // No id to file it under, or "never affected in this release".
                    out.skipped += 1;
                    continue;
                }
                for id in primary {
                    out.advisories
                        .push(advisory(ctx, &space, &name, version, id, &others));
                }
            }
        }
    }
    Ok(())
}

fn advisory(
    ctx: &Ctx,
    space: &Space,
    package: &str,
    fixed: &str,
    id: String,
    aliases: &[String],
) -> Advisory {
    let links = if id.starts_with("CVE-") {
        vec![format!("https://security.alpinelinux.org/vuln/{id}")]
    } else {
        Vec::new()
    };
    Advisory {
        feed: ctx.feed.to_owned(),
        aliases: aliases.to_vec(),
        summary: String::new(),
        details: String::new(),
        links,
        published: None,
        modified: None,
        withdrawn: None,
        severity: String::new(),
        cvss: Vec::new(),
        affected: vec![Affected {
            space: space.clone(),
            package: package.to_owned(),
            ranges: vec![Range::Events {
                events: vec![
                    Event::Introduced("0".into()),
                    Event::Fixed(fixed.to_owned()),
                ],
            }],
            versions: Vec::new(),
            severity: String::new(),
            arches: Vec::new(),
        }],
        id,
    }
}
