//! Uploads: every byte goes from the request stream into a temp file beside the target
//! (`atomic`), which is renamed over the target only when the whole body arrived. A client
//! that disconnects (the handler future is dropped) or a failed write leaves the old file, no
//! temp file and none of the directories the upload created; a daemon killed mid-upload leaves
//! a journal entry the next start cleans up (`journal`).

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use std::io::Write;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::atomic::{self, Staged};
use super::error::{FsError, FsResult, os_text};
use super::journal::UploadJournal;
use super::paths::EntryPath;

/// Socket-sized chunks are gathered (not copied) until this many bytes are pending, then
/// written with one `writev` on the blocking pool while the next batch gathers, so the network
/// and the disk overlap. At most two batches are alive per upload: the daemon's memory per
/// upload stays about twice this, whatever the file's size.
const WRITE_BATCH: usize = 256 * 1024;
/// A batch is also written once it holds this many chunks (a client trickling tiny chunks must
/// not make the list of pending chunks outgrow the bytes in them; also `writev`'s `IOV_MAX`).
const MAX_BATCH_CHUNKS: usize = 1024;
/// Longest `files[i].path` value accepted.
const MAX_PATH_FIELD: usize = 64 * 1024;

/// Why one upload failed, worded as the bulk-upload error strings (`<dest>: create: <err>`).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The destination names no file that could be written (`.`, `..`, a trailing slash).
    #[error("{0}")]
    InvalidPath(String),
    #[error("mkdir {dir}: {reason}")]
    Mkdir { dir: String, reason: String, source: io::Error },
    #[error("create: {reason}")]
    Create { reason: String, source: io::Error },
    #[error("write: {reason}")]
    Write { reason: String, source: io::Error },
    #[error("close: {reason}")]
    Close { reason: String, source: io::Error },
    /// The request body broke off or was malformed.
    #[error("reading part: {0}")]
    Body(String),
}

impl UploadError {
    fn io(&self) -> Option<&io::Error> {
        match self {
            UploadError::Mkdir { source, .. }
            | UploadError::Create { source, .. }
            | UploadError::Write { source, .. }
            | UploadError::Close { source, .. } => Some(source),
            UploadError::Body(_) | UploadError::InvalidPath(_) => None,
        }
    }

    /// The error for a single-file upload endpoint, classified by its OS cause.
    pub fn into_fs(self, dest: &str) -> FsError {
        let detail = format!("{dest}: {self}");
        match self.io() {
            Some(err) if err.kind() == io::ErrorKind::PermissionDenied => FsError::AccessDenied(detail),
            Some(err) if super::error::is_no_space(err) => FsError::NoSpace(detail),
            _ => FsError::Invalid(detail),
        }
    }
}

/// The OS reason without tempfile's path decoration.
fn reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => os_text(&io::Error::from_raw_os_error(code)),
        None => os_text(err),
    }
}

/// A file being received. Dropping it before [`AtomicUpload::commit`] discards the temp file
/// and removes the directories it created.
#[derive(Debug)]
pub struct AtomicUpload {
    /// The file, when no write is in flight.
    file: Option<std::fs::File>,
    /// The write in flight; it hands the file back.
    writing: Option<JoinHandle<io::Result<std::fs::File>>>,
    /// Chunks received since the last write started, and their total length.
    pending: Vec<Bytes>,
    pending_len: usize,
    staged: Option<Staged>,
    /// Directories this upload created: `(deepest, topmost)`.
    created: Option<(PathBuf, PathBuf)>,
    bytes: u64,
}

impl AtomicUpload {
    /// Creates the parent directories (`dir_mode`) and a temp file beside the file a write to
    /// `entry` lands in (`atomic::write_target`: symlinks are written through).
    pub async fn begin(
        entry: &EntryPath,
        dir_mode: u32,
        journal: &Arc<UploadJournal>,
    ) -> Result<Self, UploadError> {
        let (entry, journal) = (entry.clone(), Arc::clone(journal));
        tokio::task::spawn_blocking(move || Self::begin_blocking(&entry, dir_mode, &journal))
            .await
            .map_err(|err| UploadError::Body(format!("worker failed: {err}")))?
    }

