//! `docker://HOST/REPO[:TAG|@DIGEST]`: pulling from a registry over the OCI distribution API.
//!
//! Authentication follows what registries actually do rather than what they advertise up
//! front: any request may answer 401 with a `WWW-Authenticate` challenge (Docker's token
//! flow, `Bearer realm=..,service=..,scope=..`, or plain `Basic`), so every request is
//! retried once after answering the challenge, and the resulting credential is shared by all
//! threads. That also renews a token that expired during a long multi-threaded layer pull.
//!
//! The registry is not trusted: manifests and configs are size-bounded and digest-checked
//! (against the digest pulled by, the index entry, and `Docker-Content-Digest`), redirects
//! are limited and may not downgrade https to http, and every request has a timeout.

use std::collections::HashMap;
use std::io::Read;
use std::sync::RwLock;
use std::time::Duration;

use berth_domain::media_type as mt;
use berth_domain::{Digest, Reference};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use crate::error::SourceError;
use crate::resolve::{Fetched, ManifestStore, read_bounded, read_verified, resolve, verify};
use crate::{BlobRef, ImageRef, ImageSource, Options, ResolvedImage};

/// Manifest types berth can use, best first. Schema 1 is deliberately absent so a registry
/// that can convert serves schema 2; one that cannot still gets a clear refusal.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// Redirect hops followed (blob downloads commonly redirect once, to a CDN or object store).
const MAX_REDIRECTS: usize = 5;
/// Bound on token responses and error bodies, which are small JSON documents.
const MAX_SMALL_BODY: u64 = 1024 * 1024;
/// Longest `WWW-Authenticate` value parsed.
const MAX_CHALLENGE: usize = 8 * 1024;

pub(crate) struct RegistrySource {
    http: Http,
    image: ResolvedImage,
}

/// A credential that answered a challenge.
#[derive(Clone)]
enum Auth {
    Basic(String, String),
    Bearer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: HashMap<String, String>,
}

struct Http {
    client: Client,
    /// `scheme://host[:port]`.
    base: String,
    /// `host[:port]`, for messages.
    registry: String,
    repo: String,
    /// The reference as the user gave it, for messages.
    name: String,
    creds: Option<(String, String)>,
    auth: RwLock<Option<Auth>>,
    timeout: Duration,
    tls_verify: bool,
    max: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<String>,
    message: Option<String>,
}

impl RegistrySource {
    pub(crate) fn open(
        r: &ImageRef,
        opts: &Options,
        name: &str,
    ) -> Result<RegistrySource, SourceError> {
        let http = Http::connect(r, opts, name)?;
        let top = http.fetch_top(&r.reference())?;
        let image = resolve(&http, name, top, opts)?;
        Ok(RegistrySource { http, image })
    }
}

