//! Local branches: list, create (and check out), delete, and checkout of a branch or commit.

use git2::build::CheckoutBuilder;
use git2::{BranchType, ErrorCode, Repository};
use serde::Serialize;
use utoipa::ToSchema;

use super::GitService;
use super::error::{GitError, GitResult};
use super::repo;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListBranchResponse {
    /// Local branch short names.
    pub branches: Vec<String>,
    /// The checked-out branch (also when unborn); omitted when HEAD is detached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

fn check_branch_name(name: &str) -> GitResult<()> {
    if !git2::Branch::name_is_valid(name)? || name.starts_with('-') {
        return Err(GitError::Invalid(format!("'{name}' is not a valid branch name")));
    }
    Ok(())
}

/// Checks out `target` the way `git checkout` does: files are updated only where they differ,
/// and local changes are kept unless the switch would overwrite them (then nothing changes).
pub(crate) fn safe_checkout(repo: &Repository, target: &git2::Object<'_>, what: &str) -> GitResult<()> {
    let mut checkout = CheckoutBuilder::new();
    checkout.safe();
    repo.checkout_tree(target, Some(&mut checkout)).map_err(|err| match err.code() {
        ErrorCode::Conflict | ErrorCode::Uncommitted | ErrorCode::Modified | ErrorCode::MergeConflict => {
            GitError::DirtyWorktree(format!(
                "your local changes would be overwritten by checking out {what}; commit, stash or restore them first ({})",
                err.message()
            ))
        }
        _ => GitError::from(err),
    })
}

fn checkout(repo: &Repository, name: &str) -> GitResult<()> {
    // A local branch first, as `git checkout <branch>`.
    if let Ok(branch) = repo.find_branch(name, BranchType::Local) {
        let refname = branch.get().name().unwrap_or_default().to_owned();
        let target = branch.get().peel(git2::ObjectType::Commit)?;
        safe_checkout(repo, &target, &format!("branch '{name}'"))?;
        repo.set_head(&refname)?;
        return Ok(());
    }
    // Then a unique remote-tracking branch of that name: create a local branch tracking it.
    let candidates: Vec<String> = repo
        .branches(Some(BranchType::Remote))?
        .filter_map(Result::ok)
        .filter_map(|(b, _)| b.name().ok().flatten().map(str::to_owned))
        .filter(|remote_name| remote_name.split_once('/').is_some_and(|(_, rest)| rest == name))
        .collect();
    if let [remote_name] = candidates.as_slice() {
        let remote = repo.find_branch(remote_name, BranchType::Remote)?;
        let commit = remote.get().peel_to_commit()?;
        safe_checkout(repo, commit.as_object(), &format!("branch '{name}'"))?;
        let mut local = repo.branch(name, &commit, false)?;
        local.set_upstream(Some(remote_name))?;
        repo.set_head(&format!("refs/heads/{name}"))?;
        return Ok(());
    }
    // Finally any commit (full or abbreviated hash, tag…): a detached HEAD.
    let commit = repo
        .revparse_single(name)
        .and_then(|obj| obj.peel_to_commit())
        .map_err(|_| GitError::BranchNotFound(format!("branch or commit '{name}' not found")))?;
    safe_checkout(repo, commit.as_object(), &format!("'{name}'"))?;
    repo.set_head_detached(commit.id())?;
    Ok(())
}

impl GitService {
    pub async fn branches(&self, path: &str) -> GitResult<ListBranchResponse> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let branches = repo
                .branches(Some(BranchType::Local))?
                .map(|b| {
                    let (branch, _) = b?;
                    Ok(String::from_utf8_lossy(branch.name_bytes()?).into_owned())
                })
                .collect::<Result<Vec<_>, git2::Error>>()?;
            Ok(ListBranchResponse { branches, current: repo::head_branch(&repo)? })
        })
        .await
    }

    /// Creates `name` at HEAD and checks it out (as `git checkout -b`, and as the reference does).
    pub async fn create_branch(&self, path: &str, name: String) -> GitResult<()> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            check_branch_name(&name)?;
            if repo.find_branch(&name, BranchType::Local).is_ok() {
                return Err(GitError::BranchExists(format!("a branch named '{name}' already exists")));
            }
            // On an unborn branch there is nothing to point at: only the unborn name switches.
            if let Some(head) = repo::head_commit(&repo)? {
                repo.branch(&name, &head, false)?;
            }
            repo.set_head(&format!("refs/heads/{name}"))?;
            Ok(())
        })
        .await
    }

    /// Deletes a local branch; a missing one is not an error (as in the reference), the
    /// checked-out one is refused (as `git branch -d`).
    pub async fn delete_branch(&self, path: &str, name: String) -> GitResult<()> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let mut branch = match repo.find_branch(&name, BranchType::Local) {
                Ok(branch) => branch,
                Err(err) if matches!(err.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            if branch.is_head() {
                return Err(GitError::Blocked(format!("cannot delete branch '{name}': it is checked out")));
            }
            branch.delete()?;
            Ok(())
        })
        .await
    }

    pub async fn checkout(&self, path: &str, name: String) -> GitResult<()> {
        let dir = self.resolve(path)?;
        self.blocking(move || checkout(&repo::open(&dir)?, &name)).await
    }
}