    fn begin_blocking(
        entry: &EntryPath,
        dir_mode: u32,
        journal: &UploadJournal,
    ) -> Result<Self, UploadError> {
        let requested = entry.as_path();
        if entry.dir_only {
            return Err(UploadError::InvalidPath(format!(
                "invalid path: {}/: a trailing slash names a directory, not a file",
                requested.display()
            )));
        }
        let target = atomic::write_target(requested).map_err(|err| UploadError::Create {
            reason: format!("open {}: {}", requested.display(), reason(&err)),
            source: err,
        })?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let topmost = dir.ancestors().take_while(|a| std::fs::symlink_metadata(a).is_err()).last();
        let created = topmost.map(|top| (dir.clone(), top.to_owned()));
        std::fs::DirBuilder::new().recursive(true).mode(dir_mode).create(&dir).map_err(|err| {
            UploadError::Mkdir { dir: dir.display().to_string(), reason: reason(&err), source: err }
        })?;
        match atomic::stage(&target, journal) {
            Ok((file, staged)) => Ok(AtomicUpload {
                file: Some(file),
                writing: None,
                pending: Vec::new(),
                pending_len: 0,
                staged: Some(staged),
                created,
                bytes: 0,
            }),
            Err(err) => {
                remove_created(created.as_ref());
                Err(UploadError::Create { reason: reason(&err), source: err })
            }
        }
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<(), UploadError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.bytes += chunk.len() as u64;
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= WRITE_BATCH || self.pending.len() >= MAX_BATCH_CHUNKS {
            self.start_write().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight and gets the file back.
    async fn settle(&mut self) -> Result<(), UploadError> {
        if let Some(writing) = self.writing.take() {
            let file = writing
                .await
                .map_err(|err| UploadError::Body(format!("worker failed: {err}")))?
                .map_err(|err| UploadError::Write { reason: reason(&err), source: err })?;
            self.file = Some(file);
        }
        Ok(())
    }

    /// Hands the gathered chunks to the blocking pool once the previous write is done.
    async fn start_write(&mut self) -> Result<(), UploadError> {
        self.settle().await?;
        let Some(mut file) = self.file.take() else {
            return Err(UploadError::Body("upload file missing".to_owned()));
        };
        let batch = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        self.writing =
            Some(tokio::task::spawn_blocking(move || write_all_chunks(&mut file, &batch).map(|()| file)));
        Ok(())
    }

    /// Flushes, gives the file the old file's mode and owner (or `0666 &^ umask` when new),
    /// and renames it over the target. Returns the number of bytes written.
    pub async fn commit(mut self) -> Result<u64, UploadError> {
        let close = |err: io::Error| UploadError::Close { reason: reason(&err), source: err };
        if !self.pending.is_empty() {
            self.start_write().await?;
        }
        self.settle().await?;
        let (Some(file), Some(staged)) = (self.file.take(), self.staged.take()) else {
            return Err(UploadError::Body("upload file missing".to_owned()));
        };
        let bytes = self.bytes;
        match tokio::task::spawn_blocking(move || staged.commit(file)).await {
            Ok(Ok(())) => {
                self.created = None;
                Ok(bytes)
            }
            Ok(Err(err)) => Err(close(err)),
            Err(err) => Err(UploadError::Body(format!("worker failed: {err}"))),
        }
    }
}

impl Drop for AtomicUpload {
    fn drop(&mut self) {
        // The temp file goes first, so the directories it sat in can be empty.
        drop(self.staged.take());
        remove_created(self.created.as_ref());
    }
}

/// Writes every chunk, in order, with as few `writev` calls as the kernel allows.
fn write_all_chunks(file: &mut std::fs::File, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = chunks.iter().map(|chunk| io::IoSlice::new(chunk)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(written) => io::IoSlice::advance_slices(&mut rest, written),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Removes the (empty) directories an unfinished upload created, deepest first; a directory
/// something else wrote into meanwhile stays.
fn remove_created(created: Option<&(PathBuf, PathBuf)>) {
    let Some((deepest, topmost)) = created else { return };
    for dir in deepest.ancestors() {
        if std::fs::remove_dir(dir).is_err() || dir == topmost {
            break;
        }
    }
}

/// Streams one multipart field (or a whole raw body) into an [`AtomicUpload`].
async fn receive_field(field: &mut multer::Field<'_>, upload: &mut AtomicUpload) -> Result<(), UploadError> {
    while let Some(chunk) = field.chunk().await.map_err(|err| UploadError::Body(err.to_string()))? {
        upload.write(chunk).await?;
    }
    Ok(())
}

/// How a single-file upload's body carries the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// The whole body is the file.
    Raw,
    /// A `multipart/form-data` body whose field `file` is the file.
    Form { boundary: String },
}

impl Framing {
    /// upload-v2: a multipart Content-Type means the form, anything else (none included) raw.
    pub fn for_upload_v2(content_type: &str) -> FsResult<Self> {
        if content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
            let boundary = multipart_boundary(content_type, false)
                .ok_or_else(|| FsError::Invalid("invalid multipart form: no boundary".to_owned()))?;
            return Ok(Framing::Form { boundary });
        }
        Ok(Framing::Raw)
    }

    /// The legacy upload only takes the form.
    pub fn form_only(content_type: &str) -> FsResult<Self> {
        multipart_boundary(content_type, false)
            .map(|boundary| Framing::Form { boundary })
            .ok_or_else(|| FsError::Invalid("request Content-Type isn't multipart/form-data".to_owned()))
    }
}

/// Streams one file into `entry`: the raw body, or the multipart field named `file` (other
/// fields are ignored). `shown` is the path as the client wrote it, for messages.
pub async fn receive_file<S, E>(
    shown: &str,
    entry: &EntryPath,
    dir_mode: u32,
    framing: Framing,
    body: S,
    journal: &Arc<UploadJournal>,
) -> FsResult<u64>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display + 'static,
{
    let boundary = match framing {
        Framing::Raw => {
            return receive_raw(entry, dir_mode, body, journal).await.map_err(|e| e.into_fs(shown));
        }
        Framing::Form { boundary } => boundary,
    };
    let mut form = multer::Multipart::new(body, boundary);
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|err| FsError::Invalid(format!("invalid multipart form: {err}")))?;
        let Some(mut field) = field else {
            return Err(FsError::Invalid(
                "http: no such file: multipart field \"file\" is missing".to_owned(),
            ));
        };
        if field.name() != Some("file") {
            continue;
        }
        let mut upload = AtomicUpload::begin(entry, dir_mode, journal).await.map_err(|e| e.into_fs(shown))?;
        receive_field(&mut field, &mut upload).await.map_err(|e| e.into_fs(shown))?;
        return upload.commit().await.map_err(|e| e.into_fs(shown));
    }
}

