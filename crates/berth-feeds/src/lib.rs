//! Vulnerability feeds, parsed from exactly what their publishers store (OSV JSON and YAML,
//! Debian's security tracker JSON, Alpine's secdb, RustSec's Markdown, the Node.js Security
//! WG's JSON, Red Hat's CSAF VEX, NVD CVE JSON 2.0, EPSS CSV, CISA KEV) into berth's
//! [advisory model](berth_advisory), so the vulnerability database never sees a feed format.
//!
//! Feeds arrive as repository tarballs, zip exports or single files, and are untrusted: the
//! walker ([`parse_path`]) streams archives entry by entry under [`Limits`] (sizes, entry
//! count, decompression ratio) and classifies each entry by its path and its top-level keys,
//! so a repository's README, CI files, schemas and indexes are passed over rather than
//! mistaken for records. One bad record is counted and skipped ([`Parsed::malformed`]); a
//! broken container, a feed with nothing usable in it, or one that is mostly garbage is an
//! error, so an updater keeps its last good copy instead of replacing a database with
//! nothing.
//!
//! [`parse_file`] is the pure core (bytes in, model out): the walker calls it for every
//! entry, and a fuzzer can drive it directly.

mod alpine;
mod archive;
mod csaf;
mod debian;
mod enrich;
mod nodejs;
mod osv;
mod rustsec;
mod text;

use std::path::{Path, PathBuf};

use berth_advisory::{Advisory, Enrichment};

/// Bounds on what one [`parse_path`] may read, so a hostile or corrupted download costs a
/// bounded amount of memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest single file or archive entry, decompressed; it is held in memory whole.
    pub max_file: u64,
    /// All bytes read, decompressed, across the whole feed.
    pub max_total: u64,
    /// Archive entries and directory entries visited.
    pub max_entries: u64,
    /// Decompressed bytes per compressed byte of a stream or zip entry (checked once past
    /// 1 MiB, so small, very repetitive files pass).
    pub max_ratio: u64,
}

impl Default for Limits {
    /// Room for the largest real feeds (Debian's tracker is ~60 MB, OSV's all-ecosystem zip
    /// a few GB unpacked), far below what would hurt a 2-core, 24 GiB machine.
    fn default() -> Self {
        Limits {
            max_file: 256 << 20,
            max_total: 8 << 30,
            max_entries: 2_000_000,
            max_ratio: 200,
        }
    }
}

/// What one feed yielded.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Unique by id, sorted by id.
    pub advisories: Vec<Advisory>,
    /// Unique by CVE, sorted by CVE.
    pub enrichments: Vec<Enrichment>,
    /// Files (or archive entries) that held feed records.
    pub files: u64,
    /// Records that cannot match anything: no package berth can match, informational
    /// notices, GIT-only ranges, toolchain advisories, not-affected verdicts.
    pub skipped: u64,
    /// The first [`MAX_ERRORS`] malformed-record messages, `"path: reason"`.
    pub errors: Vec<String>,
    /// Records that could not be read at all.
    pub malformed: u64,
}

/// How many malformed-record messages are kept: enough to diagnose, bounded for a feed that
/// is garbage throughout.
pub const MAX_ERRORS: usize = 20;

/// The longest summary or details text kept: real advisories stay far below; a hostile one
/// must not bloat the database.
pub const MAX_TEXT: usize = 64 * 1024;

impl Parsed {
    /// Makes ids unique and the order deterministic after records were added one file at a
    /// time: the same id twice keeps the one modified last, except records without a
    /// modification time (Alpine's secdb, Debian's tracker), which are fragments of one
    /// vulnerability keyed by release or package and are merged.
    pub fn finish(&mut self) {
        let mut advisories = std::mem::take(&mut self.advisories);
        advisories.sort_by(|a, b| a.id.cmp(&b.id)); // stable: equal ids stay in parse order
        let mut out: Vec<Advisory> = Vec::with_capacity(advisories.len());
        for a in advisories {
            match out.last_mut() {
                Some(prev) if prev.id == a.id => merge_advisory(prev, a),
                _ => out.push(a),
            }
        }
        self.advisories = out;

        let mut enrichments = std::mem::take(&mut self.enrichments);
        enrichments.sort_by(|a, b| a.cve.cmp(&b.cve));
        let mut out: Vec<Enrichment> = Vec::with_capacity(enrichments.len());
        for e in enrichments {
            match out.last_mut() {
                Some(prev) if prev.cve == e.cve => merge_enrichment(prev, e),
                _ => out.push(e),
            }
        }
        self.enrichments = out;
    }

