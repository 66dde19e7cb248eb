//! HTTP routes for `/process/session…`: the contract's ten operations plus two toolboxd
//! extensions (`…/signal`, `…/wait`). The client's SDK version (header, or websocket
//! subprotocol `X-Daytona-SDK-Version~<v>`) decides the log format, as the contract's gates say.

use std::time::Duration;

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Path, Query, bool_true_only, require};
use crate::http::sdk::{self, OutputGate};
use crate::http::ws::{self, SendEnd, Ws};
use crate::process::session::follow::LogTail;
use crate::process::session::log::{self, LogFormat, Stripper};
use crate::process::session::{
    CommandInfo, ENTRYPOINT_COMMAND, ENTRYPOINT_SESSION, ExecResult, SessionInfo, SessionService,
};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_entrypoint_session, delete_entrypoint_session))
        .routes(routes!(get_entrypoint_logs))
        .routes(routes!(get_session, delete_session))
        .routes(routes!(session_execute_command))
        .routes(routes!(get_session_command))
        .routes(routes!(send_input))
        .routes(routes!(get_session_command_logs))
        .routes(routes!(signal_command))
        .routes(routes!(wait_command))
}

// ---- client version gates (contract §1.4, decided in `http::sdk`) ----

fn log_format(headers: &HeaderMap) -> LogFormat {
    match sdk::output_gate(headers) {
        OutputGate::Combined => LogFormat::Combined,
        OutputGate::Raw => LogFormat::Raw,
        OutputGate::Demux => LogFormat::Demux,
    }
}

// ---- shapes ----

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub id: String,
    pub command: String,
    /// Absent while the command runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    pub commands: Vec<Command>,
}

impl From<CommandInfo> for Command {
    fn from(c: CommandInfo) -> Self {
        Command { id: c.id, command: c.command, exit_code: c.exit_code }
    }
}

