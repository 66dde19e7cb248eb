//! The execute websocket: the first client frame is the JSON request, every server frame is a
//! worker message with all five keys, and the close code says how the run ended.
//!
//! Frames pass through a bounded channel (64) between the run and this socket, so a slow client
//! slows the worker down (its pipe fills) instead of growing a buffer. Later client frames are
//! read and ignored; reading them is what lets the library answer pings during a long run.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::http::ws::{self, SendEnd};
use crate::process::interpreter::{DEFAULT_CONTEXT, InterpreterService, Outcome, RunRequest};

/// What `run_code` sends (unknown fields ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteRequest {
    pub code: Option<String>,
    pub context_id: Option<String>,
    /// Seconds; absent means 600, 0 means no limit.
    pub timeout: Option<i64>,
    pub envs: Option<BTreeMap<String, String>>,
}

const DEFAULT_TIMEOUT_SECS: u64 = 600;
const FRAME_QUEUE: usize = 64;

pub async fn serve(socket: WebSocket, service: InterpreterService) {
    let (mut sink, mut stream) = socket.split();
    let Some(first) = ws::first_data(&mut stream).await else {
        let _ = sink.send(ws::close(1002, "failed to read first message")).await;
        return;
    };
    let request: ExecuteRequest = match serde_json::from_slice(&first) {
        Ok(request) => request,
        Err(_) => {
            let _ = sink.send(ws::close(1002, "invalid JSON payload")).await;
            return;
        }
    };
    let Some(code) = request.code.filter(|code| !code.is_empty()) else {
        let _ = sink.send(ws::close(1008, "code is required")).await;
        return;
    };
    let timeout = match request.timeout {
        Some(t) if t < 0 => {
            let _ = sink.send(ws::close(1008, "timeout must be greater than or equal to 0")).await;
            return;
        }
        Some(0) => None,
        Some(t) => Some(Duration::from_secs(t.unsigned_abs())),
        None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
    };
    let id = request.context_id.filter(|id| !id.is_empty()).unwrap_or_else(|| DEFAULT_CONTEXT.to_owned());
    let Ok(context) = service.get(&id) else {
        let _ = sink.send(ws::close(1008, &format!("context not found: {id}"))).await;
        return;
    };

    let client_gone = CancellationToken::new();
    let (tx, rx) = mpsc::channel::<String>(FRAME_QUEUE);
    let run = tokio::spawn({
        let client_gone = client_gone.clone();
        let request = RunRequest { code, envs: request.envs.unwrap_or_default(), timeout };
        async move { service.run(context, request, tx, client_gone).await }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let frame = rx.recv().await?;
        Some((Message::Text(Utf8Bytes::from(frame)), rx))
    });
    if ws::send_all(&mut sink, &mut stream, frames).await == SendEnd::ClientGone {
        client_gone.cancel();
    }
    let outcome = run.await.unwrap_or(Outcome::WorkerDied);
    let (code, reason) = match &outcome {
        Outcome::Completed => (1000, String::new()),
        Outcome::TimedOut => (4008, "execution timed out".to_owned()),
        Outcome::Interrupted => (4008, "execution interrupted".to_owned()),
        Outcome::ClientGone => (1000, String::new()),
        Outcome::WorkerDied => (1001, "worker process ended".to_owned()),
        Outcome::Deleted => (1001, "context shutdown".to_owned()),
        Outcome::QueueFull => (1008, "too many executions queued on this context".to_owned()),
        Outcome::StartFailed(err) => (1011, err.clone()),
    };
    let _ = sink.send(ws::close(code, &reason)).await;
}
