//! HTTP routes for `/version`, `/user-home-dir`, `/project-dir`, `/work-dir`, `/init`, `/env`
//! and `/system/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Dirs;
use crate::environment::{EnvUpdate, Environment};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::Json;
use crate::state::AppState;
use crate::system::metrics::SystemMetrics;
use crate::system::{SystemService, VERSION};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(get_version))
        .routes(routes!(get_user_home_dir))
        .routes(routes!(get_project_dir))
        .routes(routes!(get_work_dir))
        .routes(routes!(initialize))
        .routes(routes!(update_env))
        .routes(routes!(get_system_metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirResponse {
    pub dir: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InitializeRequest {
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEnvRequest {
    /// Variables to set for processes spawned afterwards.
    pub set: Option<BTreeMap<String, String>>,
    /// Variables to remove before `set` is applied.
    pub unset: Option<Vec<String>>,
    /// Removes every variable whose value starts with this prefix, except those in `set`.
    pub unset_value_prefix: Option<String>,
}

/// The daemon's version; the runner's readiness probe.
#[utoipa::path(get, path = "/version", tag = "info", operation_id = "GetVersion",
    responses((status = 200, body = VersionResponse)))]
async fn get_version() -> axum::Json<VersionResponse> {
    axum::Json(VersionResponse { version: VERSION.to_owned() })
}

fn home_dir(dirs: &Dirs) -> ApiResult<axum::Json<DirResponse>> {
    let home = dirs.home.as_ref().ok_or_else(|| ApiError::internal("HOME is not set"))?;
    Ok(axum::Json(DirResponse { dir: home.to_string_lossy().into_owned() }))
}

/// The user's home directory (`$HOME` of the daemon).
#[utoipa::path(get, path = "/user-home-dir", tag = "info", operation_id = "GetUserHomeDir",
    responses((status = 200, body = DirResponse), (status = 500, body = ErrorEnvelope)))]
async fn get_user_home_dir(State(dirs): State<Arc<Dirs>>) -> ApiResult<axum::Json<DirResponse>> {
    home_dir(&dirs)
}

/// Legacy alias of `/user-home-dir`.
#[utoipa::path(get, path = "/project-dir", tag = "info", operation_id = "GetProjectDir",
    responses((status = 200, body = DirResponse), (status = 500, body = ErrorEnvelope)))]
async fn get_project_dir(State(dirs): State<Arc<Dirs>>) -> ApiResult<axum::Json<DirResponse>> {
    home_dir(&dirs)
}

/// The directory relative paths resolve against and commands start in.
#[utoipa::path(get, path = "/work-dir", tag = "info", operation_id = "GetWorkDir",
    responses((status = 200, body = DirResponse)))]
async fn get_work_dir(State(dirs): State<Arc<Dirs>>) -> axum::Json<DirResponse> {
    axum::Json(DirResponse { dir: dirs.work.to_string_lossy().into_owned() })
}

/// Called once by the runner after readiness; stores the telemetry token (never request auth).
#[utoipa::path(post, path = "/init", tag = "server", operation_id = "Initialize",
    request_body = InitializeRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorEnvelope)))]
async fn initialize(
    State(system): State<SystemService>,
    Json(request): Json<InitializeRequest>,
) -> axum::Json<MessageResponse> {
    system.set_init_token(request.token);
    axum::Json(MessageResponse {
        message: "Auth token set and telemetry initialized successfully".to_owned(),
    })
}

/// Sets and unsets environment variables for every process spawned afterwards.
#[utoipa::path(post, path = "/env", tag = "server", operation_id = "UpdateEnv",
    request_body = UpdateEnvRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorEnvelope)))]
async fn update_env(
    State(env): State<Environment>,
    Json(request): Json<UpdateEnvRequest>,
) -> ApiResult<axum::Json<MessageResponse>> {
    let set = request.set.unwrap_or_default();
    let unset = request.unset.unwrap_or_default();
    let update = EnvUpdate {
        set: set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        unset: unset.iter().map(String::as_str).collect(),
        unset_value_prefix: request.unset_value_prefix.as_deref(),
    };
    env.apply(&update).map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(axum::Json(MessageResponse { message: "Environment updated successfully".to_owned() }))
}

/// CPU, memory and disk figures of the sandbox.
#[utoipa::path(get, path = "/system/metrics", tag = "system", operation_id = "GetSystemMetrics",
    responses((status = 200, body = SystemMetrics)))]
async fn get_system_metrics(State(system): State<SystemService>) -> impl IntoResponse {
    let metrics = tokio::task::spawn_blocking(move || system.metrics()).await;
    metrics.map(axum::Json).map_err(|err| ApiError::internal(format!("metrics task failed: {err}")))
}