impl From<SessionInfo> for Session {
    fn from(s: SessionInfo) -> Self {
        Session { session_id: s.id, commands: s.commands.into_iter().map(Command::from).collect() }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    pub session_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionExecuteRequest {
    pub command: String,
    #[serde(default)]
    pub run_async: Option<bool>,
    /// Deprecated alias of `runAsync`.
    #[serde(default, rename = "async")]
    pub is_async: Option<bool>,
    #[serde(default)]
    pub suppress_input_echo: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionExecuteResponse {
    pub cmd_id: String,
    /// Absent (never null) while the command runs (202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionSendInputRequest {
    pub data: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCommandLogsResponse {
    pub output: String,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// Keep streaming (websocket only) until the command exits; only exactly `true` counts.
    #[serde(default, deserialize_with = "bool_true_only")]
    pub follow: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignalRequest {
    /// Signal name (`TERM`, `SIGINT`, `usr1`) or number.
    pub signal: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WaitQuery {
    /// Seconds to wait at most; absent waits until the command exits.
    pub timeout: Option<u64>,
}

// ---- handlers ----

/// Lists sessions (the entrypoint session is not listed).
#[utoipa::path(get, path = "/process/session", tag = "process", operation_id = "ListSessions",
    responses((status = 200, body = [Session]), (status = 500, body = ErrorEnvelope)))]
async fn list_sessions(State(sessions): State<SessionService>) -> axum::Json<Vec<Session>> {
    axum::Json(sessions.list().into_iter().map(Session::from).collect())
}

/// Starts a session: a long-lived shell whose state persists across its commands.
#[utoipa::path(post, path = "/process/session", tag = "process", operation_id = "CreateSession",
    request_body = CreateSessionRequest,
    responses((status = 201, description = "session created"), (status = 400, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn create_session(
    State(sessions): State<SessionService>,
    headers: HeaderMap,
    Json(request): Json<CreateSessionRequest>,
) -> ApiResult<StatusCode> {
    require(&request.session_id, "CreateSessionRequest", "SessionId")?;
    sessions.create(&request.session_id, sdk::legacy_session_cwd(&headers))?;
    Ok(StatusCode::CREATED)
}

/// The session running the image's entrypoint (404 when the daemon was started without one).
#[utoipa::path(get, path = "/process/session/entrypoint", tag = "process", operation_id = "GetEntrypointSession",
    responses((status = 200, body = Session), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn get_entrypoint_session(State(sessions): State<SessionService>) -> ApiResult<axum::Json<Session>> {
    Ok(axum::Json(sessions.get(ENTRYPOINT_SESSION)?.into()))
}

/// toolboxd: the entrypoint session cannot be deleted; answered with the contract's 400
/// instead of a 405 from the route table.
#[utoipa::path(delete, path = "/process/session/entrypoint", tag = "toolboxd", operation_id = "DeleteEntrypointSession",
    responses((status = 400, body = ErrorEnvelope)))]
async fn delete_entrypoint_session(State(sessions): State<SessionService>) -> ApiResult<StatusCode> {
    sessions.delete(ENTRYPOINT_SESSION).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The entrypoint's log: JSON over HTTP, or a websocket stream (`follow=true` keeps tailing).
#[utoipa::path(get, path = "/process/session/entrypoint/logs", tag = "process", operation_id = "GetEntrypointLogs",
    params(LogsQuery),
    responses((status = 200, body = SessionCommandLogsResponse), (status = 404, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn get_entrypoint_logs(
    State(sessions): State<SessionService>,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
    ws: Result<Ws, ApiError>,
) -> ApiResult<Response> {
    // The entrypoint's log is never combined: markers always reach the client.
    let format = match log_format(&headers) {
        LogFormat::Combined => LogFormat::Raw,
        other => other,
    };
    logs_response(&sessions, ENTRYPOINT_SESSION, ENTRYPOINT_COMMAND, &headers, query.follow, ws, format).await
}

/// A session and its commands.
#[utoipa::path(get, path = "/process/session/{sessionId}", tag = "process", operation_id = "GetSession",
    params(("sessionId" = String, Path)),
    responses((status = 200, body = Session), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn get_session(
    State(sessions): State<SessionService>,
    Path(session_id): Path<String>,
) -> ApiResult<axum::Json<Session>> {
    Ok(axum::Json(sessions.get(&session_id)?.into()))
}

/// Stops the session's whole process tree (SIGTERM, SIGKILL after the grace period) and
/// removes its logs.
#[utoipa::path(delete, path = "/process/session/{sessionId}", tag = "process", operation_id = "DeleteSession",
    params(("sessionId" = String, Path)),
    responses((status = 204, description = "session deleted"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn delete_session(
    State(sessions): State<SessionService>,
    Path(session_id): Path<String>,
) -> ApiResult<StatusCode> {
    sessions.delete(&session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a command in the session's shell: synchronously (200, with output and exit code) or
/// asynchronously (202, with the command id only).
#[utoipa::path(post, path = "/process/session/{sessionId}/exec", tag = "process", operation_id = "SessionExecuteCommand",
    params(("sessionId" = String, Path)), request_body = SessionExecuteRequest,
    responses((status = 200, body = SessionExecuteResponse), (status = 202, body = SessionExecuteResponse),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 410, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn session_execute_command(
    State(sessions): State<SessionService>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    Json(request): Json<SessionExecuteRequest>,
) -> ApiResult<Response> {
    require(&request.command, "SessionExecuteRequest", "Command")?;
    let run_async = request.run_async.unwrap_or(false) || request.is_async.unwrap_or(false);
    let suppress = request.suppress_input_echo.unwrap_or(false);
    let result = sessions.exec(&session_id, &request.command, run_async, suppress).await?;
    Ok(match result {
        ExecResult::Started { cmd_id } => {
            let body =
                SessionExecuteResponse { cmd_id, output: None, stdout: None, stderr: None, exit_code: None };
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
        ExecResult::Finished { cmd_id, exit_code, log } => {
            let (output, stdout, stderr) = match log_format(&headers) {
                LogFormat::Demux => {
                    let (out, err) = log::demux(&log);
                    (String::from_utf8_lossy(&log).into_owned(), Some(out), Some(err))
                }
                LogFormat::Raw => (String::from_utf8_lossy(&log).into_owned(), None, None),
                LogFormat::Combined => (String::from_utf8_lossy(&log::strip(&log)).into_owned(), None, None),
            };
            let body = SessionExecuteResponse {
                cmd_id,
                output: Some(output),
                stdout,
                stderr,
                exit_code: Some(exit_code),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    })
}

/// A command's state; `exitCode` appears once it has finished.
#[utoipa::path(get, path = "/process/session/{sessionId}/command/{commandId}", tag = "process",
    operation_id = "GetSessionCommand",
    params(("sessionId" = String, Path), ("commandId" = String, Path)),
    responses((status = 200, body = Command), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn get_session_command(
    State(sessions): State<SessionService>,
    Path((session_id, command_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Command>> {
    Ok(axum::Json(sessions.get_command(&session_id, &command_id)?.into()))
}

/// Writes a line to a running asynchronous command's stdin.
#[utoipa::path(post, path = "/process/session/{sessionId}/command/{commandId}/input", tag = "process",
    operation_id = "SendInput",
    params(("sessionId" = String, Path), ("commandId" = String, Path)), request_body = SessionSendInputRequest,
    responses((status = 204, description = "input sent"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 410, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn send_input(
    State(sessions): State<SessionService>,
    Path((session_id, command_id)): Path<(String, String)>,
    Json(request): Json<SessionSendInputRequest>,
) -> ApiResult<StatusCode> {
    require(&request.data, "SessionSendInputRequest", "Data")?;
    sessions.send_input(&session_id, &command_id, &request.data).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A command's log: JSON (or text for older clients) over HTTP, or a websocket stream of the
/// raw log (`follow=true` keeps tailing until the command exits, then closes with 1000).
#[utoipa::path(get, path = "/process/session/{sessionId}/command/{commandId}/logs", tag = "process",
    operation_id = "GetSessionCommandLogs",
    params(("sessionId" = String, Path), ("commandId" = String, Path), LogsQuery),
    responses((status = 200, content((SessionCommandLogsResponse = "application/json"), (String = "text/plain"))), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn get_session_command_logs(
    State(sessions): State<SessionService>,
    Path((session_id, command_id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
    ws: Result<Ws, ApiError>,
) -> ApiResult<Response> {
    let format = log_format(&headers);
    logs_response(&sessions, &session_id, &command_id, &headers, query.follow, ws, format).await
}

/// toolboxd extension: sends a signal to the processes the session's shell started (the
/// running command and its background jobs); the shell itself is spared.
#[utoipa::path(post, path = "/process/session/{sessionId}/command/{commandId}/signal", tag = "toolboxd",
    operation_id = "SignalSessionCommand",
    params(("sessionId" = String, Path), ("commandId" = String, Path)), request_body = SignalRequest,
    responses((status = 204, description = "signal sent"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 410, body = ErrorEnvelope)))]
async fn signal_command(
    State(sessions): State<SessionService>,
    Path((session_id, command_id)): Path<(String, String)>,
    Json(request): Json<SignalRequest>,
) -> ApiResult<StatusCode> {
    sessions.signal(&session_id, &command_id, &request.signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// toolboxd extension: long-poll until the command exits (or `timeout` seconds pass); returns
/// the command, with `exitCode` once it has finished.
#[utoipa::path(get, path = "/process/session/{sessionId}/command/{commandId}/wait", tag = "toolboxd",
    operation_id = "WaitSessionCommand",
    params(("sessionId" = String, Path), ("commandId" = String, Path), WaitQuery),
    responses((status = 200, body = Command), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn wait_command(
    State(sessions): State<SessionService>,
    Path((session_id, command_id)): Path<(String, String)>,
    Query(query): Query<WaitQuery>,
) -> ApiResult<axum::Json<Command>> {
    let timeout = query.timeout.map(Duration::from_secs);
    Ok(axum::Json(sessions.wait(&session_id, &command_id, timeout).await?.into()))
}

// ---- logs: HTTP body or websocket stream ----

async fn logs_response(
    sessions: &SessionService,
    session_id: &str,
    command_id: &str,
    headers: &HeaderMap,
    follow: bool,
    ws: Result<Ws, ApiError>,
    format: LogFormat,
) -> ApiResult<Response> {
    let wants_ws = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()) == Some("websocket");
    if wants_ws {
        let ws = ws?;
        let tail = sessions.tail(session_id, command_id, follow).await?;
        let upgrade = ws.echo_first_protocol(headers);
        return Ok(upgrade.on_upgrade(move |socket| stream_log(socket, tail, format)).into_response());
    }
    let log = sessions.logs(session_id, command_id).await?;
    Ok(match format {
        LogFormat::Demux => {
            let (stdout, stderr) = log::demux(&log);
            let output = String::from_utf8_lossy(&log).into_owned();
            axum::Json(SessionCommandLogsResponse { output, stdout, stderr }).into_response()
        }
        LogFormat::Raw => text(log),
        LogFormat::Combined => text(log::strip(&log)),
    })
}

fn text(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Sends the log as binary frames, then a 1000 close (1011 if the log cannot be read). Client
/// frames are read (so pings get answered) and ignored.
async fn stream_log(socket: WebSocket, tail: LogTail, format: LogFormat) {
    let (mut sink, mut incoming) = socket.split();
    let stripper = (format == LogFormat::Combined).then(Stripper::default);
    // The close frame the stream ends with, decided by how reading the log ended.
    let mut close = ws::close(ws::CLOSE_NORMAL, "");
    let frames = futures_util::stream::unfold(
        (Some(tail), stripper, &mut close),
        |(tail, mut stripper, close)| async move {
            // `None`: the log has ended and its last bytes are sent.
            let mut tail = tail?;
            loop {
                match tail.next().await {
                    Ok(Some(chunk)) => {
                        let chunk = match stripper.as_mut() {
                            Some(s) => s.push(&chunk),
                            None => chunk,
                        };
                        if !chunk.is_empty() {
                            return Some((Message::Binary(chunk.into()), (Some(tail), stripper, close)));
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        *close = ws::close(ws::CLOSE_ERROR, &format!("cannot read the log: {err}"));
                        break;
                    }
                }
            }
            // What the stripper still holds goes out last.
            let rest = stripper.as_mut().map(Stripper::finish).filter(|r| !r.is_empty())?;
            Some((Message::Binary(rest.into()), (None, None, close)))
        },
    );
    if ws::send_all(&mut sink, &mut incoming, frames).await == SendEnd::Finished {
        let _ = sink.send(close).await;
        let _ = sink.flush().await;
    }
}
