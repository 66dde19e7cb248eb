//! HTTP routes for `/files`: query/body decoding, status codes and headers; the work is done
//! by the domain modules.

use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::download::{self, RangeRequest};
use super::error::{FsError, blocking};
use super::info::{self, FileInfo};
use super::ops::{self, MovePartial, ReplaceResult};
use super::search::{self, Match};
use super::upload::{self, UploadedEntry};
use super::watch::{Watch, WatchEvent};
use super::{FsService, archive, paths};
use crate::error::{ApiError, ApiResult, ERROR_SOURCE, ErrorCode, ErrorEnvelope};
use crate::http::extract::{Json, Query, bool_true_only, require};
use crate::http::sdk;
use crate::http::ws::{self, SendEnd, Ws};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_files, delete_file))
        .routes(routes!(list_files_slash, delete_file_slash))
        .routes(routes!(get_file_info))
        .routes(routes!(create_folder))
        .routes(routes!(move_file))
        .routes(routes!(set_file_permissions))
        .routes(routes!(replace_in_files))
        .routes(routes!(find_in_files))
        .routes(routes!(search_files))
        .routes(routes!(download_file))
        .routes(routes!(download_files))
        .routes(routes!(upload_files))
        .routes(routes!(upload_file))
        .routes(routes!(upload_file_legacy))
        .routes(routes!(watch_files))
        .routes(routes!(archive_directory))
        .route_layer(axum::middleware::from_fn(reject_non_utf8_query))
}

/// A query whose percent-decoded bytes are not UTF-8 cannot name a path faithfully (decoding
/// it lossily would address a different file): 400 before any handler runs.
async fn reject_non_utf8_query(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let valid = request.uri().query().is_none_or(|query| {
        query.split('&').all(|pair| {
            let pair = pair.replace('+', " ");
            percent_encoding::percent_decode_str(&pair).decode_utf8().is_ok()
        })
    });
    if !valid {
        return ApiError::bad_request("query parameters must be valid UTF-8").into_response();
    }
    next.run(request).await
}

fn required(value: Option<String>, message: &str) -> ApiResult<String> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| ApiError::bad_request(message))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Directory to list (default `.`, the work dir).
    path: Option<String>,
    /// Levels to descend (integer >= 1, default 1).
    #[param(value_type = Option<i64>)]
    depth: Option<String>,
}

async fn list(fs: FsService, query: ListQuery, headers: HeaderMap) -> ApiResult<axum::Json<Vec<FileInfo>>> {
    let shown = query.path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".to_owned());
    let depth = match query.depth.as_deref() {
        None | Some("") => 1,
        Some(d) => match d.parse::<usize>() {
            Ok(d) if d >= 1 => d,
            _ => return Err(ApiError::bad_request("depth must be an integer >= 1")),
        },
    };
    let resolved = fs.resolve(&shown);
    let mut entries = blocking(move || info::list(&shown, &resolved, depth)).await?;
    if sdk::strict_go_client(&headers) {
        entries.iter_mut().for_each(|e| e.path = None);
    }
    Ok(axum::Json(entries))
}

