//! HTTP routes for `/process/execute` and `/process/code-run`.

use std::collections::BTreeMap;

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, require};
use crate::process::exec::ExecService;
use crate::process::exec::code::Chart;
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().routes(routes!(execute_command)).routes(routes!(code_run))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExecuteRequest {
    /// Script text, fed to the shell on stdin.
    pub command: String,
    /// Working directory; relative paths resolve against the work dir.
    pub cwd: Option<String>,
    /// Extra environment variables for this command.
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds before the whole process tree is killed; absent or 0 means no timeout.
    pub timeout: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    /// 0..255, or -1 when the process died from a signal or could not start.
    pub exit_code: i32,
    /// stdout and stderr interleaved; head and tail kept past the output limit.
    pub result: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRunRequest {
    pub code: String,
    /// python, javascript, typescript
    pub language: String,
    pub argv: Option<Vec<String>>,
    pub envs: Option<BTreeMap<String, String>>,
    pub timeout: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeRunArtifacts {
    pub charts: Vec<Chart>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeRunResponse {
    pub exit_code: i32,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<CodeRunArtifacts>,
}

/// Runs a shell command and returns its exit code and combined output.
#[utoipa::path(post, path = "/process/execute", tag = "process", operation_id = "ExecuteCommand",
    request_body = ExecuteRequest,
    responses((status = 200, body = ExecuteResponse), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope)))]
async fn execute_command(
    State(exec): State<ExecService>,
    Json(request): Json<ExecuteRequest>,
) -> ApiResult<axum::Json<ExecuteResponse>> {
    require(&request.command, "ExecuteRequest", "Command")?;
    let envs = request.envs.unwrap_or_default();
    let outcome = exec.execute(&request.command, request.cwd.as_deref(), &envs, request.timeout).await?;
    Ok(axum::Json(ExecuteResponse { exit_code: outcome.exit_code, result: outcome.output }))
}

/// Runs python, javascript or typescript code; matplotlib figures come back as chart artifacts.
#[utoipa::path(post, path = "/process/code-run", tag = "process", operation_id = "CodeRun",
    request_body = CodeRunRequest,
    responses((status = 200, body = CodeRunResponse), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn code_run(
    State(exec): State<ExecService>,
    Json(request): Json<CodeRunRequest>,
) -> ApiResult<axum::Json<CodeRunResponse>> {
    require(&request.code, "CodeRunRequest", "Code")?;
    require(&request.language, "CodeRunRequest", "Language")?;
    let envs = request.envs.unwrap_or_default();
    let argv = request.argv.unwrap_or_default();
    let outcome = exec.code_run(&request.language, &request.code, &argv, &envs, request.timeout).await?;
    let artifacts = (!outcome.charts.is_empty()).then_some(CodeRunArtifacts { charts: outcome.charts });
    Ok(axum::Json(CodeRunResponse { exit_code: outcome.exit_code, result: outcome.output, artifacts }))
}
