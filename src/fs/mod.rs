//! Files: list, stat, upload, download, move, delete, permissions, find, search, replace, plus
//! two extensions: file watching over a websocket and directory archives.
//!
//! Invariants:
//! - Paths are resolved against the work dir (`Dirs::resolve_path`); `~` is not expanded.
//!   Responses echo paths as the client gave them (Go `filepath` semantics, see `paths`).
//! - Nothing holds a whole file in memory: uploads stream into a temp file beside the target
//!   and are renamed into place only when complete (`upload`); downloads, bulk downloads and
//!   archives stream from disk through bounded queues (`download`, `archive`).
//! - Blocking filesystem work (walks, stats, renames, searches) runs on the blocking pool.
//! - Every queue is bounded: bulk-download and archive chunks, watch events (overflow is
//!   reported, never buffered without limit), search results (capped).
//!
//! The domain modules know no HTTP: `routes.rs` turns requests into calls and `FsError` into
//! the contract's envelope.

pub mod archive;
pub mod download;
pub mod error;
pub mod info;
pub mod ops;
pub mod paths;
pub mod routes;
pub mod search;
pub mod text;
pub mod upload;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Dirs;
use crate::state::Context;

/// The filesystem area: stateless apart from the work dir and the shutdown signal, which
/// ends open watch websockets.
#[derive(Debug, Clone)]
pub struct FsService {
    dirs: Arc<Dirs>,
    shutdown: CancellationToken,
}

impl FsService {
    pub fn new(ctx: &Context) -> Self {
        FsService { dirs: Arc::clone(&ctx.dirs), shutdown: ctx.shutdown.clone() }
    }

    /// Resolves a client path against the work dir.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.dirs.resolve_path(path)
    }

    /// Cancelled when the daemon stops; watch sockets close on it.
    pub fn stopping(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn shutdown(&self) {}
}