    /// Counts one unreadable record and keeps its message while there is room.
    pub(crate) fn bad(&mut self, label: &str, reason: impl std::fmt::Display) {
        self.malformed += 1;
        if self.errors.len() < MAX_ERRORS {
            let mut msg = format!("{label}: {reason}");
            text::truncate(&mut msg, 500);
            self.errors.push(msg);
        }
    }
}

fn merge_advisory(prev: &mut Advisory, next: Advisory) {
    if prev.modified.is_none() && next.modified.is_none() {
        text::extend_unique(&mut prev.aliases, next.aliases);
        text::extend_unique(&mut prev.links, next.links);
        for c in next.cvss {
            if !prev.cvss.iter().any(|p| p.vector == c.vector) {
                prev.cvss.push(c);
            }
        }
        for a in next.affected {
            if !prev.affected.contains(&a) {
                prev.affected.push(a);
            }
        }
        for (p, n) in [
            (&mut prev.summary, next.summary),
            (&mut prev.details, next.details),
            (&mut prev.severity, next.severity),
        ] {
            if p.is_empty() {
                *p = n;
            }
        }
        prev.published = prev.published.take().or(next.published);
        prev.withdrawn = prev.withdrawn.take().or(next.withdrawn);
        return;
    }
    let newer = match (&prev.modified, &next.modified) {
        (Some(p), Some(n)) => text::timestamp_key(n) >= text::timestamp_key(p),
        (None, Some(_)) => true,
        _ => false,
    };
    if newer {
        *prev = next;
    }
}

fn merge_enrichment(prev: &mut Enrichment, next: Enrichment) {
    for c in next.cvss {
        if !prev.cvss.iter().any(|p| p.vector == c.vector) {
            prev.cvss.push(c);
        }
    }
    if next.epss.is_some() {
        prev.epss = next.epss;
    }
    prev.kev_added = prev.kev_added.take().or(next.kev_added);
    if prev.description.is_empty() {
        prev.description = next.description;
    }
}

/// Why a feed could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A truncated or corrupt gzip, zstd or tar stream.
    #[error("{path}: broken archive: {source}")]
    Archive {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: broken zip: {source}")]
    Zip {
        path: String,
        #[source]
        source: zip::result::ZipError,
    },
    /// Over one of the [`Limits`].
    #[error("{path}: over the limit of {limit} for {what}")]
    Limit {
        path: String,
        what: &'static str,
        limit: u64,
    },
    /// A file that holds many records (Debian's tracker, an Alpine secdb release, an NVD or
    /// KEV document) could not be read as a whole.
    #[error("{path}: not valid {format}: {source}")]
    Parse {
        path: String,
        format: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "{}: nothing usable ({files} record files, {skipped} skipped, {malformed} malformed{})",
        path.display(),
        first.as_deref().map(|e| format!("; first error: {e}")).unwrap_or_default()
    )]
    Nothing {
        path: PathBuf,
        files: u64,
        skipped: u64,
        malformed: u64,
        first: Option<String>,
    },
    #[error(
        "{}: {malformed} of {records} records malformed{}",
        path.display(),
        first.as_deref().map(|e| format!("; first error: {e}")).unwrap_or_default()
    )]
    MostlyMalformed {
        path: PathBuf,
        malformed: u64,
        records: u64,
        first: Option<String>,
    },
}

