//! HTTP routes for `/process/pty`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Path, Query};
use crate::http::ws::{Ws, offered_protocols};
use crate::process::pty::session::Session;
use crate::process::pty::socket::{
    self, ClientOptions, ENVS_PROTOCOL_PREFIX, EXIT_CONTROL_PROTOCOL, MAX_MESSAGE,
};
use crate::process::pty::{CreatePty, PtyService};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_pty_sessions, create_pty_session))
        .routes(routes!(create_connect_pty_session))
        .routes(routes!(get_pty_session, delete_pty_session))
        .routes(routes!(resize_pty_session))
        .routes(routes!(connect_pty_session))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtySessionInfo {
    pub id: String,
    pub cwd: String,
    pub envs: BTreeMap<String, String>,
    pub cols: u16,
    pub rows: u16,
    /// RFC 3339 with nanoseconds.
    pub created_at: String,
    /// Whether the shell is running.
    pub active: bool,
    pub lazy_start: bool,
}

impl From<&Session> for PtySessionInfo {
    fn from(session: &Session) -> Self {
        let (cols, rows) = session.size();
        PtySessionInfo {
            id: session.id.clone(),
            cwd: session.cwd.to_string_lossy().into_owned(),
            envs: session.envs.clone(),
            cols,
            rows,
            created_at: session.created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            active: session.is_active(),
            lazy_start: session.lazy_start,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PtyListResponse {
    pub sessions: Vec<PtySessionInfo>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtyCreateRequest {
    pub id: Option<String>,
    pub cwd: Option<String>,
    pub envs: Option<BTreeMap<String, String>>,
    /// 1..=1000; 0 or absent means 80.
    pub cols: Option<u16>,
    /// 1..=1000; 0 or absent means 24.
    pub rows: Option<u16>,
    /// Don't start the shell until the first client connects.
    pub lazy_start: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtyCreateResponse {
    pub session_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PtyResizeRequest {
    pub cols: u16,
    pub rows: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectQuery {
    /// Replay output from this byte offset of the terminal's output (default: all that the
    /// 1 MiB ring still holds). Offsets older than the ring are announced by a marker line.
    pub since: Option<u64>,
}

/// Query of the SDK's create-connect route; numbers are parsed by hand for the reference wording.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateConnectQuery {
    /// The new terminal's id (required).
    pub id: Option<String>,
    pub cols: Option<String>,
    pub rows: Option<String>,
    pub cwd: Option<String>,
}

/// All terminals (unordered).
#[utoipa::path(get, path = "/process/pty", tag = "process", operation_id = "ListPtySessions",
    responses((status = 200, body = PtyListResponse)))]
async fn list_pty_sessions(State(pty): State<PtyService>) -> axum::Json<PtyListResponse> {
    let sessions = pty.list().iter().map(|session| PtySessionInfo::from(&**session)).collect();
    axum::Json(PtyListResponse { sessions })
}

/// Creates a terminal (`<shell> -i -l`); a lazy one starts on its first connect.
#[utoipa::path(post, path = "/process/pty", tag = "process", operation_id = "CreatePtySession",
    request_body = PtyCreateRequest,
    responses((status = 201, body = PtyCreateResponse), (status = 400, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn create_pty_session(
    State(pty): State<PtyService>,
    Json(request): Json<PtyCreateRequest>,
) -> ApiResult<(StatusCode, axum::Json<PtyCreateResponse>)> {
    let id = request.id.unwrap_or_default();
    crate::http::extract::require(&id, "PtyCreateRequest", "ID")?;
    let session = pty.create(
        CreatePty {
            id,
            cwd: request.cwd,
            envs: request.envs.unwrap_or_default(),
            cols: request.cols,
            rows: request.rows,
            lazy_start: request.lazy_start.unwrap_or(false),
        },
        true,
    )?;
    Ok((StatusCode::CREATED, axum::Json(PtyCreateResponse { session_id: session.id.clone() })))
}

/// One terminal.
#[utoipa::path(get, path = "/process/pty/{sessionId}", tag = "process", operation_id = "GetPtySession",
    params(("sessionId" = String, Path)),
    responses((status = 200, body = PtySessionInfo), (status = 404, body = ErrorEnvelope)))]
async fn get_pty_session(
    State(pty): State<PtyService>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PtySessionInfo>> {
    Ok(axum::Json(PtySessionInfo::from(&*pty.get(&id)?)))
}

/// Kills the terminal's whole process tree; attached clients are closed with 1011 SIGKILL.
#[utoipa::path(delete, path = "/process/pty/{sessionId}", tag = "process", operation_id = "DeletePtySession",
    params(("sessionId" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 404, body = ErrorEnvelope)))]
async fn delete_pty_session(
    State(pty): State<PtyService>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MessageResponse>> {
    pty.delete(&id)?;
    Ok(axum::Json(MessageResponse { message: "PTY session deleted".to_owned() }))
}

/// Changes the terminal size (what `stty size` reports; the shell gets SIGWINCH).
#[utoipa::path(post, path = "/process/pty/{sessionId}/resize", tag = "process",
    operation_id = "ResizePtySession", params(("sessionId" = String, Path)), request_body = PtyResizeRequest,
    responses((status = 200, body = PtySessionInfo), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 410, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn resize_pty_session(
    State(pty): State<PtyService>,
    Path(id): Path<String>,
    Json(request): Json<PtyResizeRequest>,
) -> ApiResult<axum::Json<PtySessionInfo>> {
    let session = pty.resize(&id, request.cols, request.rows)?;
    Ok(axum::Json(PtySessionInfo::from(&*session)))
}

/// Attaches to a terminal: a `connected` control frame, the recent output (or from `since`),
/// then live binary output; client frames are terminal input.
#[utoipa::path(get, path = "/process/pty/{sessionId}/connect", tag = "process",
    operation_id = "ConnectPtySession", params(("sessionId" = String, Path), ConnectQuery),
    responses((status = 101, description = "Switching protocols"), (status = 400, body = ErrorEnvelope)))]
async fn connect_pty_session(
    State(pty): State<PtyService>,
    Path(id): Path<String>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    ws: Ws,
) -> Response {
    let options = ClientOptions {
        exit_control: offers_exit_control(&headers),
        since: query.since,
        created_for_client: false,
    };
    let session = pty.get(&id);
    ws.echo_first_protocol(&headers).max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(
        move |socket| async move {
            match session {
                Ok(session) => socket::serve(socket, pty, session, options).await,
                Err(err) => socket::refuse(socket, &err.to_string()).await,
            }
        },
    )
}

/// The SDK's route for every new terminal (not in the published spec): creates it, starts it
/// and attaches in one round trip. Env vars come as the subprotocol token
/// `X-Daytona-Pty-Envs~<base64url JSON object>`.
#[utoipa::path(get, path = "/process/pty/create-connect", tag = "toolboxd",
    operation_id = "CreateConnectPtySession", params(CreateConnectQuery),
    responses((status = 101, description = "Switching protocols"), (status = 400, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)))]
async fn create_connect_pty_session(
    State(pty): State<PtyService>,
    Query(query): Query<CreateConnectQuery>,
    headers: HeaderMap,
    ws: Ws,
) -> ApiResult<Response> {
    let id = query.id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::bad_request("id is required"))?;
    let cols = parse_dimension(query.cols.as_deref(), "cols")?;
    let rows = parse_dimension(query.rows.as_deref(), "rows")?;
    let envs = envs_from_protocols(&headers)?;
    let session = pty.create(
        CreatePty { id, cwd: query.cwd, envs, cols, rows, lazy_start: false },
        // The socket must be registered before the shell starts (see `socket::serve`).
        false,
    )?;
    let options =
        ClientOptions { exit_control: offers_exit_control(&headers), since: None, created_for_client: true };
    Ok(ws
        .echo_first_protocol(&headers)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_failed_upgrade({
            let pty = pty.clone();
            let session = Arc::clone(&session);
            move |_| pty.discard(&session)
        })
        .on_upgrade(move |socket| socket::serve(socket, pty, session, options))
        .into_response())
}

