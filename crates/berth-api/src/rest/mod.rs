//! The REST API under `/api/v1`, shaped like Quay's: accounts, organizations, teams, robots,
//! application tokens, repositories, permissions, default permissions ("prototypes"), tags
//! and audit logs, plus `/api/v1/openapi.json` describing all of it.
//!
//! One table ([`routes::ROUTES`]) lists every endpoint with its handler and its documentation,
//! so the router and the OpenAPI document cannot drift apart. Every request goes through
//! [`dispatch`]: match the path (repository names contain slashes, so `{repository}` takes
//! as many segments as remain once the endpoint's fixed suffix is peeled off the right),
//! read the body (at most [`MAX_BODY`]), find the caller ([`auth`]), enforce the CSRF rule
//! for cookie sessions, then run the handler.
//!
//! Handlers only translate: every permission decision is made by `berth_access::Access`, and
//! its refusals map to statuses here ([`RestError`]); a refusal (403) of a caller who gave no
//! credentials is answered 401, since signing in could change it. Errors use Quay's body,
//! `{"status","error_message","error_type","title","detail"}`; server faults are logged with
//! their cause and answered without it.

mod auth;
mod logs;
mod openapi;
mod orgs;
mod repos;
mod robots;
mod routes;
mod security;
mod users;

use std::future::Future;
use std::pin::Pin;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_access::manage::MAX_PAGE;
use berth_access::{AccessError, Origin, Principal};
use berth_registry::RegistryError;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AppState;
use routes::{Lookup, M};

/// Request bodies are small JSON documents; anything larger is refused with 413.
pub(crate) const MAX_BODY: usize = 1 << 20;
/// Page size when the caller does not say.
const DEFAULT_PAGE: u32 = 50;

/// An endpoint's implementation.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, RestError>> + Send>>;
pub(crate) type Handler = fn(Ctx) -> HandlerFuture;

/// Everything a handler gets: the caller, the matched path parameters, the query and the
/// (bounded) body.
pub(crate) struct Ctx {
    pub app: AppState,
    pub principal: Principal,
    pub origin: Origin,
    pub headers: HeaderMap,
    /// The session cookie as presented (for sign-out), whether or not it is valid.
    pub session_cookie: Option<String>,
    params: Vec<(&'static str, String)>,
    query: Vec<(String, String)>,
    body: Bytes,
}

impl Ctx {
    /// A path parameter the route declares (the route table guarantees it is there).
    pub fn param(&self, name: &str) -> &str {
        self.param_opt(name).unwrap_or_default()
    }

    pub fn param_opt(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON of type `T`; an empty body is an error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RestError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(RestError::bad_request("this request needs a JSON body"));
        }
        self.parse_json()
    }

    /// The body as JSON of type `T`, or `T::default()` when there is none.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, RestError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.parse_json()
    }

    fn parse_json<T: DeserializeOwned>(&self) -> Result<T, RestError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| RestError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// `?limit=`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
    pub fn limit(&self) -> Result<u32, RestError> {
        match self.query("limit") {
            None | Some("") => Ok(DEFAULT_PAGE),
            Some(s) => match s.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n.min(MAX_PAGE)),
                _ => Err(RestError::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE}"
                ))),
            },
        }
    }

    /// `?next_page=`, the cursor a previous page returned.
    pub fn next_page(&self) -> Option<&str> {
        self.query("next_page").filter(|s| !s.is_empty())
    }
}

/// A successful answer: a status, an optional JSON body and extra headers.
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(HeaderName, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// An error answer in Quay's shape.
#[derive(Debug)]
pub(crate) struct RestError {
    pub status: StatusCode,
    pub message: String,
    pub headers: Vec<(HeaderName, String)>,
}

impl RestError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> RestError {
        RestError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::NOT_FOUND, message)
    }

    fn internal() -> RestError {
        RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    /// Quay's `error_type` for a status.
    fn error_type(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "invalid_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            413 => "payload_too_large",
            429 => "too_many_requests",
            _ => "internal_error",
        }
    }

    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.status.as_u16(),
            "error_message": self.message,
            "error_type": self.error_type(),
            "title": self.error_type(),
            "detail": self.message,
        });
        json_response(self.status, Some(&body), self.headers)
    }
}

impl From<AccessError> for RestError {
    fn from(e: AccessError) -> Self {
        if e.is_internal() {
            tracing::error!(error = %e, "REST request failed");
            return RestError::internal();
        }
        let msg = e.to_string();
        let status = match e {
            AccessError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AccessError::TooManyAttempts(wait) => {
                let mut out = RestError::new(StatusCode::TOO_MANY_REQUESTS, msg);
                out.headers.push((header::RETRY_AFTER, wait.to_string()));
                return out;
            }
            AccessError::Forbidden(_) => StatusCode::FORBIDDEN,
            AccessError::NotFound(_) => StatusCode::NOT_FOUND,
            AccessError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        RestError::new(status, msg)
    }
}

impl From<RegistryError> for RestError {
    fn from(e: RegistryError) -> Self {
        if e.is_internal() {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "REST request failed");
            return RestError::internal();
        }
        let status = match e {
            RegistryError::NameUnknown(_)
            | RegistryError::ManifestUnknown(_)
            | RegistryError::BlobUnknown(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        RestError::new(status, e.to_string())
    }
}

fn json_response(
    status: StatusCode,
    body: Option<&Value>,
    headers: Vec<(HeaderName, String)>,
) -> Response {
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    if body.is_some() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    // Answers are per caller and may carry secrets (tokens shown once).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.append(k, v);
        }
    }
    resp
}

