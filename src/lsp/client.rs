//! A typed LSP client over a child process's stdio.
//!
//! Messages are JSON-RPC 2.0 framed with `Content-Length` headers. Requests get increasing
//! integer ids and wait on a oneshot channel with a timeout; one I/O task per server reads
//! stdout and routes each response to its waiter, answers the requests a server makes of its
//! client (configuration, progress tokens, capability registration) so the server never
//! stalls waiting for us, and drops notifications (diagnostics, log messages).
//!
//! When stdout reaches EOF, the server process exits (checked every 250 ms, since a grandchild
//! may hold stdout open) or the client is told to stop, the I/O task kills the server's whole
//! process tree through its `process::owner` handle (typescript-language-server runs tsserver
//! children), waits for the leader's exit, fails every waiting request and records why, so
//! later requests fail at once instead of hanging.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lsp_types::notification::Notification;
use lsp_types::request::Request;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::lsp::error::LspError;
use crate::process::owner::{ChildIo, Exit, Spawn, Tree};

/// Largest message a server may send; a bigger `Content-Length` is treated as a broken server.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Longest header line accepted before the framing is considered broken.
const MAX_HEADER_LINE: u64 = 8 * 1024;
/// Stderr lines kept to explain a crash.
const STDERR_TAIL_LINES: usize = 20;
/// How long a server gets to exit after `exit` before its process tree is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// How often the server process is checked for an exit that its output did not reveal.
const EXIT_CHECK: Duration = Duration::from_millis(250);

/// How the server process is started.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    /// What error messages call the server, e.g. `pylsp (python language server for /p)`.
    pub(crate) name: String,
    pub(crate) command: Spawn,
    pub(crate) program: &'static str,
    pub(crate) install: &'static str,
    pub(crate) args: &'a [&'a str],
}

type Waiter = oneshot::Sender<Result<Value, RpcError>>;

/// A JSON-RPC error object sent by the server.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
}

