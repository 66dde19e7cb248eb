//! `git status` and `git log`, shaped as the contract's `GitStatus` and `GitCommitInfo`.

use chrono::{FixedOffset, Offset, TimeZone, Utc};
use git2::{Repository, Status, StatusOptions};
use serde::Serialize;
use utoipa::ToSchema;

use super::GitService;
use super::error::{GitError, GitResult};
use super::repo;

/// One side (index or work tree) of a path's status, spelled as the reference spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum FileState {
    Unmodified,
    Untracked,
    Modified,
    Added,
    Deleted,
    Renamed,
    Copied,
    #[serde(rename = "Updated but unmerged")]
    UpdatedButUnmerged,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileStatus {
    /// Path relative to the repository root.
    pub name: String,
    /// The original path of a rename, else empty.
    pub extra: String,
    pub staging: FileState,
    pub worktree: FileState,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitStatus {
    /// Short branch name, or `HEAD` when detached.
    pub current_branch: String,
    pub file_status: Vec<FileStatus>,
    /// True when the branch has an upstream.
    pub branch_published: bool,
    pub ahead: usize,
    pub behind: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
    /// The upstream as `remote/branch`; omitted when there is none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub upstream: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GitCommitInfo {
    pub hash: String,
    pub author: String,
    pub email: String,
    /// The raw message, trailing newline included.
    pub message: String,
    /// Author time, RFC 3339 in the commit's own offset.
    pub timestamp: String,
}

fn file_states(status: Status) -> (FileState, FileState) {
    if status.is_conflicted() {
        return (FileState::UpdatedButUnmerged, FileState::UpdatedButUnmerged);
    }
    if status.is_wt_new() && !status.intersects(Status::INDEX_NEW | Status::INDEX_MODIFIED) {
        return (FileState::Untracked, FileState::Untracked);
    }
    let staging = if status.is_index_new() {
        FileState::Added
    } else if status.is_index_deleted() {
        FileState::Deleted
    } else if status.is_index_renamed() {
        FileState::Renamed
    } else if status.intersects(Status::INDEX_MODIFIED | Status::INDEX_TYPECHANGE) {
        FileState::Modified
    } else {
        FileState::Unmodified
    };
    let worktree = if status.is_wt_deleted() {
        FileState::Deleted
    } else if status.is_wt_renamed() {
        FileState::Renamed
    } else if status.intersects(Status::WT_MODIFIED | Status::WT_TYPECHANGE) {
        FileState::Modified
    } else {
        FileState::Unmodified
    };
    (staging, worktree)
}

/// The upstream of `branch` as `(shorthand, oid)`, if one is configured and fetched.
pub(crate) fn upstream_of(repo: &Repository, branch: &str) -> Option<(String, git2::Oid)> {
    let local = repo.find_branch(branch, git2::BranchType::Local).ok()?;
    let upstream = local.upstream().ok()?;
    let oid = upstream.get().target()?;
    let name = upstream.get().shorthand()?.to_owned();
    Some((name, oid))
}

fn status(repo: &Repository) -> GitResult<GitStatus> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    let file_status = statuses
        .iter()
        .filter(|entry| !entry.status().is_ignored())
        .map(|entry| {
            let (staging, worktree) = file_states(entry.status());
            let rename = entry.head_to_index().filter(|_| entry.status().is_index_renamed());
            let name = rename
                .as_ref()
                .and_then(|d| d.new_file().path())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| String::from_utf8_lossy(entry.path_bytes()).into_owned());
            let extra = rename
                .as_ref()
                .and_then(|d| d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            FileStatus { name, extra, staging, worktree }
        })
        .collect();
    let branch = repo::head_branch(repo)?;
    let mut result = GitStatus {
        current_branch: branch.clone().unwrap_or_else(|| "HEAD".to_owned()),
        file_status,
        branch_published: false,
        ahead: 0,
        behind: 0,
        detached: branch.is_none(),
        upstream: String::new(),
    };
    if let (Some(branch), Some(head)) = (branch, repo::head_commit(repo)?) {
        if let Some((name, oid)) = upstream_of(repo, &branch) {
            let (ahead, behind) = repo.graph_ahead_behind(head.id(), oid)?;
            result.branch_published = true;
            result.ahead = ahead;
            result.behind = behind;
            result.upstream = name;
        }
    }
    Ok(result)
}

fn commit_info(commit: &git2::Commit<'_>) -> GitCommitInfo {
    let author = commit.author();
    let when = author.when();
    let offset = FixedOffset::east_opt(when.offset_minutes() * 60).unwrap_or_else(|| Utc.fix());
    let timestamp = offset
        .timestamp_opt(when.seconds(), 0)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    GitCommitInfo {
        hash: commit.id().to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
        timestamp,
    }
}

impl GitService {
    pub async fn status(&self, path: &str) -> GitResult<GitStatus> {
        let dir = self.resolve(path)?;
        self.blocking(move || status(&repo::open(&dir)?)).await
    }

    /// Commits reachable from HEAD in `git log` order: every commit before its parents, then
    /// newest first (commits made within the same second keep child-before-parent); empty on
    /// an unborn branch. `max` keeps only the newest `max` of them.
    pub async fn history(&self, path: &str, max: Option<usize>) -> GitResult<Vec<GitCommitInfo>> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let Some(head) = repo::head_commit(&repo)? else {
                return Ok(Vec::new());
            };
            let mut walk = repo.revwalk()?;
            walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
            walk.push(head.id())?;
            walk.take(max.unwrap_or(usize::MAX))
                .map(|oid| {
                    let commit = repo.find_commit(oid?)?;
                    Ok(commit_info(&commit))
                })
                .collect::<Result<Vec<_>, git2::Error>>()
                .map_err(GitError::from)
        })
        .await
    }
}
