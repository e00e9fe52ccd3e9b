//! Helpers shared by the HTTP integration tests (`distribution_api.rs`, `crash.rs`).
//!
//! Tests talk to a registry over plain HTTP. By default each test starts its own `berth serve`
//! through [`berth_testkit::BerthServer`]; with `BERTH_TEST_REGISTRY=127.0.0.1:PORT` the tests
//! that do not need to restart or configure the server target that already running registry
//! instead (useful to compare berth with a peer registry). Every test works in repositories
//! with a random suffix, so they can share one registry.
#![allow(dead_code)]

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use berth_testkit::BerthServer;
use rand::{Rng, RngCore};
use reqwest::Method;
use reqwest::blocking::{Body, Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// ---------------------------------------------------------------------------------------------
// The registry under test
// ---------------------------------------------------------------------------------------------

/// A registry to talk to: berth started by this test, or an external one.
pub struct Registry {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub server: Option<BerthServer>,
    pub client: Client,
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(32)
        .build()
        .expect("http client")
}

fn external() -> Option<String> {
    std::env::var("BERTH_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
}

impl Registry {
    /// The registry for a test that needs nothing special: external if configured, else a
    /// fresh berth.
    pub fn start() -> Registry {
        match external() {
            Some(addr) => Registry {
                base: format!("http://{addr}"),
                server: None,
                client: client(),
            },
            None => Self::owned(&[]),
        }
    }

    /// A berth of our own (for restarts or configuration); `None`, with a loud note, when the
    /// tests target an external registry.
    pub fn own(env: &[(&str, &str)]) -> Option<Registry> {
        if let Some(addr) = external() {
            eprintln!(
                "\n*** SKIPPED against external registry {addr}: this test needs its own berth ***\n"
            );
            return None;
        }
        Some(Self::owned(env))
    }

    fn owned(env: &[(&str, &str)]) -> Registry {
        let mut b = BerthServer::builder(env!("CARGO_BIN_EXE_berth"));
        for (k, v) in env {
            b = b.env(*k, *v);
        }
        let server = b.start();
        Registry {
            base: server.url(),
            server: Some(server),
            client: client(),
        }
    }

    /// True when the tests target an external registry: assertions on berth's own
    /// implementation choices (exact Location forms and the like) are relaxed to the spec.
    pub fn external(&self) -> bool {
        self.server.is_none()
    }

    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn server(&mut self) -> &mut BerthServer {
        self.server.as_mut().expect("own berth server")
    }

    /// `path` may be a path (`/v2/...`) or an absolute URL (as some Location headers are).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn try_send(&self, rb: RequestBuilder) -> Result<Resp, reqwest::Error> {
        let mut req = rb.build()?;
        if !req.headers().contains_key("authorization")
            && let Some(token) = bearer_for(
                self.addr(),
                &format!("{}?{}", req.url().path(), req.url().query().unwrap_or("")),
            )
        {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header"),
            );
        }
        let what = format!(
            "{} {}",
            req.method(),
            req.url().as_str().trim_start_matches(&self.base)
        );
        let resp = self.client.execute(req)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes()?.to_vec();
        Ok(Resp {
            what,
            status,
            headers,
            body,
        })
    }

    pub fn send(&self, rb: RequestBuilder) -> Resp {
        self.try_send(rb)
            .unwrap_or_else(|e| panic!("request failed: {e:?}"))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path))
    }

    pub fn head(&self, path: &str) -> Resp {
        self.send(self.req(Method::HEAD, path))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path))
    }

    pub fn get_accept(&self, path: &str, accept: &str) -> Resp {
        self.send(self.req(Method::GET, path).header("Accept", accept))
    }

    /// Raw HTTP/1.1 for requests reqwest would refuse or normalise. Returns `None` when the
    /// server closed the connection without an answer.
    pub fn raw(&self, request: &[u8]) -> Option<Resp> {
        raw_http(self.addr(), request, false)
    }
}

