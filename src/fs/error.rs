//! The area's error type and how each case maps onto the contract's status and code.

use std::io;

use crate::error::{ApiError, ErrorCode};

/// Everything a filesystem operation can fail with; the message names the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Invalid input (missing parameter, bad mode, directory where a file is expected).
    #[error("{0}")]
    Invalid(String),
    /// A path that names no entry the operation could act on (`.`, `..` or `/` where an entry
    /// is to be changed, an empty path, a directory where a file is read).
    #[error("invalid file path: {0}")]
    InvalidPath(String),
    /// A file that exists could not be opened for reading.
    #[error("failed to open file: {0}")]
    ReadFailed(String),
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("permission denied: {0}")]
    AccessDenied(String),
    /// The destination of a move already exists.
    #[error("{0}")]
    AlreadyExists(String),
    #[error("no space left on device: {0}")]
    NoSpace(String),
    /// An OS failure the contract files under "400 other" (e.g. ENOTDIR, EISDIR, EBUSY).
    #[error("{0}")]
    Os(String),
    /// A failure with no better class (a worker task died, a watcher failed).
    #[error("{0}")]
    Unexpected(String),
}

impl FsError {
    /// Classifies an OS error from `op` on `path` (`op` is Go's verb: `stat`, `open`, `mkdir`…).
    pub fn io(op: &str, path: &std::path::Path, err: &io::Error) -> Self {
        let detail = format!("{op} {}: {}", path.display(), os_text(err));
        match err.kind() {
            io::ErrorKind::NotFound => FsError::NotFound(detail),
            io::ErrorKind::PermissionDenied => FsError::AccessDenied(detail),
            _ if is_no_space(err) => FsError::NoSpace(detail),
            _ => FsError::Os(detail),
        }
    }
}

/// ENOSPC or EDQUOT: both mean the write cannot land.
pub fn is_no_space(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == libc_enospc() || code == libc_edquot())
}

const fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

const fn libc_edquot() -> i32 {
    rustix::io::Errno::DQUOT.raw_os_error()
}

/// The OS reason the way Go prints it (`no such file or directory`), which clients match on.
pub fn os_text(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<FsError> for ApiError {
    fn from(err: FsError) -> Self {
        let code = match &err {
            FsError::Invalid(_) | FsError::Os(_) => ErrorCode::BadRequest,
            FsError::InvalidPath(_) => ErrorCode::InvalidFilePath,
            FsError::ReadFailed(_) => ErrorCode::FileReadFailed,
            FsError::NotFound(_) => ErrorCode::FileNotFound,
            FsError::AccessDenied(_) => ErrorCode::FileAccessDenied,
            FsError::AlreadyExists(_) => ErrorCode::Conflict,
            FsError::NoSpace(_) => ErrorCode::InsufficientStorage,
            FsError::Unexpected(_) => ErrorCode::InternalServerError,
        };
        ApiError::new(code, err.to_string())
    }
}

pub type FsResult<T> = Result<T, FsError>;

/// Runs blocking filesystem work off the reactor.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> FsResult<T> + Send + 'static) -> FsResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| FsError::Unexpected(format!("worker failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_text_reads_like_go() {
        let err = io::Error::from_raw_os_error(2);
        assert_eq!(os_text(&err), "no such file or directory");
        let e = FsError::io("open", std::path::Path::new("/x"), &err);
        assert_eq!(e.to_string(), "file not found: open /x: no such file or directory");
        assert!(matches!(
            FsError::io("open", "/x".as_ref(), &io::Error::from_raw_os_error(28)),
            FsError::NoSpace(_)
        ));
        assert!(matches!(
            FsError::io("open", "/x".as_ref(), &io::Error::from_raw_os_error(13)),
            FsError::AccessDenied(_)
        ));
        assert!(matches!(
            FsError::io("open", "/x".as_ref(), &io::Error::from_raw_os_error(20)),
            FsError::Os(_)
        ));
    }
}
