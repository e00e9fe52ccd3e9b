//! Clair v4's HTTP API, so tools written for Clair (Quay's security worker, clairctl)
//! work against berth unchanged:
//!
//! ```text
//! POST   /indexer/api/v1/index_report            Manifest -> IndexReport (201)
//! GET    /indexer/api/v1/index_report/{digest}   IndexReport
//! DELETE /indexer/api/v1/index_report/{digest}   204
//! DELETE /indexer/api/v1/index_report            [digest] -> [deleted digest]
//! GET    /indexer/api/v1/index_state             {"state": ...} with an ETag
//! GET    /matcher/api/v1/vulnerability_report/{digest}   VulnerabilityReport
//! ```
//!
//! Authentication is Clair's PSK: an HS256 JWT signed with the configured key, from a
//! configured issuer (`berth_auth::psk`). Without a configured key every request is refused:
//! this API is not per repository, so it is only for trusted services, exactly as Clair's.
//! Errors use Clair's body, `{"code": "...", "message": "..."}`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_domain::Digest;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

/// Largest Clair manifest accepted (a few hundred layers with headers).
const MAX_BODY: usize = 4 << 20;
/// Most layers per manifest.
const MAX_LAYERS: usize = 1000;

/// The key and issuers of Clair's PSK authentication.
#[derive(Clone)]
pub struct ClairAuth {
    pub key: Vec<u8>,
    pub issuers: Vec<String>,
}

impl std::fmt::Debug for ClairAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClairAuth")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

struct ClairError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ClairError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ClairError {
        ClairError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ClairError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"code": self.code, "message": self.message}).to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

fn json_reply(status: StatusCode, v: &impl serde::Serialize) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

/// Whether a path belongs to the Clair API.
pub(crate) fn is_clair_path(path: &str) -> bool {
    path.starts_with("/indexer/api/v1/") || path.starts_with("/matcher/api/v1/")
}

pub(crate) async fn dispatch(app: AppState, req: Request) -> Response {
    match handle(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<(), ClairError> {
    let Some(auth) = app.options.clair.as_ref() else {
        return Err(ClairError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the Clair API needs a pre-shared key: set clair.psk in berth's configuration",
        ));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            ClairError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a Bearer token (Clair PSK JWT) is required",
            )
        })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    berth_auth::verify_psk(token.trim(), &auth.key, &auth.issuers, now)
        .map(|_| ())
        .map_err(|e| ClairError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))
}

fn digest_param(raw: &str) -> Result<Digest, ClairError> {
    raw.parse().map_err(|_| {
        ClairError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("{:.100} is not a manifest digest", raw),
        )
    })
}

fn scanner(app: &AppState) -> Result<std::sync::Arc<berth_scan::Scanner>, ClairError> {
    app.scanner.clone().ok_or_else(|| {
        ClairError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the scanner is disabled on this server",
        )
    })
}

fn internal(e: impl std::fmt::Display) -> ClairError {
    tracing::error!(error = %e, "clair api");
    ClairError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the request could not be completed now; try again later",
    )
}

#[derive(Deserialize)]
struct ClairManifest {
    hash: String,
    #[serde(default)]
    layers: Vec<ClairLayer>,
}

#[derive(Deserialize)]
struct ClairLayer {
    hash: String,
    #[serde(default)]
    uri: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, Vec<String>>,
}

async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ClairError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|_| {
            ClairError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bad-request",
                format!("the body is over {MAX_BODY} bytes"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        ClairError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("the body is not valid JSON for this endpoint: {e}"),
        )
    })
}

