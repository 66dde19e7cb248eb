//! Remotes: list and add, and the network operations fetch, pull (fast-forward) and push.

use std::cell::RefCell;
use std::rc::Rc;

use git2::{BranchType, ErrorClass, FetchOptions, PushOptions, Repository};
use serde::Serialize;
use utoipa::ToSchema;

use super::GitService;
use super::branches::safe_checkout;
use super::credentials::{self, Auth, AuthOutcome};
use super::error::{GitError, GitResult, redact};
use super::repo;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GitRemote {
    pub name: String,
    /// The fetch URL; an embedded password is removed.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListRemotesResponse {
    pub remotes: Vec<GitRemote>,
}

/// A remote that must exist for a network operation.
fn find_remote<'r>(repo: &'r Repository, name: &str) -> GitResult<git2::Remote<'r>> {
    repo.find_remote(name).map_err(|err| match err.code() {
        git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec => {
            GitError::NotFound(format!("remote '{name}' does not exist"))
        }
        _ => GitError::from(err),
    })
}

impl GitService {
    /// Runs one network transfer against `remote` with this service's credentials and policy,
    /// and classifies its failure (authentication, transport, not found).
    pub(super) fn transfer<T>(
        &self,
        auth: Option<&Auth>,
        url: &str,
        insecure_skip_tls: bool,
        run: impl FnOnce(git2::RemoteCallbacks<'_>) -> Result<T, git2::Error>,
    ) -> GitResult<T> {
        let store = credentials::store_path(self.data_dir());
        let outcome = AuthOutcome::default();
        let cancel = self.cancel_token();
        let callbacks = credentials::callbacks(auth, &store, &outcome, insecure_skip_tls, &cancel);
        let result = run(callbacks);
        result.map_err(|err| {
            let shown = redact(url).into_owned();
            if cancel.is_cancelled() {
                return GitError::Unexpected("transfer cancelled: the daemon is shutting down".into());
            }
            let network =
                matches!(err.class(), ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os);
            let mapped = match outcome.classify(&shown, err) {
                GitError::NotFound(msg) => {
                    GitError::RepoNotFound(format!("remote repository {shown} not found: {msg}"))
                }
                GitError::Unexpected(msg)
                    if msg.contains("failed to resolve path")
                        || msg.contains("could not find repository") =>
                {
                    GitError::RepoNotFound(format!("remote repository {shown} not found: {msg}"))
                }
                GitError::Unexpected(msg) if network && !msg.contains("status code") => {
                    GitError::Transport(format!("cannot reach {shown}: {msg}"))
                }
                other => other,
            };
            scrub(mapped, auth)
        })
    }

    pub(crate) fn fetch_blocking(
        &self,
        repo: &Repository,
        remote: &str,
        refspecs: &[String],
        auth: Option<&Auth>,
    ) -> GitResult<()> {
        let mut remote = find_remote(repo, remote)?;
        let url = remote.url().unwrap_or_default().to_owned();
        self.transfer(auth, &url, false, |callbacks| {
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(callbacks);
            remote.fetch(refspecs, Some(&mut opts), None)
        })
    }

    pub async fn remotes(&self, path: &str) -> GitResult<ListRemotesResponse> {
        let dir = self.resolve(path)?;
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let names = repo.remotes()?;
            let remotes = names
                .iter()
                .flatten()
                .filter_map(|name| {
                    let remote = repo.find_remote(name).ok()?;
                    Some(GitRemote {
                        name: name.to_owned(),
                        url: redact(remote.url().unwrap_or_default()).into_owned(),
                    })
                })
                .collect();
            Ok(ListRemotesResponse { remotes })
        })
        .await
    }

    /// Adds a remote (or replaces its URL when `overwrite`), then fetches it when asked.
    pub async fn add_remote(
        &self,
        path: &str,
        name: String,
        url: String,
        fetch: bool,
        overwrite: bool,
    ) -> GitResult<()> {
        let dir = self.resolve(path)?;
        let this = self.clone();
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            if !git2::Remote::is_valid_name(&name) {
                return Err(GitError::Invalid(format!("'{name}' is not a valid remote name")));
            }
            if url.trim().is_empty() {
                return Err(GitError::Invalid("url must not be empty".into()));
            }
            match repo.find_remote(&name) {
                Ok(_) if !overwrite => {
                    return Err(GitError::Blocked(format!(
                        "remote '{name}' already exists (set overwrite to replace it)"
                    )));
                }
                Ok(_) => repo.remote_set_url(&name, &url)?,
                Err(_) => {
                    repo.remote(&name, &url)?;
                }
            }
            if fetch {
                this.fetch_blocking(&repo, &name, &[], None)?;
            }
            Ok(())
        })
        .await
    }

    /// Fetches and fast-forwards the current branch, as `git pull --ff-only`: the branch merged
    /// is `branch` on `remote` when given, else the current branch's upstream, else the branch
    /// of the same name on the remote, else the remote's default branch.
    pub async fn pull(
        &self,
        path: &str,
        auth: Option<Auth>,
        remote: Option<String>,
        branch: Option<String>,
    ) -> GitResult<()> {
        let dir = self.resolve(path)?;
        let this = self.clone();
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let current = repo::head_branch(&repo)?
                .ok_or_else(|| GitError::Blocked("cannot pull: HEAD is detached (check out a branch first)".into()))?;
            let config = repo.config()?;
            let upstream_remote = config.get_string(&format!("branch.{current}.remote")).ok();
            let upstream_merge = config.get_string(&format!("branch.{current}.merge")).ok();
            let remote_name = remote.filter(|r| !r.is_empty()).or(upstream_remote.clone()).unwrap_or_else(|| "origin".into());
            let remote_branch = match branch.filter(|b| !b.is_empty()) {
                Some(b) => Some(b),
                None if upstream_remote.as_deref() == Some(remote_name.as_str()) => {
                    upstream_merge.map(|m| m.strip_prefix("refs/heads/").unwrap_or(&m).to_owned())
                }
                None => None,
            };
            this.fetch_blocking(&repo, &remote_name, &[], auth.as_ref())?;
            let tracking = |b: &str| repo.find_reference(&format!("refs/remotes/{remote_name}/{b}")).ok();
            let reference = match &remote_branch {
                Some(b) => {
                    // An explicit or upstream branch not under the default refspec: fetch it directly.
                    if tracking(b).is_none() {
                        this.fetch_blocking(&repo, &remote_name, &[format!("+refs/heads/{b}:refs/remotes/{remote_name}/{b}")], auth.as_ref())
                            .map_err(|err| match err {
                                GitError::Unexpected(_) | GitError::NotFound(_) | GitError::RepoNotFound(_) => {
                                    GitError::BranchNotFound(format!("branch '{b}' not found on remote '{remote_name}'"))
                                }
                                other => other,
                            })?;
                    }
                    tracking(b).ok_or_else(|| GitError::BranchNotFound(format!("branch '{b}' not found on remote '{remote_name}'")))?
                }
                None => tracking(&current)
                    .or_else(|| repo.find_reference(&format!("refs/remotes/{remote_name}/HEAD")).ok())
                    .ok_or_else(|| {
                        GitError::BranchNotFound(format!(
                            "no upstream for branch '{current}' and no branch of that name on remote '{remote_name}'"
                        ))
                    })?,
            };
            let theirs = reference.peel_to_commit()?;
            fast_forward(&repo, &current, &theirs)
        })
        .await
    }

    /// Pushes `refs/heads/<branch>` (default: the current branch) to the same name on `remote`
    /// (default: the branch's push remote or upstream remote, else `origin`).
    pub async fn push(
        &self,
        path: &str,
        auth: Option<Auth>,
        remote: Option<String>,
        branch: Option<String>,
        set_upstream: bool,
    ) -> GitResult<()> {
        let dir = self.resolve(path)?;
        let this = self.clone();
        self.blocking(move || {
            let repo = repo::open(&dir)?;
            let branch = match branch.filter(|b| !b.is_empty()) {
                Some(b) => b,
                None => repo::head_branch(&repo)?
                    .ok_or_else(|| GitError::Blocked("cannot push: HEAD is detached (name a branch to push)".into()))?,
            };
            let local = repo
                .find_branch(&branch, BranchType::Local)
                .map_err(|_| GitError::BranchNotFound(format!("branch '{branch}' does not exist or has no commits")))?;
            if local.get().target().is_none() {
                return Err(GitError::BranchNotFound(format!("branch '{branch}' has no commits")));
            }
            let config = repo.config()?;
            let remote_name = remote
                .filter(|r| !r.is_empty())
                .or_else(|| config.get_string(&format!("branch.{branch}.pushRemote")).ok())
                .or_else(|| config.get_string(&format!("branch.{branch}.remote")).ok())
                .unwrap_or_else(|| "origin".into());
            let mut git_remote = find_remote(&repo, &remote_name)?;
            let url = git_remote.pushurl().or(git_remote.url()).unwrap_or_default().to_owned();
            let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
            let rejected: Rc<RefCell<Option<String>>> = Rc::default();
            let seen = rejected.clone();
            this.transfer(auth.as_ref(), &url, false, |mut callbacks| {
                callbacks.push_update_reference(move |refname, status| {
                    if let Some(status) = status {
                        *seen.borrow_mut() = Some(format!("{refname}: {status}"));
                    }
                    Ok(())
                });
                let mut opts = PushOptions::new();
                opts.remote_callbacks(callbacks);
                git_remote.push(&[refspec.as_str()], Some(&mut opts))
            })
            .map_err(|err| match err {
                GitError::PushRejected(msg) => GitError::PushRejected(format!(
                    "push rejected: the remote branch has commits that are not in '{branch}' (pull first): {msg}"
                )),
                other => other,
            })?;
            if let Some(reason) = rejected.take() {
                return Err(GitError::RemoteRejected(format!("the remote rejected the update of {reason}")));
            }
            if set_upstream {
                let mut config = repo.config()?;
                config.set_str(&format!("branch.{branch}.remote"), &remote_name)?;
                config.set_str(&format!("branch.{branch}.merge"), &format!("refs/heads/{branch}"))?;
                // Record the remote-tracking ref too, so status can compare at once.
                if let Some(oid) = local.get().target() {
                    repo.reference(&format!("refs/remotes/{remote_name}/{branch}"), oid, true, "push: set upstream")?;
                }
            }
            Ok(())
        })
        .await
    }
}