/// A unique repository name: `prefix-xxxxxxxx`.
pub fn unique_repo(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::rng().random::<u32>())
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A fully read response, printable for assertion messages.
pub struct Resp {
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.what, self.status)?;
        for (k, v) in &self.headers {
            write!(f, "\n  {k}: {}", v.to_str().unwrap_or("<binary>"))?;
        }
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned();
        write!(f, "\n  body ({} bytes): {text}", self.body.len())
    }
}

impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header that must be present.
    pub fn hdr(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("missing header {name}:\n{self}"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}):\n{self}"))
    }

    /// Asserts the status and passes the response on.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        self
    }

    /// Asserts an error response in the spec's format: one of `statuses`, a JSON body
    /// `{"errors":[{"code","message",...}]}` with Content-Type application/json, and one of the
    /// errors carrying one of `codes`. HEAD responses have no body, so only the status counts.
    #[track_caller]
    pub fn expect_error(self, statuses: &[u16], codes: &[&str]) -> Self {
        assert!(
            statuses.contains(&self.status),
            "expected status in {statuses:?}:\n{self}"
        );
        if self.what.starts_with("HEAD ") {
            assert!(self.body.is_empty(), "HEAD response with a body:\n{self}");
            return self;
        }
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.starts_with("application/json"),
            "error Content-Type is not application/json:\n{self}"
        );
        let v = self.json();
        let errors = v["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors array:\n{self}"));
        assert!(!errors.is_empty(), "empty errors array:\n{self}");
        for e in errors {
            let code = e["code"]
                .as_str()
                .unwrap_or_else(|| panic!("error without a string code:\n{self}"));
            assert!(
                !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "error code {code:?} is not uppercase letters and underscores:\n{self}"
            );
            assert!(
                e.get("message").is_none_or(Value::is_string),
                "message is not a string:\n{self}"
            );
        }
        assert!(
            errors
                .iter()
                .any(|e| codes.contains(&e["code"].as_str().unwrap_or(""))),
            "expected an error code in {codes:?}:\n{self}"
        );
        self
    }

    /// The path part of the Location header (absolute URLs reduced to their path and query).
    pub fn location(&self) -> String {
        let loc = self.hdr("location");
        match loc
            .strip_prefix("http://")
            .or_else(|| loc.strip_prefix("https://"))
        {
            Some(rest) => rest
                .find('/')
                .map(|i| rest[i..].to_owned())
                .unwrap_or_else(|| "/".into()),
            None => loc.to_owned(),
        }
    }
}

/// Sends raw bytes over a fresh connection and reads the answer. The request is written from
/// another thread while the answer is read, so an early answer (a 413 before the body was
/// read) is seen as curl or Go would see it. `half_close` shuts the write side after sending
/// (for bodies that end early). `None`: closed without an answer.
pub fn raw_http(addr: &str, request: &[u8], half_close: bool) -> Option<Resp> {
    let request = &with_token(addr, request);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().expect("clone socket");
    let req = request.to_vec();
    std::thread::spawn(move || {
        if w.write_all(&req).is_ok() && half_close {
            let _ = w.shutdown(std::net::Shutdown::Write);
        }
    });
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_raw_response(
        &String::from_utf8_lossy(&request[..request.len().min(200)]),
        &buf,
    )
}

fn parse_raw_response(request: &str, buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                v.trim().parse(),
            )
        {
            headers.append(k, v);
        }
    }
    let mut body = buf[end + 4..].to_vec();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    let what = request
        .lines()
        .next()
        .unwrap_or("")
        .rsplit_once(' ')
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default();
    Some(Resp {
        what,
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Tokens: the harness acts as the superuser
// ---------------------------------------------------------------------------------------------

/// Registry tokens by (registry address, scope), with when they were fetched.
type TokenCache = std::collections::HashMap<(String, String), (String, std::time::Instant)>;
static TOKENS: std::sync::LazyLock<std::sync::Mutex<TokenCache>> =
    std::sync::LazyLock::new(Default::default);

/// The scope a client would ask for before this request: every action on the repository the
/// path names (the superuser gets them all), the catalog, or nothing in particular.
fn scope_for(path_and_query: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    // A cross-repository mount also needs pull on the source, as docker asks for.
    let from = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("from="))
        .map(|f| format!(" repository:{f}:pull"))
        .unwrap_or_default();
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
        Some(i) => format!("repository:{}:pull,push,delete{from}", &rest[..i]),
        None => String::new(),
    }
}

