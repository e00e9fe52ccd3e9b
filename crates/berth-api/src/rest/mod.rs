//! The REST API under `/api/v1` (placeholder until the API lands).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;

pub async fn dispatch(_app: AppState, _req: Request) -> Response {
    (StatusCode::NOT_FOUND, "{\"error_message\":\"not found\"}").into_response()
}