/// A running (or exited) language server and the means to talk to it.
#[derive(Debug)]
pub(crate) struct LspClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Mutex<HashMap<i64, Waiter>>,
    next_id: AtomicI64,
    /// Why the server is gone; `None` while it runs.
    exited: Mutex<Option<String>>,
    /// Set before a deliberate `exit`, so the EOF that follows is not reported as a crash.
    stopping: AtomicBool,
    /// Tells the I/O task to kill the server now.
    kill: CancellationToken,
    /// Cancelled once the I/O task has killed and reaped the server.
    finished: CancellationToken,
    stderr_tail: Mutex<VecDeque<String>>,
    /// Cancelled when the server's stderr reaches EOF.
    stderr_closed: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LspClient {
    /// Spawns the server and starts its I/O tasks (no LSP handshake yet).
    pub(crate) fn spawn(launch: Launch<'_>, workspace_folders: Value) -> Result<LspClient, LspError> {
        let Launch { name, mut command, program, install, args } = launch;
        command.args(args).stdin(ChildIo::Piped).stdout(ChildIo::Piped).stderr(ChildIo::Piped);
        let mut child = command.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LspError::NotInstalled { server: program, install },
            _ => LspError::Spawn { server: program, source },
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(LspError::Spawn {
                server: program,
                source: std::io::Error::other("stdio pipes missing"),
            });
        };
        let inner = Arc::new(Inner {
            name,
            stdin: tokio::sync::Mutex::new(stdin),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            exited: Mutex::new(None),
            stopping: AtomicBool::new(false),
            kill: CancellationToken::new(),
            finished: CancellationToken::new(),
            stderr_tail: Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)),
            stderr_closed: CancellationToken::new(),
        });
        tokio::spawn(drain_stderr(Arc::clone(&inner), stderr));
        tokio::spawn(run_io(Arc::clone(&inner), child.tree, stdout, workspace_folders));
        Ok(LspClient { inner })
    }

    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    /// Why the server is gone, or `None` while it runs.
    pub(crate) fn exit_reason(&self) -> Option<String> {
        lock(&self.inner.exited).clone()
    }

    fn exited_error(&self) -> Option<LspError> {
        self.exit_reason().map(|detail| LspError::Exited { server: self.inner.name.clone(), detail })
    }

    /// Sends a request and waits for its typed result, at most `timeout`.
    pub(crate) async fn request<R: Request>(
        &self,
        params: R::Params,
        timeout: Duration,
    ) -> Result<R::Result, LspError> {
        if let Some(err) = self.exited_error() {
            return Err(err);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(id, tx);
        // Forgets the waiter however this function ends, a dropped (cancelled) call included.
        let _pending = PendingGuard { inner: &self.inner, id };
        // The I/O task records the exit before it drains the waiters: if it drained them just
        // before this one was registered, the exit is visible now.
        if let Some(err) = self.exited_error() {
            return Err(err);
        }
        let message = envelope(Some(id), R::METHOD, params, self.name(), R::METHOD)?;
        self.inner.write(&message).await?;
        let outcome = tokio::time::timeout(timeout, rx).await;
        let value = match outcome {
            Ok(Ok(Ok(value))) => value,
            Ok(Ok(Err(rpc))) => {
                return Err(LspError::Server {
                    server: self.inner.name.clone(),
                    method: R::METHOD,
                    code: rpc.code,
                    message: rpc.message,
                });
            }
            Ok(Err(_closed)) => {
                return Err(self.exited_error().unwrap_or_else(|| LspError::Exited {
                    server: self.inner.name.clone(),
                    detail: "the connection closed".to_owned(),
                }));
            }
            Err(_elapsed) => {
                let cancel = lsp_types::CancelParams { id: lsp_types::NumberOrString::Number(id as i32) };
                let _ = self.notify::<lsp_types::notification::Cancel>(cancel).await;
                return Err(LspError::Timeout {
                    server: self.inner.name.clone(),
                    method: R::METHOD,
                    timeout,
                });
            }
        };
        serde_json::from_value(value).map_err(|err| LspError::Protocol {
            server: self.inner.name.clone(),
            method: R::METHOD,
            detail: err.to_string(),
        })
    }

    /// Sends a notification.
    pub(crate) async fn notify<N: Notification>(&self, params: N::Params) -> Result<(), LspError> {
        if let Some(err) = self.exited_error() {
            return Err(err);
        }
        let message = envelope(None, N::METHOD, params, self.name(), N::METHOD)?;
        self.inner.write(&message).await
    }

    /// `shutdown` then `exit`; kills the process group if the server lingers or does not
    /// answer, and returns once the server is reaped.
    pub(crate) async fn stop(&self, shutdown_timeout: Duration) {
        if self.exit_reason().is_none() {
            self.inner.stopping.store(true, Ordering::SeqCst);
            let polite = async {
                self.request::<lsp_types::request::Shutdown>((), shutdown_timeout).await?;
                self.notify::<lsp_types::notification::Exit>(()).await
            };
            if let Err(err) = polite.await {
                tracing::debug!(server = %self.inner.name, "polite shutdown failed: {err}");
            }
            let _ = tokio::time::timeout(EXIT_GRACE, self.inner.finished.cancelled()).await;
        }
        self.inner.kill.cancel();
        self.inner.finished.cancelled().await;
    }
}

struct PendingGuard<'a> {
    inner: &'a Inner,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.pending).remove(&self.id);
    }
}

impl Inner {
    async fn write(&self, body: &[u8]) -> Result<(), LspError> {
        let mut stdin = self.stdin.lock().await;
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        let written = async {
            stdin.write_all(header.as_bytes()).await?;
            stdin.write_all(body).await?;
            stdin.flush().await
        };
        let Err(err) = written.await else { return Ok(()) };
        drop(stdin);
        // A broken pipe means the server is gone; its I/O task is about to record how.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.finished.cancelled()).await;
        let detail = lock(&self.exited).clone().unwrap_or_else(|| format!("writing to it failed: {err}"));
        Err(LspError::Exited { server: self.name.clone(), detail })
    }

    fn stderr_tail(&self) -> String {
        let tail = lock(&self.stderr_tail);
        tail.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }

