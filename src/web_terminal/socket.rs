//! The terminal websocket protocol (contract §8.3), independent of HTTP.
//!
//! Client → server: a text frame that parses as a JSON object (or `null`) is a resize
//! `{"rows","cols"}`; any other text or binary frame is input. Server → client: the terminal's
//! output as text frames, cut on UTF-8 boundaries. No control messages: when the shell exits
//! the socket closes, and when the socket closes the shell's tree is killed.

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::ssh::child::Child;

/// A frame, as far as the protocol cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
    Close,
    /// Pings and pongs; the websocket layer answers pings itself.
    Other,
}

/// What a client frame asks for.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    Resize { cols: u16, rows: u16 },
    Data(Bytes),
    Nothing,
}

fn classify(frame: Frame) -> Option<Input> {
    match frame {
        Frame::Close => None,
        Frame::Other => Some(Input::Nothing),
        Frame::Binary(data) => Some(Input::Data(data)),
        Frame::Text(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(size)) => {
                let field = |name: &str| {
                    size.get(name)
                        .and_then(serde_json::Value::as_u64)
                        .map_or(0, |n| u16::try_from(n).unwrap_or(u16::MAX))
                };
                Some(Input::Resize { cols: field("cols"), rows: field("rows") })
            }
            Ok(serde_json::Value::Null) => Some(Input::Resize { cols: 0, rows: 0 }),
            _ => Some(Input::Data(Bytes::from(text))),
        },
    }
}

/// Takes the longest complete UTF-8 prefix of `pending` as text; an incomplete sequence at the
/// end waits for the next chunk, invalid bytes become U+FFFD.
pub fn take_text(pending: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut rest: &[u8] = pending;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                rest = &[];
                break;
            }
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match err.error_len() {
                    Some(bad) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[bad..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.to_vec();
    *pending = keep;
    text
}

/// Runs the terminal until the shell exits, the client leaves or the daemon stops.
pub async fn pump<S>(mut socket: S, mut child: Child, shutdown: CancellationToken)
where
    S: Stream<Item = Frame> + Sink<Frame> + Unpin,
{
    let input = child.input.take();
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            output = child.stdout.recv() => {
                let Some(output) = output else { break };
                pending.extend_from_slice(&output);
                let text = take_text(&mut pending);
                if !text.is_empty() && socket.send(Frame::Text(text)).await.is_err() {
                    break;
                }
            }
            frame = socket.next() => match frame.and_then(classify) {
                None => break,
                Some(Input::Nothing) => {}
                Some(Input::Resize { cols, rows }) => {
                    // The reference takes 0×0 (a pasted JSON object); a terminal cannot be that small.
                    if cols > 0 && rows > 0 {
                        child.resize(cols.min(crate::process::pty::MAX_DIMENSION), rows.min(crate::process::pty::MAX_DIMENSION));
                    }
                }
                Some(Input::Data(data)) => {
                    let Some(input) = &input else { continue };
                    if input.send(data).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = socket.send(Frame::Close).await;
    // Dropping the child kills the shell and everything it started.
    drop(child);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_character_boundaries() {
        let euro = "€".as_bytes();
        let mut pending = vec![b'a', euro[0], euro[1]];
        assert_eq!(take_text(&mut pending), "a");
        assert_eq!(pending, &euro[..2]);
        pending.push(euro[2]);
        pending.push(b'b');
        assert_eq!(take_text(&mut pending), "€b");
        assert!(pending.is_empty());
        let mut bad = vec![b'x', 0xff, b'y'];
        assert_eq!(take_text(&mut bad), "x\u{fffd}y");
    }

    #[test]
    fn json_objects_resize_and_everything_else_is_input() {
        assert_eq!(
            classify(Frame::Text(r#"{"cols":100,"rows":30}"#.into())),
            Some(Input::Resize { cols: 100, rows: 30 })
        );
        assert_eq!(classify(Frame::Text("null".into())), Some(Input::Resize { cols: 0, rows: 0 }));
        assert_eq!(classify(Frame::Text("ls\r".into())), Some(Input::Data(Bytes::from("ls\r"))));
        assert_eq!(classify(Frame::Text("42".into())), Some(Input::Data(Bytes::from("42"))));
        assert_eq!(classify(Frame::Close), None);
    }
}