/// Streams a raw body into `entry` (upload-v2 without multipart).
async fn receive_raw<S, E>(
    entry: &EntryPath,
    dir_mode: u32,
    body: S,
    journal: &Arc<UploadJournal>,
) -> Result<u64, UploadError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut upload = AtomicUpload::begin(entry, dir_mode, journal).await?;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| UploadError::Body(err.to_string()))?;
        upload.write(chunk).await?;
    }
    upload.commit().await
}

/// The boundary of a `multipart/form-data` or `multipart/mixed` Content-Type.
pub fn multipart_boundary(content_type: &str, allow_mixed: bool) -> Option<String> {
    let mut parts = content_type.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    if media != "multipart/form-data" && !(allow_mixed && media == "multipart/mixed") {
        return None;
    }
    parts
        .find_map(|param| {
            let (key, value) = param.split_once('=')?;
            key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
        })
        .filter(|b| !b.is_empty())
}

/// One file bulk-upload wrote.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadedEntry {
    pub path: String,
    pub bytes: u64,
}

/// What bulk-upload did: files written, and per-file errors worded as the contract says.
#[derive(Debug, Default)]
pub struct BulkOutcome {
    pub files: Vec<UploadedEntry>,
    pub errors: Vec<String>,
}

/// The index of `files[<i>].path` / `files[<i>].file` (anything before the suffix otherwise).
fn field_index<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let stem = name.strip_suffix(suffix)?;
    Some(stem.strip_prefix("files[").and_then(|s| s.strip_suffix(']')).unwrap_or(stem))
}

