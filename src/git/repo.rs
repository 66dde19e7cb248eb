//! Opening and creating repositories, and resolving revisions.

use std::path::Path;

use git2::{ErrorCode, Object, Repository, RepositoryInitOptions, RepositoryOpenFlags};

use super::GitService;
use super::error::{GitError, GitResult};

/// Opens the repository whose root (work tree, `.git` dir or bare dir) is exactly `path`.
pub(crate) fn open(path: &Path) -> GitResult<Repository> {
    Repository::open_ext(path, RepositoryOpenFlags::NO_SEARCH, std::iter::empty::<&std::ffi::OsStr>())
        .map_err(|err| match err.code() {
            ErrorCode::NotFound => GitError::RepoNotFound(format!(
                "repository does not exist: {} is not a git repository root",
                path.display()
            )),
            _ => GitError::from(err),
        })
}

/// Resolves a revision (branch, tag, hash, `HEAD~1`…) to an object.
pub(crate) fn revision<'r>(repo: &'r Repository, spec: &str) -> GitResult<Object<'r>> {
    repo.revparse_single(spec).map_err(|err| match err.code() {
        ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Ambiguous => {
            GitError::NotFound(format!("revision '{spec}' not found"))
        }
        _ => GitError::from(err),
    })
}

/// The commit HEAD points at, or `None` on an unborn branch.
pub(crate) fn head_commit(repo: &Repository) -> GitResult<Option<git2::Commit<'_>>> {
    match repo.head() {
        Ok(head) => Ok(Some(head.peel_to_commit()?)),
        Err(err) if matches!(err.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The short name of the branch HEAD points at (also when unborn), or `None` when detached.
pub(crate) fn head_branch(repo: &Repository) -> GitResult<Option<String>> {
    if repo.head_detached()? {
        return Ok(None);
    }
    let head = repo.find_reference("HEAD")?;
    Ok(head.symbolic_target().map(|target| target.strip_prefix("refs/heads/").unwrap_or(target).to_owned()))
}

impl GitService {
    /// `git init`: the initial branch is `initial_branch`, else `init.defaultBranch`, else `master`.
    pub async fn init(&self, path: &str, bare: bool, initial_branch: Option<String>) -> GitResult<()> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let exists = if bare {
                dir.join("HEAD").exists() && dir.join("objects").exists()
            } else {
                dir.join(".git").exists()
            };
            if exists {
                return Err(GitError::Blocked(format!("repository already exists at {}", dir.display())));
            }
            if let Some(branch) = &initial_branch {
                if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
                    return Err(GitError::Invalid(format!("invalid branch name '{branch}'")));
                }
            }
            let mut opts = RepositoryInitOptions::new();
            opts.bare(bare).mkpath(true);
            if let Some(branch) = &initial_branch {
                opts.initial_head(branch);
            }
            Repository::init_opts(&dir, &opts)?;
            Ok(())
        })
        .await
    }
}
