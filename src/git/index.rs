//! The index and commits: add, commit, reset and restore.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{IndexAddOption, Repository, ResetType, Signature};

use super::GitService;
use super::branches::safe_checkout;
use super::error::{GitError, GitResult};
use super::repo;

/// `git reset` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    Soft,
    Mixed,
    Hard,
    Merge,
    Keep,
}

impl ResetMode {
    pub fn parse(mode: Option<&str>) -> GitResult<ResetMode> {
        match mode.unwrap_or_default() {
            "" | "mixed" => Ok(ResetMode::Mixed),
            "soft" => Ok(ResetMode::Soft),
            "hard" => Ok(ResetMode::Hard),
            "merge" => Ok(ResetMode::Merge),
            "keep" => Ok(ResetMode::Keep),
            other => Err(GitError::Invalid(format!(
                "invalid reset mode '{other}': use soft, mixed, hard, merge or keep"
            ))),
        }
    }
}

/// What `POST /git/restore` restores.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub files: Vec<String>,
    pub staged: Option<bool>,
    pub worktree: Option<bool>,
    pub source: Option<String>,
}

/// Rejects paths that are absolute or climb out of the repository.
fn check_relative(file: &str) -> GitResult<()> {
    let path = Path::new(file);
    if path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(GitError::Invalid(format!("'{file}' must be a path relative to the repository root")));
    }
    Ok(())
}

fn add(repo: &Repository, files: &[String]) -> GitResult<()> {
    let workdir =
        repo.workdir().ok_or_else(|| GitError::Invalid("cannot add files in a bare repository".into()))?;
    let mut index = repo.index()?;
    for file in files {
        check_relative(file)?;
        let spec = if file == "." || file.is_empty() {
            "*".to_owned()
        } else {
            file.trim_end_matches('/').to_owned()
        };
        let on_disk = workdir.join(&spec).symlink_metadata().is_ok() || spec == "*";
        let tracked = index.iter().any(|e| {
            let p = String::from_utf8_lossy(&e.path);
            p == spec || p.starts_with(&format!("{spec}/"))
        });
        if !on_disk && !tracked {
            return Err(GitError::NotFound(format!("pathspec '{file}' did not match any files")));
        }
        let pathspec = [spec.as_str()];
        // As `git add <path>`: new and modified files are staged, and so are deletions.
        index.add_all(pathspec, IndexAddOption::DEFAULT, None)?;
        index.update_all(pathspec, None)?;
    }
    index.write()?;
    Ok(())
}

fn commit(
    repo: &Repository,
    message: &str,
    author: &str,
    email: &str,
    allow_empty: bool,
) -> GitResult<String> {
    let mut index = repo.index()?;
    if index.has_conflicts() {
        return Err(GitError::MergeConflict(
            "cannot commit: the index has unmerged paths; resolve them and add the files first".into(),
        ));
    }
    let tree = repo.find_tree(index.write_tree()?)?;
    let parent = repo::head_commit(repo)?;
    let unchanged = match &parent {
        Some(parent) => parent.tree_id() == tree.id(),
        None => tree.is_empty(),
    };
    if unchanged && !allow_empty {
        return Err(GitError::Blocked(
            "cannot create empty commit: nothing staged (set allow_empty to commit anyway)".into(),
        ));
    }
    let signature = Signature::now(author, email)
        .map_err(|err| GitError::Invalid(format!("invalid author: {}", err.message())))?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents)?;
    Ok(oid.to_string())
}

fn reset(repo: &Repository, mode: ResetMode, target: &str, files: &[String]) -> GitResult<()> {
    let target = repo::revision(repo, target)?;
    let commit =
        target.peel_to_commit().map_err(|_| GitError::Invalid("reset target is not a commit".into()))?;
    if !files.is_empty() {
        if mode != ResetMode::Mixed {
            return Err(GitError::Invalid(format!("cannot do a {mode:?} reset with paths").to_lowercase()));
        }
        for file in files {
            check_relative(file)?;
        }
        repo.reset_default(Some(commit.as_object()), files.iter())?;
        return Ok(());
    }
    match mode {
        ResetMode::Soft => repo.reset(commit.as_object(), ResetType::Soft, None)?,
        ResetMode::Mixed => repo.reset(commit.as_object(), ResetType::Mixed, None)?,
        ResetMode::Hard => {
            repo.reset(commit.as_object(), ResetType::Hard, Some(CheckoutBuilder::new().force()))?
        }
        // Files that differ between HEAD and the target are updated, but a file with local
        // changes among them aborts the reset; other local changes are kept in the work tree.
        ResetMode::Merge | ResetMode::Keep => {
            safe_checkout(repo, commit.as_object(), "the reset target")?;
            repo.reset(commit.as_object(), ResetType::Mixed, None)?;
        }
    }
    Ok(())
}

