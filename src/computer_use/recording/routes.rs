//! HTTP routes for `/computeruse/recordings…`: start, stop, list, get, download, delete.

use crate::http::route_docs::{ApiRouter, routes};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::computer_use::recording::types::{
    ListRecordingsResponse, Recording, StartRecordingRequest, StopRecordingRequest,
};
use crate::computer_use::recording::{RecordingError, RecordingService};
use crate::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::fs::error::FsError;
use crate::http::extract::{Json, Path};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(start_recording))
        .routes(routes!(stop_recording))
        .routes(routes!(list_recordings))
        .routes(routes!(get_recording, delete_recording))
        .routes(routes!(download_recording))
}

impl From<RecordingError> for ApiError {
    fn from(err: RecordingError) -> Self {
        let code = match &err {
            RecordingError::FfmpegNotFound => ErrorCode::RecordingFfmpegNotFound,
            RecordingError::StillActive => ErrorCode::RecordingStillActive,
            RecordingError::TooMany(_) => ErrorCode::Conflict,
            RecordingError::InvalidLabel(_) => ErrorCode::BadRequest,
            RecordingError::MissingId => ErrorCode::InvalidRequestBody,
            RecordingError::NotFound | RecordingError::FileMissing => ErrorCode::NotFound,
            RecordingError::NoDisplay { .. } => ErrorCode::Unavailable,
            RecordingError::CaptureFailed(_) | RecordingError::Spawn(_) | RecordingError::Store { .. } => {
                ErrorCode::InternalServerError
            }
        };
        ApiError::new(code, err.to_string())
    }
}

/// Starts recording the display (`ffmpeg` x11grab, H.264 MP4). A body that is not JSON is taken
/// as no label, as in the reference.
#[utoipa::path(post, path = "/computeruse/recordings/start", tag = "computer-use", operation_id = "StartRecording",
    request_body(content = StartRecordingRequest, description = "Optional label"),
    responses((status = 201, body = Recording), (status = 400, body = ErrorEnvelope),
        (status = 409, description = "Too many recordings are active", body = ErrorEnvelope),
        (status = 503, description = "No X display to record", body = ErrorEnvelope)))]
async fn start_recording(State(recordings): State<RecordingService>, body: Bytes) -> ApiResult<Response> {
    let request: StartRecordingRequest = serde_json::from_slice(&body).unwrap_or_default();
    let recording = recordings.start(request.label.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(Recording::from(recording))).into_response())
}

/// Stops a recording gracefully, so the MP4 is complete and plays.
#[utoipa::path(post, path = "/computeruse/recordings/stop", tag = "computer-use", operation_id = "StopRecording",
    request_body = StopRecordingRequest,
    responses((status = 200, body = Recording), (status = 404, body = ErrorEnvelope)))]
async fn stop_recording(
    State(recordings): State<RecordingService>,
    Json(request): Json<StopRecordingRequest>,
) -> ApiResult<axum::Json<Recording>> {
    let recording = recordings.stop(request.id.as_deref().unwrap_or_default()).await?;
    Ok(axum::Json(recording.into()))
}

/// Every recording, active and finished, oldest first.
#[utoipa::path(get, path = "/computeruse/recordings", tag = "computer-use", operation_id = "ListRecordings",
    responses((status = 200, body = ListRecordingsResponse)))]
async fn list_recordings(State(recordings): State<RecordingService>) -> axum::Json<ListRecordingsResponse> {
    axum::Json(recordings.list().into())
}

#[utoipa::path(get, path = "/computeruse/recordings/{id}", tag = "computer-use", operation_id = "GetRecording",
    params(("id" = String, Path, description = "Recording id")),
    responses((status = 200, body = Recording), (status = 404, body = ErrorEnvelope)))]
async fn get_recording(
    State(recordings): State<RecordingService>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Recording>> {
    Ok(axum::Json(recordings.get(&id)?.into()))
}

/// Deletes a finished recording and its file.
#[utoipa::path(delete, path = "/computeruse/recordings/{id}", tag = "computer-use", operation_id = "DeleteRecording",
    params(("id" = String, Path, description = "Recording id")),
    responses((status = 204), (status = 400, description = "The recording is still active", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_recording(
    State(recordings): State<RecordingService>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    recordings.delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Streams the MP4 file; `Range` gives 206 (or 416).
#[utoipa::path(get, path = "/computeruse/recordings/{id}/download", tag = "computer-use",
    operation_id = "DownloadRecording", params(("id" = String, Path, description = "Recording id")),
    responses((status = 200, description = "The MP4 file", content_type = "video/mp4"),
        (status = 206, description = "The requested range"), (status = 404, body = ErrorEnvelope),
        (status = 416, body = ErrorEnvelope)))]
async fn download_recording(
    State(recordings): State<RecordingService>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let recording = recordings.get(&id)?;
    serve_file(&recording.file_path, &recording.file_name, &headers).await
}

/// Sends a recording's file as `video/mp4` with the file API's range handling.
pub async fn serve_file(path: &std::path::Path, name: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let download = crate::fs::download::open(path, range, None).await.map_err(|err| match err {
        FsError::NotFound(_) => ApiError::from(RecordingError::FileMissing),
        other => ApiError::from(other),
    })?;
    crate::fs::routes::download_response(name, "video/mp4", download)
}
