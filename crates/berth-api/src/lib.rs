//! berth's HTTP surface. This is the only crate that knows HTTP: it turns requests into
//! [`berth_registry::Registry`] and [`berth_access::Access`] calls and results into responses,
//! with every error in the body its spec defines (the distribution spec's for `/v2`, Quay's
//! `{"error_message", ...}` shape for `/api/v1`).
//!
//! Repository names contain slashes, so `/v2/...` is routed by hand ([`route`]) from the
//! raw, undecoded path: a percent-encoded `..` stays a literal that name validation rejects.
//! Every `/v2` request passes [`auth::authorize`] first; `/v2/auth` is the token service.
//! Clair v4's API (`/indexer/api/v1`, `/matcher/api/v1`) is in `clair`, behind Clair's
//! pre-shared-key JWTs.

mod auth;
mod clair;
mod error;
mod headers;
mod registry_api;
pub mod rest;
mod route;
pub use berth_domain::time;
mod token_api;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::Response;
use berth_access::{Access, Origin};
use berth_registry::Registry;

pub use clair::ClairAuth;
pub use error::ApiError;

/// HTTP-level settings.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// The token endpoint URL advertised in challenges; derived from each request's `Host`
    /// (and `X-Forwarded-Proto`) when unset.
    pub realm: Option<String>,
    /// Mark session cookies `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// Clair's PSK authentication; `None` refuses every Clair API request.
    pub clair: Option<ClairAuth>,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub access: Arc<Access>,
    pub options: Arc<ApiOptions>,
    /// Scan on push; `None` when disabled.
    pub scanner: Option<Arc<berth_scan::Scanner>>,
}

/// The complete HTTP application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the audit log gets addresses.
pub fn router(
    registry: Arc<Registry>,
    access: Arc<Access>,
    scanner: Option<Arc<berth_scan::Scanner>>,
    options: ApiOptions,
) -> Router {
    let state = AppState {
        registry,
        access,
        options: Arc::new(options),
        scanner,
    };
    Router::new()
        .fallback(dispatch)
        .with_state(state)
        // Bodies are streamed and bounded by the handlers themselves.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(headers::common_headers))
}

async fn dispatch(State(app): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/v2/auth" {
        token_api::dispatch(app, req).await
    } else if path == "/api/v1" || path.starts_with("/api/v1/") {
        rest::dispatch(app, req).await
    } else if clair::is_clair_path(path) {
        clair::dispatch(app, req).await
    } else {
        registry_api::dispatch(app, req).await
    }
}

/// Where the request came from (the peer address; proxies are not trusted to say).
pub(crate) fn origin(req: &Request) -> Origin {
    Origin {
        ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}
