//! Debian's security tracker JSON (`security-tracker.debian.org/tracker/data/json`): one
//! object keyed by source package, then by CVE (or `TEMP-…`) id, then by release codename.
//!
//! The tracker says per release what OSV's Debian records say with ranges, so it becomes the
//! same model: `resolved` with a version is fixed there (`introduced 0, fixed v`), `resolved`
//! with version `0` means the release never had the bug (no entry at all), `open` is
//! affected with no fix yet, `undetermined` says nothing usable. The tracker keys by source
//! package, as the model does for Debian.
//!
//! The file is ~60 MB: each package and each CVE entry is parsed on its own from a borrowed
//! raw slice, so one odd entry is one malformed record, not a lost feed.

use std::collections::BTreeMap;

use berth_advisory::{Advisory, Affected, Event, Range, Space};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Ctx, FeedError, Parsed, text};

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: Option<BTreeMap<String, Release>>,
}

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
}

pub(crate) fn parse(ctx: &Ctx, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let packages: BTreeMap<String, &RawValue> =
        serde_json::from_slice(bytes).map_err(|e| ctx.parse_error("Debian tracker JSON", e))?;
    // One advisory per id across every package that has it.
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for (package, raw) in packages {
        let entries: BTreeMap<String, &RawValue> = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                out.bad(&format!("{}: {package}", ctx.label), e);
                continue;
            }
        };
        for (id, raw) in entries {
            let entry: Entry = match serde_json::from_str(raw.get()) {
                Ok(e) => e,
                Err(e) => {
                    out.bad(&format!("{}: {package}/{id}", ctx.label), e);
                    continue;
                }
            };
            let id = id.trim().to_owned();
            if id.is_empty() {
                continue;
            }
            let adv = by_id.entry(id.clone()).or_insert_with(|| Advisory {
                links: vec![format!("https://security-tracker.debian.org/tracker/{id}")],
                id,
                feed: ctx.feed.to_owned(),
                aliases: Vec::new(),
                summary: String::new(),
                details: String::new(),
                published: None,
                modified: None,
                withdrawn: None,
                severity: String::new(),
                cvss: Vec::new(),
                affected: Vec::new(),
            });
            if adv.details.is_empty() {
                adv.details = text::bounded(entry.description);
            }
            for (codename, rel) in entry.releases.unwrap_or_default() {
                let Some(number) = berth_advisory::debian_release_of(codename.trim()) else {
                    continue;
                };
                let events = match (rel.status.as_deref().map(str::trim), rel.fixed_version) {
                    (Some("resolved"), Some(v)) if !v.trim().is_empty() && v.trim() != "0" => vec![
                        Event::Introduced("0".into()),
                        Event::Fixed(v.trim().to_owned()),
                    ],
                    (Some("open"), _) => vec![Event::Introduced("0".into())],
                    _ => continue, // not affected, undetermined or unknown
                };
                adv.affected.push(Affected {
                    space: Space::new(&format!("debian:{number}")),
                    package: package.trim().to_owned(),
                    ranges: vec![Range::Events { events }],
                    versions: Vec::new(),
                    severity: rel.urgency.map(|u| u.trim().to_owned()).unwrap_or_default(),
                    arches: Vec::new(),
                });
            }
        }
    }
    for (_, adv) in by_id {
        if adv.affected.is_empty() {
            out.skipped += 1;
        } else {
            out.advisories.push(adv);
        }
    }
    Ok(())
}
