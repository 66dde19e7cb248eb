//! `git diff` as patch text, and a bounded `git log`: what a caller reading changes needs
//! beyond the contract's status and full history.

use git2::{DiffFormat, DiffOptions, Repository};

use super::error::GitResult;
use super::repo;
use super::{GitService, reject_nul};

/// Which two trees to compare.
#[derive(Debug, Clone)]
pub enum DiffTarget {
    /// Work tree against the index: changes not staged yet (`git diff`).
    Unstaged,
    /// Index against HEAD: what the next commit holds (`git diff --staged`).
    Staged,
    /// Work tree (staged or not) against a revision (`git diff <rev>`).
    Revision(String),
}

/// A patch, cut at a byte budget.
#[derive(Debug)]
pub struct Patch {
    pub text: String,
    pub files_changed: usize,
    /// True when the patch went on past the budget.
    pub truncated: bool,
}

fn diff(repo: &Repository, target: &DiffTarget, paths: &[String], limit: usize) -> GitResult<Patch> {
    let mut options = DiffOptions::new();
    options.include_untracked(matches!(target, DiffTarget::Unstaged)).recurse_untracked_dirs(true);
    options.show_untracked_content(true);
    for path in paths {
        options.pathspec(path);
    }
    let diff = match target {
        DiffTarget::Unstaged => repo.diff_index_to_workdir(None, Some(&mut options))?,
        DiffTarget::Staged => {
            let head = repo::head_commit(repo)?.map(|c| c.tree()).transpose()?;
            repo.diff_tree_to_index(head.as_ref(), None, Some(&mut options))?
        }
        DiffTarget::Revision(spec) => {
            let tree = repo::revision(repo, spec)?.peel_to_tree()?;
            repo.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))?
        }
    };
    let files_changed = diff.deltas().len();
    let mut text = Vec::new();
    let mut truncated = false;
    // Returning false from the callback stops libgit2 with a user error, which is the cut.
    let printed = diff.print(DiffFormat::Patch, |_, _, line| {
        let origin = line.origin();
        let prefix: &[u8] = match origin {
            '+' | '-' | ' ' => &[origin as u8],
            _ => &[],
        };
        if text.len() + prefix.len() + line.content().len() > limit {
            truncated = true;
            return false;
        }
        text.extend_from_slice(prefix);
        text.extend_from_slice(line.content());
        true
    });
    if !truncated {
        printed?;
    }
    Ok(Patch { text: String::from_utf8_lossy(&text).into_owned(), files_changed, truncated })
}

impl GitService {
    /// The patch between `target` and the work tree or index, limited to `paths` when given and
    /// to `limit` bytes of text.
    pub async fn diff(
        &self,
        path: &str,
        target: DiffTarget,
        paths: Vec<String>,
        limit: usize,
    ) -> GitResult<Patch> {
        let dir = self.resolve(path)?;
        for spec in &paths {
            reject_nul("paths", spec)?;
        }
        if let DiffTarget::Revision(spec) = &target {
            reject_nul("revision", spec)?;
        }
        self.blocking(move || diff(&repo::open(&dir)?, &target, &paths, limit)).await
    }
}
