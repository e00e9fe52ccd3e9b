//! Keeps a current, known-good copy of every vulnerability feed on disk.
//!
//! A scanner is only as good as its last successful feed download, and upstream servers fail
//! in every way a server can: they time out, close the connection half way, answer 500 or
//! 429, or hand out an HTML error page with a 200. This crate makes all of that survivable:
//! a download streams into a temporary file beside the stored copy (bounded, hashed as it
//! arrives), the caller's `validate` callback must accept it, and only then does it replace
//! the stored copy with one atomic rename. Anything else leaves the last good copy exactly as
//! it was and records why in the feed's `state.json`, so `berth` can keep scanning with
//! yesterday's data and say so. Conditional requests (`If-None-Match`, `If-Modified-Since`)
//! keep unchanged feeds from being downloaded again.
//!
//! It does not parse advisories: bytes are stored exactly as the server sent them, and the
//! parsers (`berth-feeds`) read them from [`FeedDir::data_path`]. Air-gapped installations
//! get the same guarantees through [`FeedDir::install`], which takes a recorded file or folder.
//!
//! The API is blocking (the HTTP client runs its own runtime); do not call it from inside an
//! async runtime without `spawn_blocking`.
//!
//! # On disk
//!
//! ```text
//! <root>/<name>/data         the stored copy: a file as downloaded, or a folder given to install()
//! <root>/<name>/state.json   FeedState: validators, fingerprint, times, the current failure streak
//! <root>/<name>/.lock        held (advisory lock) while one process updates the feed
//! ```
//!
//! # Default feeds ([`default_feeds`])
//!
//! | name | upstream URL | interval | notes |
//! |---|---|---|---|
//! | `debian-tracker` | <https://security-tracker.debian.org/tracker/data/json> | 6h | one JSON (~60 MB+) keyed by source package, CVE, release |
//! | `pypi-osv` | `https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip` | 6h | OSV export, one zip per ecosystem |
//! | `npm-osv` | `…/npm/all.zip` | 6h | |
//! | `crates.io-osv` | `…/crates.io/all.zip` | 6h | |
//! | `go-osv` | `…/Go/all.zip` | 6h | |
//! | `maven-osv` | `…/Maven/all.zip` | 6h | |
//! | `rubygems-osv` | `…/RubyGems/all.zip` | 6h | |
//! | `nuget-osv` | `…/NuGet/all.zip` | 6h | |
//! | `packagist-osv` | `…/Packagist/all.zip` | 6h | |
//! | `debian-osv` | `…/Debian/all.zip` | 6h | Debian tracker data as OSV |
//! | `ubuntu-osv` | `…/Ubuntu/all.zip` | 6h | |
//! | `alpine-osv` | `…/Alpine/all.zip` | 6h | disabled: derived from secdb, which is the primary source |
//! | `alpine-secdb-v3.NN-main` | `https://secdb.alpinelinux.org/v3.NN/main.json` | 6h | v3.20–v3.23 |
//! | `alpine-secdb-v3.NN-community` | `https://secdb.alpinelinux.org/v3.NN/community.json` | 6h | v3.20–v3.23 |
//! | `redhat-csaf-vex` | <https://security.access.redhat.com/data/csaf/v2/vex/archive_latest.txt> | 24h | disabled: a pointer; see below |
//! | `pypa` | <https://github.com/pypa/advisory-database/archive/refs/heads/main.tar.gz> | 6h | OSV YAML, `vulns/<pkg>/PYSEC-*.yaml` |
//! | `rustsec` | <https://github.com/rustsec/advisory-db/archive/refs/heads/main.tar.gz> | 6h | Markdown + TOML front matter |
//! | `go-vulndb` | <https://github.com/golang/vulndb/archive/refs/heads/master.tar.gz> | 6h | OSV JSON under `data/osv/` |
//! | `nodejs-security-wg` | <https://github.com/nodejs/security-wg/archive/refs/heads/main.tar.gz> | 24h | npm part frozen since 2023 |
//! | `nvd` | <https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-modified.json.gz> | 2h | CVEs modified in the last 8 days; NVD regenerates it every 2h |
//! | `epss` | <https://epss.empiricalsecurity.com/epss_scores-current.csv.gz> | 12h | published daily |
//! | `cisa-kev` | <https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json> | 12h | |
//!
//! GitHub archive URLs redirect to `codeload.github.com`, which sends an `ETag`, so an
//! unchanged branch costs one request. Red Hat publishes its CSAF VEX archive under a dated
//! name (`csaf_vex_YYYY-MM-DD.tar.zst`, several GB) and names the current one in
//! `archive_latest.txt`: [`Fetcher::resolve_pointer`] turns that feed into one for the
//! concrete archive, which is then updated like any other (the feed ships disabled because
//! it needs that step and a larger [`Options::max_size`]).

mod error;
mod fetch;
mod redact;
mod schedule;
mod store;

use std::time::Duration;

pub use error::UpdateError;
pub use fetch::{Fetcher, MAX_BACKOFF, MAX_RETRIES, MAX_RETRY_AFTER};
pub use redact::redact_url;
pub use schedule::{due, retry_delay};
pub use store::{FeedDir, FeedState};

/// Longest feed name: it is a folder name, and it shows up in logs and error messages.
pub const MAX_NAME_LEN: usize = 100;

