//! What can go wrong with mouse, keyboard, screenshots and windows, and how each failure reaches
//! the client.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ComputerUseError {
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },

    #[error("invalid modifier {modifier:?}: {reason}")]
    InvalidModifier { modifier: String, reason: String },

    #[error("invalid hotkey {keys:?}: {reason}")]
    InvalidHotkey { keys: String, reason: String },

    #[error("invalid text: {0}")]
    InvalidText(String),

    /// A field of a request body or a query parameter out of range or unreadable.
    #[error("{0}")]
    InvalidParameter(String),

    #[error(
        "computer use is unavailable: the desktop helper `toolboxd-desktop` was not found ({0}); \
         install it beside toolboxd or name it with --desktop-helper / TOOLBOXD_DESKTOP_HELPER"
    )]
    HelperNotFound(String),

    #[error("computer use is unavailable: the desktop helper {path} could not be started: {source}")]
    HelperSpawn { path: PathBuf, source: std::io::Error },

    #[error("computer use is unavailable: the desktop helper {path} is not usable: {detail}")]
    HelperBroken { path: PathBuf, detail: String },

    #[error("computer use is unavailable: {0}")]
    DisplayUnreachable(String),

    #[error("computer use is busy: {0} requests are already waiting for the desktop helper")]
    Busy(usize),

    #[error("the desktop helper exited during the request ({0}); it is started again on the next request")]
    HelperExited(String),

    #[error("the desktop helper did not answer within {}s; it was stopped and starts again on the next request", .0.as_secs())]
    Timeout(Duration),

    /// The helper could not carry the request out as asked (e.g. a region off the screen).
    #[error("{0}")]
    Rejected(String),

    #[error("{0}")]
    Failed(String),

    #[error("the daemon is shutting down")]
    ShuttingDown,
}

impl From<ComputerUseError> for ApiError {
    fn from(err: ComputerUseError) -> Self {
        let message = err.to_string();
        match err {
            ComputerUseError::InvalidKey { .. }
            | ComputerUseError::InvalidModifier { .. }
            | ComputerUseError::InvalidHotkey { .. }
            | ComputerUseError::InvalidText(_)
            | ComputerUseError::InvalidParameter(_)
            | ComputerUseError::Rejected(_) => ApiError::new(ErrorCode::BadRequest, message),
            // The contract's computer-use 503s carry no code.
            ComputerUseError::HelperNotFound(_)
            | ComputerUseError::HelperSpawn { .. }
            | ComputerUseError::HelperBroken { .. }
            | ComputerUseError::DisplayUnreachable(_)
            | ComputerUseError::Busy(_)
            | ComputerUseError::ShuttingDown => ApiError::new(ErrorCode::Unavailable, message),
            ComputerUseError::HelperExited(_)
            | ComputerUseError::Timeout(_)
            | ComputerUseError::Failed(_) => ApiError::internal(message),
        }
    }
}
