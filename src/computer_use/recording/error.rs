//! What can go wrong with a recording, named for what happened; `routes.rs` picks the status.

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("FFmpeg must be installed and available in PATH to use screen recording")]
    FfmpegNotFound,
    #[error(
        "invalid label {0:?}: at most 100 characters of letters, digits, space, '.', '_' and '-', not starting with '.'"
    )]
    InvalidLabel(String),
    #[error("id is required")]
    MissingId,
    #[error("recording not found")]
    NotFound,
    #[error("recording file not found")]
    FileMissing,
    #[error("{0} recordings are active already; stop one first")]
    TooMany(usize),
    #[error("cannot delete an active recording, stop it first")]
    StillActive,
    #[error("no X display to record at {display}: {detail}")]
    NoDisplay { display: String, detail: String },
    #[error("ffmpeg stopped at once: {0}")]
    CaptureFailed(String),
    #[error("cannot start ffmpeg: {0}")]
    Spawn(std::io::Error),
    #[error("cannot {action} {path}: {err}")]
    Store { action: &'static str, path: String, err: std::io::Error },
}

impl RecordingError {
    pub fn store(action: &'static str, path: &std::path::Path, err: std::io::Error) -> Self {
        RecordingError::Store { action, path: path.display().to_string(), err }
    }
}