/// One feed to keep current. Built from [`default_feeds`] or from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedSpec {
    /// Folder name under the feed root: `[a-z0-9._-]+`, at most [`MAX_NAME_LEN`] bytes, not
    /// `.` or `..`, so it can never leave the root.
    pub name: String,
    /// `http` or `https`. May carry credentials; they are never logged or stored.
    pub url: String,
    /// How long a successful download counts as current.
    pub interval: Duration,
    /// Lets configuration switch a default feed off without forgetting its URL.
    pub enabled: bool,
}

/// What an update or install did to the stored copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered 304, or sent bytes identical to the stored copy: nothing replaced.
    Unchanged,
    /// The stored copy was replaced; `sha256` is the new [`FeedState::sha256`].
    Updated { size: u64, sha256: String },
}

/// How hard a [`Fetcher`] tries. The defaults suit feeds of a few GB over a slow link.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest wait for the response headers and for each read of the body: an idle timeout,
    /// not a deadline, so a 2 GB download on a slow but live link is not cut off.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Further attempts after the first, for failures that may pass (see
    /// [`UpdateError::is_retryable`]). At most [`MAX_RETRIES`].
    pub retries: u32,
    /// Delay before the first retry; doubles each time, with jitter, capped at
    /// [`MAX_BACKOFF`] so a stuck feed does not hold the update loop for hours.
    pub backoff: Duration,
    /// Refuse bodies larger than this, before or while they stream (a broken mirror must not
    /// fill the disk).
    pub max_size: u64,
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            retries: 4,
            backoff: Duration::from_secs(2),
            max_size: 4 << 30,
            user_agent: concat!(
                "berth/",
                env!("CARGO_PKG_VERSION"),
                " (vulnerability feed updater)"
            )
            .to_owned(),
        }
    }
}

/// Whether `name` may be used as a feed name (see [`FeedSpec::name`]).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

const OSV_BUCKET: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// Alpine releases whose secdb is fetched by default: the supported ones at the time of
/// writing. Add a release here when Alpine ships one.
const ALPINE_RELEASES: &[&str] = &["v3.20", "v3.21", "v3.22", "v3.23"];

/// The public upstream feeds berth knows, with their real URLs (table in the crate docs).
/// Intervals follow how often each upstream publishes, so nobody is polled for nothing.
pub fn default_feeds() -> Vec<FeedSpec> {
    const H: u64 = 3600;
    let spec = |name: &str, url: &str, hours: u64, enabled: bool| FeedSpec {
        name: name.to_owned(),
        url: url.to_owned(),
        interval: Duration::from_secs(hours * H),
        enabled,
    };
    let mut feeds = vec![spec(
        "debian-tracker",
        "https://security-tracker.debian.org/tracker/data/json",
        6,
        true,
    )];
    for (name, ecosystem, enabled) in [
        ("pypi-osv", "PyPI", true),
        ("npm-osv", "npm", true),
        ("crates.io-osv", "crates.io", true),
        ("go-osv", "Go", true),
        ("maven-osv", "Maven", true),
        ("rubygems-osv", "RubyGems", true),
        ("nuget-osv", "NuGet", true),
        ("packagist-osv", "Packagist", true),
        ("debian-osv", "Debian", true),
        ("ubuntu-osv", "Ubuntu", true),
        ("alpine-osv", "Alpine", false),
    ] {
        feeds.push(spec(
            name,
            &format!("{OSV_BUCKET}/{ecosystem}/all.zip"),
            6,
            enabled,
        ));
    }
    for release in ALPINE_RELEASES {
        for repo in ["main", "community"] {
            feeds.push(spec(
                &format!("alpine-secdb-{release}-{repo}"),
                &format!("https://secdb.alpinelinux.org/{release}/{repo}.json"),
                6,
                true,
            ));
        }
    }
    feeds.extend([
        spec(
            "redhat-csaf-vex",
            "https://security.access.redhat.com/data/csaf/v2/vex/archive_latest.txt",
            24,
            false,
        ),
        spec(
            "pypa",
            "https://github.com/pypa/advisory-database/archive/refs/heads/main.tar.gz",
            6,
            true,
        ),
        spec(
            "rustsec",
            "https://github.com/rustsec/advisory-db/archive/refs/heads/main.tar.gz",
            6,
            true,
        ),
        spec(
            "go-vulndb",
            "https://github.com/golang/vulndb/archive/refs/heads/master.tar.gz",
            6,
            true,
        ),
        spec(
            "nodejs-security-wg",
            "https://github.com/nodejs/security-wg/archive/refs/heads/main.tar.gz",
            24,
            true,
        ),
        spec(
            "nvd",
            "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-modified.json.gz",
            2,
            true,
        ),
        spec(
            "epss",
            "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
            12,
            true,
        ),
        spec(
            "cisa-kev",
            "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
            12,
            true,
        ),
    ]);
    feeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_feeds_are_well_formed_and_unique() {
        let feeds = default_feeds();
        let mut names: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), feeds.len(), "duplicate feed names");
        for f in &feeds {
            assert!(valid_name(&f.name), "{}", f.name);
            assert!(f.url.starts_with("https://"), "{}", f.url);
            assert!(f.interval >= Duration::from_secs(3600), "{}", f.name);
        }
        assert!(names.contains(&"alpine-secdb-v3.20-main"));
        assert!(names.contains(&"debian-osv"));
    }

    #[test]
    fn names_cannot_leave_the_root() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "A",
            "a b",
            "ä",
            "..\\x",
            &"a".repeat(101),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        for good in [
            "nvd",
            "crates.io-osv",
            "alpine-secdb-v3.20-main",
            "a_b",
            "...",
        ] {
            assert!(valid_name(good), "{good:?}");
        }
    }
}
