//! The git area's error type and how libgit2 failures map onto the contract's codes.
//!
//! Every message that leaves this module passes through [`redact`], so a URL with an embedded
//! password never reaches a response body or a log line.

use std::borrow::Cow;

use axum::http::StatusCode;
use git2::{ErrorClass, ErrorCode};

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0}")]
    AuthFailed(String),
    #[error("{0}")]
    RepoNotFound(String),
    #[error("{0}")]
    BranchNotFound(String),
    #[error("{0}")]
    BranchExists(String),
    #[error("{0}")]
    PushRejected(String),
    #[error("{0}")]
    DirtyWorktree(String),
    #[error("{0}")]
    MergeConflict(String),
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    RemoteRejected(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Internal(String),
}

pub type GitResult<T> = Result<T, GitError>;

impl From<GitError> for ApiError {
    fn from(err: GitError) -> Self {
        let code =
            |status: StatusCode, code: &'static str, msg: &str| ApiError::new(status, code, redact(msg));
        match &err {
            GitError::AuthFailed(m) => code(StatusCode::UNAUTHORIZED, "GIT_AUTH_FAILED", m),
            GitError::RepoNotFound(m) => code(StatusCode::NOT_FOUND, "GIT_REPO_NOT_FOUND", m),
            GitError::BranchNotFound(m) => code(StatusCode::NOT_FOUND, "GIT_BRANCH_NOT_FOUND", m),
            GitError::BranchExists(m) => code(StatusCode::CONFLICT, "GIT_BRANCH_EXISTS", m),
            GitError::PushRejected(m) => code(StatusCode::CONFLICT, "GIT_PUSH_REJECTED", m),
            GitError::DirtyWorktree(m) => code(StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE", m),
            GitError::MergeConflict(m) => code(StatusCode::CONFLICT, "GIT_MERGE_CONFLICT", m),
            GitError::Transport(m) => code(StatusCode::BAD_GATEWAY, "GIT_TRANSPORT_FAILED", m),
            GitError::RemoteRejected(m) => code(StatusCode::UNPROCESSABLE_ENTITY, "GIT_REMOTE_REJECTED", m),
            GitError::BadRequest(m) => ApiError::bad_request(redact(m)),
            GitError::NotFound(m) => ApiError::not_found(redact(m)),
            GitError::Conflict(m) => ApiError::conflict(redact(m)),
            GitError::Forbidden(m) => ApiError::forbidden(redact(m)),
            GitError::Internal(m) => ApiError::internal(redact(m)),
        }
    }
}

impl From<git2::Error> for GitError {
    /// The classification used when an operation has no better context of its own.
    fn from(err: git2::Error) -> Self {
        let msg = err.message().to_owned();
        match (err.code(), err.class()) {
            (ErrorCode::Owner, _) => GitError::Forbidden(format!(
                "{msg} (the repository belongs to another user; add it to safe.directory in the global config)"
            )),
            (ErrorCode::Auth, _) => GitError::AuthFailed(format!("authentication failed: {msg}")),
            (ErrorCode::NotFastForward, _) => {
                GitError::PushRejected(format!("non-fast-forward update: {msg}"))
            }
            (ErrorCode::Conflict | ErrorCode::Uncommitted | ErrorCode::Modified, _) => {
                GitError::DirtyWorktree(format!("local changes would be overwritten: {msg}"))
            }
            (ErrorCode::Unmerged | ErrorCode::MergeConflict, _) => GitError::MergeConflict(msg),
            (ErrorCode::Exists, _) => GitError::Conflict(msg),
            (ErrorCode::Locked, _) => GitError::Conflict(format!("repository is locked: {msg}")),
            (ErrorCode::BareRepo, _) => {
                GitError::BadRequest(format!("not allowed on a bare repository: {msg}"))
            }
            (ErrorCode::InvalidSpec | ErrorCode::Invalid, _) => GitError::BadRequest(msg),
            (ErrorCode::NotFound | ErrorCode::UnbornBranch, _) => GitError::NotFound(msg),
            (ErrorCode::Certificate, _) => {
                GitError::Transport(format!("TLS certificate check failed: {msg}"))
            }
            (_, ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl) => transport_error(&msg),
            (_, ErrorClass::Os) if msg.contains("ermission denied") => GitError::Forbidden(msg),
            // git2 turns a Rust string with an interior NUL (a ref name, pathspec or URL from
            // the request) into this error before libgit2 is called.
            _ if msg.contains("nul byte") => {
                GitError::BadRequest(format!("a request field contains a NUL byte: {msg}"))
            }
            _ => GitError::Internal(msg),
        }
    }
}

/// A network-level failure, told apart by what the server answered when it answered at all.
pub(crate) fn transport_error(msg: &str) -> GitError {
    if msg.contains("status code: 401") {
        GitError::AuthFailed(format!("authentication failed: {msg}"))
    } else if msg.contains("status code: 403") {
        GitError::Forbidden(msg.to_owned())
    } else if msg.contains("status code: 404") {
        GitError::RepoNotFound(format!("remote repository not found: {msg}"))
    } else if msg.contains("unsupported URL protocol") {
        GitError::BadRequest(format!("unsupported remote URL: {msg}"))
    } else {
        GitError::Transport(format!("transport failed: {msg}"))
    }
}

/// Removes the password from every `scheme://user:password@host` in `text` (the user is kept).
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '`'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                out.push_str(user);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_in_urls_are_removed() {
        assert_eq!(redact("https://u:s3cret@host/x.git failed"), "https://u@host/x.git failed");
        assert_eq!(redact("'http://a:b@h:80/r' and http://c:d@e"), "'http://a@h:80/r' and http://c@e");
        assert_eq!(redact("https://host/x.git"), "https://host/x.git");
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("https://tok:p@ss:w@host/"), "https://tok@host/");
    }
}
