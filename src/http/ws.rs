//! WebSocket pieces shared by the areas that upgrade (logs, PTY, interpreter, file watching):
//! the upgrade extractor, subprotocol echoing, close frames, and the loops that read a client.
//!
//! The loops are generic over `Sink`/`Stream` of [`Message`] so they run on an axum
//! [`WebSocket`](axum::extract::ws::WebSocket) in the daemon and on plain in-memory streams in
//! unit tests. Reading the client is what lets the websocket library answer its pings (the SDK
//! closes a connection whose pings go unanswered), so every loop here keeps reading while it
//! sends.

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use crate::error::ApiError;

/// Close code: the stream ended normally (the SDK's clean EOF).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the server is going away or the resource it served is gone.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the client sent something that is not the protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: the client's message breaks a rule of the endpoint.
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: the server failed.
pub const CLOSE_ERROR: u16 = 1011;

/// The most a close frame's reason can carry (125 bytes of payload minus the code).
const MAX_CLOSE_REASON: usize = 123;

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

/// A close frame; the reason is cut (at a character boundary) to what a close frame can carry.
pub fn close(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(&reason[..end]) }))
}

/// A text frame holding `value` as JSON.
pub fn json_text(value: &serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// The payload of the client's first data frame (text or binary), skipping pings and pongs;
/// `None` when the client closes or fails first.
pub async fn first_data<St, E>(incoming: &mut St) -> Option<Bytes>
where
    St: Stream<Item = Result<Message, E>> + Unpin,
{
    loop {
        match incoming.next().await {
            Some(Ok(Message::Text(text))) => return Some(Bytes::from(text)),
            Some(Ok(Message::Binary(data))) => return Some(data),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
        }
    }
}

/// Reads and drops client frames until the client closes, fails or goes away. Endpoints that
/// only send run this beside their sending, to notice a departed client at once.
pub async fn until_client_leaves<St, E>(incoming: &mut St)
where
    St: Stream<Item = Result<Message, E>> + Unpin,
{
    while let Some(Ok(message)) = incoming.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

/// How a [`send_all`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendEnd {
    /// Every frame was sent.
    Finished,
    /// The client left (closed, failed, or stopped taking frames) first.
    ClientGone,
}

/// Sends every frame of `frames` in order while reading (and dropping) what the client sends.
/// `frames` waits as long as it likes between frames; a client that leaves meanwhile ends the
/// loop at once. The caller decides what to send after (usually a [`close`]).
pub async fn send_all<Si, St, E, F>(sink: &mut Si, incoming: &mut St, frames: F) -> SendEnd
where
    Si: Sink<Message> + Unpin,
    St: Stream<Item = Result<Message, E>> + Unpin,
    F: Stream<Item = Message>,
{
    let send = async {
        let mut frames = std::pin::pin!(frames);
        while let Some(frame) = frames.next().await {
            if sink.send(frame).await.is_err() {
                return SendEnd::ClientGone;
            }
        }
        SendEnd::Finished
    };
    tokio::select! {
        end = send => end,
        () = until_client_leaves(incoming) => SendEnd::ClientGone,
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::stream;

    use super::*;

    type Incoming = Result<Message, Infallible>;

    fn frame_code(message: &Message) -> Option<(u16, String)> {
        match message {
            Message::Close(Some(frame)) => Some((frame.code, frame.reason.to_string())),
            _ => None,
        }
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let (code, reason) = frame_code(&close(CLOSE_ERROR, &long)).unwrap();
        assert_eq!(code, CLOSE_ERROR);
        assert!(reason.len() <= MAX_CLOSE_REASON);
        assert_eq!(reason.len(), 122, "61 two-byte characters fit");
        assert_eq!(frame_code(&close(CLOSE_NORMAL, "")).unwrap(), (CLOSE_NORMAL, String::new()));
    }

    #[tokio::test]
    async fn the_first_data_frame_skips_pings_and_a_close_means_none() {
        let mut incoming = stream::iter(vec![
            Incoming::Ok(Message::Ping(Bytes::new())),
            Ok(Message::Text("{\"code\":\"1\"}".into())),
            Ok(Message::Binary(Bytes::from_static(b"later"))),
        ]);
        assert_eq!(first_data(&mut incoming).await.as_deref(), Some(&b"{\"code\":\"1\"}"[..]));
        assert_eq!(first_data(&mut incoming).await.as_deref(), Some(&b"later"[..]));
        assert_eq!(first_data(&mut incoming).await, None);
        let mut closing = stream::iter(vec![Incoming::Ok(Message::Close(None))]);
        assert_eq!(first_data(&mut closing).await, None);
    }

    #[tokio::test]
    async fn send_all_delivers_every_frame_while_the_client_stays() {
        let mut sent: Vec<Message> = Vec::new();
        // A client that pings and then stays connected without sending more.
        let mut incoming =
            stream::iter(vec![Incoming::Ok(Message::Ping(Bytes::new()))]).chain(stream::pending());
        let frames = stream::iter(["a", "b", "c"]).map(|t| Message::Text(t.into()));
        let end = send_all(&mut sent, &mut incoming, frames).await;
        assert_eq!(end, SendEnd::Finished);
        let texts: Vec<_> = sent.iter().filter_map(|m| m.to_text().ok()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn send_all_ends_when_the_client_closes_mid_stream() {
        let mut sent: Vec<Message> = Vec::new();
        let mut incoming = stream::iter(vec![Incoming::Ok(Message::Close(None))]);
        // A source that never yields: only the client's departure can end the loop.
        let end = send_all(&mut sent, &mut incoming, stream::pending::<Message>()).await;
        assert_eq!(end, SendEnd::ClientGone);
        assert!(sent.is_empty());
    }

    #[tokio::test]
    async fn send_all_ends_when_the_client_stops_taking_frames() {
        // A sink whose peer is gone: every send fails.
        let mut sink =
            std::pin::pin!(futures_util::sink::unfold((), |(), _: Message| async { Err::<(), _>("gone") }));
        let mut incoming = stream::pending::<Incoming>();
        let end = send_all(&mut sink, &mut incoming, stream::iter([Message::Text("x".into())])).await;
        assert_eq!(end, SendEnd::ClientGone);
    }
}
