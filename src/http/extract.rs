//! Extractors that turn malformed input into the contract's 400s instead of axum's plain-text
//! rejections, plus the contract's decoding quirks (any Content-Type for JSON bodies, only the
//! exact string `true` is a true query boolean).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Largest JSON body a handler decodes; bigger payloads go through the streaming file endpoints.
pub const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// A JSON body, decoded whatever its `Content-Type` (the reference daemon ignores it too).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let req = req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, JSON_BODY_LIMIT)));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|err| ApiError::invalid_body(format!("failed to read body: {err}")))?;
        decode_json(&bytes).map(Json)
    }
}

/// Decodes a JSON request body with the reference daemon's wording for an empty body.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_body("EOF"));
    }
    serde_json::from_slice(bytes).map_err(|err| ApiError::invalid_body(err.to_string()))
}

/// Query parameters; a value of the wrong type is a 400 `BAD_REQUEST`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|err: QueryRejection| ApiError::bad_request(err.body_text()))
    }
}

/// Path parameters; a segment of the wrong type is a 400 `BAD_REQUEST`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|err: PathRejection| ApiError::bad_request(err.body_text()))
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(err: WebSocketUpgradeRejection) -> Self {
        ApiError::bad_request(format!("websocket upgrade required: {}", err.body_text()))
    }
}

/// Deserializes a query boolean the way the reference daemon reads it: only the exact
/// lowercase string `true` is true; `True`, `1` and anything else are false.
pub fn bool_true_only<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    Ok(raw.as_deref() == Some("true"))
}

/// Rejects an empty required string field with the reference daemon's validator wording.
pub fn require(value: &str, type_name: &str, field: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_body(format!(
            "Key: '{type_name}.{field}' Error:Field validation for '{field}' failed on the 'required' tag"
        )));
    }
    Ok(())
}