fn restore(repo: &Repository, req: &RestoreRequest) -> GitResult<()> {
    if req.files.is_empty() {
        return Err(GitError::Invalid("files must not be empty".into()));
    }
    for file in &req.files {
        check_relative(file)?;
    }
    let (staged, worktree) = match (req.staged, req.worktree) {
        (None, None) => (false, true),
        (Some(staged), None) => (staged, !staged),
        (None, Some(worktree)) => (false, worktree),
        (Some(staged), Some(worktree)) => (staged, worktree),
    };
    if !staged && !worktree {
        return Err(GitError::Invalid("nothing to restore: staged and worktree are both false".into()));
    }
    let source = match req.source.as_deref().filter(|s| !s.is_empty()) {
        Some(spec) => Some(
            repo::revision(repo, spec)?
                .peel_to_commit()
                .map_err(|_| GitError::Invalid(format!("'{spec}' is not a commit")))?,
        ),
        None => None,
    };
    let mut index = repo.index()?;
    let source_tree = source.as_ref().map(git2::Commit::tree).transpose()?;
    for file in &req.files {
        let in_index = index.get_path(Path::new(file), 0).is_some();
        let in_source = match &source_tree {
            Some(tree) => tree.get_path(Path::new(file)).is_ok(),
            None => repo::head_commit(repo)?
                .and_then(|c| c.tree().ok())
                .is_some_and(|t| t.get_path(Path::new(file)).is_ok()),
        };
        let is_dir = repo.workdir().is_some_and(|w| w.join(file).is_dir());
        if !in_index && !in_source && !is_dir {
            return Err(GitError::NotFound(format!("pathspec '{file}' did not match any file known to git")));
        }
    }
    if staged {
        // The index entries come from the source (default HEAD); on an unborn branch they go.
        let from = match &source {
            Some(commit) => Some(commit.as_object().clone()),
            None => repo::head_commit(repo)?.map(|c| c.into_object()),
        };
        repo.reset_default(from.as_ref(), req.files.iter())?;
        index = repo.index()?;
    }
    if worktree {
        let mut checkout = CheckoutBuilder::new();
        checkout.force().disable_pathspec_match(false);
        for file in &req.files {
            checkout.path(file);
        }
        match &source_tree {
            Some(tree) => repo.checkout_tree(tree.as_object(), Some(&mut checkout))?,
            None => repo.checkout_index(Some(&mut index), Some(&mut checkout))?,
        }
    }
    Ok(())
}

impl GitService {
    pub async fn add(&self, path: &str, files: Vec<String>) -> GitResult<()> {
        let dir = self.resolve(path)?;
        files.iter().try_for_each(|file| super::reject_nul("files", file))?;
        self.blocking(move || add(&repo::open(&dir)?, &files)).await
    }

    /// Commits the index with `author` as author and committer; returns the commit hash.
    pub async fn commit(
        &self,
        path: &str,
        message: String,
        author: String,
        email: String,
        allow_empty: bool,
    ) -> GitResult<String> {
        let dir = self.resolve(path)?;
        self.blocking(move || commit(&repo::open(&dir)?, &message, &author, &email, allow_empty)).await
    }

    pub async fn reset(
        &self,
        path: &str,
        mode: ResetMode,
        target: Option<String>,
        files: Vec<String>,
    ) -> GitResult<()> {
        let dir = self.resolve(path)?;
        files.iter().try_for_each(|file| super::reject_nul("files", file))?;
        self.blocking(move || {
            let target = target.filter(|t| !t.is_empty()).unwrap_or_else(|| "HEAD".to_owned());
            reset(&repo::open(&dir)?, mode, &target, &files)
        })
        .await
    }

    pub async fn restore(&self, path: &str, req: RestoreRequest) -> GitResult<()> {
        let dir = self.resolve(path)?;
        req.files.iter().try_for_each(|file| super::reject_nul("files", file))?;
        self.blocking(move || restore(&repo::open(&dir)?, &req)).await
    }
}