async fn handle(app: AppState, req: Request) -> Result<Response, ClairError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    // Route first, so an unknown path is 404 whoever asks.
    enum R {
        PostIndex,
        GetIndex(String),
        DeleteIndex(String),
        DeleteIndexes,
        IndexState,
        VulnReport(String),
    }
    let route = match (method.clone(), path.as_str()) {
        (Method::POST, "/indexer/api/v1/index_report") => R::PostIndex,
        (Method::DELETE, "/indexer/api/v1/index_report") => R::DeleteIndexes,
        (Method::GET, "/indexer/api/v1/index_state") => R::IndexState,
        (m, p) => {
            if let Some(d) = p.strip_prefix("/indexer/api/v1/index_report/") {
                match m {
                    Method::GET => R::GetIndex(d.to_owned()),
                    Method::DELETE => R::DeleteIndex(d.to_owned()),
                    _ => return Err(method_not_allowed()),
                }
            } else if let Some(d) = p.strip_prefix("/matcher/api/v1/vulnerability_report/") {
                if m != Method::GET {
                    return Err(method_not_allowed());
                }
                R::VulnReport(d.to_owned())
            } else if matches!(
                p,
                "/indexer/api/v1/index_report" | "/indexer/api/v1/index_state"
            ) {
                return Err(method_not_allowed());
            } else {
                return Err(ClairError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no such Clair API endpoint",
                ));
            }
        }
    };
    authenticate(&app, &parts.headers)?;
    let scanner = scanner(&app)?;
    match route {
        R::PostIndex => {
            let m: ClairManifest = read_json(body).await?;
            let digest = digest_param(&m.hash)?;
            if m.layers.len() > MAX_LAYERS {
                return Err(ClairError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    format!("a manifest may have at most {MAX_LAYERS} layers"),
                ));
            }
            let mut layers = Vec::with_capacity(m.layers.len());
            for l in m.layers {
                layers.push(berth_scan::RemoteLayer {
                    digest: digest_param(&l.hash)?,
                    uri: l.uri,
                    headers: l
                        .headers
                        .into_iter()
                        .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
                        .collect(),
                });
            }
            let report = scanner
                .index_remote(&digest, layers)
                .await
                .map_err(|e| match e {
                    berth_scan::ScanError::Io(e) => ClairError::new(
                        StatusCode::BAD_GATEWAY,
                        "layer-fetch",
                        format!("a layer could not be fetched: {e}"),
                    ),
                    other => internal(other),
                })?;
            Ok(json_reply(StatusCode::CREATED, &report))
        }
        R::GetIndex(d) => {
            let digest = digest_param(&d)?;
            match scanner.stored_report(&digest).await.map_err(internal)? {
                Some(r) => Ok(json_reply(StatusCode::OK, &r)),
                None => Err(ClairError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("no index report for {digest}"),
                )),
            }
        }
        R::DeleteIndex(d) => {
            let digest = digest_param(&d)?;
            scanner.delete_report(&digest).await.map_err(internal)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        R::DeleteIndexes => {
            let list: Vec<String> = read_json(body).await?;
            let mut deleted = Vec::new();
            for raw in list.iter().take(10_000) {
                let digest = digest_param(raw)?;
                if scanner.delete_report(&digest).await.map_err(internal)? {
                    deleted.push(digest.to_string());
                }
            }
            Ok(json_reply(StatusCode::OK, &deleted))
        }
        R::IndexState => {
            // Clair's state is an opaque hash of the indexer's configuration: a change
            // tells clients that their reports are stale.
            let state = berth_domain::Digest::sha256_of(scanner.key().as_bytes())
                .to_string()
                .trim_start_matches("sha256:")
                .to_owned();
            let etag = format!("\"{state}\"");
            if parts
                .headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == etag)
            {
                return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
            }
            let mut r = json_reply(StatusCode::OK, &json!({ "state": state }));
            if let Ok(v) = header::HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            Ok(r)
        }
        R::VulnReport(d) => {
            let digest = digest_param(&d)?;
            let Some(index) = scanner.stored_report(&digest).await.map_err(internal)? else {
                return Err(ClairError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("no index report for {digest}: index the manifest first"),
                ));
            };
            if !index.success {
                return Err(ClairError::new(
                    StatusCode::CONFLICT,
                    "index-error",
                    format!("the manifest could not be indexed: {}", index.err),
                ));
            }
            match scanner.vulnerabilities_of(&index) {
                Ok(r) => Ok(json_reply(StatusCode::OK, &*r)),
                Err(e) => Err(ClairError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no-database",
                    e.to_string(),
                )),
            }
        }
    }
}

fn method_not_allowed() -> ClairError {
    ClairError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this method is not allowed on this Clair endpoint",
    )
}
