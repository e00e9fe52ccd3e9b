//! The gate in front of `/v2`: every request needs a registry token (Docker token
//! authentication) whose `access` claim covers what the endpoint does.
//!
//! A request without a token, with a bad one, or with one that lacks the action gets `401`
//! with a `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge, whether the
//! repository exists or not: a caller who may not pull cannot tell a private repository from
//! a missing one. Verifying a token is a cache lookup after the first time (no database).

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode, header};
use berth_auth::{Action, Authorization, Resource, VerifiedToken, parse_authorization};
use berth_domain::{ErrorCode, RepoName};

use crate::AppState;
use crate::error::ApiError;
use crate::route::Route;

/// What an endpoint needs from the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    /// Any valid token (the base endpoint, or a name that does not parse: the handler then
    /// answers `NAME_INVALID`, which reveals nothing).
    AnyToken,
    Catalog,
    Repo(RepoName, Vec<Action>),
}

impl Need {
    pub(crate) fn of(route: &Route<'_>, method: &Method) -> Need {
        let (name, actions): (&str, Vec<Action>) = match (route, method) {
            (Route::Base, _) => return Need::AnyToken,
            (Route::Catalog, _) => return Need::Catalog,
            (Route::Tags { name }, _) | (Route::Referrers { name, .. }, _) => {
                (name, vec![Action::Pull])
            }
            (Route::Manifest { name, .. }, m) | (Route::Blob { name, .. }, m) => match *m {
                Method::DELETE => (name, vec![Action::Delete]),
                Method::PUT => (name, vec![Action::Pull, Action::Push]),
                _ => (name, vec![Action::Pull]),
            },
            (Route::UploadStart { name }, _) | (Route::Upload { name, .. }, _) => {
                (name, vec![Action::Pull, Action::Push])
            }
        };
        match RepoName::parse(name) {
            Ok(n) => Need::Repo(n, actions),
            Err(_) => Need::AnyToken,
        }
    }

    fn scope(&self) -> Option<String> {
        match self {
            Need::AnyToken => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo(name, actions) => Some(format!(
                "repository:{name}:{}",
                actions
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        }
    }
}

/// The token endpoint advertised in challenges.
pub(crate) fn realm(app: &AppState, headers: &HeaderMap) -> String {
    if let Some(r) = &app.options.realm {
        return r.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let proto = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{proto}://{host}/v2/auth")
}

fn challenge(app: &AppState, headers: &HeaderMap, need: &Need, error: Option<&str>) -> ApiError {
    let mut value = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        realm(app, headers),
        app.access.config().service
    );
    if let Some(scope) = need.scope() {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    let message = match error {
        Some("insufficient_scope") => "authentication required: the token does not grant this",
        Some(_) => "authentication required: the token is not valid",
        None => "authentication required",
    };
    let mut e = ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
        .with_header(header::WWW_AUTHENTICATE, value);
    if let Need::Repo(name, actions) = need {
        e.detail = Some(serde_json::json!([{
            "Type": "repository",
            "Name": name.as_str(),
            "Action": actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","),
        }]));
    }
    e
}

/// The bearer token of the request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    match parse_authorization(value.as_bytes()) {
        Ok(Authorization::Bearer(t)) => Some(t),
        _ => None,
    }
}

/// Checks the request's token against `need`; returns the verified token.
pub(crate) async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    need: &Need,
) -> Result<Arc<VerifiedToken>, ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(challenge(app, headers, need, None));
    };
    let verified = match app.access.verify_token(token).await {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "registry token refused");
            return Err(challenge(app, headers, need, Some("invalid_token")));
        }
    };
    let ok = match need {
        Need::AnyToken => true,
        Need::Catalog => verified.claims.permits(&Resource::Catalog, Action::All),
        Need::Repo(name, actions) => {
            let resource = Resource::Repository {
                name: name.clone(),
                class: None,
            };
            actions
                .iter()
                .all(|a| verified.claims.permits(&resource, *a))
        }
    };
    if ok {
        Ok(verified)
    } else {
        Err(challenge(app, headers, need, Some("insufficient_scope")))
    }
}

/// Whether the token allows pulling from `repo` (for cross-repository mounts).
pub(crate) fn may_pull(token: &VerifiedToken, repo: &RepoName) -> bool {
    token.claims.permits(
        &Resource::Repository {
            name: repo.clone(),
            class: None,
        },
        Action::Pull,
    )
}
