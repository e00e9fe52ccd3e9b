//! Downloading one feed: conditional GET, bounded streaming, retries, validate, commit.
//!
//! The order of operations is the point: nothing the server sends reaches `data` until the
//! whole body has arrived (as many bytes as `Content-Length` promised, or a cleanly ended
//! chunked stream), is within `max_size`, differs from the stored copy, and the caller's
//! validator has accepted it. Failures that may pass (network, timeouts, truncated bodies,
//! 408, 429, 5xx) are retried a bounded number of times with jittered exponential backoff,
//! honouring `Retry-After` up to [`MAX_RETRY_AFTER`]; the rest fail at once, because
//! retrying a 404 or an oversized body only hammers the server.

use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use reqwest::header::{
    ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use sha2::{Digest as _, Sha256};

use crate::redact::redact_url;
use crate::store::{FeedLock, TempPath, bounded_reason, hex};
use crate::{FeedDir, FeedSpec, FeedState, Options, Outcome, UpdateError, valid_name};

/// Upper bound on [`Options::retries`]: past this, a feed is down, not flaky.
pub const MAX_RETRIES: u32 = 10;
/// Longest delay between two attempts, whatever the backoff has grown to.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Longest `Retry-After` honoured; a server asking for more gets this, then the next
/// scheduled run.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
const MAX_REDIRECTS: usize = 10;
/// Validators longer than this are not echoed back (no real server sends them).
const MAX_VALIDATOR_LEN: usize = 1024;
const MAX_POINTER_BYTES: u64 = 4096;
const READ_BUF: usize = 256 * 1024;

/// Downloads feeds; one per process is enough (it holds a connection pool).
#[derive(Debug)]
pub struct Fetcher {
    client: Client,
    opts: Options,
}

/// What one HTTP attempt produced.
enum Got {
    NotModified {
        etag: Option<String>,
        last_modified: Option<String>,
    },
    Body {
        tmp: TempPath,
        file: std::fs::File,
        size: u64,
        sha256: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Where errors about a request point: the feed and its URL as it may be shown.
struct Target<'a> {
    feed: &'a str,
    shown: &'a str,
}

impl Fetcher {
    /// Builds the HTTP client. Redirects are followed (GitHub archives live on
    /// codeload.github.com) up to ten, never from https down to plain http.
    pub fn new(opts: Options) -> Result<Fetcher, UpdateError> {
        let mut opts = opts;
        opts.retries = opts.retries.min(MAX_RETRIES);
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt
                .previous()
                .last()
                .is_some_and(|prev| prev.scheme() == "https")
                && attempt.url().scheme() != "https";
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if downgrade {
                attempt.error("refusing a redirect from https to plain http")
            } else {
                attempt.follow()
            }
        });
        let client = Client::builder()
            .user_agent(opts.user_agent.clone())
            .connect_timeout(opts.connect_timeout)
            // The blocking client applies this to waiting for the headers and to each read
            // of the body: an idle timeout, which is what a multi-GB download needs.
            .timeout(opts.timeout)
            .redirect(policy)
            .build()
            .map_err(UpdateError::Client)?;
        Ok(Fetcher { client, opts })
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Conditional GET (If-None-Match / If-Modified-Since from the stored state, only when a
    /// stored copy exists); streams to a temp file in the feed folder (bounded by max_size,
    /// streaming sha256), then calls `validate(temp_path)`; only when it returns Ok is the
    /// temp file fsynced and atomically renamed over `data` and the state updated. On any
    /// failure the previous `data` stays untouched and state.last_error/last_error_at/attempts
    /// are recorded (and returned as Err). 304 → Unchanged (fetched_at updated). Same sha256
    /// as before → Unchanged.
    ///
    /// Retries with exponential backoff on connection errors, timeouts, truncated bodies
    /// (fewer bytes than Content-Length, or a broken chunked stream), 429 and 5xx (honour
    /// Retry-After up to a cap); no retry on 4xx other than 408/429. A feed another process
    /// is updating fails at once with [`UpdateError::Busy`], recording nothing.
    pub fn update(
        &self,
        dir: &FeedDir,
        spec: &FeedSpec,
        validate: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<Outcome, UpdateError> {
        if !valid_name(&spec.name) {
            return Err(UpdateError::BadName {
                name: spec.name.chars().take(120).collect(),
            });
        }
        let feed = dir.lock(&spec.name)?;
        let mut state = feed.load_state();
        let shown = redact_url(&spec.url);
        if state.url != shown {
            // Validators describe what the old URL served.
            state.etag = None;
            state.last_modified = None;
            state.url = shown.clone();
        }
        let target = Target {
            feed: &spec.name,
            shown: &shown,
        };
        let result = self.fetch(&feed, &target, &spec.url, &state, validate);
        let result = result.map(|(outcome, etag, last_modified)| {
            state.etag = etag;
            state.last_modified = last_modified;
            match &outcome {
                Outcome::Updated { size, sha256 } => {
                    tracing::info!(feed = %spec.name, url = %shown, size, sha256, "feed updated");
                }
                Outcome::Unchanged => tracing::debug!(feed = %spec.name, "feed unchanged"),
            }
            outcome
        });
        if let Err(e) = &result {
            tracing::warn!(feed = %spec.name, error = %e.chain(), "feed update failed");
        }
        feed.finish(&mut state, result, now_unix())
    }

    /// Turns a pointer feed (a small text file naming the current archive, like Red Hat's
    /// `archive_latest.txt`) into a spec for that archive: same name, interval and switch,
    /// the URL resolved against the pointer's. The name must be a plain file name, so a
    /// compromised pointer cannot send the download elsewhere.
    pub fn resolve_pointer(&self, spec: &FeedSpec) -> Result<FeedSpec, UpdateError> {
        let shown = redact_url(&spec.url);
        let target = Target {
            feed: &spec.name,
            shown: &shown,
        };
        let url = parse_url(&target, &spec.url)?;
        let protocol = |reason: String| UpdateError::Protocol {
            feed: spec.name.clone(),
            url: shown.clone(),
            reason,
        };
        let body = self.with_retries(&target, || {
            let resp = self
                .client
                .get(url.clone())
                .send()
                .map_err(|e| send_error(&target, e))?;
            if resp.status() != StatusCode::OK {
                return Err(status_error(&target, resp));
            }
            let mut body = Vec::new();
            resp.take(MAX_POINTER_BYTES)
                .read_to_end(&mut body)
                .map_err(|e| read_error(&target, e, 0, None))?;
            Ok(body)
        })?;
        let text = String::from_utf8_lossy(&body);
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let plain = !line.is_empty()
            && line.len() <= 200
            && !line.starts_with('.')
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain {
            return Err(protocol(format!(
                "the pointer does not name a plain file: {:?}",
                line.chars().take(80).collect::<String>()
            )));
        }
        let resolved = url
            .join(line)
            .map_err(|e| protocol(format!("cannot resolve {line:?}: {e}")))?;
        Ok(FeedSpec {
            url: resolved.to_string(),
            ..spec.clone()
        })
    }

    /// Runs the attempts for one update and settles the result; returns the outcome and the
    /// validators to store.
    fn fetch(
        &self,
        feed: &FeedLock,
        target: &Target<'_>,
        raw_url: &str,
        state: &FeedState,
        validate: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<(Outcome, Option<String>, Option<String>), UpdateError> {
        let url = parse_url(target, raw_url)?;
        let have_data = feed.has_data();
        let got = self.with_retries(target, || {
            self.attempt(feed, target, &url, state, have_data)
        })?;
        match got {
            Got::NotModified {
                etag,
                last_modified,
            } => Ok((
                Outcome::Unchanged,
                etag.or_else(|| state.etag.clone()),
                last_modified.or_else(|| state.last_modified.clone()),
            )),
            Got::Body {
                tmp,
                file,
                size,
                sha256,
                etag,
                last_modified,
            } => {
                if have_data && state.sha256.as_deref() == Some(sha256.as_str()) {
                    return Ok((Outcome::Unchanged, etag, last_modified));
                }
                validate(tmp.path()).map_err(|reason| UpdateError::Invalid {
                    feed: target.feed.to_owned(),
                    source_desc: target.shown.to_owned(),
                    reason: bounded_reason(reason),
                })?;
                file.sync_all()
                    .map_err(|e| feed.io_err("syncing", tmp.path(), e))?;
                drop(file);
                feed.commit(tmp)?;
                Ok((Outcome::Updated { size, sha256 }, etag, last_modified))
            }
        }
    }

    fn with_retries<T>(
        &self,
        target: &Target<'_>,
        mut op: impl FnMut() -> Result<T, UpdateError>,
    ) -> Result<T, UpdateError> {
        let mut attempt = 0u32;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt < self.opts.retries => {
                    let delay = self.delay(attempt, &e);
                    tracing::warn!(
                        feed = target.feed,
                        attempt = attempt + 1,
                        delay = ?delay,
                        error = %e.chain(),
                        "retrying"
                    );
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Backoff before retry number `attempt + 1`: `backoff * 2^attempt`, capped, with "equal
    /// jitter" (half fixed, half random) so many berth instances do not retry in step; at
    /// least what `Retry-After` asked, up to its own cap.
    fn delay(&self, attempt: u32, err: &UpdateError) -> Duration {
        let base = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.min(20))
            .min(MAX_BACKOFF);
        let random = std::collections::hash_map::RandomState::new().hash_one(attempt) % 1001;
        let jitter = (base / 2).mul_f64(random as f64 / 1000.0);
        let delay = base / 2 + jitter;
        match err {
            UpdateError::Status {
                retry_after: Some(ra),
                ..
            } => delay.max((*ra).min(MAX_RETRY_AFTER)),
            _ => delay,
        }
    }

    fn attempt(
        &self,
        feed: &FeedLock,
        target: &Target<'_>,
        url: &Url,
        state: &FeedState,
        have_data: bool,
    ) -> Result<Got, UpdateError> {
        let mut req = self.client.get(url.clone());
        // Without a stored copy a 304 would leave us with nothing: ask unconditionally.
        if have_data {
            if let Some(v) = state.etag.as_deref().and_then(header_value) {
                req = req.header(IF_NONE_MATCH, v);
            }
            if let Some(v) = state.last_modified.as_deref().and_then(header_value) {
                req = req.header(IF_MODIFIED_SINCE, v);
            }
        }
        let mut resp = req.send().map_err(|e| send_error(target, e))?;
        let etag = validator(resp.headers(), ETAG);
        let last_modified = validator(resp.headers(), LAST_MODIFIED);
        match resp.status() {
            StatusCode::NOT_MODIFIED if have_data => {
                return Ok(Got::NotModified {
                    etag,
                    last_modified,
                });
            }
            StatusCode::NOT_MODIFIED => {
                return Err(UpdateError::Protocol {
                    feed: target.feed.to_owned(),
                    url: target.shown.to_owned(),
                    reason: "answered 304 Not Modified to an unconditional request".to_owned(),
                });
            }
            StatusCode::OK => {}
            _ => return Err(status_error(target, resp)),
        }
        let limit = self.opts.max_size;
        let too_large = || UpdateError::TooLarge {
            feed: target.feed.to_owned(),
            url: target.shown.to_owned(),
            limit,
        };
        let expected = resp.content_length();
        if expected.is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let (tmp, mut file) = feed.temp_file()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; READ_BUF];
        let mut size = 0u64;
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(target, e, size, expected)),
            };
            size += n as u64;
            if size > limit {
                return Err(too_large());
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| feed.io_err("writing", tmp.path(), e))?;
        }
        if expected.is_some_and(|len| size < len) {
            return Err(UpdateError::Truncated {
                feed: target.feed.to_owned(),
                url: target.shown.to_owned(),
                received: size,
                expected,
                source: None,
            });
        }
        Ok(Got::Body {
            tmp,
            file,
            size,
            sha256: hex(&hasher.finalize()),
            etag,
            last_modified,
        })
    }
}

fn parse_url(target: &Target<'_>, raw: &str) -> Result<Url, UpdateError> {
    let bad = |reason: String| UpdateError::BadUrl {
        feed: target.feed.to_owned(),
        url: target.shown.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(bad(format!("scheme {other:?} is not http or https"))),
    }
}

fn send_error(target: &Target<'_>, e: reqwest::Error) -> UpdateError {
    let feed = target.feed.to_owned();
    let url = target.shown.to_owned();
    if e.is_redirect() {
        return UpdateError::Protocol {
            feed,
            url,
            reason: e.without_url().to_string(),
        };
    }
    if e.is_timeout() {
        return UpdateError::Timeout {
            feed,
            url,
            phase: "waiting for",
            source: Box::new(e.without_url()),
        };
    }
    UpdateError::Http {
        feed,
        url,
        source: e.without_url(),
    }
}

fn read_error(
    target: &Target<'_>,
    e: io::Error,
    received: u64,
    expected: Option<u64>,
) -> UpdateError {
    if is_timeout(&e) {
        return UpdateError::Timeout {
            feed: target.feed.to_owned(),
            url: target.shown.to_owned(),
            phase: "reading from",
            source: Box::new(e),
        };
    }
    UpdateError::Truncated {
        feed: target.feed.to_owned(),
        url: target.shown.to_owned(),
        received,
        expected,
        source: Some(e),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::TimedOut {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(err) = cur {
        if let Some(re) = err.downcast_ref::<reqwest::Error>()
            && re.is_timeout()
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A non-200 answer as an error, with a short printable excerpt of its body (GCS and
/// GitHub explain themselves there) and its `Retry-After`.
fn status_error(target: &Target<'_>, resp: Response) -> UpdateError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut excerpt = Vec::new();
    // Best effort: a body that fails to arrive just means no excerpt.
    let _ = resp.take(512).read_to_end(&mut excerpt);
    let text: String = String::from_utf8_lossy(&excerpt)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let text: String = text.chars().take(200).collect();
    let mut detail = status
        .canonical_reason()
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    if !text.is_empty() {
        detail.push_str(": ");
        detail.push_str(&text);
    }
    UpdateError::Status {
        feed: target.feed.to_owned(),
        url: target.shown.to_owned(),
        status: status.as_u16(),
        detail,
        retry_after,
    }
}

/// `Retry-After` is either seconds or an HTTP-date (RFC 9110 §10.2.3).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn validator(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    (!v.is_empty() && v.len() <= MAX_VALIDATOR_LEN).then(|| v.to_owned())
}

fn header_value(v: &str) -> Option<HeaderValue> {
    if v.len() > MAX_VALIDATOR_LEN {
        return None;
    }
    HeaderValue::from_str(v).ok()
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let f = Fetcher::new(Options {
            backoff: Duration::from_secs(1),
            ..Options::default()
        })
        .unwrap();
        let err = UpdateError::Truncated {
            feed: "x".into(),
            url: "u".into(),
            received: 0,
            expected: None,
            source: None,
        };
        for attempt in 0..6 {
            let d = f.delay(attempt, &err);
            let base = Duration::from_secs(1 << attempt);
            assert!(d >= base / 2 && d <= base, "{attempt}: {d:?}");
        }
        assert!(f.delay(30, &err) <= MAX_BACKOFF);
        let throttled = UpdateError::Status {
            feed: "x".into(),
            url: "u".into(),
            status: 429,
            detail: String::new(),
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(f.delay(0, &throttled), MAX_RETRY_AFTER);
    }
}
