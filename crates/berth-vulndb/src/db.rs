//! The in-memory database: every advisory of every feed, indexed by (space, package name),
//! plus enrichments by CVE id. Pure: built from parsed feeds, serialized by `file.rs`.
//!
//! Lookups are two hash probes with borrowed keys (no allocation per package), which keeps a
//! vulnerability report in the low milliseconds and re-matching stored reports cheap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_advisory::{Advisory, Affected, Enrichment, Space};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The format version of the database file; a reader refuses newer ones.
pub const FORMAT: u32 = 1;
/// At most this many ids per change list are recorded (the counts are always exact).
pub const MAX_CHANGE_IDS: usize = 5_000;

/// What a build is: identity, provenance and what changed since the previous build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// `<created, compact>-<first 12 hex of the digest>`: sortable and content-bound.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// `sha256:<hex>` of the serialized body (every record, in order).
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub feeds: Vec<FeedInfo>,
    pub advisories: u64,
    pub enrichments: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

/// One feed's part of a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedInfo {
    pub name: String,
    /// `sha256:<hex>` of the raw feed data the advisories were parsed from.
    pub fingerprint: String,
    pub advisories: u64,
    pub enrichments: u64,
    /// Records skipped as not matchable and records that were malformed.
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub malformed: u64,
    /// Set when the newest data failed to parse and this build kept the last good data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Advisories added, removed and changed since the previous build, as `feed/id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_ids: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.changed == 0
    }
}

/// One line of the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Record {
    Advisory(Advisory),
    Enrichment(Enrichment),
}

/// A loaded database.
#[derive(Debug)]
pub struct Db {
    header: Header,
    advisories: Vec<Advisory>,
    /// In file order; `by_cve` indexes them.
    enrichments: Vec<Enrichment>,
    by_cve: HashMap<String, Vec<u32>>,
    /// space -> package -> (advisory index, affected index)
    index: HashMap<String, HashMap<String, Vec<(u32, u32)>>>,
}

/// The advisories of one feed, ready to be combined into a build.
#[derive(Debug, Clone)]
pub struct FeedPart {
    pub info: FeedInfo,
    pub advisories: Vec<Advisory>,
    pub enrichments: Vec<Enrichment>,
}

impl Db {
    /// Combines feed parts into a build. `created` is RFC 3339; `previous` (the build this
    /// one replaces) gives the change list.
    pub fn build(mut parts: Vec<FeedPart>, created: &str, previous: Option<&Db>) -> Db {
        parts.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        let mut advisories = Vec::new();
        let mut enrichments = Vec::new();
        let mut feeds = Vec::new();
        for mut p in parts {
            p.advisories.sort_by(|a, b| a.id.cmp(&b.id));
            p.advisories.dedup_by(|a, b| a.id == b.id);
            p.enrichments.sort_by(|a, b| a.cve.cmp(&b.cve));
            p.info.advisories = p.advisories.len() as u64;
            p.info.enrichments = p.enrichments.len() as u64;
            advisories.extend(p.advisories);
            enrichments.extend(p.enrichments);
            feeds.push(p.info);
        }
        let digest = body_digest(&advisories, &enrichments);
        let compact: String = created
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let hex = digest.trim_start_matches("sha256:");
        let mut header = Header {
            format: FORMAT,
            id: format!("{compact}-{}", &hex[..12.min(hex.len())]),
            created: created.to_owned(),
            digest,
            previous: previous.map(|p| p.header.id.clone()),
            feeds,
            advisories: advisories.len() as u64,
            enrichments: enrichments.len() as u64,
            changes: None,
        };
        let mut db = Db::from_parts(header.clone(), advisories, enrichments);
        if let Some(prev) = previous {
            header.changes = Some(db.changes_since(prev));
            db.header = header;
        }
        db
    }

    /// Assembles a database from a header and its records (as read from a file).
    pub(crate) fn from_parts(
        header: Header,
        advisories: Vec<Advisory>,
        enrichments: Vec<Enrichment>,
    ) -> Db {
        let mut index: HashMap<String, HashMap<String, Vec<(u32, u32)>>> = HashMap::new();
        for (ai, a) in advisories.iter().enumerate() {
            for (fi, f) in a.affected.iter().enumerate() {
                index
                    .entry(f.space.as_str().to_owned())
                    .or_default()
                    .entry(f.space.normalize_name(&f.package))
                    .or_default()
                    .push((ai as u32, fi as u32));
            }
        }
        let mut by_cve: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, e) in enrichments.iter().enumerate() {
            by_cve.entry(e.cve.clone()).or_default().push(i as u32);
        }
        Db {
            header,
            advisories,
            enrichments,
            by_cve,
            index,
        }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// Every enrichment, in file order.
    pub fn enrichments(&self) -> &[Enrichment] {
        &self.enrichments
    }