fn fetch_token(addr: &str, scope: &str) -> Option<String> {
    let mut url = format!("http://{addr}/v2/auth?service=berth");
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        url.push_str(&format!("&scope={s}"));
    }
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .basic_auth(
            berth_testkit::ADMIN_USER,
            Some(berth_testkit::ADMIN_PASSWORD),
        )
        .send()
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: Value = resp.json().ok()?;
    v["token"].as_str().map(str::to_owned)
}

/// A token for a request to `path` on the berth at `addr`; `None` against an external
/// registry (which needs none). A path whose name does not parse gets a token without a
/// scope, so the request reaches the handler that rejects the name.
pub fn bearer_for(addr: &str, path: &str) -> Option<String> {
    if external().is_some() {
        return None;
    }
    let scope = scope_for(path);
    let key = (addr.to_owned(), scope.clone());
    if let Some((t, at)) = TOKENS.lock().unwrap().get(&key)
        && at.elapsed() < Duration::from_secs(120)
    {
        return Some(t.clone());
    }
    let main_scope = scope.split(' ').next().unwrap_or("");
    let token = fetch_token(addr, &scope)
        .or_else(|| fetch_token(addr, main_scope))
        .or_else(|| fetch_token(addr, ""))?;
    TOKENS
        .lock()
        .unwrap()
        .insert(key, (token.clone(), std::time::Instant::now()));
    Some(token)
}