/// Lists a directory (flat pre-order down to `depth`).
#[utoipa::path(get, path = "/files", tag = "file-system", operation_id = "ListFiles", params(ListQuery),
    responses((status = 200, body = [FileInfo]), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_files(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<FileInfo>>> {
    list(fs, query, headers).await
}

/// `GET /files/`: the same as `GET /files` (both forms are served, without a redirect).
#[utoipa::path(get, path = "/files/", tag = "file-system", operation_id = "ListFilesTrailingSlash",
    params(ListQuery),
    responses((status = 200, body = [FileInfo]), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_files_slash(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<FileInfo>>> {
    list(fs, query, headers).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    path: Option<String>,
    /// Required (exactly `true`) to delete a directory.
    #[serde(default, deserialize_with = "bool_true_only")]
    #[param(value_type = Option<bool>)]
    recursive: bool,
}

async fn delete(fs: FsService, query: DeleteQuery) -> ApiResult<StatusCode> {
    let path = fs.resolve(&required(query.path, "path is required")?);
    blocking(move || ops::delete(&path, query.recursive)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a file, or a directory with `recursive=true`.
#[utoipa::path(delete, path = "/files", tag = "file-system", operation_id = "DeleteFile", params(DeleteQuery),
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_file(State(fs): State<FsService>, Query(query): Query<DeleteQuery>) -> ApiResult<StatusCode> {
    delete(fs, query).await
}

/// `DELETE /files/`: the same as `DELETE /files`.
#[utoipa::path(delete, path = "/files/", tag = "file-system", operation_id = "DeleteFileTrailingSlash",
    params(DeleteQuery),
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_file_slash(
    State(fs): State<FsService>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    delete(fs, query).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    path: Option<String>,
}

/// Stat of one path (links followed; named after the path as requested).
#[utoipa::path(get, path = "/files/info", tag = "file-system", operation_id = "GetFileInfo", params(PathQuery),
    responses((status = 200, body = FileInfo), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_file_info(
    State(fs): State<FsService>,
    Query(query): Query<PathQuery>,
) -> ApiResult<axum::Json<FileInfo>> {
    let shown = required(query.path, "path is required")?;
    let resolved = fs.resolve(&shown);
    Ok(axum::Json(blocking(move || info::stat(&shown, &resolved)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FolderQuery {
    path: Option<String>,
    /// Octal digits (`755`, `0755`); default `0755`.
    mode: Option<String>,
}

/// `mkdir -p` with a mode on every level created.
#[utoipa::path(post, path = "/files/folder", tag = "file-system", operation_id = "CreateFolder",
    params(FolderQuery), responses((status = 201), (status = 400, body = ErrorEnvelope)))]
async fn create_folder(
    State(fs): State<FsService>,
    Query(query): Query<FolderQuery>,
) -> ApiResult<StatusCode> {
    let path = fs.resolve(&required(query.path, "path is required")?);
    let mode = match query.mode.as_deref() {
        None | Some("") => 0o755,
        Some(mode) => ops::parse_mode(mode)?,
    };
    blocking(move || ops::create_folder(&path, mode)).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MoveQuery {
    source: Option<String>,
    destination: Option<String>,
}

/// Renames `source` to `destination`; never overwrites (409).
#[utoipa::path(post, path = "/files/move", tag = "file-system", operation_id = "MoveFile", params(MoveQuery),
    responses((status = 200, description = "Moved; a body only when a cross-device copy could not remove the source",
        body = MovePartial), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn move_file(State(fs): State<FsService>, Query(query): Query<MoveQuery>) -> ApiResult<Response> {
    let message = "source and destination paths are required";
    let source = fs.resolve(&required(query.source, message)?);
    let destination = fs.resolve(&required(query.destination, message)?);
    match blocking(move || ops::move_path(&source, &destination)).await? {
        None => Ok(StatusCode::OK.into_response()),
        Some(partial) => Ok(axum::Json(partial).into_response()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    path: Option<String>,
    /// Octal digits; only the nine rwx bits apply.
    mode: Option<String>,
    /// User name or numeric UID.
    owner: Option<String>,
    /// Group name or numeric GID.
    group: Option<String>,
}

/// chmod then chown; names are looked up in /etc/passwd and /etc/group.
#[utoipa::path(post, path = "/files/permissions", tag = "file-system", operation_id = "SetFilePermissions",
    params(PermissionsQuery),
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn set_file_permissions(
    State(fs): State<FsService>,
    Query(query): Query<PermissionsQuery>,
) -> ApiResult<StatusCode> {
    let path = fs.resolve(&required(query.path, "path is required")?);
    blocking(move || {
        ops::set_permissions(&path, query.mode.as_deref(), query.owner.as_deref(), query.group.as_deref())
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceRequest {
    files: Option<Vec<String>>,
    pattern: Option<String>,
    new_value: Option<String>,
}

fn require_present<T>(value: Option<T>, field: &str) -> ApiResult<T> {
    value.ok_or_else(|| {
        ApiError::invalid_body(format!(
            "Key: 'ReplaceRequest.{field}' Error:Field validation for '{field}' failed on the 'required' tag"
        ))
    })
}

/// Literal replace-all in each listed file; results in request order.
#[utoipa::path(post, path = "/files/replace", tag = "file-system", operation_id = "ReplaceInFiles",
    request_body = ReplaceRequest,
    responses((status = 200, body = [ReplaceResult]), (status = 400, body = ErrorEnvelope)))]
async fn replace_in_files(
    State(fs): State<FsService>,
    Json(request): Json<ReplaceRequest>,
) -> ApiResult<axum::Json<Vec<ReplaceResult>>> {
    let files = require_present(request.files, "Files")?;
    let pattern = request.pattern.unwrap_or_default();
    require(&pattern, "ReplaceRequest", "Pattern")?;
    let new_value = require_present(request.new_value, "NewValue")?;
    let targets: Vec<_> = files.into_iter().map(|f| (fs.resolve(&f), f)).collect();
    let results = blocking(move || {
        Ok(targets
            .iter()
            .map(|(path, shown)| ops::replace_in_file(shown, path, pattern.as_bytes(), new_value.as_bytes()))
            .collect())
    })
    .await?;
    Ok(axum::Json(results))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatternQuery {
    path: Option<String>,
    pattern: Option<String>,
}

fn path_and_pattern(query: PatternQuery) -> ApiResult<(String, String)> {
    match (query.path, query.pattern) {
        (Some(path), Some(pattern)) if !path.is_empty() && !pattern.is_empty() => Ok((path, pattern)),
        _ => Err(ApiError::bad_request("path and pattern are required")),
    }
}

/// Case-sensitive literal search of file contents, line by line (binary files skipped).
#[utoipa::path(get, path = "/files/find", tag = "file-system", operation_id = "FindInFiles", params(PatternQuery),
    responses((status = 200, body = [Match]), (status = 400, body = ErrorEnvelope)))]
async fn find_in_files(
    State(fs): State<FsService>,
    Query(query): Query<PatternQuery>,
) -> ApiResult<axum::Json<Vec<Match>>> {
    let (shown, pattern) = path_and_pattern(query)?;
    let root = fs.resolve(&shown);
    Ok(axum::Json(blocking(move || Ok(search::find(&shown, &root, &pattern))).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchFilesResponse {
    files: Vec<String>,
}

/// Entries whose base name matches a Go `filepath.Match` glob.
#[utoipa::path(get, path = "/files/search", tag = "file-system", operation_id = "SearchFiles",
    params(PatternQuery),
    responses((status = 200, body = SearchFilesResponse), (status = 400, body = ErrorEnvelope)))]
async fn search_files(
    State(fs): State<FsService>,
    Query(query): Query<PatternQuery>,
) -> ApiResult<axum::Json<SearchFilesResponse>> {
    let (shown, pattern) = path_and_pattern(query)?;
    let root = fs.resolve(&shown);
    let files = blocking(move || Ok(search::search(&shown, &root, &pattern))).await?;
    Ok(axum::Json(SearchFilesResponse { files }))
}

fn http_date(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn not_modified_since(headers: &HeaderMap, modified: std::time::SystemTime) -> bool {
    let Some(since) = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(since) = chrono::DateTime::parse_from_rfc2822(since) else { return false };
    let modified = chrono::DateTime::<chrono::Utc>::from(modified).timestamp();
    modified <= since.timestamp()
}

/// Streams one file from disk; `Range` gives 206 (or 416), `If-Modified-Since` 304.
#[utoipa::path(get, path = "/files/download", tag = "file-system", operation_id = "DownloadFile", params(PathQuery),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range"), (status = 304), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 416, body = ErrorEnvelope)))]
async fn download_file(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<PathQuery>,
) -> ApiResult<Response> {
    let shown = required(query.path, "path is required")?;
    let path = fs.resolve(&shown);
    let meta = tokio::fs::metadata(&path).await.map_err(|err| FsError::io("stat", &path, &err))?;
    if meta.is_dir() || download::is_stream_node(&meta) {
        return Err(ApiError::bad_request("path must be a file"));
    }
    let mut file = tokio::fs::File::open(&path).await.map_err(|err| FsError::io("open", &path, &err))?;
    let size = meta.len();
    let modified = meta.modified().ok();
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; {}", download::filename_params(&paths::base(&shown))),
        )
        .header("Content-Description", "File Transfer")
        .header("Content-Transfer-Encoding", "binary")
        .header(header::EXPIRES, "0")
        .header(header::CACHE_CONTROL, "must-revalidate")
        .header(header::PRAGMA, "public")
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(modified) = modified {
        builder = builder.header(header::LAST_MODIFIED, http_date(modified));
        if not_modified_since(&headers, modified) {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .map_err(|e| ApiError::internal(e.to_string()));
        }
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match download::parse_range(range, size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial(start, end) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            let mut response =
                ApiError::new(ErrorCode::RangeNotSatisfiable, "invalid range: failed to overlap")
                    .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(|err| FsError::io("seek", &path, &err))?;
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), download::CHUNK);
    builder
        .status(status)
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FilesDownloadRequest {
    paths: Option<Vec<String>>,
}

/// Streams several files as `multipart/form-data` (boundary `DAYTONA-FILE-BOUNDARY`), one
/// part per requested path in order: `file` parts, or `error` parts with a JSON error.
#[utoipa::path(post, path = "/files/bulk-download", tag = "file-system", operation_id = "DownloadFiles",
    request_body = FilesDownloadRequest,
    responses((status = 200, description = "One part per path", content_type = "multipart/form-data"),
        (status = 400, body = ErrorEnvelope)))]
async fn download_files(
    State(fs): State<FsService>,
    Json(request): Json<FilesDownloadRequest>,
) -> ApiResult<Response> {
    let paths = request.paths.unwrap_or_default();
    if paths.is_empty() {
        return Err(ApiError::bad_request("request body must be {\"paths\": [ ... ]} and non-empty"));
    }
    let requests =
        paths.into_iter().map(|p| (fs.resolve(&p), p)).map(|(resolved, p)| (p, resolved)).collect();
    Response::builder()
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={}", download::BOUNDARY))
        .body(Body::from_stream(download::bulk_stream(requests)))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadFilesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<String>>,
    /// `null` when no file part came.
    files: Option<Vec<UploadedEntry>>,
}

/// The bulk-upload failure body: the `{errors, files}` the SDK reads, plus the envelope fields.
fn bulk_failure(errors: Vec<String>, files: Vec<UploadedEntry>) -> Response {
    let body = serde_json::json!({
        "errors": errors,
        "files": files,
        "statusCode": 400,
        "message": format!("bad request: {}", errors.join("; ")),
        "code": "BAD_REQUEST",
        "source": ERROR_SOURCE,
        "timestamp": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "path": "/files/bulk-upload",
        "method": "POST",
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Streams `files[i].path` / `files[i].file` parts to disk as they arrive.
#[utoipa::path(post, path = "/files/bulk-upload", tag = "file-system", operation_id = "UploadFiles",
    request_body(content_type = "multipart/form-data",
        description = "`files[i].path` text parts, each before its `files[i].file` part"),
    responses((status = 200, body = UploadFilesResponse), (status = 400, body = UploadFilesResponse)))]
async fn upload_files(State(fs): State<FsService>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(boundary) = upload::multipart_boundary(content_type, true) else {
        return bulk_failure(vec!["invalid multipart form".to_owned()], Vec::new());
    };
    let outcome = upload::receive_bulk(boundary, body.into_data_stream(), |p| fs.resolve(p)).await;
    if !outcome.errors.is_empty() {
        return bulk_failure(outcome.errors, outcome.files);
    }
    let files = (!outcome.files.is_empty()).then_some(outcome.files);
    axum::Json(UploadFilesResponse { errors: None, files }).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedFile {
    name: String,
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Writes `path` from the multipart field `file`, or from the raw body for any other
/// Content-Type (the streaming form: use it for big files).
#[utoipa::path(post, path = "/files/upload-v2", tag = "file-system", operation_id = "UploadFile", params(PathQuery),
    request_body(content_type = "application/octet-stream", description = "Raw bytes, or multipart with a `file` field"),
    responses((status = 200, body = UploadedFile), (status = 400, body = ErrorEnvelope)))]
async fn upload_file(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<PathQuery>,
    body: Body,
) -> ApiResult<axum::Json<UploadedFile>> {
    let shown = required(query.path, "path is required")?;
    let target = fs.resolve(&shown);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        let boundary = upload::multipart_boundary(content_type, false)
            .ok_or_else(|| ApiError::bad_request("invalid multipart form: no boundary"))?;
        upload::receive_form_file(&target, 0o755, boundary, body.into_data_stream()).await?;
    } else {
        upload::receive_raw(&target, 0o755, body.into_data_stream()).await.map_err(|e| e.into_fs(&shown))?;
    }
    Ok(axum::Json(UploadedFile { name: paths::base(&shown), path: shown, kind: "file".to_owned() }))
}

/// Legacy single-file upload (multipart field `file`), kept for Go SDK v0.190 clients. Not
/// part of the 0.226.1 client.
#[utoipa::path(post, path = "/files/upload", tag = "file-system", operation_id = "UploadFileLegacy",
    params(PathQuery),
    request_body(content_type = "multipart/form-data", description = "A `file` field"),
    responses((status = 200), (status = 400, body = ErrorEnvelope)))]
async fn upload_file_legacy(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<PathQuery>,
    body: Body,
) -> ApiResult<StatusCode> {
    let shown = required(query.path, "path is required")?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = upload::multipart_boundary(content_type, false)
        .ok_or_else(|| ApiError::bad_request("request Content-Type isn't multipart/form-data"))?;
    upload::receive_form_file(&fs.resolve(&shown), 0o750, boundary, body.into_data_stream()).await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// File or directory to watch.
    path: Option<String>,
    /// Watch the whole tree (exactly `true`).
    #[serde(default, deserialize_with = "bool_true_only")]
    #[param(value_type = Option<bool>)]
    recursive: bool,
}

/// toolboxd extension: a websocket of JSON change events `{type, path, isDir}` with `type`
/// one of `create`, `write`, `remove`, `rename`, `chmod`; bursts are coalesced (50 ms) and
/// `{"type":"overflow"}` says events were lost. The watch ends when the client closes.
#[utoipa::path(get, path = "/files/watch", tag = "toolboxd", operation_id = "WatchFiles", params(WatchQuery),
    responses((status = 101, description = "Websocket of events", body = WatchEvent),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn watch_files(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<WatchQuery>,
    ws: Result<Ws, ApiError>,
) -> ApiResult<Response> {
    let path = fs.resolve(&required(query.path, "path is required")?);
    let ws = ws?;
    let recursive = query.recursive;
    let watch = blocking(move || Watch::start(&path, recursive)).await?;
    let stopping = fs.stopping();
    Ok(ws.echo_first_protocol(&headers).on_upgrade(move |socket| pump_watch(socket, watch, stopping)))
}

async fn pump_watch(socket: WebSocket, watch: Watch, stopping: tokio_util::sync::CancellationToken) {
    let (mut sink, mut incoming) = socket.split();
    // Each batch of events, one text frame per event, until the watch ends or the daemon stops.
    let batches = futures_util::stream::unfold(watch, move |mut watch| {
        let stopping = stopping.clone();
        async move {
            let batch = tokio::select! {
                () = stopping.cancelled() => None,
                batch = watch.next_batch() => batch,
            }?;
            Some((futures_util::stream::iter(batch), watch))
        }
    });
    let frames = batches.flatten().filter_map(|event| {
        std::future::ready(serde_json::to_string(&event).ok().map(|t| Message::Text(t.into())))
    });
    if ws::send_all(&mut sink, &mut incoming, frames).await == SendEnd::Finished {
        let _ = sink.send(Message::Close(None)).await;
    }
}

/// toolboxd extension: a directory streamed as a tar (entries under the directory's name;
/// symlinks stored as links).
#[utoipa::path(get, path = "/files/archive", tag = "toolboxd", operation_id = "ArchiveDirectory", params(PathQuery),
    responses((status = 200, description = "A tar stream", content_type = "application/x-tar"),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn archive_directory(
    State(fs): State<FsService>,
    Query(query): Query<PathQuery>,
) -> ApiResult<Response> {
    let shown = required(query.path, "path is required")?;
    let path = fs.resolve(&shown);
    let meta = tokio::fs::metadata(&path).await.map_err(|err| FsError::io("stat", &path, &err))?;
    if !meta.is_dir() {
        return Err(ApiError::bad_request("path must be a directory"));
    }
    let canonical = tokio::fs::canonicalize(&path).await.unwrap_or_else(|_| path.clone());
    let name = canonical.file_name().map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; {}", download::filename_params(&format!("{name}.tar"))),
        )
        .body(Body::from_stream(archive::tar_stream(canonical, name)))
        .map_err(|e| ApiError::internal(e.to_string()))
}
