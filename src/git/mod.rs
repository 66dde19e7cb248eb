//! Git repositories through libgit2 (vendored, statically linked): clone, status, branches,
//! index and commits, remotes with fetch/pull/push, reset/restore, config and stored
//! credentials.
//!
//! Invariants:
//! - Every libgit2 call runs on the blocking pool ([`GitService::blocking`]); no `Repository` is
//!   ever touched on the async reactor, so a long clone never stalls other requests.
//! - A repository is opened at exactly the given path (no upward search for `.git`).
//! - Credentials are tried at most once per request ([`credentials`]), so a wrong password is a
//!   quick `GIT_AUTH_FAILED`, and every error message is passed through [`error::redact`].
//! - Network transfers stop when the daemon shuts down (the progress callbacks watch the token)
//!   and time out when a server stalls (`sys::libgit2` sets libgit2's connect and I/O timeouts).
//!
//! This module knows no HTTP: `routes.rs` decodes requests and renders [`GitError`]s.

pub mod branches;
pub mod clone;
pub mod config;
pub mod credentials;
pub mod diff;
pub mod error;
pub mod index;
pub mod remote;
pub mod repo;
pub mod routes;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Dirs;
use crate::environment::Environment;
use crate::state::Context;

pub use error::{GitError, GitResult};

#[derive(Debug, Clone)]
pub struct GitService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dirs: Arc<Dirs>,
    env: Environment,
    shutdown: CancellationToken,
    /// Serializes read-modify-write updates of the credential store.
    credential_store: std::sync::Mutex<()>,
}

impl GitService {
    pub fn new(ctx: &Context) -> Self {
        GitService {
            inner: Arc::new(Inner {
                dirs: ctx.dirs.clone(),
                env: ctx.env.clone(),
                shutdown: ctx.shutdown.clone(),
                credential_store: std::sync::Mutex::new(()),
            }),
        }
    }

    /// Nothing to stop: transfers in flight watch the shared shutdown token and abort.
    pub async fn shutdown(&self) {}

    /// Resolves a user path against the work dir. A NUL byte cannot name a file, so it is the
    /// caller's mistake (400) rather than an error from deep inside libgit2 or the kernel.
    pub(crate) fn resolve(&self, path: &str) -> GitResult<PathBuf> {
        reject_nul("path", path)?;
        Ok(self.inner.dirs.resolve_path(path))
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.dirs.data
    }

    pub(crate) fn env(&self) -> &Environment {
        &self.inner.env
    }

    pub(crate) fn cancel_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Runs libgit2 work on the blocking pool.
    pub(crate) async fn blocking<T, F>(&self, work: F) -> GitResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> GitResult<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(|| {
            // On first use, not at start-up: libgit2's initialisation sets up TLS and reads the
            // system CA bundle, which costs milliseconds and a megabyte a daemon that never
            // touches git should not pay.
            crate::sys::libgit2::configure();
            work()
        })
        .await
        .map_err(|err| GitError::Unexpected(format!("git task failed: {err}")))?
    }
}

/// Refuses a request field that contains a NUL byte: no path, ref name or URL can hold one.
pub(crate) fn reject_nul(field: &str, value: &str) -> GitResult<()> {
    if value.contains('\0') {
        return Err(GitError::Invalid(format!("{field} contains a NUL byte")));
    }
    Ok(())
}