/// `request` with an `Authorization` header after its request line, unless it has one.
fn with_token(addr: &str, request: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(&request[..request.len().min(8192)]);
    if text.to_ascii_lowercase().contains("\r\nauthorization:") {
        return request.to_vec();
    }
    let Some(line_end) = request.windows(2).position(|w| w == b"\r\n") else {
        return request.to_vec();
    };
    let path = text.split(' ').nth(1).unwrap_or("/");
    let Some(token) = bearer_for(addr, path) else {
        return request.to_vec();
    };
    let mut out = request[..line_end + 2].to_vec();
    out.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
    out.extend_from_slice(&request[line_end + 2..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------------

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

/// The digest of `data` in the algorithm `digest` names.
pub fn digest_like(digest: &str, data: &[u8]) -> String {
    if digest.starts_with("sha512") {
        sha512(data)
    } else {
        sha256(data)
    }
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// A content descriptor for `data`.
pub fn descriptor(media_type: &str, data: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(data), "size": data.len() })
}

/// `{}`: the OCI empty descriptor's content.
pub const EMPTY_JSON: &[u8] = b"{}";

pub fn empty_descriptor() -> Value {
    descriptor(OCI_EMPTY, EMPTY_JSON)
}

/// A manifest ready to push: the blobs it references and its exact bytes.
#[derive(Clone)]
pub struct Image {
    pub media_type: String,
    /// Blobs referenced (config first, then layers).
    pub blobs: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Image {
    /// A manifest pushed as-is, with no blobs of its own to check.
    pub fn raw(media_type: &str, manifest: Vec<u8>) -> Image {
        Image {
            media_type: media_type.into(),
            blobs: vec![],
            digest: sha256(&manifest),
            manifest,
        }
    }

    /// An image manifest (`OCI_MANIFEST` or `DOCKER_MANIFEST`) over the given config and layer
    /// blobs; `extra` fields (artifactType, subject, annotations) are merged in.
    pub fn build(
        media_type: &str,
        config: (&str, Vec<u8>),
        layers: Vec<(&str, Vec<u8>)>,
        extra: Value,
    ) -> Image {
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(config.0, &config.1),
            "layers": layers.iter().map(|(t, d)| descriptor(t, d)).collect::<Vec<_>>(),
        });
        if let Value::Object(extra) = extra {
            m.as_object_mut().unwrap().extend(extra);
        }
        let manifest = serde_json::to_vec_pretty(&m).unwrap();
        let mut blobs = vec![config.1];
        blobs.extend(layers.into_iter().map(|(_, d)| d));
        Image {
            media_type: media_type.into(),
            digest: sha256(&manifest),
            blobs,
            manifest,
        }
    }

    /// A random OCI image with layers of the given sizes.
    pub fn random(layer_sizes: &[usize]) -> Image {
        Self::random_typed(OCI_MANIFEST, layer_sizes)
    }

    /// A random image of `media_type` (OCI or Docker schema 2).
    pub fn random_typed(media_type: &str, layer_sizes: &[usize]) -> Image {
        let (ct, lt) = if media_type == DOCKER_MANIFEST {
            (DOCKER_CONFIG, DOCKER_LAYER)
        } else {
            (OCI_CONFIG, OCI_LAYER)
        };
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": [] },
            "config": { "Env": [format!("NONCE={:016x}", rand::rng().random::<u64>())] },
        });
        let layers = layer_sizes.iter().map(|&n| (lt, random_bytes(n))).collect();
        Self::build(
            media_type,
            (ct, serde_json::to_vec(&config).unwrap()),
            layers,
            json!({}),
        )
    }

    /// An OCI image with one uncompressed tar layer holding `files` (path, contents): a real
    /// filesystem the indexer can read.
    pub fn with_files(files: &[(&str, &[u8])]) -> Image {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, path, *data).expect("tar entry");
        }
        let layer = tar.into_inner().expect("tar");
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": [sha256(&layer)] },
        });
        Self::build(
            OCI_MANIFEST,
            (OCI_CONFIG, serde_json::to_vec(&config).unwrap()),
            vec![("application/vnd.oci.image.layer.v1.tar", layer)],
            json!({}),
        )
    }

    /// An index (`OCI_INDEX` or `DOCKER_LIST`) over child manifests.
    pub fn index(media_type: &str, children: &[&Image], extra: Value) -> Image {
        let manifests: Vec<Value> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut d = descriptor(&c.media_type, &c.manifest);
                let arch = ["amd64", "arm64", "s390x", "ppc64le"][i % 4];
                d["platform"] = json!({ "architecture": arch, "os": "linux" });
                d
            })
            .collect();
        let mut m = json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": manifests });
        if let Value::Object(extra) = extra {
            m.as_object_mut().unwrap().extend(extra);
        }
        let manifest = serde_json::to_vec_pretty(&m).unwrap();
        Image {
            media_type: media_type.into(),
            digest: sha256(&manifest),
            blobs: vec![],
            manifest,
        }
    }

    pub fn descriptor(&self) -> Value {
        descriptor(&self.media_type, &self.manifest)
    }

    /// Pushes every blob (monolithically) and the manifest under `reference`; asserts 201.
    pub fn push(&self, reg: &Registry, repo: &str, reference: &str) -> Resp {
        self.push_blobs(reg, repo);
        put_manifest(reg, repo, reference, &self.media_type, &self.manifest).expect(201)
    }

    pub fn push_blobs(&self, reg: &Registry, repo: &str) {
        for b in &self.blobs {
            push_blob(reg, repo, b);
        }
    }
}

pub fn put_manifest(
    reg: &Registry,
    repo: &str,
    reference: &str,
    content_type: &str,
    body: &[u8],
) -> Resp {
    reg.send(
        reg.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("Content-Type", content_type)
            .body(body.to_vec()),
    )
}

// ---------------------------------------------------------------------------------------------
// Blob uploads
// ---------------------------------------------------------------------------------------------

/// How a blob is uploaded.
#[derive(Clone, Copy, Debug)]
pub enum Upload {
    /// POST, then PUT with the whole body.
    PostPut,
    /// A single POST `?digest=`.
    SinglePost,
    /// POST, PATCHes of this size with Content-Range, then PUT without a body.
    Chunked(usize),
    /// POST, PATCHes of this size without Content-Range (chunked transfer encoding), then PUT.
    Streamed(usize),
}

#[derive(Debug)]
pub enum PushError {
    /// The connection failed (expected once the server is killed).
    Transport(reqwest::Error),
    /// The registry answered, but not as the spec says it should.
    Status(String),
}

