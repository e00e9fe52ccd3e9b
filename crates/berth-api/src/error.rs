//! Errors as responses: `{"errors":[{"code","message","detail"}]}` with the status the
//! distribution spec gives each code. Server-side failures are logged with their cause and
//! reported as `UNKNOWN` without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_domain::{ErrorCode, NameError};
use berth_registry::RegistryError;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Extra headers (e.g. `Range` on a 416 for an upload).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn name_invalid(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::DigestInvalid,
                d.to_string(),
            ),
            e => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::NameInvalid,
                e.to_string(),
            ),
        }
    }

    pub fn unsupported_route() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::Unsupported,
            "no such endpoint",
        )
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            "method not allowed on this endpoint",
        )
    }
}

fn status_of(e: &RegistryError) -> StatusCode {
    use RegistryError as E;
    match e {
        E::BlobUnknown(_) | E::BlobUploadUnknown | E::ManifestUnknown(_) | E::NameUnknown(_) => {
            StatusCode::NOT_FOUND
        }
        E::UploadOutOfOrder { .. } | E::RangeNotSatisfiable { .. } => {
            StatusCode::RANGE_NOT_SATISFIABLE
        }
        E::ManifestTooLarge { .. } | E::BlobTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        E::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        E::BlobUploadInvalid(_)
        | E::DigestInvalid(_)
        | E::ManifestBlobUnknown(_)
        | E::ManifestInvalid(_)
        | E::SizeInvalid(_) => StatusCode::BAD_REQUEST,
        E::Internal(_) | E::Meta(_) | E::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        if e.is_internal() {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "request failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Unknown,
                "internal server error",
            );
        }
        let mut out = ApiError::new(status_of(&e), e.code(), e.to_string());
        out.detail = e.detail();
        if let RegistryError::RangeNotSatisfiable { size } = e {
            out.headers
                .push((header::CONTENT_RANGE, format!("bytes */{size}")));
        }
        out
    }
}

impl From<berth_access::AccessError> for ApiError {
    fn from(e: berth_access::AccessError) -> Self {
        use berth_access::AccessError as E;
        if e.is_internal() {
            tracing::error!(error = %e, "request failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Unknown,
                "internal server error",
            );
        }
        let msg = e.to_string();
        match e {
            E::Unauthorized(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, msg)
            }
            E::TooManyAttempts(wait) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                msg,
            )
            .with_header(header::RETRY_AFTER, wait.to_string()),
            E::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Denied, msg),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NameUnknown, msg),
            E::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Denied, msg),
            _ => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Unsupported, msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut entry = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(d) = self.detail {
            entry["detail"] = d;
        }
        let body =
            serde_json::to_vec(&serde_json::json!({ "errors": [entry] })).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}
