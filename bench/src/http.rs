//! A minimal HTTP/1.1 client on hyper's connection-level API.
//!
//! Each load-generating task owns one keep-alive connection ([`Conn`]) instead of going through
//! a shared pool: no pool lock, no connection churn, and "concurrency N" means exactly N
//! connections with one request in flight each, which is what the targets are defined on.
//! Request bodies are either small buffers or [`BlobStream`]s handed to hyper frame by frame.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::data::BlobStream;

/// A request body: nothing, a buffer, or a generated blob range.
pub enum ReqBody {
    Empty,
    Full(Bytes),
    Gen(BlobStream),
}

impl ReqBody {
    fn len(&self) -> u64 {
        match self {
            ReqBody::Empty => 0,
            ReqBody::Full(b) => b.len() as u64,
            ReqBody::Gen(s) => s.remaining(),
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            ReqBody::Empty => None,
            ReqBody::Full(b) if b.is_empty() => None,
            ReqBody::Full(b) => Some(std::mem::take(b)),
            ReqBody::Gen(s) => s.next_frame(),
        };
        Poll::Ready(frame.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

/// A response whose body has been read: either kept (small) or only counted (blobs).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub body_len: u64,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Fails with the request line, the status and the start of the body unless the status
    /// is `want`: that text is what the final report quotes when a registry misbehaves.
    pub fn expect(self, what: &str, want: StatusCode) -> Result<Reply> {
        if self.status == want {
            return Ok(self);
        }
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(400)]).into_owned();
        bail!(
            "{what}: expected {want}, got {} (body: {:?})",
            self.status,
            body
        )
    }
}

/// One keep-alive HTTP/1.1 connection to a server, reopened when the server closes it.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<ReqBody>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        let host =
            HeaderValue::from_str(&addr.to_string()).expect("socket address is a valid header");
        Conn {
            addr,
            host,
            sender: None,
        }
    }

    async fn ready(&mut self) -> Result<&mut SendRequest<ReqBody>> {
        if let Some(s) = self.sender.as_mut()
            && s.ready().await.is_ok()
        {
            return Ok(self.sender.as_mut().expect("checked above"));
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        // Small requests must not wait for Nagle: latency targets are in milliseconds.
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(self.sender.insert(sender))
    }

    /// Sends a request to `path_and_query` (origin form) and returns the response head with
    /// the body unread; the caller must drain it before the next request on this connection.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(header::HeaderName, &str)],
        body: ReqBody,
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path_and_query);
        let h = req.headers_mut().expect("builder has no error yet");
        h.insert(header::HOST, self.host.clone());
        if method != Method::GET && method != Method::HEAD {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        for (k, v) in headers {
            h.insert(k, HeaderValue::from_str(v)?);
        }
        if !h.contains_key(header::AUTHORIZATION)
            && let Some(bearer) = token_for(self.addr, path_and_query).await?
        {
            h.insert(header::AUTHORIZATION, bearer);
        }
        let req = req.body(body)?;
        let sender = self.ready().await?;
        match sender.send_request(req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.sender = None;
                Err(anyhow!(e).context(format!("{method} {path_and_query}: no response")))
            }
        }
    }

    /// Sends a request and reads the whole response body into memory (small responses).
    pub async fn call(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(header::HeaderName, &str)],
        body: ReqBody,
    ) -> Result<Reply> {
        let what = format!("{method} {path_and_query}");
        let resp = self.send(method, path_and_query, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .with_context(|| format!("{what}: reading response body"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body_len: body.len() as u64,
            body,
        })
    }

    /// Sends a request and counts the response body without keeping it (blob downloads).
    pub async fn call_discard(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Reply> {
        let what = format!("{method} {path_and_query}");
        let resp = self
            .send(method, path_and_query, headers, ReqBody::Empty)
            .await?;
        let (parts, mut body) = resp.into_parts();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.with_context(|| format!("{what}: reading response body after {n} bytes"))?;
            if let Some(d) = frame.data_ref() {
                n += d.len() as u64;
            }
        }
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: Bytes::new(),
            body_len: n,
        })
    }
}

/// Turns a `Location` header (absolute or relative) into an origin-form path and query.
pub fn location_path(loc: &str) -> String {
    if let Some(rest) = loc
        .strip_prefix("http://")
        .or_else(|| loc.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => rest[i..].to_owned(),
            None => "/".to_owned(),
        }
    } else {
        loc.to_owned()
    }
}

/// Appends a query parameter to a path that may already carry a query.
pub fn with_param(path: &str, kv: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{kv}")
}

// ---------------------------------------------------------------------------------------------
// Registry tokens, as a client gets them
// ---------------------------------------------------------------------------------------------

/// Servers that want registry tokens (berth), with the `Authorization: Basic` value that
/// gets them. Distribution runs without authentication and is not listed.
static CREDENTIALS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

/// Tokens by (server, scope), with when they were fetched. One fetch per repository per run,
/// as a client that keeps its token does; the measured requests carry it like docker's do.
/// The header value is built once per token: a client sends the same bytes every time.
type Tokens = std::collections::HashMap<(SocketAddr, String), (HeaderValue, std::time::Instant)>;
static TOKENS: std::sync::LazyLock<std::sync::Mutex<Tokens>> =
    std::sync::LazyLock::new(Default::default);

/// Tokens live 5 minutes on berth; refetch well before.
const TOKEN_REUSE: std::time::Duration = std::time::Duration::from_secs(120);

pub fn register_credentials(addr: SocketAddr, user: &str, password: &str) {
    let basic = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
    CREDENTIALS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((addr, basic));
}

pub fn basic_for(addr: SocketAddr) -> Option<String> {
    CREDENTIALS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, b)| b.clone())
}

/// The scope a client asks for before a request to `path`: pull, push and delete on the
/// repository it names, or the catalog.
fn scope_for(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let Some(rest) = path.strip_prefix("/v2/") else {
        return String::new();
    };
    if rest.starts_with("_catalog") {
        return "registry:catalog:*".into();
    }
    let cut = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|k| rest.rfind(k))
        .max();
    match cut {
        Some(i) => format!("repository:{}:pull,push,delete", &rest[..i]),
        None => String::new(),
    }
}

/// The `Authorization: Bearer` value for `path` on `addr`, or `None` when that server needs
/// none.
pub async fn token_for(addr: SocketAddr, path: &str) -> Result<Option<HeaderValue>> {
    if path.starts_with("/v2/auth") {
        return Ok(None);
    }
    let Some(basic) = basic_for(addr) else {
        return Ok(None);
    };
    let scope = scope_for(path);
    let key = (addr, scope.clone());
    if let Some((t, at)) = TOKENS.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
        && at.elapsed() < TOKEN_REUSE
    {
        return Ok(Some(t.clone()));
    }
    let token = fetch_token(addr, &basic, &scope).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    TOKENS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, (bearer.clone(), std::time::Instant::now()));
    Ok(Some(bearer))
}

/// `GET /v2/auth` on a connection of its own.
pub async fn fetch_token(addr: SocketAddr, basic: &str, scope: &str) -> Result<String> {
    let mut path = "/v2/auth?service=berth".to_owned();
    if !scope.is_empty() {
        path.push_str(&format!("&scope={scope}"));
    }
    let mut conn = Conn::new(addr);
    let r = Box::pin(conn.call(
        Method::GET,
        &path,
        &[(header::AUTHORIZATION, basic)],
        ReqBody::Empty,
    ))
    .await?
    .expect(&format!("GET {path}"), StatusCode::OK)?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("GET {path}: no token in the answer"))
}

/// Standard base64 with padding (for Basic credentials).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