/// Parse a stored feed: a single file (.json, .json.gz, .yaml/.yml, .md, .csv, .csv.gz,
/// .zip, .tar.gz/.tgz, .tar.zst, .tar) or a directory (recursively), walking archives in a
/// streaming way and classifying every entry by path and content. `feed` is the feed name
/// put in every `Advisory::feed` and `Enrichment::feed`.
///
/// Err when the container itself is broken (truncated gzip/zip/tar, over a limit, I/O), when
/// nothing usable was found, or when more than half of the records are malformed; single
/// malformed records are only counted.
pub fn parse_path(feed: &str, path: &Path, limits: &Limits) -> Result<Parsed, FeedError> {
    let mut out = Parsed::default();
    archive::Walker::new(feed, limits, &mut out).walk_root(path)?;
    out.finish();
    let records =
        out.advisories.len() as u64 + out.enrichments.len() as u64 + out.skipped + out.malformed;
    if out.malformed > 0 && out.malformed * 2 > records {
        return Err(FeedError::MostlyMalformed {
            path: path.to_owned(),
            malformed: out.malformed,
            records,
            first: out.errors.first().cloned(),
        });
    }
    if out.advisories.is_empty() && out.enrichments.is_empty() {
        return Err(FeedError::Nothing {
            path: path.to_owned(),
            files: out.files,
            skipped: out.skipped,
            malformed: out.malformed,
            first: out.errors.first().cloned(),
        });
    }
    Ok(out)
}

/// The pure core: one file's bytes (already decompressed) by its name or path inside the
/// feed. Records are added to `out` (which is [finished](Parsed::finish) again, so repeated
/// calls keep ids unique); files that are not feed records are ignored. Err only when a file
/// that holds many records is unreadable as a whole.
pub fn parse_file(feed: &str, path: &str, bytes: &[u8], out: &mut Parsed) -> Result<(), FeedError> {
    let r = dispatch(feed, path, path, bytes, out);
    out.finish();
    r
}

/// What a file is, told from its path first (repository layouts are reliable) and from its
/// top-level keys otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Osv,
    OsvList,
    DebianTracker,
    Alpine,
    RustSec,
    NodeNpm,
    NodeCore,
    Csaf,
    Nvd,
    Epss,
    Kev,
    Ignore,
}

/// Names that are indexes or tooling in feed repositories, never records (Go's
/// `index/db.json`, `index/modules.json`, the Node.js WG's `index.json`, ...).
const IGNORED_NAMES: &[&str] = &[
    "index.json",
    "db.json",
    "modules.json",
    "vulns.json",
    "aliases.json",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "composer.json",
    "renovate.json",
    "ecosystems.txt",
];

/// Parses one file; `path` classifies (the path inside the feed), `label` names it in
/// messages (with the archive it came from).
pub(crate) fn dispatch(
    feed: &str,
    path: &str,
    label: &str,
    bytes: &[u8],
    out: &mut Parsed,
) -> Result<(), FeedError> {
    let kind = classify(path, bytes);
    let ctx = Ctx { feed, path, label };
    match kind {
        Kind::Ignore => Ok(()),
        Kind::NodeCore => {
            // Node core advisories are about the `node` binary, not an npm package.
            out.files += 1;
            out.skipped += 1;
            Ok(())
        }
        Kind::Osv => {
            out.files += 1;
            osv::parse_one(&ctx, bytes, out);
            Ok(())
        }
        Kind::OsvList => {
            out.files += 1;
            osv::parse_list(&ctx, bytes, out)
        }
        Kind::DebianTracker => {
            out.files += 1;
            debian::parse(&ctx, bytes, out)
        }
        Kind::Alpine => {
            out.files += 1;
            alpine::parse(&ctx, bytes, out)
        }
        Kind::RustSec => {
            out.files += 1;
            rustsec::parse(&ctx, bytes, out);
            Ok(())
        }
        Kind::NodeNpm => {
            out.files += 1;
            nodejs::parse(&ctx, bytes, out);
            Ok(())
        }
        Kind::Csaf => {
            out.files += 1;
            csaf::parse(&ctx, bytes, out);
            Ok(())
        }
        Kind::Nvd => {
            out.files += 1;
            enrich::parse_nvd(&ctx, bytes, out)
        }
        Kind::Epss => {
            out.files += 1;
            enrich::parse_epss(&ctx, bytes, out)
        }
        Kind::Kev => {
            out.files += 1;
            enrich::parse_kev(&ctx, bytes, out)
        }
    }
}

/// The file being parsed, for the format modules.
pub(crate) struct Ctx<'a> {
    pub feed: &'a str,
    pub path: &'a str,
    pub label: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn parse_error(
        &self,
        format: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> FeedError {
        FeedError::Parse {
            path: self.label.to_owned(),
            format,
            source: Box::new(e),
        }
    }
}

