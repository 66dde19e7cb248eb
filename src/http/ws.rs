//! WebSocket helpers shared by the areas that upgrade (logs, PTY, interpreter, file watching).

use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::error::ApiError;

/// A websocket upgrade whose rejection (not a websocket request) is a 400 in the envelope.
#[derive(Debug)]
pub struct Ws(pub WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Ws {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        WebSocketUpgrade::from_request_parts(parts, state).await.map(Ws).map_err(ApiError::from)
    }
}

/// The subprotocols a client offered, in its order.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .collect()
}

impl Ws {
    /// Selects the first subprotocol the client offered, as the reference daemon does; strict
    /// clients (Node's `ws`) fail when they offered protocols and none is selected.
    pub fn echo_first_protocol(self, headers: &HeaderMap) -> WebSocketUpgrade {
        match offered_protocols(headers).into_iter().next() {
            Some(first) => self.0.protocols([first]),
            None => self.0,
        }
    }
}
