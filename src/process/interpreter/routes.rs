//! HTTP routes for `/process/interpreter`.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Path};
use crate::http::ws::Ws;
use crate::process::interpreter::{InterpreterContext, InterpreterService, socket};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_interpreter_contexts, create_interpreter_context))
        .routes(routes!(delete_interpreter_context))
        .routes(routes!(execute_interpreter_code))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterpreterContextInfo {
    /// A UUID, or `default`.
    pub id: String,
    pub cwd: String,
    /// RFC 3339 with nanoseconds.
    pub created_at: String,
    /// Whether the context's worker is running.
    pub active: bool,
    pub language: String,
}

impl From<&InterpreterContext> for InterpreterContextInfo {
    fn from(context: &InterpreterContext) -> Self {
        InterpreterContextInfo {
            id: context.id.clone(),
            cwd: context.cwd.to_string_lossy().into_owned(),
            created_at: context.created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            active: context.is_active(),
            language: context.language.to_owned(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateContextRequest {
    /// Working directory (relative paths resolve against the work dir; default: the work dir).
    pub cwd: Option<String>,
    /// Only `python` is supported.
    pub language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListContextsResponse {
    pub contexts: Vec<InterpreterContextInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

/// Creates an isolated context and starts its Python worker.
#[utoipa::path(post, path = "/process/interpreter/context", tag = "interpreter",
    operation_id = "CreateInterpreterContext", request_body = CreateContextRequest,
    responses((status = 200, body = InterpreterContextInfo), (status = 400, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn create_interpreter_context(
    State(interpreter): State<InterpreterService>,
    Json(request): Json<CreateContextRequest>,
) -> ApiResult<axum::Json<InterpreterContextInfo>> {
    let context = interpreter.create(request.cwd.as_deref(), request.language.as_deref()).await?;
    Ok(axum::Json(InterpreterContextInfo::from(&*context)))
}

/// Client-created contexts (not `default`).
#[utoipa::path(get, path = "/process/interpreter/context", tag = "interpreter",
    operation_id = "ListInterpreterContexts", responses((status = 200, body = ListContextsResponse)))]
async fn list_interpreter_contexts(
    State(interpreter): State<InterpreterService>,
) -> axum::Json<ListContextsResponse> {
    let contexts = interpreter.list().iter().map(|c| InterpreterContextInfo::from(&**c)).collect();
    axum::Json(ListContextsResponse { contexts })
}

/// Deletes a context and stops its worker (SIGTERM, SIGKILL after 2 s).
#[utoipa::path(delete, path = "/process/interpreter/context/{id}", tag = "interpreter",
    operation_id = "DeleteInterpreterContext", params(("id" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_interpreter_context(
    State(interpreter): State<InterpreterService>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MessageResponse>> {
    interpreter.delete(&id).await?;
    Ok(axum::Json(MessageResponse { message: "Context deleted successfully".to_owned() }))
}

/// Runs code on a context. The first client frame is `{"code", "contextId"?, "timeout"?,
/// "envs"?}`; server frames are `{"type","text","name","value","traceback"}` (`stdout`,
/// `stderr`, `error`, `control`); close 1000 when done, 4008 on timeout or interrupt.
#[utoipa::path(get, path = "/process/interpreter/execute", tag = "interpreter",
    operation_id = "ExecuteInterpreterCode",
    responses((status = 101, description = "Switching protocols"), (status = 400, body = ErrorEnvelope)))]
async fn execute_interpreter_code(State(interpreter): State<InterpreterService>, ws: Ws) -> Response {
    ws.0.on_upgrade(move |socket| socket::serve(socket, interpreter))
}
