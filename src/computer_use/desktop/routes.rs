//! HTTP routes for the desktop stack under `/computeruse`: start, stop, status and the
//! per-process status, restart, logs and errors. Handlers call one `DesktopService` function.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;

use crate::computer_use::desktop::DesktopService;
use crate::computer_use::desktop::types::{
    ComputerUseStartResponse, ComputerUseStatusResponse, ComputerUseStopResponse, ProcessErrorsResponse,
    ProcessLogsResponse, ProcessRestartResponse, ProcessStatusResponse, status_map,
};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Path;
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(start_computer_use))
        .routes(routes!(stop_computer_use))
        .routes(routes!(get_computer_use_system_status))
        .routes(routes!(get_computer_use_status))
        .routes(routes!(get_process_status))
        .routes(routes!(restart_process))
        .routes(routes!(get_process_logs))
        .routes(routes!(get_process_errors))
}

/// Starts Xvfb, xfce4, x11vnc and noVNC in that order and answers once all are ready; programs
/// already running are left as they are. A missing program is a 503 naming its Debian package.
#[utoipa::path(post, path = "/computeruse/start", tag = "computer-use", operation_id = "StartComputerUse",
    responses((status = 200, body = ComputerUseStartResponse), (status = 503, body = ErrorEnvelope)))]
async fn start_computer_use(
    State(desktop): State<DesktopService>,
) -> ApiResult<axum::Json<ComputerUseStartResponse>> {
    let status = status_map(desktop.start().await?);
    Ok(axum::Json(ComputerUseStartResponse {
        message: "Computer use processes started successfully".to_owned(),
        status,
    }))
}

/// Stops the stack in reverse order, each program with every process it started.
#[utoipa::path(post, path = "/computeruse/stop", tag = "computer-use", operation_id = "StopComputerUse",
    responses((status = 200, body = ComputerUseStopResponse)))]
async fn stop_computer_use(State(desktop): State<DesktopService>) -> axum::Json<ComputerUseStopResponse> {
    let status = status_map(desktop.stop().await);
    axum::Json(ComputerUseStopResponse {
        message: "Computer use processes stopped successfully".to_owned(),
        status,
    })
}

/// `active` when every program runs, `partial` when some do, `inactive` when none does.
#[utoipa::path(get, path = "/computeruse/status", tag = "computer-use", operation_id = "GetComputerUseSystemStatus",
    responses((status = 200, body = ComputerUseStatusResponse)))]
async fn get_computer_use_system_status(
    State(desktop): State<DesktopService>,
) -> axum::Json<ComputerUseStatusResponse> {
    axum::Json(ComputerUseStatusResponse { status: desktop.stack_state().as_str().to_owned() })
}

/// The same answer as `/computeruse/status` (the SDK's `get_status()` calls this one).
#[utoipa::path(get, path = "/computeruse/process-status", tag = "computer-use", operation_id = "GetComputerUseStatus",
    responses((status = 200, body = ComputerUseStatusResponse)))]
async fn get_computer_use_status(
    State(desktop): State<DesktopService>,
) -> axum::Json<ComputerUseStatusResponse> {
    axum::Json(ComputerUseStatusResponse { status: desktop.stack_state().as_str().to_owned() })
}

/// Whether one program runs, with its pid and automatic restart count.
#[utoipa::path(get, path = "/computeruse/process/{processName}/status", tag = "computer-use",
    operation_id = "GetProcessStatus", params(("processName" = String, Path, description = "xvfb, xfce4, x11vnc or novnc")),
    responses((status = 200, body = ProcessStatusResponse), (status = 400, body = ErrorEnvelope)))]
async fn get_process_status(
    State(desktop): State<DesktopService>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ProcessStatusResponse>> {
    let (program, status) = desktop.process_status(&name)?;
    Ok(axum::Json(ProcessStatusResponse {
        process_name: program.name().to_owned(),
        running: status.running,
        pid: status.pid,
        restarts: status.restarts,
    }))
}

/// Stops one program (with its tree) and starts it again, answering once it is ready.
#[utoipa::path(post, path = "/computeruse/process/{processName}/restart", tag = "computer-use",
    operation_id = "RestartProcess", params(("processName" = String, Path, description = "xvfb, xfce4, x11vnc or novnc")),
    responses((status = 200, body = ProcessRestartResponse), (status = 400, body = ErrorEnvelope),
        (status = 503, body = ErrorEnvelope)))]
async fn restart_process(
    State(desktop): State<DesktopService>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ProcessRestartResponse>> {
    let program = desktop.restart(&name).await?;
    Ok(axum::Json(ProcessRestartResponse {
        message: format!("Process {} restarted successfully", program.name()),
        process_name: program.name().to_owned(),
    }))
}

/// The program's standard output (the newest 1 MiB).
#[utoipa::path(get, path = "/computeruse/process/{processName}/logs", tag = "computer-use",
    operation_id = "GetProcessLogs", params(("processName" = String, Path, description = "xvfb, xfce4, x11vnc or novnc")),
    responses((status = 200, body = ProcessLogsResponse), (status = 400, body = ErrorEnvelope)))]
async fn get_process_logs(
    State(desktop): State<DesktopService>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ProcessLogsResponse>> {
    let (program, logs) = desktop.logs(&name).await?;
    Ok(axum::Json(ProcessLogsResponse { process_name: program.name().to_owned(), logs }))
}

/// The program's standard error and the supervisor's notes on it (the newest 1 MiB).
#[utoipa::path(get, path = "/computeruse/process/{processName}/errors", tag = "computer-use",
    operation_id = "GetProcessErrors", params(("processName" = String, Path, description = "xvfb, xfce4, x11vnc or novnc")),
    responses((status = 200, body = ProcessErrorsResponse), (status = 400, body = ErrorEnvelope)))]
async fn get_process_errors(
    State(desktop): State<DesktopService>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ProcessErrorsResponse>> {
    let (program, errors) = desktop.errors(&name).await?;
    Ok(axum::Json(ProcessErrorsResponse { process_name: program.name().to_owned(), errors }))
}
