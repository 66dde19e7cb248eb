//! The contract's error codes, the one table from code to HTTP status, the one error type every
//! handler returns, and the one builder of the error JSON.
//!
//! Areas define error enums named for what went wrong (`SessionError::Ended`,
//! `FsError::NotFound`) and convert them once into [`ApiError`] by picking an [`ErrorCode`];
//! only [`ErrorCode::spec`] knows which status and message prefix a code has. The envelope needs
//! the request's path and method, which a handler does not have, so [`ApiError`] rides in the
//! response's extensions and the `render_envelope` middleware in `http::middleware` writes the
//! final JSON `{statusCode, message, code, source, timestamp, path, method}` with
//! [`ErrorEnvelope::new`]. Bodies rendered elsewhere (bulk-download error parts, the bulk-upload
//! failure) use the same builder.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The `source` every error body carries; the SDK maps `(source, code)` to typed exceptions.
pub const ERROR_SOURCE: &str = "DAYTONA_DAEMON";

/// Every error class a client can see: the contract's machine codes (the 0.226.1 client's
/// `DaemonErrorCode` enum plus two generic classes it lacks) and the few statuses the contract
/// sends without a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // Generic classes: the message carries the class prefix (`bad request: …`).
    BadRequest,
    InvalidRequestBody,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    Gone,
    UnprocessableEntity,
    InternalServerError,
    ServiceUnavailable,
    // Domain codes: the message has no prefix.
    FileNotFound,
    FileAccessDenied,
    InvalidFilePath,
    FileReadFailed,
    GitAuthFailed,
    GitRepoNotFound,
    GitBranchNotFound,
    GitBranchExists,
    GitPushRejected,
    GitDirtyWorktree,
    GitMergeConflict,
    GitTransportFailed,
    GitRemoteRejected,
    LspServerNotInitialized,
    ProcessExecutionTimeout,
    ProcessNotFound,
    SessionEnded,
    CommandAlreadyCompleted,
    A11yUnavailable,
    RecordingStillActive,
    RecordingFfmpegNotFound,
    // Statuses sent without a code, so the SDK picks its exception by status alone.
    /// 416: a `Range` that does not overlap the file.
    RangeNotSatisfiable,
    /// 507: the disk or quota is full.
    InsufficientStorage,
    /// 502: nothing answers where a request was forwarded.
    BadGateway,
    /// 503: a part of the sandbox the operation needs is not there (e.g. no desktop).
    Unavailable,
}

/// What the client sees for one [`ErrorCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSpec {
    pub status: StatusCode,
    /// The envelope's `code`; `None` leaves the field out.
    pub wire: Option<&'static str>,
    /// Put before the detail in `message` (empty for domain codes).
    pub prefix: &'static str,
}

impl ErrorCode {
    /// The one table from error code to status, wire code and message prefix.
    pub const fn spec(self) -> CodeSpec {
        use ErrorCode::*;
        let (status, wire, prefix) = match self {
            BadRequest => (400, Some("BAD_REQUEST"), "bad request: "),
            InvalidRequestBody => {
                (400, Some("INVALID_REQUEST_BODY"), "invalid body request: invalid request body: ")
            }
            Unauthorized => (401, Some("UNAUTHORIZED"), "unauthorized: "),
            Forbidden => (403, Some("FORBIDDEN"), "forbidden: "),
            NotFound => (404, Some("NOT_FOUND"), "not found: "),
            MethodNotAllowed => (405, Some("METHOD_NOT_ALLOWED"), "method not allowed: "),
            RequestTimeout => (408, Some("REQUEST_TIMEOUT"), "request timeout: "),
            Conflict => (409, Some("CONFLICT"), "conflict: "),
            Gone => (410, Some("GONE"), "gone: "),
            UnprocessableEntity => (422, Some("UNPROCESSABLE_ENTITY"), "unprocessable entity: "),
            InternalServerError => (500, Some("INTERNAL_SERVER_ERROR"), "internal server error: "),
            ServiceUnavailable => (503, Some("SERVICE_UNAVAILABLE"), "service unavailable: "),
            FileNotFound => (404, Some("FILE_NOT_FOUND"), ""),
            FileAccessDenied => (403, Some("FILE_ACCESS_DENIED"), ""),
            InvalidFilePath => (400, Some("INVALID_FILE_PATH"), ""),
            FileReadFailed => (500, Some("FILE_READ_FAILED"), ""),
            GitAuthFailed => (401, Some("GIT_AUTH_FAILED"), ""),
            GitRepoNotFound => (404, Some("GIT_REPO_NOT_FOUND"), ""),
            GitBranchNotFound => (404, Some("GIT_BRANCH_NOT_FOUND"), ""),
            GitBranchExists => (409, Some("GIT_BRANCH_EXISTS"), ""),
            GitPushRejected => (409, Some("GIT_PUSH_REJECTED"), ""),
            GitDirtyWorktree => (409, Some("GIT_DIRTY_WORKTREE"), ""),
            GitMergeConflict => (409, Some("GIT_MERGE_CONFLICT"), ""),
            GitTransportFailed => (502, Some("GIT_TRANSPORT_FAILED"), ""),
            GitRemoteRejected => (422, Some("GIT_REMOTE_REJECTED"), ""),
            LspServerNotInitialized => (400, Some("LSP_SERVER_NOT_INITIALIZED"), ""),
            ProcessExecutionTimeout => (408, Some("PROCESS_EXECUTION_TIMEOUT"), ""),
            ProcessNotFound => (404, Some("PROCESS_NOT_FOUND"), ""),
            SessionEnded => (410, Some("SESSION_ENDED"), ""),
            CommandAlreadyCompleted => (410, Some("COMMAND_ALREADY_COMPLETED"), ""),
            A11yUnavailable => (503, Some("A11Y_UNAVAILABLE"), ""),
            // 400 rather than the SDK class hierarchy's 409/503: what the reference daemon sends.
            RecordingStillActive => (400, Some("RECORDING_STILL_ACTIVE"), ""),
            RecordingFfmpegNotFound => (400, Some("RECORDING_FFMPEG_NOT_FOUND"), ""),
            RangeNotSatisfiable => (416, None, ""),
            InsufficientStorage => (507, None, ""),
            BadGateway => (502, None, ""),
            Unavailable => (503, None, ""),
        };
        let status = match StatusCode::from_u16(status) {
            Ok(status) => status,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        CodeSpec { status, wire, prefix }
    }

    pub const fn status(self) -> StatusCode {
        self.spec().status
    }

    /// The envelope's `code` field, absent for the statuses the contract sends without one.
    pub const fn wire(self) -> Option<&'static str> {
        self.spec().wire
    }
}