/// Moves `branch` (checked out) to `theirs` when that is a fast-forward.
fn fast_forward(repo: &Repository, branch: &str, theirs: &git2::Commit<'_>) -> GitResult<()> {
    let annotated = repo.find_annotated_commit(theirs.id())?;
    let (analysis, _) = repo.merge_analysis(&[&annotated])?;
    if analysis.is_up_to_date() {
        return Ok(());
    }
    let refname = format!("refs/heads/{branch}");
    if analysis.is_unborn() {
        safe_checkout(repo, theirs.as_object(), "the pulled commit")?;
        repo.reference(&refname, theirs.id(), true, "pull: initial")?;
        return Ok(());
    }
    if !analysis.is_fast_forward() {
        return Err(GitError::PushRejected(format!(
            "cannot pull: branch '{branch}' and its remote counterpart have diverged (non-fast-forward update); \
             only fast-forward pulls are done, merge or rebase first"
        )));
    }
    if repo.index()?.has_conflicts() {
        return Err(GitError::MergeConflict("cannot pull: the index has unmerged paths".into()));
    }
    safe_checkout(repo, theirs.as_object(), "the pulled commit")?;
    repo.find_reference(&refname)?.set_target(theirs.id(), "pull: fast-forward")?;
    Ok(())
}

/// Removes a request's password from an error message, wherever libgit2 may have echoed it.
fn scrub(err: GitError, auth: Option<&Auth>) -> GitError {
    let Some(auth) = auth.filter(|a| !a.password.is_empty()) else {
        return err;
    };
    let fix = |m: String| m.replace(&auth.password, "***");
    match err {
        GitError::AuthFailed(m) => GitError::AuthFailed(fix(m)),
        GitError::RepoNotFound(m) => GitError::RepoNotFound(fix(m)),
        GitError::Transport(m) => GitError::Transport(fix(m)),
        GitError::Unexpected(m) => GitError::Unexpected(fix(m)),
        GitError::Invalid(m) => GitError::Invalid(fix(m)),
        other => other,
    }
}
