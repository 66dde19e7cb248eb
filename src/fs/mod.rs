//! Files: list, stat, upload, download, move, delete, permissions, find, search, replace, plus
//! two extensions: file watching over a websocket and directory archives.
//!
//! Invariants:
//! - Paths are resolved against the work dir (`Dirs::resolve_path`); `~` is not expanded.
//!   Responses echo paths as the client gave them (Go `filepath` semantics, see `paths`).
//! - Nothing holds a whole file in memory: uploads stream into a temp file beside the target
//!   and are renamed into place only when complete (`upload`); downloads, bulk downloads and
//!   archives stream from disk through bounded queues (`download`, `archive`).
//! - Blocking filesystem work (walks, stats, renames, searches) runs on the blocking pool, and
//!   the `FsService` methods decide that, not the handlers.
//! - Every queue is bounded: bulk-download and archive chunks, watch events (overflow is
//!   reported, never buffered without limit), search results (capped).
//! - An operation that changes the disk takes an `EntryPath` (last component not `.`, `..`,
//!   `/`), never removes or renames through a symlink, checks before it acts and undoes its own
//!   partial work, so an error answer means nothing changed (`ops`, `atomic`).
//! - Every temp file is journaled in the data dir; a start removes those of dead daemons.
//!
//! The domain modules know no HTTP: `routes.rs` parses a request, calls one `FsService` method
//! and maps the result; `FsError` becomes the contract's envelope in `src/error.rs`.

pub mod archive;
pub mod atomic;
pub mod download;
pub mod error;
pub mod info;
pub mod journal;
pub mod ops;
pub mod paths;
pub mod routes;
pub mod search;
pub mod text;
pub mod upload;
pub mod watch;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::config::Dirs;
use crate::state::Context;
use download::{Download, ErrorRenderer};
use error::{FsError, FsResult, blocking};
use info::FileInfo;
use journal::UploadJournal;
use ops::{MoveResult, ReplaceResult};
use paths::EntryPath;
use search::Match;
use upload::{BulkOutcome, Framing};
use watch::Watch;

/// The filesystem area: the work dir, the journal of in-flight uploads and the shutdown
/// signal, which ends open watch websockets. Each method is one `/files` operation: it checks
/// and resolves the client's paths, then runs the work on the blocking pool.
#[derive(Debug, Clone)]
pub struct FsService {
    dirs: Arc<Dirs>,
    journal: Arc<UploadJournal>,
    shutdown: CancellationToken,
}

impl FsService {
    /// Also removes temp files a previous daemon left when it was killed mid-upload.
    pub fn new(ctx: &Context) -> Self {
        FsService {
            journal: Arc::new(UploadJournal::open(&ctx.dirs.data)),
            dirs: Arc::clone(&ctx.dirs),
            shutdown: ctx.shutdown.clone(),
        }
    }

    /// Resolves a client path against the work dir, for operations that only read.
    fn resolve(&self, path: &str) -> PathBuf {
        self.dirs.resolve_path(path)
    }

    /// Checks and resolves a path an operation is about to change.
    fn entry(&self, path: &str) -> FsResult<EntryPath> {
        EntryPath::new(path, |p| self.dirs.resolve_path(p))
    }

