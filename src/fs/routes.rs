//! HTTP routes for `/files`: each handler decodes the query or body, calls one `FsService`
//! method and maps the result to a status, headers and body. No file I/O happens here.

use crate::http::route_docs::{ApiRouter, routes};
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::download::{self, Download};
use super::error::FsError;
use super::info::FileInfo;
use super::ops::{MoveResult, ReplaceResult};
use super::search::Match;
use super::upload::{self, Framing, UploadedEntry};
use super::watch::{Watch, WatchEvent};
use super::{FsService, paths};
use crate::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::{Json, Query, bool_true_only, require};
use crate::http::sdk;
use crate::http::ws::{self, SendEnd, Ws};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
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

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
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

async fn list(fs: FsService, query: ListQuery, headers: HeaderMap) -> ApiResult<Response> {
    let shown = query.path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".to_owned());
    let depth = match query.depth.as_deref() {
        None | Some("") => 1,
        Some(d) => match d.parse::<usize>() {
            Ok(d) if d >= 1 => d,
            _ => return Err(ApiError::bad_request("depth must be an integer >= 1")),
        },
    };
    let json = fs.list_json(shown, depth, !sdk::strict_go_client(&headers)).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

/// Lists a directory (flat pre-order down to `depth`).
#[utoipa::path(get, path = "/files", tag = "file-system", operation_id = "ListFiles", params(ListQuery),
    responses((status = 200, body = [FileInfo]), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_files(
    State(fs): State<FsService>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
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
) -> ApiResult<Response> {
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
    fs.delete(&required(query.path, "path is required")?, query.recursive).await?;
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
    Ok(axum::Json(fs.stat(required(query.path, "path is required")?).await?))
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
    fs.create_folder(&required(query.path, "path is required")?, query.mode.as_deref()).await?;
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
    responses((status = 200, description = "Moved; `error` says a cross-device copy could not remove the source",
        body = MoveResult), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn move_file(
    State(fs): State<FsService>,
    Query(query): Query<MoveQuery>,
) -> ApiResult<axum::Json<MoveResult>> {
    let message = "source and destination paths are required";
    let (source, destination) = (required(query.source, message)?, required(query.destination, message)?);
    Ok(axum::Json(fs.move_path(&source, &destination).await?))
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
    let path = required(query.path, "path is required")?;
    fs.set_permissions(&path, query.mode, query.owner, query.group).await?;
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
    Ok(axum::Json(fs.replace(files, pattern, new_value).await?))
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
    Ok(axum::Json(fs.find(shown, pattern).await?))
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
    Ok(axum::Json(SearchFilesResponse { files: fs.search(shown, pattern).await? }))
}

fn http_date(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
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
    let header_text =
        |name: header::HeaderName| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let download =
        fs.download(&shown, header_text(header::RANGE), header_text(header::IF_MODIFIED_SINCE)).await?;
    download_response(&paths::base(&shown), "application/octet-stream", download)
}

/// The headers `http.ServeFile` sends plus the contract's attachment headers. Also serves
/// recordings (`computer_use::recording::routes`, the recordings page) with their own type.
pub fn download_response(name: &str, content_type: &str, download: Download) -> ApiResult<Response> {
    let builder = |modified: Option<std::time::SystemTime>| {
        let builder = Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_DISPOSITION, format!("attachment; {}", download::filename_params(name)))
            .header("Content-Description", "File Transfer")
            .header("Content-Transfer-Encoding", "binary")
            .header(header::EXPIRES, "0")
            .header(header::CACHE_CONTROL, "must-revalidate")
            .header(header::PRAGMA, "public")
            .header(header::ACCEPT_RANGES, "bytes");
        match modified {
            Some(modified) => builder.header(header::LAST_MODIFIED, http_date(modified)),
            None => builder,
        }
    };
    let response = match download {
        Download::NotModified { modified } => {
            builder(Some(modified)).status(StatusCode::NOT_MODIFIED).body(Body::empty())
        }
        Download::Unsatisfiable { size, .. } => {
            let mut response =
                ApiError::new(ErrorCode::RangeNotSatisfiable, "invalid range: failed to overlap")
                    .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
        Download::Content { file, size, range, modified } => {
            let mut builder = builder(modified).status(StatusCode::OK);
            if let Some((start, end)) = range {
                builder = builder
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            }
            let stream = tokio_util::io::ReaderStream::with_capacity(file, download::CHUNK);
            builder.header(header::CONTENT_LENGTH, file_len(range, size)).body(Body::from_stream(stream))
        }
    };
    response.map_err(|e| ApiError::internal(e.to_string()))
}

fn file_len(range: Option<(u64, u64)>, size: u64) -> u64 {
    range.map_or(size, |(start, end)| end - start + 1)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FilesDownloadRequest {
    paths: Option<Vec<String>>,
}

/// Streams several files as `multipart/form-data` (a random boundary per response, given in
/// `Content-Type`), one part per requested path in order: `file` parts, or `error` parts
/// holding the error envelope.
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
    let (boundary, body) = fs.bulk_download(paths, Box::new(part_error_json));
    Response::builder()
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A bulk-download `error` part's body: the error envelope, with the requested file path as
/// `path` (as the contract has it).
fn part_error_json(shown: &str, err: FsError) -> String {
    serde_json::to_string(&ApiError::from(err).envelope(shown, "POST")).unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadFilesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<String>>,
    /// `null` when no file part came.
    files: Option<Vec<UploadedEntry>>,
}

/// The bulk-upload failure body: the `{errors, files}` the SDK reads, plus the envelope.
#[derive(Debug, Serialize)]
struct UploadFilesFailure {
    errors: Vec<String>,
    files: Vec<UploadedEntry>,
    #[serde(flatten)]
    envelope: ErrorEnvelope,
}

fn bulk_failure(errors: Vec<String>, files: Vec<UploadedEntry>) -> Response {
    let err = ApiError::bad_request(errors.join("; "));
    let envelope = err.envelope("/files/bulk-upload", "POST");
    (err.status(), axum::Json(UploadFilesFailure { errors, files, envelope })).into_response()
}

/// Streams `files[i].path` / `files[i].file` parts to disk as they arrive.
#[utoipa::path(post, path = "/files/bulk-upload", tag = "file-system", operation_id = "UploadFiles",
    request_body(content_type = "multipart/form-data",
        description = "`files[i].path` text parts, each before its `files[i].file` part"),
    responses((status = 200, body = UploadFilesResponse), (status = 400, body = UploadFilesResponse)))]
async fn upload_files(State(fs): State<FsService>, headers: HeaderMap, body: Body) -> Response {
    let Some(boundary) = upload::multipart_boundary(content_type(&headers), true) else {
        return bulk_failure(vec!["invalid multipart form".to_owned()], Vec::new());
    };
    let outcome = fs.upload_bulk(boundary, body.into_data_stream()).await;
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
    let framing = Framing::for_upload_v2(content_type(&headers))?;
    fs.upload(&shown, 0o755, framing, body.into_data_stream()).await?;
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
    let framing = Framing::form_only(content_type(&headers))?;
    fs.upload(&shown, 0o750, framing, body.into_data_stream()).await?;
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
    let path = required(query.path, "path is required")?;
    let ws = ws?;
    let watch = fs.watch(&path, query.recursive).await?;
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
    let (name, tar) = fs.archive(&required(query.path, "path is required")?).await?;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; {}", download::filename_params(&format!("{name}.tar"))),
        )
        .body(Body::from_stream(tar))
        .map_err(|e| ApiError::internal(e.to_string()))
}