fn build_client(opts: &Options) -> Result<Client, reqwest::Error> {
    let tls_verify = opts.tls_verify;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if tls_verify && attempt.url().scheme() != "https" {
            attempt.error("refusing a redirect to a non-https URL")
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(opts.timeout)
        // The blocking client applies this to waiting for headers and to each body read.
        .timeout(opts.timeout)
        .redirect(policy)
        .danger_accept_invalid_certs(!opts.tls_verify)
        .build()
}

impl Http {
    /// Finds the scheme the registry speaks (https; http too when TLS verification is off)
    /// and answers its `/v2/` challenge up front, so the first real request is authorized.
    fn connect(r: &ImageRef, opts: &Options, name: &str) -> Result<Http, SourceError> {
        let registry = r.endpoint().to_owned();
        let client = build_client(opts).map_err(|source| SourceError::Http {
            registry: registry.clone(),
            detail: " (building the HTTP client)".to_owned(),
            source,
        })?;
        let mut http = Http {
            client,
            base: format!("https://{registry}"),
            registry,
            repo: r.repository.as_str().to_owned(),
            name: name.to_owned(),
            creds: opts.creds.clone(),
            auth: RwLock::new(None),
            timeout: opts.timeout,
            tls_verify: opts.tls_verify,
            max: opts.max_manifest_bytes,
        };
        let ping = match http.ping() {
            Ok(resp) => resp,
            // skopeo's --tls-verify=false: https with any certificate, else plain http.
            Err(_) if !opts.tls_verify => {
                http.base = format!("http://{}", http.registry);
                http.ping().map_err(|source| SourceError::Http {
                    registry: http.registry.clone(),
                    detail: " over https or plain http".to_owned(),
                    source,
                })?
            }
            Err(source) => {
                return Err(SourceError::Http {
                    registry: http.registry.clone(),
                    detail: " over https (for a plain-http registry, turn TLS verification off)"
                        .to_owned(),
                    source,
                });
            }
        };
        match ping.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => match pick_challenge(ping.headers()) {
                Some(ch) => http.authenticate(&ch)?,
                None => {
                    return Err(SourceError::Unauthorized(format!(
                        "{} answered 401 to GET /v2/ without a usable WWW-Authenticate challenge",
                        http.registry
                    )));
                }
            },
            // Some registries and proxies guard /v2/ differently from repositories; the
            // manifest request will tell.
            StatusCode::FORBIDDEN => {}
            s => {
                return Err(SourceError::Registry {
                    registry: http.registry.clone(),
                    request: "GET /v2/".to_owned(),
                    status: s.as_u16(),
                    message: format!("{} (is this an OCI registry?)", error_message(ping, s)),
                });
            }
        }
        Ok(http)
    }

    fn ping(&self) -> Result<Response, reqwest::Error> {
        self.client
            .get(format!("{}/v2/", self.base))
            .timeout(self.timeout)
            .send()
    }

    fn who(&self) -> String {
        match &self.creds {
            Some((u, _)) => format!("user {u:?}"),
            None => "anonymous access".to_owned(),
        }
    }

    fn with_auth(&self, req: RequestBuilder) -> RequestBuilder {
        let auth = self
            .auth
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match auth {
            Some(Auth::Basic(u, p)) => req.basic_auth(u, Some(p)),
            Some(Auth::Bearer(t)) => req.bearer_auth(t),
            None => req,
        }
    }

    fn set_auth(&self, auth: Auth) {
        *self
            .auth
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(auth);
    }

    /// GET `path` with the current credential; on a 401 challenge, answers it and retries
    /// once. `whole` bounds the whole exchange by the timeout (metadata); otherwise only
    /// the wait for headers and each read are bounded (blobs of any size).
    fn get(&self, path: &str, accept: Option<&str>, whole: bool) -> Result<Response, SourceError> {
        let url = format!("{}{path}", self.base);
        let mut answered = false;
        loop {
            let mut req = self.client.get(&url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if whole {
                req = req.timeout(self.timeout);
            }
            let resp = self
                .with_auth(req)
                .send()
                .map_err(|source| SourceError::Http {
                    registry: self.registry.clone(),
                    detail: String::new(),
                    source,
                })?;
            if resp.status() == StatusCode::UNAUTHORIZED
                && !answered
                && let Some(ch) = pick_challenge(resp.headers())
            {
                self.authenticate(&ch)?;
                answered = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Turns a non-success answer into the error a person can act on.
    fn check(
        &self,
        resp: Response,
        request: &str,
        not_found: impl FnOnce() -> SourceError,
    ) -> Result<Response, SourceError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(not_found());
        }
        let message = error_message(resp, status);
        // Registries answer a repository that does not exist exactly like one the caller
        // may not read (so as not to reveal which exist); say both, as docker does.
        let refused = || {
            format!(
                "{} refused {request} for {} with {}: {message} (the repository may not exist, or these credentials may not pull it)",
                self.registry,
                self.name,
                self.who()
            )
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => SourceError::Unauthorized(refused()),
            StatusCode::FORBIDDEN => SourceError::Denied(refused()),
            s => SourceError::Registry {
                registry: self.registry.clone(),
                request: request.to_owned(),
                status: s.as_u16(),
                message,
            },
        })
    }

    /// Answers a challenge: Basic with the credentials, Bearer by fetching a pull token.
    fn authenticate(&self, ch: &Challenge) -> Result<(), SourceError> {
        match ch.scheme.as_str() {
            "basic" => {
                let Some((u, p)) = &self.creds else {
                    return Err(SourceError::Unauthorized(format!(
                        "{} requires credentials (Basic authentication) for {}",
                        self.registry, self.name
                    )));
                };
                self.set_auth(Auth::Basic(u.clone(), p.clone()));
                Ok(())
            }
            "bearer" => {
                let token = self.fetch_token(ch)?;
                self.set_auth(Auth::Bearer(token));
                Ok(())
            }
            other => Err(SourceError::Unsupported(format!(
                "{} asks for {other:?} authentication, which berth does not speak",
                self.registry
            ))),
        }
    }

    fn fetch_token(&self, ch: &Challenge) -> Result<String, SourceError> {
        let realm = ch.params.get("realm").ok_or_else(|| {
            SourceError::Unauthorized(format!(
                "{}'s Bearer challenge names no token realm",
                self.registry
            ))
        })?;
        let url = reqwest::Url::parse(realm).map_err(|e| {
            SourceError::Unauthorized(format!(
                "{}'s token realm {realm:?} is not a URL: {e}",
                self.registry
            ))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if !self.tls_verify => {}
            s => {
                return Err(SourceError::Unauthorized(format!(
                    "{}'s token realm {realm:?} uses {s}: refusing to send credentials without TLS",
                    self.registry
                )));
            }
        }
        let ours = format!("repository:{}:pull", self.repo);
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = ch.params.get("service") {
            query.push(("service", service));
        }
        query.push(("scope", &ours));
        if let Some(scope) = ch.params.get("scope")
            && scope != &ours
        {
            query.push(("scope", scope));
        }
        let mut req = self
            .client
            .get(url.clone())
            .query(&query)
            .timeout(self.timeout);
        if let Some((u, p)) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => "?".to_owned(),
        };
        let service = if host == self.registry {
            format!("the token service of {}", self.registry)
        } else {
            format!("the token service of {} at {host}", self.registry)
        };
        let resp = req.send().map_err(|source| SourceError::Http {
            registry: self.registry.clone(),
            detail: format!(" (token service at {host})"),
            source,
        })?;
        let status = resp.status();
        if !status.is_success() {
            let message = error_message(resp, status);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SourceError::Unauthorized(
                    format!("{service} refused {}: {message}", self.who()),
                ),
                s => SourceError::Registry {
                    registry: self.registry.clone(),
                    request: format!("a token from {host}"),
                    status: s.as_u16(),
                    message,
                },
            });
        }
        let what = format!("token response from {host}");
        let body = read_bounded(resp, MAX_SMALL_BODY, &what)?;
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| SourceError::json(&what, e))?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SourceError::Unauthorized(format!("{what} holds no token")))
    }

    /// The manifest the user's reference names, verified against the digest pulled by or,
    /// for a tag, the registry's `Docker-Content-Digest`.
    fn fetch_top(&self, reference: &Reference) -> Result<Fetched, SourceError> {
        let request = format!("GET manifest {reference}");
        let resp = self.get(
            &format!("/v2/{}/manifests/{reference}", self.repo),
            Some(ACCEPT_MANIFESTS),
            true,
        )?;
        let resp = self.check(resp, &request, || SourceError::NotFound(self.name.clone()))?;
        let what = format!("manifest {reference} of {}", self.name);
        self.refuse_large(&resp, &what)?;
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
        let header_digest = header_str(resp.headers(), "docker-content-digest")
            .and_then(|d| Digest::parse(&d).ok());
        let (digest, bytes) = match reference {
            Reference::Digest(d) => (d.clone(), read_verified(resp, d, None, self.max, &what)?),
            Reference::Tag(_) => {
                let bytes = read_bounded(resp, self.max, &what)?;
                match header_digest {
                    Some(h) => {
                        verify(&what, &h, None, &bytes)?;
                        (h, bytes)
                    }
                    None => (Digest::sha256_of(&bytes), bytes),
                }
            }
        };
        Ok(Fetched {
            digest,
            bytes,
            content_type,
        })
    }

    /// Refuses before reading when the registry announces a body over the bound.
    fn refuse_large(&self, resp: &Response, what: &str) -> Result<(), SourceError> {
        match resp.content_length() {
            Some(n) if n > self.max => Err(SourceError::TooLarge {
                what: what.to_owned(),
                limit: self.max,
            }),
            _ => Ok(()),
        }
    }

    fn blob_path(&self, d: &Digest) -> String {
        format!("/v2/{}/blobs/{d}", self.repo)
    }

    fn blob_missing(&self, d: &Digest) -> SourceError {
        SourceError::BlobNotFound {
            image: self.name.clone(),
            digest: d.clone(),
        }
    }
}