/// Entry point for every `/api/v1` and `/api/v1/...` request.
pub async fn dispatch(app: AppState, req: Request) -> Response {
    let origin = crate::origin(&req);
    let (parts, body) = req.into_parts();
    let (route, params) = match routes::find(parts.uri.path(), &parts.method) {
        Lookup::Route(route, params) => (route, params),
        Lookup::MethodNotAllowed(allow) => {
            let mut e = RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here; use {allow}", parts.method),
            );
            e.headers.push((header::ALLOW, allow));
            return e.into_response();
        }
        Lookup::NotFound => {
            return RestError::not_found("no such API endpoint").into_response();
        }
    };
    let session_cookie = auth::session_cookie(&parts.headers).map(str::to_owned);
    let mut anonymous = false;
    let result = async {
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
                .map_err(|_| RestError::bad_request("malformed query string"))?;
        let body = read_body(&parts.headers, body).await?;
        let principal = if route.authenticate {
            let caller = auth::caller(&app, &parts.headers, &origin).await?;
            if caller.via_cookie && route.method != M::Get {
                auth::check_csrf(&parts.headers)?;
            }
            anonymous = caller.principal == Principal::Anonymous;
            caller.principal
        } else {
            Principal::Anonymous
        };
        let ctx = Ctx {
            app: app.clone(),
            principal,
            origin: origin.clone(),
            headers: parts.headers.clone(),
            session_cookie: session_cookie.clone(),
            params,
            query,
            body,
        };
        (route.handler)(ctx).await
    }
    .await;
    match result {
        Ok(reply) => json_response(reply.status, reply.body.as_ref(), reply.headers),
        Err(mut e) => {
            // Refusing someone who did not say who they are: signing in could change the
            // answer, which is what 401 means (Access says 403 whatever the caller).
            if e.status == StatusCode::FORBIDDEN && anonymous {
                e.status = StatusCode::UNAUTHORIZED;
            }
            // A Basic challenge makes browsers prompt for a password: only for API clients,
            // never for a page that signs in with the session cookie.
            if e.status == StatusCode::UNAUTHORIZED
                && route.authenticate
                && session_cookie.is_none()
            {
                e.headers
                    .push((header::WWW_AUTHENTICATE, "Basic realm=\"berth\"".to_owned()));
            }
            e.into_response()
        }
    }
}

/// How much of an oversized body is read and thrown away before answering 413. Closing a
/// connection with unread data makes the kernel reset it, and the client may then lose the
/// 413 it was sent; draining a bounded amount lets ordinary clients see the answer.
const DRAIN_BODY: usize = 8 << 20;

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes with 413.
async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, RestError> {
    let too_large = || {
        RestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} KiB", MAX_BODY / 1024),
        )
    };
    if crate::headers::content_length(headers).is_some_and(|n| n > (MAX_BODY + DRAIN_BODY) as u64) {
        return Err(too_large());
    }
    let mut body = http_body_util::Limited::new(body, MAX_BODY + DRAIN_BODY);
    let mut kept = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(_) => return Err(RestError::bad_request("could not read the request body")),
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_BODY {
                kept.extend_from_slice(&data);
            }
        }
    }
    if total > MAX_BODY {
        return Err(too_large());
    }
    Ok(kept.freeze())
}

/// The next-page cursor of a page cut at `limit` items: the last item's key when the page is
/// full (the following page may then turn out empty, which is cheaper than counting).
pub(crate) fn next_cursor<T>(items: &[T], limit: u32, key: impl Fn(&T) -> String) -> Value {
    if items.len() >= limit as usize {
        items
            .last()
            .map(|i| Value::String(key(i)))
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

/// One page of an in-memory list: sorted by `key`, the items after `after`, at most `limit`.
/// Returns the page and its next-page cursor.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    after: Option<&str>,
    limit: u32,
) -> (Vec<T>, Value) {
    items.sort_by_key(|a| key(a));
    let start = after.map_or(0, |a| items.partition_point(|i| key(i).as_str() <= a));
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit as usize;
    let page: Vec<T> = rest.into_iter().take(limit as usize).collect();
    let next = if more {
        page.last()
            .map(|i| Value::String(key(i)))
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (page, next)
}

/// Unix seconds as Quay writes dates.
pub(crate) fn date(unix: i64) -> Value {
    Value::String(crate::time::rfc2822(unix))
}

pub(crate) fn opt_date(unix: Option<i64>) -> Value {
    unix.map(date).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paginate_by_key() {
        let items = vec!["c", "a", "b", "d"];
        let (p, next) = paginate(items.clone(), |s| s.to_string(), None, 2);
        assert_eq!(p, vec!["a", "b"]);
        assert_eq!(next, Value::String("b".into()));
        let (p, next) = paginate(items.clone(), |s| s.to_string(), Some("b"), 2);
        assert_eq!(p, vec!["c", "d"]);
        assert_eq!(next, Value::Null);
        let (p, _) = paginate(items, |s| s.to_string(), Some("bb"), 10);
        assert_eq!(p, vec!["c", "d"]);
    }

    #[test]
    fn error_shape() {
        let e: RestError = AccessError::TooManyAttempts(7).into();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            e.headers
                .iter()
                .any(|(k, v)| k == header::RETRY_AFTER && v == "7")
        );
        let e: RestError = AccessError::NotFound("repository x does not exist".into()).into();
        assert_eq!(e.error_type(), "not_found");
        let e: RestError = AccessError::Token(berth_auth::TokenError::HeaderTooLarge).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "internal server error");
    }
}
