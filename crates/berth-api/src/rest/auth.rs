//! Who is calling the REST API, in this order: the `berth_session` cookie (a web session from
//! `POST /api/v1/signin`), `Authorization: Bearer <app token>`, `Authorization: Basic`
//! (password, app token, or a robot's `ns+name` and token), else anonymous.
//!
//! A cookie is sent by the browser on its own, so a state-changing request authenticated by
//! it must also carry `X-Requested-With`, which a cross-site form cannot set and a cross-site
//! script can only set after a CORS preflight this server never approves. (The cookie is
//! `SameSite=Strict` as well; the header protects older browsers and same-site attackers.)
//! Bearer and Basic credentials are never sent implicitly, so they need no such check.

use axum::http::{HeaderMap, StatusCode, header};
use berth_access::{Origin, Principal};
use berth_auth::{Authorization, parse_authorization};

use super::RestError;
use crate::AppState;

pub(crate) const SESSION_COOKIE: &str = "berth_session";
const CSRF_HEADER: &str = "x-requested-with";

/// The authenticated caller and how it proved who it is.
pub(crate) struct Caller {
    pub principal: Principal,
    /// Authenticated by the session cookie (so the CSRF rule applies).
    pub via_cookie: bool,
}

/// The `berth_session` cookie's value, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Finds the caller. A bad cookie with no other credentials, and any bad `Authorization`
/// header, are `401`; a bad cookie next to an `Authorization` header yields to the header
/// (a stale browser session must not shadow explicit credentials).
pub(crate) async fn caller(
    app: &AppState,
    headers: &HeaderMap,
    origin: &Origin,
) -> Result<Caller, RestError> {
    let authorization = headers.get(header::AUTHORIZATION);
    if let Some(cookie) = session_cookie(headers) {
        match app.access.authenticate_session(cookie).await {
            Ok(principal) => {
                return Ok(Caller {
                    principal,
                    via_cookie: true,
                });
            }
            Err(e) if authorization.is_none() || e.is_internal() => return Err(e.into()),
            Err(_) => {}
        }
    }
    let Some(value) = authorization else {
        return Ok(Caller {
            principal: Principal::Anonymous,
            via_cookie: false,
        });
    };
    let principal = match parse_authorization(value.as_bytes()) {
        Ok(Authorization::Bearer(token)) => app.access.authenticate_app_token(token).await?,
        Ok(Authorization::Basic(creds)) => {
            app.access
                .authenticate(&creds.username, creds.secret(), origin)
                .await?
        }
        Err(e) => {
            return Err(RestError::new(
                StatusCode::UNAUTHORIZED,
                format!("malformed Authorization header: {e}"),
            ));
        }
    };
    Ok(Caller {
        principal,
        via_cookie: false,
    })
}

/// The CSRF rule for cookie-authenticated requests that change state.
pub(crate) fn check_csrf(headers: &HeaderMap) -> Result<(), RestError> {
    if headers.contains_key(CSRF_HEADER) {
        Ok(())
    } else {
        Err(RestError::new(
            StatusCode::FORBIDDEN,
            "a request signed in by cookie must carry an X-Requested-With header",
        ))
    }
}

/// `Set-Cookie` for a new session (`max_age` seconds) or, with `None`, one that deletes it.
pub(crate) fn set_cookie(value: Option<&str>, max_age: u64, secure: bool) -> String {
    let (v, age) = match value {
        Some(v) => (v, max_age),
        None => ("", 0),
    };
    let mut s = format!("{SESSION_COOKIE}={v}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}");
    if secure {
        s.push_str("; Secure");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_the_session_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(session_cookie(&h), None);
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(session_cookie(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; berth_session=berth_ses_abc ; z=1"),
        );
        assert_eq!(session_cookie(&h), Some("berth_ses_abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("berth_session="));
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(Some("v"), 60, true);
        assert_eq!(
            c,
            "berth_session=v; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure"
        );
        assert!(set_cookie(None, 60, false).contains("Max-Age=0"));
        assert!(!set_cookie(None, 60, false).contains("Secure"));
    }

    #[test]
    fn csrf_header() {
        let mut h = HeaderMap::new();
        assert_eq!(check_csrf(&h).unwrap_err().status, StatusCode::FORBIDDEN);
        h.insert(CSRF_HEADER, HeaderValue::from_static("XMLHttpRequest"));
        assert!(check_csrf(&h).is_ok());
    }
}
