//! `git clone`: a branch or the remote default, optionally shallow, optionally a detached
//! commit, with credentials; a failed clone leaves no half-written repository behind.

use std::path::Path;

use git2::FetchOptions;
use git2::build::{CheckoutBuilder, RepoBuilder};

use super::GitService;
use super::credentials::Auth;
use super::error::{GitError, GitResult, redact};

#[derive(Debug, Clone)]
pub struct CloneRequest {
    pub url: String,
    pub path: String,
    pub branch: Option<String>,
    pub commit_id: Option<String>,
    pub auth: Option<Auth>,
    pub insecure_skip_tls: bool,
    pub depth: Option<i64>,
}

/// Accepts the URL forms libgit2 here can fetch: http(s), file, and local paths.
fn check_url(url: &str) -> GitResult<()> {
    let url = url.trim();
    if url.is_empty() {
        return Err(GitError::Invalid("url must not be empty".into()));
    }
    match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" | "file" if !rest.is_empty() => Ok(()),
            "ssh" | "git" => Err(GitError::Invalid(format!(
                "unsupported URL scheme '{scheme}': only http(s) and file remotes are supported"
            ))),
            _ => Err(GitError::Invalid(format!("invalid repository URL '{}'", redact(url)))),
        },
        None if url.starts_with('/') => Ok(()),
        None if url.contains(':') && url.contains('@') => Err(GitError::Invalid(
            "ssh remotes (user@host:path) are not supported: use an http(s) URL".into(),
        )),
        None => Err(GitError::Invalid(format!("invalid repository URL '{}'", redact(url)))),
    }
}

/// Whether libgit2 serves `url` with its local transport (file:// or a path).
fn is_local(url: &str) -> bool {
    url.starts_with('/') || url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("file://"))
}

/// Removes what a failed clone left: the directory if the clone created it, else its contents.
fn clean_up(target: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(target);
    } else if let Ok(entries) = std::fs::read_dir(target) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

impl GitService {
    pub async fn clone_repo(&self, req: CloneRequest) -> GitResult<()> {
        check_url(&req.url)?;
        let depth = match req.depth {
            Some(d) if d < 0 => return Err(GitError::Invalid("depth must not be negative".into())),
            Some(d) => i32::try_from(d).map_err(|_| GitError::Invalid("depth is too large".into()))?,
            None => 0,
        };
        let target = self.resolve(&req.path)?;
        let this = self.clone();
        self.blocking(move || {
            if target.join(".git").exists() {
                return Err(GitError::Blocked(format!("repository already exists at {}", target.display())));
            }
            if std::fs::read_dir(&target).is_ok_and(|mut d| d.next().is_some()) {
                return Err(GitError::Blocked(format!(
                    "destination path {} already exists and is not an empty directory",
                    target.display()
                )));
            }
            let created = !target.exists();
            let result = this.clone_blocking(&req, &target, depth);
            if result.is_err() {
                clean_up(&target, created);
            }
            result
        })
        .await
    }

    fn clone_blocking(&self, req: &CloneRequest, target: &Path, depth: i32) -> GitResult<()> {
        let url = req.url.trim();
        if url.starts_with('/') && !Path::new(url).exists() {
            return Err(GitError::RepoNotFound(format!("repository {url} does not exist")));
        }
        let branch = req.branch.as_deref().filter(|b| !b.is_empty());
        let repo = self
            .transfer(req.auth.as_ref(), url, req.insecure_skip_tls, |callbacks| {
                let mut fetch = FetchOptions::new();
                fetch.remote_callbacks(callbacks);
                // libgit2's local transport cannot fetch shallow; such clones are full.
                if depth > 0 && !is_local(url) {
                    fetch.depth(depth);
                }
                let mut builder = RepoBuilder::new();
                builder.fetch_options(fetch);
                if let Some(branch) = branch {
                    builder.branch(branch);
                }
                builder.clone(url, target)
            })
            .map_err(|err| match (err, branch) {
                (
                    GitError::NotFound(msg) | GitError::RepoNotFound(msg) | GitError::Unexpected(msg),
                    Some(b),
                ) if msg.contains(&format!("refs/remotes/origin/{b}'")) => {
                    GitError::BranchNotFound(format!("remote branch '{b}' not found: {msg}"))
                }
                (err, _) => err,
            })?;
        if let Some(commit_id) = req.commit_id.as_deref().filter(|c| !c.is_empty()) {
            let commit = repo.revparse_single(commit_id).and_then(|o| o.peel_to_commit()).map_err(|_| {
                GitError::NotFound(format!("commit '{commit_id}' not found in the cloned history"))
            })?;
            repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))?;
            repo.set_head_detached(commit.id())?;
        }
        Ok(())
    }
}
