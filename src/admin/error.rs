//! The admin API's errors, with one stable JSON shape: `{"error": {"code", "message"}}`.
//!
//! Client mistakes say what was wrong; internal failures are logged with their cause and
//! answered with a bare 500, so Redis' own messages never reach a client.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::json;

use crate::store::StoreError;

/// A failed admin request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: a bad parameter, path segment or body.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The credential is known but its role or account does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what the rules own, e.g. a sales edit of a derived tag.
    #[error("{0}")]
    Conflict(String),
    /// The request is too big: a body or a batch over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// Redis failed; the cause is logged, not sent.
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Store(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Store(cause) = self {
            tracing::error!(error = %cause, "admin request failed");
        }
        match self {
            ApiError::Store(StoreError::Corrupt { key, what }) => error_body(
                self.status_code(),
                self.code(),
                &format!(
                    "the value stored at {key} is corrupt ({what}); fix or delete that key in \
                     Redis, the rest of the data is unaffected"
                ),
            ),
            _ => error_body(self.status_code(), self.code(), &self.to_string()),
        }
    }
}

/// An answer in the API's error shape.
pub(super) fn error_body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

/// Query-string parsing for the API: a malformed query is a [`ApiError::BadRequest`].
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|error, _| ApiError::BadRequest(format!("query: {error}")).into())
}

/// Path parsing for the API: a malformed path segment is a [`ApiError::BadRequest`].
pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|error, _| ApiError::BadRequest(format!("path: {error}")).into())
}

/// JSON bodies for the API: a malformed or oversized body is a [`ApiError::BadRequest`].
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .error_handler(|error, _| ApiError::BadRequest(format!("body: {error}")).into())
}