    /// Routes one message from the server.
    fn dispatch(self: &Arc<Self>, message: Value, workspace_folders: &Value) {
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id").cloned();
        match (id, method) {
            (Some(id), None) => {
                let Some(waiter) = id.as_i64().and_then(|id| lock(&self.pending).remove(&id)) else {
                    return;
                };
                let outcome = match message.get("error") {
                    Some(error) => Err(RpcError {
                        code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no message")
                            .to_owned(),
                    }),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = waiter.send(outcome);
            }
            (Some(id), Some(method)) => {
                let reply = answer_server_request(method, message.get("params"), workspace_folders);
                let inner = Arc::clone(self);
                // Replies go out on their own task so that a full stdin pipe never stops this
                // reader (the server may be blocked writing to us).
                tokio::spawn(async move {
                    let mut body = json!({ "jsonrpc": "2.0", "id": id });
                    match reply {
                        Ok(result) => body["result"] = result,
                        Err((code, message)) => body["error"] = json!({ "code": code, "message": message }),
                    }
                    if let Ok(bytes) = serde_json::to_vec(&body) {
                        let _ = inner.write(&bytes).await;
                    }
                });
            }
            (None, Some(method)) => tracing::trace!(server = %self.name, "notification {method}"),
            (None, None) => {
                tracing::debug!(server = %self.name, "ignoring a message that is neither request nor response")
            }
        }
    }

    fn finish(&self, reason: String) {
        lock(&self.exited).get_or_insert(reason);
        let waiters: Vec<Waiter> = lock(&self.pending).drain().map(|(_, waiter)| waiter).collect();
        // Dropping a waiter wakes its request, which then reports `exited`.
        drop(waiters);
    }
}

/// Serializes a JSON-RPC request (with `id`) or notification.
fn envelope<P: serde::Serialize>(
    id: Option<i64>,
    method: &str,
    params: P,
    server: &str,
    what: &'static str,
) -> Result<Vec<u8>, LspError> {
    let params = serde_json::to_value(params).map_err(|err| LspError::Protocol {
        server: server.to_owned(),
        method: what,
        detail: err.to_string(),
    })?;
    let mut body = json!({ "jsonrpc": "2.0", "method": method });
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    if !params.is_null() {
        body["params"] = params;
    }
    serde_json::to_vec(&body).map_err(|err| LspError::Protocol {
        server: server.to_owned(),
        method: what,
        detail: err.to_string(),
    })
}

/// What a client answers the requests servers make of it. Unknown methods get the JSON-RPC
/// "method not found" error, which servers handle; silence would make them wait.
fn answer_server_request(
    method: &str,
    params: Option<&Value>,
    workspace_folders: &Value,
) -> Result<Value, (i64, String)> {
    use lsp_types::request::{
        ApplyWorkspaceEdit, RegisterCapability, ShowMessageRequest, UnregisterCapability,
        WorkDoneProgressCreate, WorkspaceConfiguration, WorkspaceFoldersRequest,
    };
    match method {
        WorkspaceConfiguration::METHOD => {
            let items = params
                .and_then(|p| serde_json::from_value::<lsp_types::ConfigurationParams>(p.clone()).ok())
                .map_or(0, |p| p.items.len());
            // No settings of our own: every section gets the server's defaults.
            Ok(Value::Array(vec![Value::Null; items]))
        }
        WorkDoneProgressCreate::METHOD
        | RegisterCapability::METHOD
        | UnregisterCapability::METHOD
        | ShowMessageRequest::METHOD => Ok(Value::Null),
        WorkspaceFoldersRequest::METHOD => Ok(workspace_folders.clone()),
        ApplyWorkspaceEdit::METHOD => {
            let result = lsp_types::ApplyWorkspaceEditResponse {
                applied: false,
                failure_reason: Some("toolboxd does not apply edits".to_owned()),
                failed_change: None,
            };
            serde_json::to_value(result).map_err(|err| (-32603, err.to_string()))
        }
        _ => Err((-32601, format!("method {method} is not supported by this client"))),
    }
}

/// Reads one `Content-Length` framed message; `None` at a clean EOF.
async fn read_frame<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut *reader).take(MAX_HEADER_LINE).read_line(&mut line).await?;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with('\n') {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "header line too long"));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            if length.is_some() {
                break;
            }
            continue;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            let parsed = value.trim().parse::<usize>().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad Content-Length {value:?}"))
            })?;
            length = Some(parsed);
        }
    }
    let length = length.unwrap_or_default();
    if length > MAX_MESSAGE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("message of {length} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit"),
        ));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(body))
}

type FrameRead = std::pin::Pin<
    Box<dyn Future<Output = (BufReader<ChildStdout>, std::io::Result<Option<Vec<u8>>>)> + Send>,
>;

