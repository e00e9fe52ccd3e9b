//! The token service at `/v2/auth` (Docker token authentication).
//!
//! - `GET /v2/auth?service=...&scope=...[&offline_token=true&client_id=...]` with Basic
//!   credentials (password, robot token or app token) or none (anonymous).
//! - `POST /v2/auth` with an OAuth2 form: `grant_type=password` (`username`, `password`) or
//!   `grant_type=refresh_token` (`refresh_token`), plus `service`, `scope` (space-separated),
//!   `client_id` and `access_type=offline` for a refresh token.
//!
//! The token grants the requested scopes cut down to what the caller may do; asking for more
//! is not an error (the registry answers 401 later), which is what clients expect.

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_access::{Origin, Principal, TokenGrant};
use berth_auth::{Authorization, parse_authorization, parse_scopes};
use berth_domain::ErrorCode;
use http_body_util::BodyExt;

use crate::AppState;
use crate::error::ApiError;

/// An OAuth2 form is small; anything bigger is not one.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn dispatch(app: AppState, req: Request) -> Response {
    let result = match *req.method() {
        Method::GET => get(&app, req).await,
        Method::POST => post(&app, req).await,
        _ => Err(ApiError::method_not_allowed()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Unsupported, msg)
}

fn unauthorized(app: &AppState, msg: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, msg).with_header(
        header::WWW_AUTHENTICATE,
        format!("Basic realm=\"{}\"", app.access.config().service),
    )
}

fn check_service(app: &AppState, service: Option<&str>) -> Result<(), ApiError> {
    match service {
        Some(s) if !s.is_empty() && s != app.access.config().service => Err(bad_request(format!(
            "unknown service {:?}; this registry is {:?}",
            s.chars().take(100).collect::<String>(),
            app.access.config().service
        ))),
        _ => Ok(()),
    }
}

async fn get(app: &AppState, req: Request) -> Result<Response, ApiError> {
    let origin = crate::origin(&req);
    let params: Vec<(String, String)> = Query::try_from_uri(req.uri())
        .map(|q| q.0)
        .map_err(|_| bad_request("malformed query string"))?;
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    check_service(app, param("service"))?;
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    )
    .map_err(|e| bad_request(format!("invalid scope: {e}")))?;
    let (principal, expires) = principal_from_header(app, req.headers(), &origin).await?;
    let offline =
        (param("offline_token") == Some("true")).then(|| param("client_id").unwrap_or("docker"));
    let grant = app
        .access
        .issue(&principal, &scopes, &origin, offline, expires)
        .await?;
    Ok(token_response(&grant, false))
}

async fn principal_from_header(
    app: &AppState,
    headers: &HeaderMap,
    origin: &Origin,
) -> Result<(Principal, Option<u64>), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok((Principal::Anonymous, None));
    };
    match parse_authorization(value.as_bytes()) {
        Ok(Authorization::Basic(creds)) => Ok(app
            .access
            .authenticate_expiring(&creds.username, creds.secret(), origin)
            .await
            .map_err(|e| map_auth_error(app, e))?),
        Ok(Authorization::Bearer(_)) => Err(unauthorized(
            app,
            "the token service takes Basic credentials, not a bearer token",
        )),
        Err(e) => Err(unauthorized(
            app,
            &format!("malformed Authorization header: {e}"),
        )),
    }
}

fn map_auth_error(app: &AppState, e: berth_access::AccessError) -> ApiError {
    match e {
        berth_access::AccessError::Unauthorized(m) => unauthorized(app, &m),
        other => ApiError::from(other),
    }
}

async fn post(app: &AppState, req: Request) -> Result<Response, ApiError> {
    let origin = crate::origin(&req);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(bad_request(
            "POST /v2/auth takes an application/x-www-form-urlencoded OAuth2 form",
        ));
    }
    let body = read_limited(req.into_body()).await?;
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| bad_request("malformed form body"))?;
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    check_service(app, field("service"))?;
    let scopes = parse_scopes(
        form.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    )
    .map_err(|e| bad_request(format!("invalid scope: {e}")))?;
    let client_id = field("client_id").unwrap_or("");
    if client_id.is_empty() {
        return Err(bad_request("client_id is required"));
    }
    let (principal, refresh, expires) = match field("grant_type") {
        Some("password") => {
            let (Some(user), Some(pass)) = (field("username"), field("password")) else {
                return Err(bad_request(
                    "grant_type=password needs username and password",
                ));
            };
            let (p, expires) = app
                .access
                .authenticate_expiring(user, pass, &origin)
                .await
                .map_err(|e| map_auth_error(app, e))?;
            (p, field("access_type") == Some("offline"), expires)
        }
        Some("refresh_token") => {
            let Some(rt) = field("refresh_token") else {
                return Err(bad_request("grant_type=refresh_token needs refresh_token"));
            };
            let p = app
                .access
                .authenticate_refresh(rt, &origin)
                .await
                .map_err(|e| map_auth_error(app, e))?;
            (p, false, None)
        }
        Some(other) => {
            return Err(bad_request(format!(
                "unsupported grant_type {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
        None => return Err(bad_request("grant_type is required")),
    };
    let grant = app
        .access
        .issue(
            &principal,
            &scopes,
            &origin,
            refresh.then_some(client_id),
            expires,
        )
        .await?;
    Ok(token_response(&grant, true))
}

async fn read_limited(body: Body) -> Result<Vec<u8>, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::SizeInvalid,
            "form body is larger than 64 KiB",
        )),
    }
}

fn token_response(grant: &TokenGrant, oauth: bool) -> Response {
    let issued_at = crate::time::rfc3339(grant.issued_at as i64);
    let mut body = if oauth {
        let scope: Vec<String> = grant
            .access
            .iter()
            .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
            .collect();
        serde_json::json!({
            "access_token": grant.token,
            "scope": scope.join(" "),
            "expires_in": grant.expires_in,
            "issued_at": issued_at,
        })
    } else {
        serde_json::json!({
            "token": grant.token,
            "access_token": grant.token,
            "expires_in": grant.expires_in,
            "issued_at": issued_at,
        })
    };
    if let Some(r) = &grant.refresh_token {
        body["refresh_token"] = serde_json::Value::String(r.clone());
    }
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Tokens must not be cached by proxies.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
