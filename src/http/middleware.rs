//! The request path's middleware, outermost first: trace → render the error envelope →
//! catch panics → authenticate → the route table.

use std::any::Any;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::ApiError;

/// Writes the contract's JSON envelope for every response that carries an [`ApiError`], so
/// handler errors, extractor rejections, auth failures, unknown routes and panics look alike.
pub async fn render_envelope(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let Some(err) = response.extensions().get::<ApiError>().cloned() else {
        return response;
    };
    let status = response.status();
    if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(http.method = %method, http.path = %path, status = status.as_u16(), "{method} {path} failed: {}", err.message);
    } else if status.is_server_error() {
        // 502/503 describe the sandbox's state (an app not listening yet, no desktop), not a
        // daemon fault.
        tracing::warn!(http.method = %method, http.path = %path, status = status.as_u16(), "{method} {path} failed: {}", err.message);
    } else {
        tracing::debug!(http.method = %method, http.path = %path, status = status.as_u16(), "{method} {path} rejected: {}", err.message);
    }
    let envelope = err.envelope(&path, method.as_str());
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    Response::from_parts(parts, Body::from(json))
}

/// Turns a handler panic into a 500; the envelope middleware logs it with the request path.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("handler panicked");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

/// The credentials of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive and may be followed by several spaces (RFC 9110 §11.1, RFC 6750 §2.1).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start_matches(' '))
        .filter(|t| !t.is_empty())
}

/// With a token configured, every request (websocket upgrades included) must carry
/// `Authorization: Bearer <token>`; the comparison takes the same time whatever the input.
/// Only the configuration is its state: extracting the whole `AppState` would clone every
/// area's handle on every request.
pub async fn require_token(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    if let Some(expected) = config.token.as_deref() {
        let presented = bearer_token(request.headers()).unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return ApiError::unauthorized("missing or invalid bearer token").into_response();
        }
    }
    next.run(request).await
}

/// The route table's fallback: an unknown path.
pub async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// A known path asked with a method it does not serve.
pub async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::method_not_allowed(format!("{method} is not served on {}", uri.path()))
}