fn classify(path: &str, bytes: &[u8]) -> Kind {
    let path = path.replace('\\', "/");
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let Some(&name) = components.last() else {
        return Kind::Ignore;
    };
    // Hidden files and folders: .github workflows, .git, PyPA's .id-allocator.
    if components.iter().any(|c| c.starts_with('.')) {
        return Kind::Ignore;
    }
    let lower = name.to_ascii_lowercase();
    if IGNORED_NAMES.contains(&lower.as_str()) || lower.ends_with(".schema.json") {
        return Kind::Ignore;
    }
    let in_dir = |a: &str, b: &str| components.windows(2).any(|w| w[0] == a && w[1] == b);
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let head = text::sniff_head(bytes);
    match ext {
        "md" => {
            if lower.starts_with("rustsec-") || head.starts_with("```toml") {
                Kind::RustSec
            } else {
                Kind::Ignore
            }
        }
        "csv" => {
            let start = &bytes[..bytes.len().min(4096)];
            if text::contains(start, b"epss") && text::contains(start, b"cve") {
                Kind::Epss
            } else {
                Kind::Ignore
            }
        }
        "json" => {
            if in_dir("vuln", "npm") {
                Kind::NodeNpm
            } else if in_dir("vuln", "core") {
                Kind::NodeCore
            } else if in_dir("vuln", "deps") {
                Kind::Ignore
            } else {
                classify_json(bytes)
            }
        }
        "yaml" | "yml" => {
            // Go's vulndb keeps its own report format beside the OSV it publishes.
            if in_dir("data", "reports") || in_dir("data", "excluded") {
                Kind::Ignore
            } else if head.starts_with('{') || head.starts_with('[') {
                classify_json(bytes)
            } else {
                classify_yaml(bytes)
            }
        }
        _ => {
            if head.starts_with("```toml") {
                Kind::RustSec
            } else if head.starts_with("#model_version") || head.starts_with("cve,epss") {
                Kind::Epss
            } else if head.starts_with('{') || head.starts_with('[') {
                classify_json(bytes)
            } else if !head.is_empty() && std::str::from_utf8(bytes).is_ok() {
                classify_yaml(bytes)
            } else {
                Kind::Ignore
            }
        }
    }
}

fn classify_json(bytes: &[u8]) -> Kind {
    let probe = match text::probe_json(bytes) {
        Ok(p) => p,
        // Invalid JSON in a .json file: a record that is broken, counted by the OSV parser.
        Err(_) => return Kind::Osv,
    };
    match probe {
        text::Probe::Array(first) => {
            if first
                .as_ref()
                .is_some_and(|keys| kind_of_keys(keys, bytes) == Kind::Osv)
            {
                Kind::OsvList
            } else {
                Kind::Ignore
            }
        }
        text::Probe::Object(keys) => kind_of_keys(&keys, bytes),
        text::Probe::Other => Kind::Ignore,
    }
}

fn kind_of_keys(keys: &[String], bytes: &[u8]) -> Kind {
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("document") && has("vulnerabilities") {
        Kind::Csaf
    } else if has("catalogVersion") && has("vulnerabilities") {
        Kind::Kev
    } else if has("vulnerabilities")
        && (has("format") || has("resultsPerPage") || has("totalResults"))
    {
        Kind::Nvd
    } else if has("distroversion") && has("packages") {
        Kind::Alpine
    } else if has("id")
        && [
            "affected",
            "schema_version",
            "modified",
            "withdrawn",
            "aliases",
            "details",
        ]
        .iter()
        .any(|k| has(k))
    {
        Kind::Osv
    } else if has("module_name") && has("vulnerable_versions") {
        Kind::NodeNpm
    } else if !keys.is_empty()
        && text::contains(bytes, b"\"releases\"")
        && text::contains(bytes, b"\"status\"")
    {
        Kind::DebianTracker
    } else {
        Kind::Ignore
    }
}

fn classify_yaml(bytes: &[u8]) -> Kind {
    let keys = text::yaml_top_keys(bytes);
    let has = |k: &str| keys.contains(&k);
    if has("distroversion") && has("packages") {
        Kind::Alpine
    } else if has("id") && (has("affected") || has("modified") || has("withdrawn")) {
        Kind::Osv
    } else {
        Kind::Ignore
    }
}
