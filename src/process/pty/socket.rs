//! The terminal websocket protocol (connect and create-connect), as the 0.226.1 SDK speaks it.
//!
//! Per client: one task forwards client frames into the terminal's bounded input queue (and,
//! by reading, lets the websocket library answer pings at once); the other follows the
//! terminal's output ring with its own cursor. Nothing here can block the terminal: a client
//! that falls more than the ring behind gets a marker line saying how many bytes it missed and
//! continues from the oldest byte kept.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::http::ws::{CLOSE_ERROR, CLOSE_NORMAL, close, json_text};
use crate::process::pty::PtyService;
use crate::process::pty::session::{Exit, Progress, Session};

/// Clients that offer this subprotocol get an `exited` control frame before the close.
pub const EXIT_CONTROL_PROTOCOL: &str = "X-Daytona-Pty-Exit-Control";
/// The env-passing subprotocol token prefix (create-connect).
pub const ENVS_PROTOCOL_PREFIX: &str = "X-Daytona-Pty-Envs~";
/// Largest client message; bigger ones close the socket with 1009.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Input held per client while the terminal is not reading its input.
const INPUT_BACKLOG: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    pub exit_control: bool,
    /// Replay from this output offset; `None` replays everything the ring still holds.
    pub since: Option<u64>,
    /// The terminal was created for this client (create-connect): if the client is gone
    /// before its shell starts, the terminal is removed rather than left unstarted.
    pub created_for_client: bool,
}

/// Serves one client of `session`, starting the shell after the client is registered.
pub async fn serve(socket: WebSocket, service: PtyService, session: Arc<Session>, options: ClientOptions) {
    let (mut sink, stream) = socket.split();
    // Subscribing before the shell starts is what lets an instantly-exiting shell still
    // reach this client.
    let progress = session.subscribe();
    // An offset from the future (another terminal's, or a typo) would silence the client.
    let cursor = options.since.map_or_else(|| session.ring_start(), |since| since.min(progress.borrow().end));
    if sink.send(json_text(&json!({"type": "control", "status": "connected"}))).await.is_err() {
        if options.created_for_client {
            service.discard(&session);
        }
        return;
    }
    if let Err(err) = service.start(&session) {
        let message = format!("Failed to start PTY session: {err}");
        let _ = sink.send(json_text(&json!({"type": "control", "status": "error", "error": message}))).await;
        let _ = sink.send(close(CLOSE_ERROR, &message)).await;
        return;
    }

    let Some(queue) = session.input() else {
        // The shell already exited: the loop below reports it.
        return follow(sink, &session, progress, cursor, options, None).await;
    };
    let input = tokio::spawn(forward_input(stream, queue));
    follow(sink, &session, progress, cursor, options, Some(input)).await;
}

/// Client frames into the terminal's input queue. A terminal that stops reading its input
/// fills that queue; up to `INPUT_BACKLOG` bytes more are held here so the socket keeps being
/// read (which is what answers pings) before the client is finally pushed back on.
/// Ends with true when the client is gone, false when the terminal stopped taking input.
async fn forward_input(mut stream: SplitStream<WebSocket>, queue: mpsc::Sender<Bytes>) -> bool {
    let mut backlog: VecDeque<Bytes> = VecDeque::new();
    let mut backlog_bytes = 0usize;
    loop {
        tokio::select! {
            permit = queue.reserve(), if !backlog.is_empty() => {
                let Ok(permit) = permit else { return false };
                if let Some(data) = backlog.pop_front() {
                    backlog_bytes -= data.len();
                    permit.send(data);
                }
            }
            message = stream.next(), if backlog_bytes < INPUT_BACKLOG => {
                let data = match message {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Text(text))) => text.into(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return true,
                };
                if queue.is_closed() {
                    return false;
                }
                backlog_bytes += data.len();
                backlog.push_back(data);
            }
        }
    }
}

/// Streams the ring to the client from `cursor` until the terminal exits, is deleted, or the
/// client leaves.
async fn follow(
    mut sink: SplitSink<WebSocket, Message>,
    session: &Session,
    mut progress: watch::Receiver<Progress>,
    mut cursor: u64,
    options: ClientOptions,
    input: Option<JoinHandle<bool>>,
) {
    let mut input_open = input.is_some();
    let mut input = input.unwrap_or_else(|| tokio::spawn(async { false }));

    loop {
        if session.killed.is_cancelled() {
            let _ = sink.send(exit_close(&Exit::killed())).await;
            break;
        }
        let end = progress.borrow_and_update().end;
        if cursor < end {
            let chunk = session.read(cursor);
            if chunk.skipped > 0 {
                let marker = format!("\r\n[toolboxd: {} bytes of output dropped]\r\n", chunk.skipped);
                if sink.send(Message::Binary(marker.into())).await.is_err() {
                    break;
                }
            }
            cursor = chunk.next;
            if !chunk.data.is_empty() && sink.send(Message::Binary(chunk.data)).await.is_err() {
                break;
            }
            continue;
        }
        let exit = progress.borrow().exit.clone();
        if let Some(exit) = exit {
            if progress.borrow().end > cursor {
                continue;
            }
            if options.exit_control {
                let mut frame = json!({"type": "control", "status": "exited", "exitCode": exit.code});
                if let Some(reason) = &exit.reason {
                    frame["exitReason"] = json!(reason);
                }
                let _ = sink.send(json_text(&frame)).await;
            }
            let _ = sink.send(exit_close(&exit)).await;
            break;
        }
        tokio::select! {
            biased;
            () = session.killed.cancelled() => {}
            changed = progress.changed() => if changed.is_err() { break },
            client_gone = &mut input, if input_open => {
                if client_gone.unwrap_or(true) {
                    break;
                }
                // The shell is exiting: keep streaming until its exit is published.
                input_open = false;
            }
        }
    }
    input.abort();
}

/// The in-band answer to a connect that cannot attach (unknown id, ended terminal).
pub async fn refuse(mut socket: WebSocket, message: &str) {
    let message = format!("Failed to connect to PTY session: {message}");
    let _ = socket.send(json_text(&json!({"type": "control", "status": "error", "error": message}))).await;
    let _ = socket.send(close(CLOSE_ERROR, &message)).await;
}

fn exit_close(exit: &Exit) -> Message {
    let mut reason = json!({"exitCode": exit.code});
    if let Some(text) = &exit.reason {
        reason["exitReason"] = json!(text);
    }
    let code = if exit.code == 0 { CLOSE_NORMAL } else { CLOSE_ERROR };
    close(code, &reason.to_string())
}