/// An error on its way to the client: a code and the finished message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error of class `code`; the code's prefix (if any) goes before `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let prefix = code.spec().prefix;
        let message = if prefix.is_empty() { detail } else { format!("{prefix}{detail}") };
        ApiError { code, message }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The contract's JSON for this error, as answered to `method path`.
    pub fn envelope(&self, path: &str, method: &str) -> ErrorEnvelope {
        ErrorEnvelope::new(self, path, method)
    }

    pub fn bad_request(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::BadRequest, detail.as_ref())
    }

    /// A body that failed to decode or validate, worded as the reference daemon words it.
    pub fn invalid_body(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidRequestBody, detail.as_ref())
    }

    pub fn unauthorized(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail.as_ref())
    }

    pub fn forbidden(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::Forbidden, detail.as_ref())
    }

    pub fn not_found(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::NotFound, detail.as_ref())
    }

    pub fn method_not_allowed(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, detail.as_ref())
    }

    pub fn request_timeout(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::RequestTimeout, detail.as_ref())
    }

    pub fn conflict(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::Conflict, detail.as_ref())
    }

    pub fn gone(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::Gone, detail.as_ref())
    }

    pub fn unprocessable(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::UnprocessableEntity, detail.as_ref())
    }

    pub fn internal(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InternalServerError, detail.as_ref())
    }

    pub fn service_unavailable(detail: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, detail.as_ref())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every error response, as the contract spells it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub status_code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub source: String,
    pub timestamp: String,
    pub path: String,
    pub method: String,
}

impl ErrorEnvelope {
    /// The one builder of the error JSON. `path` is the request path, except in bulk-download
    /// error parts where the contract puts the requested file path there.
    pub fn new(err: &ApiError, path: &str, method: &str) -> Self {
        ErrorEnvelope {
            status_code: err.status().as_u16(),
            message: err.message.clone(),
            code: err.code.wire().map(str::to_owned),
            source: ERROR_SOURCE.to_owned(),
            timestamp: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            path: path.to_owned(),
            method: method.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_classes_prefix_the_message_and_domain_codes_do_not() {
        let err = ApiError::bad_request("path is required");
        assert_eq!(
            (err.status(), err.message.as_str()),
            (StatusCode::BAD_REQUEST, "bad request: path is required")
        );
        let err = ApiError::invalid_body("EOF");
        assert_eq!(err.message, "invalid body request: invalid request body: EOF");
        let err = ApiError::new(ErrorCode::SessionEnded, "session s1 has ended");
        assert_eq!((err.status(), err.message.as_str()), (StatusCode::GONE, "session s1 has ended"));
    }

    #[test]
    fn the_envelope_carries_the_wire_code_only_when_the_contract_has_one() {
        let coded = ApiError::new(ErrorCode::ProcessNotFound, "session x not found").envelope("/p", "GET");
        let json = serde_json::to_value(&coded).unwrap();
        assert_eq!(json["statusCode"], 404);
        assert_eq!(json["code"], "PROCESS_NOT_FOUND");
        assert_eq!(json["source"], ERROR_SOURCE);
        assert_eq!((json["path"].as_str(), json["method"].as_str()), (Some("/p"), Some("GET")));
        let uncoded =
            ApiError::new(ErrorCode::BadGateway, "proxy upstream error: refused").envelope("/x", "GET");
        let json = serde_json::to_value(&uncoded).unwrap();
        assert_eq!(json["statusCode"], 502);
        assert!(json.get("code").is_none(), "{json}");
    }

    #[test]
    fn the_contract_codes_sit_at_their_statuses() {
        use ErrorCode::*;
        let expected = [
            (FileNotFound, 404),
            (FileAccessDenied, 403),
            (InvalidFilePath, 400),
            (FileReadFailed, 500),
            (GitAuthFailed, 401),
            (GitTransportFailed, 502),
            (GitRemoteRejected, 422),
            (LspServerNotInitialized, 400),
            (ProcessExecutionTimeout, 408),
            (SessionEnded, 410),
            (A11yUnavailable, 503),
            (RecordingStillActive, 400),
            (RecordingFfmpegNotFound, 400),
            (RangeNotSatisfiable, 416),
            (InsufficientStorage, 507),
        ];
        for (code, status) in expected {
            assert_eq!(code.status().as_u16(), status, "{code:?}");
        }
    }
}