/// The response if it has `status`; otherwise a `PushError`.
pub fn check(resp: Result<Resp, reqwest::Error>, status: u16) -> Result<Resp, PushError> {
    let r = resp.map_err(PushError::Transport)?;
    if r.status == status {
        Ok(r)
    } else {
        Err(PushError::Status(format!("expected {status}:\n{r}")))
    }
}

/// `POST /v2/<repo>/blobs/uploads/` (expects 202); returns the response.
pub fn try_start_upload(reg: &Registry, repo: &str) -> Result<Resp, PushError> {
    check(
        reg.try_send(
            reg.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
                .header("Content-Length", "0"),
        ),
        202,
    )
}

/// The upload location with `?digest=` (or `&digest=` if it has a query already).
pub fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// A PATCH of `chunk` at `offset` (`Content-Range` when `range`), expecting 202.
pub fn try_patch(
    reg: &Registry,
    location: &str,
    offset: usize,
    chunk: &[u8],
    range: bool,
) -> Result<Resp, PushError> {
    let mut rb = reg
        .req(Method::PATCH, location)
        .header("Content-Type", "application/octet-stream");
    if range {
        rb = rb
            .header(
                "Content-Range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            )
            .body(chunk.to_vec());
    } else {
        rb = rb.body(Body::new(std::io::Cursor::new(chunk.to_vec())));
    }
    check(reg.try_send(rb), 202)
}

/// Uploads `data` to `repo` in the given way, with a digest of `digest_like`'s algorithm
/// (sha256 unless it starts with `sha512:`). Returns the digest after checking the 201.
pub fn try_push_blob_as(
    reg: &Registry,
    repo: &str,
    data: &[u8],
    how: Upload,
    algo: &str,
) -> Result<String, PushError> {
    let digest = digest_like(algo, data);
    let done = match how {
        Upload::SinglePost => reg.try_send(
            reg.req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec()),
        ),
        Upload::PostPut => {
            let loc = try_start_upload(reg, repo)?.location();
            reg.try_send(
                reg.req(Method::PUT, &with_digest(&loc, &digest))
                    .header("Content-Type", "application/octet-stream")
                    .body(data.to_vec()),
            )
        }
        Upload::Chunked(size) | Upload::Streamed(size) => {
            let mut loc = try_start_upload(reg, repo)?.location();
            for (i, chunk) in data.chunks(size.max(1)).enumerate() {
                loc = try_patch(
                    reg,
                    &loc,
                    i * size,
                    chunk,
                    matches!(how, Upload::Chunked(_)),
                )?
                .location();
            }
            reg.try_send(
                reg.req(Method::PUT, &with_digest(&loc, &digest))
                    .header("Content-Length", "0"),
            )
        }
    };
    let r = check(done, 201)?;
    let want = format!("/v2/{repo}/blobs/{digest}");
    if !r.location().ends_with(&want) {
        return Err(PushError::Status(format!("Location is not {want}:\n{r}")));
    }
    Ok(digest)
}

pub fn try_push_blob(
    reg: &Registry,
    repo: &str,
    data: &[u8],
    how: Upload,
) -> Result<String, PushError> {
    try_push_blob_as(reg, repo, data, how, "sha256")
}

/// Pushes a blob with POST+PUT and asserts success; returns its sha256 digest.
#[track_caller]
pub fn push_blob(reg: &Registry, repo: &str, data: &[u8]) -> String {
    try_push_blob(reg, repo, data, Upload::PostPut)
        .unwrap_or_else(|e| panic!("blob push failed: {e:?}"))
}

/// Reads a blob back and checks it is exactly `data`.
#[track_caller]
pub fn assert_blob(reg: &Registry, repo: &str, digest: &str, data: &[u8]) {
    let r = reg.get(&format!("/v2/{repo}/blobs/{digest}")).expect(200);
    assert!(
        r.body == data,
        "blob {digest} in {repo}: {} bytes back, {} expected, content differs",
        r.body.len(),
        data.len()
    );
    if let Some(d) = r.header("docker-content-digest") {
        assert_eq!(d, digest, "Docker-Content-Digest of the blob");
    }
}
