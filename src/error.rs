//! The one error type every handler returns, and the contract's error envelope.
//!
//! Area modules define their own error enums and convert them into [`ApiError`]; only this file
//! knows how an error becomes a status code and a body. The envelope needs the request's path
//! and method, which a handler does not have, so [`ApiError`] renders into a response that
//! carries an [`ErrorBody`] extension and the `render_envelope` middleware in `http::middleware`
//! writes the final JSON `{statusCode, message, code, source, timestamp, path, method}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The `source` every error body carries; the SDK maps `(source, code)` to typed exceptions.
pub const ERROR_SOURCE: &str = "DAYTONA_DAEMON";

/// An error on its way to the client: a status, an optional machine code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Option<&'static str>,
    pub message: String,
}

/// What an error response carries until the envelope middleware renders it.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: Option<&'static str>,
    pub message: String,
}

/// The JSON body of every error response, as the contract spells it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub status_code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub source: String,
    pub timestamp: String,
    pub path: String,
    pub method: String,
}

impl ApiError {
    /// A domain error: its message carries no class prefix (e.g. `PROCESS_NOT_FOUND`).
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code: Some(code), message: message.into() }
    }

    /// An error with a status and message but no machine code (custom 503s, untyped 500s).
    pub fn uncoded(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, code: None, message: message.into() }
    }

    fn class(status: StatusCode, code: &'static str, prefix: &str, detail: impl AsRef<str>) -> Self {
        ApiError::new(status, code, format!("{prefix}: {}", detail.as_ref()))
    }

    pub fn bad_request(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad request", detail)
    }

    /// A body that failed to decode or validate, worded as the reference daemon words it.
    pub fn invalid_body(detail: impl AsRef<str>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_BODY",
            format!("invalid body request: invalid request body: {}", detail.as_ref()),
        )
    }

    pub fn unauthorized(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized", detail)
    }

    pub fn forbidden(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::FORBIDDEN, "FORBIDDEN", "forbidden", detail)
    }

    pub fn not_found(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::NOT_FOUND, "NOT_FOUND", "not found", detail)
    }

    pub fn method_not_allowed(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed", detail)
    }

    pub fn request_timeout(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "request timeout", detail)
    }

    pub fn conflict(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::CONFLICT, "CONFLICT", "conflict", detail)
    }

    pub fn gone(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::GONE, "GONE", "gone", detail)
    }

    pub fn unprocessable(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY", "unprocessable entity", detail)
    }

    pub fn internal(detail: impl AsRef<str>) -> Self {
        Self::class(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "internal server error",
            detail,
        )
    }

    pub fn service_unavailable(detail: impl AsRef<str>) -> Self {
        Self::class(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "service unavailable", detail)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(ErrorBody { code: self.code, message: self.message });
        response
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ErrorEnvelope {
    pub fn new(status: StatusCode, body: &ErrorBody, path: &str, method: &str) -> Self {
        ErrorEnvelope {
            status_code: status.as_u16(),
            message: body.message.clone(),
            code: body.code.map(str::to_owned),
            source: ERROR_SOURCE.to_owned(),
            timestamp: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            path: path.to_owned(),
            method: method.to_owned(),
        }
    }
}
