//! What can go wrong with the desktop stack, and how each failure reaches the client.

use std::time::Duration;

use crate::error::{ApiError, ErrorCode};

/// Why a program of the stack could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error(
        "{program} is not installed: `{missing}` was not found on the daemon's PATH; install \
         {packages}, or point {hint} at it"
    )]
    NotInstalled { program: &'static str, missing: String, packages: &'static str, hint: &'static str },

    #[error("the {program} command {command:?} cannot be parsed: {reason}")]
    BadCommand { program: &'static str, command: String, reason: String },

    #[error("{name}={value:?} is not usable: expected {expected}")]
    BadSetting { name: &'static str, value: String, expected: &'static str },

    #[error("{program} cannot start: {what} is already in use by another process")]
    InUse { program: &'static str, what: String },

    #[error("{program} could not be started: {source}")]
    Spawn { program: &'static str, source: std::io::Error },

    #[error("{program} exited before it was ready: {detail}")]
    Exited { program: &'static str, detail: String },

    #[error("{program} was not ready within {}s: {detail}", timeout.as_secs())]
    NotReady { program: &'static str, timeout: Duration, detail: String },

    #[error("the daemon is shutting down")]
    ShuttingDown,
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("failed to start computer use: {0}")]
    Start(StartFailure),

    #[error("failed to restart {name}: {failure}")]
    Restart { name: &'static str, failure: StartFailure },

    #[error("unknown process {0:?}: the desktop stack's processes are xvfb, xfce4, x11vnc and novnc")]
    UnknownProcess(String),

    #[error("cannot read the {name} {what}: {source}")]
    ReadLog { name: &'static str, what: &'static str, source: std::io::Error },
}

impl From<DesktopError> for ApiError {
    fn from(err: DesktopError) -> Self {
        let message = err.to_string();
        match err {
            // The contract's start failures are 503s without a code.
            DesktopError::Start(_) | DesktopError::Restart { .. } => {
                ApiError::new(ErrorCode::Unavailable, message)
            }
            DesktopError::UnknownProcess(_) => ApiError::bad_request(message),
            DesktopError::ReadLog { .. } => ApiError::internal(message),
        }
    }
}
