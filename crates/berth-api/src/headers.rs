//! Request/response plumbing shared by all endpoints: the API version header, request
//! logging, and parsers for the headers the distribution spec gives meaning to.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use berth_registry::ByteRange;

pub const API_VERSION: &str = "Docker-Distribution-API-Version";

/// Adds the API version header to every response and logs the request.
pub async fn common_headers(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    tracing::debug!(%method, %path, status = resp.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    resp
}

pub fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the request carries a body (a non-zero length, or chunked transfer coding).
pub fn has_body(h: &HeaderMap) -> bool {
    match content_length(h) {
        Some(n) => n > 0,
        None => h.contains_key(header::TRANSFER_ENCODING),
    }
}

/// `Content-Range: <start>-<end>` on a PATCH (the spec's form; `bytes ` prefixes and a
/// `/total` suffix are tolerated). `Err` when present but malformed.
pub fn upload_content_range(h: &HeaderMap) -> Result<Option<(u64, u64)>, String> {
    let Some(v) = h.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| "Content-Range is not ASCII".to_string())?
        .trim();
    let s = s
        .strip_prefix("bytes")
        .map(|r| r.trim_start_matches([' ', '=']))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("Content-Range {s:?} is not <start>-<end>"))?;
    let start: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("Content-Range start {a:?} is not a number"))?;
    let end: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("Content-Range end {b:?} is not a number"))?;
    if end < start {
        return Err(format!("Content-Range end {end} is before start {start}"));
    }
    Ok(Some((start, end)))
}

/// A single `Range: bytes=...` request. Anything else (absent, several ranges, another unit,
/// garbage) is `None`: RFC 9110 lets a server ignore a Range it does not support.
pub fn blob_range(h: &HeaderMap) -> Option<ByteRange> {
    let s = h.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = s.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return Some(ByteRange::Suffix(b.parse().ok()?));
    }
    let start = a.parse().ok()?;
    let end = if b.is_empty() {
        None
    } else {
        Some(b.parse().ok()?)
    };
    Some(ByteRange::From { start, end })
}

/// Media types from `Accept` headers (several headers and comma lists), without parameters.
pub fn accept_list(h: &HeaderMap) -> Vec<String> {
    h.get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The `Range` header value of an upload with `offset` bytes received.
pub fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}