    /// Cancelled when the daemon stops; watch sockets close on it.
    pub fn stopping(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn shutdown(&self) {}

    pub async fn list(&self, shown: String, depth: usize) -> FsResult<Vec<FileInfo>> {
        let resolved = self.resolve(&shown);
        blocking(move || info::list(&shown, &resolved, depth)).await
    }

    /// [`FsService::list`] rendered as the JSON array the route sends, on the blocking pool
    /// (a large directory is megabytes of JSON); `with_paths: false` leaves out every `path`.
    pub async fn list_json(&self, shown: String, depth: usize, with_paths: bool) -> FsResult<Vec<u8>> {
        let resolved = self.resolve(&shown);
        blocking(move || {
            let mut entries = info::list(&shown, &resolved, depth)?;
            if !with_paths {
                entries.iter_mut().for_each(|e| e.path = None);
            }
            // Sized for a typical entry so the buffer is not regrown and copied many times.
            let mut json = Vec::with_capacity(2 + entries.len() * 300);
            serde_json::to_writer(&mut json, &entries).map_err(|err| FsError::Unexpected(err.to_string()))?;
            Ok(json)
        })
        .await
    }

    pub async fn stat(&self, shown: String) -> FsResult<FileInfo> {
        let resolved = self.resolve(&shown);
        blocking(move || info::stat(&shown, &resolved)).await
    }

    pub async fn delete(&self, path: &str, recursive: bool) -> FsResult<()> {
        let entry = self.entry(path)?;
        blocking(move || ops::delete(&entry, recursive)).await
    }

    /// `mode` is octal digits; none or empty means `0755`.
    pub async fn create_folder(&self, path: &str, mode: Option<&str>) -> FsResult<()> {
        let entry = self.entry(path)?;
        let mode = match mode {
            None | Some("") => 0o755,
            Some(mode) => ops::parse_mode(mode)?,
        };
        blocking(move || ops::create_folder(&entry, mode)).await
    }

    pub async fn move_path(&self, source: &str, destination: &str) -> FsResult<MoveResult> {
        let (source, destination) = (self.entry(source)?, self.entry(destination)?);
        blocking(move || ops::move_path(&source, &destination)).await
    }

    pub async fn set_permissions(
        &self,
        path: &str,
        mode: Option<String>,
        owner: Option<String>,
        group: Option<String>,
    ) -> FsResult<()> {
        let entry = self.entry(path)?;
        blocking(move || ops::set_permissions(&entry, mode.as_deref(), owner.as_deref(), group.as_deref()))
            .await
    }

    /// One result per file, in request order; a path that names no file is a failed result.
    pub async fn replace(
        &self,
        files: Vec<String>,
        pattern: String,
        new_value: String,
    ) -> FsResult<Vec<ReplaceResult>> {
        let targets: Vec<_> = files.into_iter().map(|shown| (self.entry(&shown), shown)).collect();
        let journal = Arc::clone(&self.journal);
        blocking(move || {
            Ok(targets
                .iter()
                .map(|(entry, shown)| match entry {
                    Ok(entry) => ops::replace_in_file(
                        shown,
                        &entry.path,
                        pattern.as_bytes(),
                        new_value.as_bytes(),
                        &journal,
                    ),
                    Err(err) => {
                        ReplaceResult { file: shown.clone(), success: false, error: Some(err.to_string()) }
                    }
                })
                .collect())
        })
        .await
    }

    /// A bounded line or byte range of a file (`text::read`).
    pub async fn read_range(&self, path: &str, range: text::Range, limit: usize) -> FsResult<text::Slice> {
        let resolved = self.resolve(path);
        blocking(move || text::read(&resolved, range, limit)).await
    }

    /// Replaces the whole file, atomically (`text::write`).
    pub async fn write_all(&self, path: &str, content: &[u8]) -> FsResult<u64> {
        let entry = self.entry(path)?;
        text::write(&entry, &self.journal, content).await
    }

    /// Replaces an exact string, once or everywhere (`text::edit`).
    pub async fn edit(&self, path: &str, old: &str, new: &str, all: bool) -> FsResult<usize> {
        let entry = self.entry(path)?;
        text::edit(&entry, &self.journal, old, new, all).await
    }

    pub async fn find(&self, shown: String, pattern: String) -> FsResult<Vec<Match>> {
        let root = self.resolve(&shown);
        blocking(move || Ok(search::find(&shown, &root, &pattern))).await
    }

    pub async fn search(&self, shown: String, pattern: String) -> FsResult<Vec<String>> {
        let root = self.resolve(&shown);
        blocking(move || Ok(search::search(&shown, &root, &pattern))).await
    }

    /// `range` and `if_modified_since` are the request's header values.
    pub async fn download(
        &self,
        path: &str,
        range: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> FsResult<Download> {
        download::open(&self.resolve(path), range, if_modified_since).await
    }

    /// The boundary and body of a bulk download; `render_error` writes an error part's JSON.
    pub fn bulk_download(
        &self,
        paths: Vec<String>,
        render_error: ErrorRenderer,
    ) -> (String, BoxStream<'static, io::Result<Bytes>>) {
        let requests =
            paths.into_iter().map(|shown| (self.resolve(&shown), shown)).map(|(p, s)| (s, p)).collect();
        let boundary = download::new_boundary();
        let body = download::bulk_stream(requests, boundary.clone(), render_error).boxed();
        (boundary, body)
    }

    /// Streams one file to `path`; parent directories get `dir_mode`.
    pub async fn upload<S, E>(&self, path: &str, dir_mode: u32, framing: Framing, body: S) -> FsResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display + 'static,
    {
        let entry = self.entry(path)?;
        upload::receive_file(path, &entry, dir_mode, framing, body, &self.journal).await
    }

    pub async fn upload_bulk<S, E>(&self, boundary: String, body: S) -> BulkOutcome
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        upload::receive_bulk(boundary, body, |p| self.entry(p), &self.journal).await
    }

    pub async fn watch(&self, path: &str, recursive: bool) -> FsResult<Watch> {
        let path = self.resolve(path);
        blocking(move || Watch::start(&path, recursive)).await
    }

    /// The tar's name (the directory's own name) and its stream.
    pub async fn archive(&self, path: &str) -> FsResult<(String, BoxStream<'static, io::Result<Bytes>>)> {
        let path = self.resolve(path);
        let meta = tokio::fs::metadata(&path).await.map_err(|err| FsError::io("stat", &path, &err))?;
        if !meta.is_dir() {
            return Err(FsError::Invalid("path must be a directory".to_owned()));
        }
        let canonical = tokio::fs::canonicalize(&path).await.unwrap_or_else(|_| path.clone());
        let name =
            canonical.file_name().map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
        Ok((name.clone(), archive::tar_stream(canonical, name).boxed()))
    }
}
