//! What can go wrong with a language server, and how each failure reaches the client.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum LspError {
    #[error("unsupported language {0:?}: the supported languages are python, typescript and javascript")]
    UnsupportedLanguage(String),

    #[error("project directory {0} does not exist")]
    ProjectNotFound(PathBuf),

    #[error("project path {0} is not a directory")]
    ProjectNotADirectory(PathBuf),

    #[error("invalid document uri {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },

    #[error("cannot read document {path}: {source}")]
    ReadDocument { path: PathBuf, source: std::io::Error },

    #[error("document {path} is larger than the {limit} bytes a language server is sent")]
    DocumentTooLarge { path: PathBuf, limit: u64 },

    #[error(
        "server not initialized: no {language} language server is running for {project}; \
         start one with POST /lsp/start"
    )]
    NotInitialized { language: &'static str, project: PathBuf },

    #[error(
        "error starting LSP server: {server} is not installed or not on the daemon's PATH; \
         install it with `{install}`"
    )]
    NotInstalled { server: &'static str, install: &'static str },

    #[error("error starting LSP server {server}: {source}")]
    Spawn { server: &'static str, source: std::io::Error },

    /// The server started but failed the `initialize` handshake.
    #[error("error starting LSP server: {0}")]
    Handshake(String),

    #[error("{server} exited: {detail}; start it again with POST /lsp/start")]
    Exited { server: String, detail: String },

    #[error("{server} did not answer {method} within {}s", timeout.as_secs())]
    Timeout { server: String, method: &'static str, timeout: Duration },

    #[error("{server} failed {method}: {message} (JSON-RPC error {code})")]
    Server { server: String, method: &'static str, code: i64, message: String },

    #[error("{server} answered {method} with something that is not a {method} result: {detail}")]
    Protocol { server: String, method: &'static str, detail: String },

    #[error("the daemon is shutting down")]
    ShuttingDown,

    #[error("the language-server task failed: {0}")]
    Task(String),
}

impl From<LspError> for ApiError {
    fn from(err: LspError) -> Self {
        let message = err.to_string();
        match err {
            LspError::UnsupportedLanguage(_)
            | LspError::ProjectNotFound(_)
            | LspError::ProjectNotADirectory(_)
            | LspError::InvalidUri { .. }
            | LspError::ReadDocument { .. }
            | LspError::DocumentTooLarge { .. } => ApiError::bad_request(message),
            LspError::NotInitialized { .. } => ApiError::new(ErrorCode::LspServerNotInitialized, message),
            // The contract answers every start failure with a 500; the message says what to do.
            LspError::NotInstalled { .. }
            | LspError::Spawn { .. }
            | LspError::Handshake(_)
            | LspError::Server { .. }
            | LspError::Protocol { .. }
            | LspError::Task(_) => ApiError::internal(message),
            LspError::Exited { .. } | LspError::ShuttingDown => ApiError::service_unavailable(message),
            LspError::Timeout { .. } => ApiError::request_timeout(message),
        }
    }
}
