//! The git area's error type and how libgit2 failures map onto the contract's codes.
//!
//! Every message that leaves this module passes through [`redact`], so a URL with an embedded
//! password never reaches a response body or a log line.

use std::borrow::Cow;

use git2::{ErrorClass, ErrorCode as GitCode};

use crate::error::{ApiError, ErrorCode};

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
    /// The request names something git cannot act on (a bad spec, name, URL or argument).
    #[error("{0}")]
    Invalid(String),
    /// A revision, remote, pathspec or other object the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The repository's state blocks the operation (it exists, is locked, HEAD is detached…).
    #[error("{0}")]
    Blocked(String),
    /// The OS refused access to a repository or config file.
    #[error("{0}")]
    PermissionDenied(String),
    /// A failure git gives no better class for.
    #[error("{0}")]
    Unexpected(String),
}

pub type GitResult<T> = Result<T, GitError>;

impl From<GitError> for ApiError {
    fn from(err: GitError) -> Self {
        let code = match &err {
            GitError::AuthFailed(_) => ErrorCode::GitAuthFailed,
            GitError::RepoNotFound(_) => ErrorCode::GitRepoNotFound,
            GitError::BranchNotFound(_) => ErrorCode::GitBranchNotFound,
            GitError::BranchExists(_) => ErrorCode::GitBranchExists,
            GitError::PushRejected(_) => ErrorCode::GitPushRejected,
            GitError::DirtyWorktree(_) => ErrorCode::GitDirtyWorktree,
            GitError::MergeConflict(_) => ErrorCode::GitMergeConflict,
            GitError::Transport(_) => ErrorCode::GitTransportFailed,
            GitError::RemoteRejected(_) => ErrorCode::GitRemoteRejected,
            GitError::Invalid(_) => ErrorCode::BadRequest,
            GitError::NotFound(_) => ErrorCode::NotFound,
            GitError::Blocked(_) => ErrorCode::Conflict,
            GitError::PermissionDenied(_) => ErrorCode::Forbidden,
            GitError::Unexpected(_) => ErrorCode::InternalServerError,
        };
        ApiError::new(code, redact(&err.to_string()))
    }
}

impl From<git2::Error> for GitError {
    /// The classification used when an operation has no better context of its own.
    fn from(err: git2::Error) -> Self {
        let msg = err.message().to_owned();
        match (err.code(), err.class()) {
            (GitCode::Owner, _) => GitError::PermissionDenied(format!(
                "{msg} (the repository belongs to another user; add it to safe.directory in the global config)"
            )),
            (GitCode::Auth, _) => GitError::AuthFailed(format!("authentication failed: {msg}")),
            (GitCode::NotFastForward, _) => GitError::PushRejected(format!("non-fast-forward update: {msg}")),
            (GitCode::Conflict | GitCode::Uncommitted | GitCode::Modified, _) => {
                GitError::DirtyWorktree(format!("local changes would be overwritten: {msg}"))
            }
            (GitCode::Unmerged | GitCode::MergeConflict, _) => GitError::MergeConflict(msg),
            (GitCode::Exists, _) => GitError::Blocked(msg),
            (GitCode::Locked, _) => GitError::Blocked(format!("repository is locked: {msg}")),
            (GitCode::BareRepo, _) => GitError::Invalid(format!("not allowed on a bare repository: {msg}")),
            (GitCode::InvalidSpec | GitCode::Invalid, _) => GitError::Invalid(msg),
            (GitCode::NotFound | GitCode::UnbornBranch, _) => GitError::NotFound(msg),
            (GitCode::Certificate, _) => GitError::Transport(format!("TLS certificate check failed: {msg}")),
            (_, ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl) => transport_error(&msg),
            (_, ErrorClass::Os) if msg.contains("ermission denied") => GitError::PermissionDenied(msg),
            // git2 turns a Rust string with an interior NUL (a ref name, pathspec or URL from
            // the request) into this error before libgit2 is called.
            _ if msg.contains("nul byte") => {
                GitError::Invalid(format!("a request field contains a NUL byte: {msg}"))
            }
            _ => GitError::Unexpected(msg),
        }
    }
}

/// A network-level failure, told apart by what the server answered when it answered at all.
pub(crate) fn transport_error(msg: &str) -> GitError {
    if msg.contains("status code: 401") {
        GitError::AuthFailed(format!("authentication failed: {msg}"))
    } else if msg.contains("status code: 403") {
        GitError::PermissionDenied(msg.to_owned())
    } else if msg.contains("status code: 404") {
        GitError::RepoNotFound(format!("remote repository not found: {msg}"))
    } else if msg.contains("unsupported URL protocol") {
        GitError::Invalid(format!("unsupported remote URL: {msg}"))
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
