//! Why a feed could not be updated or installed.
//!
//! The messages end up in `state.json` and in `berth`'s status output, read by an operator
//! deciding whether to wait, fix a proxy or fix a URL, so each names the feed and the
//! (redacted) URL or path, and the variants separate "will probably pass" (network, 5xx, 429,
//! truncated body) from "will not pass by retrying" (404, oversized, rejected content).
//! Causes stay in `#[source]`; HTTP errors are stored without their URL so a secret in it
//! cannot leak through the chain.

use std::path::PathBuf;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every way an update or install can fail. None of them touches the stored copy.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "invalid feed name {name:?}: use 1-{max} characters of [a-z0-9._-], not \".\" or \"..\"",
        max = crate::MAX_NAME_LEN
    )]
    BadName { name: String },

    #[error("feed {feed}: invalid URL {url}: {reason}")]
    BadUrl {
        feed: String,
        url: String,
        reason: String,
    },

    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),

    #[error("feed {feed}: cannot reach {url}")]
    Http {
        feed: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("feed {feed}: timed out {phase} {url}")]
    Timeout {
        feed: String,
        url: String,
        /// "waiting for", "reading from": whether the server answered at all.
        phase: &'static str,
        #[source]
        source: BoxError,
    },

    #[error("feed {feed}: {url} answered HTTP {status}{detail}")]
    Status {
        feed: String,
        url: String,
        status: u16,
        /// A short, sanitized excerpt of the error body (`": ..."`), or empty.
        detail: String,
        /// The server's `Retry-After`, if it sent one we could read.
        retry_after: Option<Duration>,
    },

    #[error("feed {feed}: the download from {url} broke off after {received} bytes{}",
        expected.map(|e| format!(" of {e}")).unwrap_or_default())]
    Truncated {
        feed: String,
        url: String,
        received: u64,
        expected: Option<u64>,
        #[source]
        source: Option<std::io::Error>,
    },

    #[error("feed {feed}: {url} is larger than the {limit}-byte limit")]
    TooLarge {
        feed: String,
        url: String,
        limit: u64,
    },

    #[error("feed {feed}: {url}: {reason}")]
    Protocol {
        feed: String,
        url: String,
        reason: String,
    },

    #[error("feed {feed}: the new data from {source_desc} was rejected: {reason}")]
    Invalid {
        feed: String,
        /// The redacted URL, or the path given to `install`.
        source_desc: String,
        reason: String,
    },

    #[error("feed {feed}: cannot install {path}: {reason}", path = path.display())]
    BadInstallSource {
        feed: String,
        path: PathBuf,
        reason: String,
    },

    #[error("feed {feed} is being updated by another process (lock {path})", path = path.display())]
    Busy { feed: String, path: PathBuf },

    #[error("feed {feed}: {path} is not a valid state file", path = path.display())]
    State {
        feed: String,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("feed {feed}: {what} {path}", path = path.display())]
    Io {
        feed: String,
        /// What was being done ("writing", "renaming into place"...).
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UpdateError {
    /// Whether the same request may succeed if tried again shortly: network failures,
    /// timeouts, truncated bodies, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpdateError::Http { .. } | UpdateError::Timeout { .. } => true,
            UpdateError::Truncated { .. } => true,
            UpdateError::Status { status, .. } => {
                matches!(status, 408 | 429) || (500..600).contains(status)
            }
            _ => false,
        }
    }

    /// The feed the error is about, when there is one.
    pub fn feed(&self) -> Option<&str> {
        match self {
            UpdateError::BadName { .. } | UpdateError::Client(_) => None,
            UpdateError::BadUrl { feed, .. }
            | UpdateError::Http { feed, .. }
            | UpdateError::Timeout { feed, .. }
            | UpdateError::Status { feed, .. }
            | UpdateError::Truncated { feed, .. }
            | UpdateError::TooLarge { feed, .. }
            | UpdateError::Protocol { feed, .. }
            | UpdateError::Invalid { feed, .. }
            | UpdateError::BadInstallSource { feed, .. }
            | UpdateError::Busy { feed, .. }
            | UpdateError::State { feed, .. }
            | UpdateError::Io { feed, .. } => Some(feed),
        }
    }

    /// The message with its whole cause chain, as stored in `FeedState::last_error`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        let mut depth = 0;
        while let Some(e) = cur {
            let s = e.to_string();
            // reqwest and hyper repeat their cause in their own message sometimes.
            if !out.ends_with(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
            depth += 1;
            if depth >= 8 {
                break;
            }
        }
        // Bounded: the state file must stay small whatever a server or OS said.
        if out.len() > 2000 {
            let mut cut = 2000;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }
}