impl ManifestStore for Http {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
        size: Option<u64>,
    ) -> Result<Fetched, SourceError> {
        let accept = match media_type {
            Some(m) if mt::is_manifest_type(m) => format!("{m}, {ACCEPT_MANIFESTS}"),
            _ => ACCEPT_MANIFESTS.to_owned(),
        };
        let request = format!("GET manifest {digest}");
        let resp = self.get(
            &format!("/v2/{}/manifests/{digest}", self.repo),
            Some(&accept),
            true,
        )?;
        let resp = self.check(resp, &request, || {
            SourceError::NotFound(format!("manifest {digest} of {}", self.name))
        })?;
        let what = format!("manifest {digest} of {}", self.name);
        self.refuse_large(&resp, &what)?;
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str())
            .or_else(|| media_type.map(str::to_owned));
        let bytes = read_verified(resp, digest, size, self.max, &what)?;
        Ok(Fetched {
            digest: digest.clone(),
            bytes,
            content_type,
        })
    }

    fn fetch_config(&self, config: &BlobRef) -> Result<Vec<u8>, SourceError> {
        let d = &config.digest;
        let resp = self.get(&self.blob_path(d), None, true)?;
        let resp = self.check(resp, &format!("GET config blob {d}"), || {
            self.blob_missing(d)
        })?;
        let what = format!("config {d} of {}", self.name);
        read_verified(resp, d, Some(config.size), self.max, &what)
    }
}