/// `POST /files/bulk-upload`: parts are handled as they arrive; `files[i].path` must precede
/// `files[i].file`. A failing file is reported and the others still land; a broken body stops.
pub async fn receive_bulk<S, E>(
    boundary: String,
    body: S,
    resolve: impl Fn(&str) -> FsResult<EntryPath>,
    journal: &Arc<UploadJournal>,
) -> BulkOutcome
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let mut outcome = BulkOutcome::default();
    let mut destinations: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut form = multer::Multipart::new(body, boundary);
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                outcome.errors.push(format!("reading part: {err}"));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(index) = field_index(&name, ".path") {
            let index = index.to_owned();
            match read_small(&mut field).await {
                Ok(value) => {
                    let value = value.trim().to_owned();
                    if value.is_empty() {
                        outcome.errors.push(format!("path[{index}]: empty path"));
                    } else {
                        destinations.insert(index, value);
                    }
                }
                Err(err) => {
                    outcome.errors.push(format!("reading part: {err}"));
                    break;
                }
            }
        } else if let Some(index) = field_index(&name, ".file") {
            let Some(dest) = destinations.get(index).cloned() else {
                outcome.errors.push(format!("file[{index}]: missing .path metadata"));
                continue;
            };
            let result = async {
                let entry = resolve(&dest).map_err(|err| UploadError::InvalidPath(err.to_string()))?;
                let mut upload = AtomicUpload::begin(&entry, 0o755, journal).await?;
                receive_field(&mut field, &mut upload).await?;
                upload.commit().await
            }
            .await;
            match result {
                Ok(bytes) => outcome.files.push(UploadedEntry { path: dest, bytes }),
                Err(err @ UploadError::Body(_)) => {
                    outcome.errors.push(err.to_string());
                    break;
                }
                Err(err) => outcome.errors.push(format!("{dest}: {err}")),
            }
        }
    }
    outcome
}

async fn read_small(field: &mut multer::Field<'_>) -> Result<String, String> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|err| err.to_string())? {
        if value.len() + chunk.len() > MAX_PATH_FIELD {
            return Err("path field too long".to_owned());
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| "path is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn boundaries_and_indexes() {
        assert_eq!(multipart_boundary("multipart/form-data; boundary=abc", false).as_deref(), Some("abc"));
        assert_eq!(
            multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"", false).as_deref(),
            Some("a b")
        );
        assert_eq!(multipart_boundary("multipart/mixed; boundary=x", true).as_deref(), Some("x"));
        assert_eq!(multipart_boundary("multipart/mixed; boundary=x", false), None);
        assert_eq!(multipart_boundary("application/json", true), None);
        assert_eq!(multipart_boundary("multipart/form-data", true), None);
        assert_eq!(field_index("files[12].path", ".path"), Some("12"));
        assert_eq!(field_index("files[3].file", ".file"), Some("3"));
        assert_eq!(field_index("x.file", ".file"), Some("x"));
        assert_eq!(field_index("files[3].file", ".path"), None);
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.txt");
        let entry = EntryPath { path: target.clone(), dir_only: false };
        let journal = Arc::new(UploadJournal::disabled());
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut upload = AtomicUpload::begin(&entry, 0o755, &journal).await.unwrap();
        upload.write(Bytes::from_static(b"partial")).await.unwrap();
        drop(upload);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut upload = AtomicUpload::begin(&entry, 0o755, &journal).await.unwrap();
        upload.write(Bytes::from_static(b"new")).await.unwrap();
        assert_eq!(upload.commit().await.unwrap(), 3);
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // An upload that never completes takes back the directories it created.
        let deep = EntryPath { path: dir.path().join("x/y/z.txt"), dir_only: false };
        let mut upload = AtomicUpload::begin(&deep, 0o755, &journal).await.unwrap();
        upload.write(Bytes::from_static(b"partial")).await.unwrap();
        assert!(dir.path().join("x/y").is_dir());
        drop(upload);
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn many_small_and_some_large_chunks_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.bin");
        let entry = EntryPath { path: target.clone(), dir_only: false };
        let journal = Arc::new(UploadJournal::disabled());
        let mut expected = Vec::new();
        let mut upload = AtomicUpload::begin(&entry, 0o755, &journal).await.unwrap();
        // More chunks than one batch may hold, then chunks larger than a batch.
        let sizes = (0..3 * MAX_BATCH_CHUNKS).map(|i| i % 7).chain([WRITE_BATCH + 3, 2 * WRITE_BATCH, 0, 5]);
        for (i, size) in sizes.enumerate() {
            let chunk: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            expected.extend_from_slice(&chunk);
            upload.write(Bytes::from(chunk)).await.unwrap();
        }
        assert_eq!(upload.commit().await.unwrap(), expected.len() as u64);
        assert!(std::fs::read(&target).unwrap() == expected);
    }
}