fn offers_exit_control(headers: &HeaderMap) -> bool {
    offered_protocols(headers).iter().any(|p| p == EXIT_CONTROL_PROTOCOL)
}

fn parse_dimension(raw: Option<&str>, name: &str) -> ApiResult<Option<u16>> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else { return Ok(None) };
    let value: u16 = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer between 0 and 65535")))?;
    Ok(Some(value))
}

/// Decodes the env token: base64url (padding optional) of a JSON object of strings.
fn envs_from_protocols(headers: &HeaderMap) -> ApiResult<BTreeMap<String, String>> {
    let Some(token) = offered_protocols(headers).into_iter().find(|p| p.starts_with(ENVS_PROTOCOL_PREFIX))
    else {
        return Ok(BTreeMap::new());
    };
    let encoded = &token[ENVS_PROTOCOL_PREFIX.len()..];
    if encoded.len() > 65536 {
        return Err(ApiError::bad_request("envs token is too long"));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|err| ApiError::bad_request(format!("invalid envs token: {err}")))?;
    let envs: HashMap<String, String> = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("invalid envs token: {err}")))?;
    for name in envs.keys() {
        if name.is_empty() || name.contains(['=', '\0', '\r', '\n']) {
            return Err(ApiError::bad_request(format!("invalid environment variable name {name:?}")));
        }
    }
    Ok(envs.into_iter().collect())
}