impl ImageSource for RegistrySource {
    fn image(&self) -> &ResolvedImage {
        &self.image
    }

    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let h = &self.http;
        let resp = h.get(&h.blob_path(digest), None, false)?;
        let resp = h.check(resp, &format!("GET blob {digest}"), || {
            h.blob_missing(digest)
        })?;
        Ok(Box::new(resp))
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The registry's own explanation (`{"errors":[{"code","message"}]}`), else the start of
/// the body, else the status text. Bounded: an error body is no reason to read gigabytes.
fn error_message(resp: Response, status: StatusCode) -> String {
    let mut body = Vec::new();
    let _ = resp.take(MAX_SMALL_BODY).read_to_end(&mut body);
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(&body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .take(5)
            .map(|i| match (&i.code, &i.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_owned()
    } else {
        text.to_owned()
    }
}

/// The challenge to answer among all `WWW-Authenticate` headers: Bearer over Basic (a
/// token is scoped and short-lived; Basic sends the password with every request).
fn pick_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let mut all: Vec<Challenge> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    all.sort_by_key(|c| match c.scheme.as_str() {
        "bearer" => 0,
        "basic" => 1,
        _ => 2,
    });
    all.into_iter().next()
}

/// Parses `Scheme k=v, k="quoted, value", Other k=v` (RFC 7235, without token68 forms,
/// which registries do not send). Malformed parts are skipped, never a panic.
fn parse_challenges(s: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    if s.len() > MAX_CHALLENGE {
        return out;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b',' && b[i] != b'=' {
            i += 1;
        }
        let token = &s[start..i];
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            // A parameter of the current challenge.
            i = j + 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let mut value = String::new();
            if i < b.len() && b[i] == b'"' {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // Multi-byte characters are copied whole.
                    let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                    value.push_str(&s[i..i + ch_len]);
                    i += ch_len;
                }
                i += 1; // The closing quote (or past the end).
            } else {
                let vstart = i;
                while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value.push_str(&s[vstart..i]);
            }
            if let Some(c) = out.last_mut()
                && !token.is_empty()
            {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
        } else if token.is_empty() {
            i += 1;
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: HashMap::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["scope"], "repository:library/debian:pull,push");

        let c =
            parse_challenges(r#"Basic realm="Registry Realm", Bearer realm=x, service = "a\"b""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        assert_eq!(c[1].params["realm"], "x");
        assert_eq!(c[1].params["service"], "a\"b");

        // Hostile or odd input never panics.
        for s in [
            "",
            "=",
            "Bearer realm=\"unterminated",
            ",,,",
            "Bearer realm=\"é\\",
            "x=y",
            "Bearer ===",
        ] {
            let _ = parse_challenges(s);
        }
        assert!(parse_challenges(&"a".repeat(MAX_CHALLENGE + 1)).is_empty());
    }

    #[test]
    fn prefers_bearer() {
        let mut h = HeaderMap::new();
        h.append(WWW_AUTHENTICATE, "Basic realm=r".parse().unwrap());
        h.append(
            WWW_AUTHENTICATE,
            "Bearer realm=\"https://t\"".parse().unwrap(),
        );
        assert_eq!(pick_challenge(&h).unwrap().scheme, "bearer");
        assert!(pick_challenge(&HeaderMap::new()).is_none());
    }
}