/// The next frame, as a future that owns the reader so it can outlive a `select!` round.
fn next_frame(mut reader: BufReader<ChildStdout>) -> FrameRead {
    Box::pin(async move {
        let frame = read_frame(&mut reader).await;
        (reader, frame)
    })
}

/// Reads the server's output until it ends or the client is told to stop, then kills the
/// process tree, waits for the server's exit and fails whatever still waits.
async fn run_io(inner: Arc<Inner>, tree: Tree, stdout: ChildStdout, workspace_folders: Value) {
    // Output EOF alone misses a crash when a grandchild inherited the server's stdio: the pipe
    // stays open though the server is dead. So the leader is watched too.
    let mut exit_check = tokio::time::interval(EXIT_CHECK);
    exit_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // `read_frame` is not cancel-safe (a half-read frame would be lost), so the read in
    // progress survives the other branches firing and is replaced only once it completes.
    let mut reading = next_frame(BufReader::new(stdout));
    let ended = loop {
        tokio::select! {
            () = inner.kill.cancelled() => break None,
            (reader, frame) = &mut reading => match frame {
                Ok(Some(bytes)) => {
                    reading = next_frame(reader);
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(message) => inner.dispatch(message, &workspace_folders),
                        Err(err) => tracing::debug!(server = %inner.name, "ignoring a message that is not JSON: {err}"),
                    }
                }
                Ok(None) => break Some(String::new()),
                Err(err) => break Some(format!("broke the message framing ({err}), then ")),
            },
            _ = exit_check.tick() => {
                if tree.exit().is_some() {
                    break Some(String::new());
                }
            }
        }
    };
    drop(reading);
    if ended.is_some() && inner.stopping.load(Ordering::SeqCst) {
        // A deliberate `exit`: give the leader a moment to finish before the tree is killed.
        let _ = tokio::time::timeout(EXIT_GRACE, tree.wait()).await;
    }
    tree.kill().await;
    let status = tree.wait().await;
    let reason = match (inner.stopping.load(Ordering::SeqCst), ended) {
        (true, _) | (false, None) => "it was stopped".to_owned(),
        (false, Some(what)) => {
            // The last words of a crash are on stderr, which may still be in flight.
            let _ = tokio::time::timeout(Duration::from_millis(500), inner.stderr_closed.cancelled()).await;
            let mut reason = format!("{what}{}", describe(status));
            let tail = inner.stderr_tail();
            if !tail.is_empty() {
                reason.push_str(&format!("; its last output: {tail}"));
            }
            tracing::warn!(server = %inner.name, "language server {} exited: {reason}", inner.name);
            reason
        }
    };
    inner.finish(reason);
    inner.finished.cancel();
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exit status: {code}"),
        Exit::Signal(signal) => format!("signal: {signal}"),
    }
}

async fn drain_stderr(inner: Arc<Inner>, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(server = %inner.name, "{line}");
        let mut tail = lock(&inner.stderr_tail);
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.chars().take(500).collect());
    }
    inner.stderr_closed.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_read_by_content_length() {
        let stream =
            b"Content-Length: 2\r\n\r\n{}Content-Type: x\r\ncontent-length:7\r\n\r\n[1,2,3]".to_vec();
        let mut reader = BufReader::new(&stream[..]);
        assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), b"{}");
        assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), b"[1,2,3]");
        assert!(read_frame(&mut reader).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_or_garbled_frames_are_errors() {
        let big = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1);
        assert!(read_frame(&mut BufReader::new(big.as_bytes())).await.is_err());
        let bad = b"Content-Length: ten\r\n\r\n";
        assert!(read_frame(&mut BufReader::new(&bad[..])).await.is_err());
        let endless = vec![b'x'; MAX_HEADER_LINE as usize + 10];
        assert!(read_frame(&mut BufReader::new(&endless[..])).await.is_err());
    }

    #[test]
    fn configuration_requests_get_one_null_per_item() {
        let params = json!({ "items": [{ "section": "pylsp" }, { "section": "python" }] });
        let answer = answer_server_request("workspace/configuration", Some(&params), &Value::Null).unwrap();
        assert_eq!(answer, json!([null, null]));
        assert_eq!(
            answer_server_request("window/workDoneProgress/create", None, &Value::Null),
            Ok(Value::Null)
        );
        assert_eq!(answer_server_request("nope/nope", None, &Value::Null).unwrap_err().0, -32601);
    }
}
