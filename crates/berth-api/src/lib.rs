//! berth's HTTP surface. This is the only crate that knows HTTP: it turns requests into
//! [`berth_registry::Registry`] calls and results into responses, and every error into the
//! distribution spec's JSON error body.
//!
//! Repository names contain slashes, so `/v2/...` is routed by hand ([`route`]) from the
//! raw, undecoded path: a percent-encoded `..` stays a literal that name validation rejects.

mod error;
mod headers;
mod registry_api;
mod route;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use berth_registry::Registry;

pub use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
}

/// The complete HTTP application.
pub fn router(registry: Arc<Registry>) -> Router {
    let state = AppState { registry };
    Router::new()
        .fallback(registry_api::dispatch)
        .with_state(state)
        // Bodies are streamed and bounded by the handlers themselves.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(headers::common_headers))
}