    /// The advisories naming `package` (already normalized for the space) in `space`.
    pub fn lookup<'a>(
        &'a self,
        space: &Space,
        package: &str,
    ) -> impl Iterator<Item = (&'a Advisory, &'a Affected)> + 'a {
        self.index
            .get(space.as_str())
            .and_then(|m| m.get(package))
            .into_iter()
            .flatten()
            .filter_map(|&(a, f)| {
                let adv = self.advisories.get(a as usize)?;
                Some((adv, adv.affected.get(f as usize)?))
            })
    }

    /// Whether any advisory covers `space` at all (so "no findings" can be told apart from
    /// "no data for this release").
    pub fn has_space(&self, space: &Space) -> bool {
        self.index.contains_key(space.as_str())
    }

    /// The spaces the database covers, with their package counts.
    pub fn spaces(&self) -> BTreeMap<&str, usize> {
        self.index
            .iter()
            .map(|(s, m)| (s.as_str(), m.len()))
            .collect()
    }

    /// The enrichments of a CVE.
    pub fn enrichments_of<'a>(&'a self, cve: &str) -> impl Iterator<Item = &'a Enrichment> + 'a {
        self.by_cve
            .get(cve)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.enrichments.get(i as usize))
    }

    /// The advisories of one feed (a rebuild keeps them when the feed's new data is bad).
    pub fn feed_part(&self, name: &str) -> Option<FeedPart> {
        let info = self.header.feeds.iter().find(|f| f.name == name)?.clone();
        Some(FeedPart {
            info,
            advisories: self
                .advisories
                .iter()
                .filter(|a| a.feed == name)
                .cloned()
                .collect(),
            enrichments: self
                .enrichments
                .iter()
                .filter(|e| e.feed == name)
                .cloned()
                .collect(),
        })
    }

    /// What changed from `old` to this build, by advisory content.
    pub fn changes_since(&self, old: &Db) -> Changes {
        let fingerprints = |db: &Db| -> BTreeMap<String, [u8; 32]> {
            db.advisories
                .iter()
                .map(|a| {
                    let bytes = serde_json::to_vec(a).unwrap_or_default();
                    (
                        format!("{}/{}", a.feed, a.id),
                        Sha256::digest(&bytes).into(),
                    )
                })
                .collect()
        };
        let (new, old) = (fingerprints(self), fingerprints(old));
        let mut c = Changes::default();
        let keys: BTreeSet<&String> = new.keys().chain(old.keys()).collect();
        for k in keys {
            let list = match (old.get(k), new.get(k)) {
                (None, Some(_)) => {
                    c.added += 1;
                    &mut c.added_ids
                }
                (Some(_), None) => {
                    c.removed += 1;
                    &mut c.removed_ids
                }
                (Some(a), Some(b)) if a != b => {
                    c.changed += 1;
                    &mut c.changed_ids
                }
                _ => continue,
            };
            if list.len() < MAX_CHANGE_IDS {
                list.push(k.clone());
            }
        }
        c
    }
}

/// The body digest: SHA-256 over the serialized records, exactly as `file.rs` writes them.
pub(crate) fn body_digest(advisories: &[Advisory], enrichments: &[Enrichment]) -> String {
    let mut h = Sha256::new();
    for line in body_lines(advisories, enrichments.iter()) {
        h.update(&line);
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The body: one JSON record per line, advisories first.
pub(crate) fn body_lines<'a>(
    advisories: &'a [Advisory],
    enrichments: impl Iterator<Item = &'a Enrichment> + 'a,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum RecordRef<'r> {
        Advisory(&'r Advisory),
        Enrichment(&'r Enrichment),
    }
    advisories
        .iter()
        .map(RecordRef::Advisory)
        .chain(enrichments.map(RecordRef::Enrichment))
        .map(|r| serde_json::to_vec(&r).unwrap_or_default())
}
