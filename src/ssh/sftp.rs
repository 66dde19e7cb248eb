//! The `sftp` subsystem: SFTP version 3 over one SSH channel, served in-process with the
//! daemon's own permissions. Relative paths resolve against the work dir, like every other path
//! the daemon takes. File reads and writes are positional (`pread`/`pwrite`) on the channel's
//! task, other file operations on the blocking pool, one request at a time per channel, so memory
//! stays at one request's data.

use std::collections::HashMap;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;

/// Open handles per channel; a client that needs more is refused, not served unboundedly.
const MAX_HANDLES: usize = 256;
/// Largest read answered at once (OpenSSH asks for 32 KiB, some clients for more).
const MAX_READ: u32 = 256 * 1024;
/// Directory entries per READDIR answer.
const DIR_BATCH: usize = 128;

enum Open {
    File(Arc<std::fs::File>),
    /// Entries not yet sent; `None` once the listing has been read.
    Dir {
        path: PathBuf,
        pending: Option<Vec<File>>,
    },
}

pub struct Sftp {
    work: PathBuf,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

impl std::fmt::Debug for Sftp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sftp").field("work", &self.work).field("handles", &self.handles.len()).finish()
    }
}

impl Sftp {
    pub fn new(work: PathBuf) -> Self {
        Sftp { work, handles: HashMap::new(), next_handle: 0 }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        if path.is_empty() { self.work.clone() } else { self.work.join(path) }
    }

    fn insert(&mut self, open: Open) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(
                StatusCode::Failure.with_message(format!("too many open handles (limit {MAX_HANDLES})"))
            );
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(handle)
    }

    fn file(&self, handle: &str) -> Result<Arc<std::fs::File>, StatusReply> {
        match self.handles.get(handle) {
            Some(Open::File(file)) => Ok(Arc::clone(file)),
            _ => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_owned(),
        language_tag: "en-US".to_owned(),
    }
}

fn io_error(err: std::io::Error) -> StatusReply {
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    code.with_message(err.to_string())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StatusReply> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(io_error),
        Err(_) => Err(StatusCode::Failure.with_message("internal error")),
    }
}

/// A file read or write of one request (at most `MAX_READ` bytes, usually 32 KiB), done on the
/// channel's task: it is a copy to or from the page cache of a few microseconds, while handing
/// it to the blocking pool costs two thread switches per request, and a channel's requests are
/// served one after another, so those switches set the pace of `scp` (benches/, ssh workload).
fn positional<T>(io: impl FnOnce() -> std::io::Result<T>) -> Result<T, StatusReply> {
    io().map_err(io_error)
}

fn attributes(metadata: &std::fs::Metadata) -> FileAttributes {
    let mut attrs = FileAttributes::from(metadata);
    // russh-sftp marks everything that is not a directory "regular"; the mode says what it is.
    attrs.permissions = Some(metadata.mode());
    attrs
}

/// Applies the attributes a client set: size, mode, times (owner changes are left alone).
fn apply_attributes(
    path: &Path,
    file: Option<&std::fs::File>,
    attrs: &FileAttributes,
) -> std::io::Result<()> {
    if let Some(size) = attrs.size {
        match file {
            Some(file) => file.set_len(size)?,
            None => std::fs::OpenOptions::new().write(true).open(path)?.set_len(size)?,
        }
    }
    if let Some(mode) = attrs.permissions {
        let permissions = std::fs::Permissions::from_mode(mode & 0o7777);
        match file {
            Some(file) => file.set_permissions(permissions)?,
            None => std::fs::set_permissions(path, permissions)?,
        }
    }
    if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(atime));
        let mt = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(mtime));
        let times = std::fs::FileTimes::new().set_accessed(at).set_modified(mt);
        match file {
            Some(file) => file.set_times(times)?,
            None => std::fs::File::options()
                .write(true)
                .open(path)
                .or_else(|_| std::fs::File::open(path))?
                .set_times(times)?,
        }
    }
    Ok(())
}

fn list_dir(path: &Path) -> std::io::Result<Vec<File>> {
    let mut files = vec![];
    for name in [".", ".."] {
        if let Ok(metadata) = std::fs::metadata(path.join(name)) {
            files.push(File::new(name, attributes(&metadata)));
        }
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(metadata) = std::fs::symlink_metadata(entry.path()) {
            files.push(File::new(name, attributes(&metadata)));
        }
    }
    Ok(files)
}

impl russh_sftp::server::Handler for Sftp {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let path = self.resolve(&filename);
        let mode = attrs.permissions.map_or(0o644, |mode| mode & 0o7777);
        let file = blocking(move || {
            let mut options = std::fs::OpenOptions::from(pflags);
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
            options.open(&path)
        })
        .await?;
        let handle = self.insert(Open::File(Arc::new(file)))?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(_) => Ok(ok(id)),
            None => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Result<Data, Self::Error> {
        let file = self.file(&handle)?;
        let len = len.min(MAX_READ) as usize;
        let data = positional(|| {
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                match file.read_at(&mut buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            buf.truncate(filled);
            Ok(buf)
        })?;
        if data.is_empty() && len > 0 {
            return Err(StatusCode::Eof.into());
        }
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        positional(|| file.write_all_at(&data, offset))?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = self.resolve(&path);
        let metadata = blocking(move || std::fs::symlink_metadata(path)).await?;
        Ok(Attrs { id, attrs: attributes(&metadata) })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = self.resolve(&path);
        let metadata = blocking(move || std::fs::metadata(path)).await?;
        Ok(Attrs { id, attrs: attributes(&metadata) })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let metadata = match self.handles.get(&handle) {
            Some(Open::File(file)) => {
                let file = Arc::clone(file);
                blocking(move || file.metadata()).await?
            }
            Some(Open::Dir { path, .. }) => {
                let path = path.clone();
                blocking(move || std::fs::metadata(path)).await?
            }
            None => return Err(StatusCode::Failure.with_message("invalid handle")),
        };
        Ok(Attrs { id, attrs: attributes(&metadata) })
    }

    async fn setstat(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let path = self.resolve(&path);
        blocking(move || apply_attributes(&path, None, &attrs)).await?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        blocking(move || apply_attributes(Path::new(""), Some(&file), &attrs)).await?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let path = self.resolve(&path);
        let checked = path.clone();
        blocking(move || {
            if std::fs::metadata(&checked)?.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a directory"))
            }
        })
        .await?;
        let handle = self.insert(Open::Dir { path, pending: None })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let Some(Open::Dir { path, pending }) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("invalid handle"));
        };
        if pending.is_none() {
            let dir = path.clone();
            *pending = Some(blocking(move || list_dir(&dir)).await?);
        }
        let entries = pending.as_mut().map(std::mem::take).unwrap_or_default();
        if entries.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        let mut entries = entries;
        let rest = entries.split_off(entries.len().min(DIR_BATCH));
        *pending = Some(rest);
        Ok(Name { id, files: entries })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let path = self.resolve(&filename);
        blocking(move || std::fs::remove_file(path)).await?;
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let path = self.resolve(&path);
        let mode = attrs.permissions.map_or(0o755, |mode| mode & 0o7777);
        blocking(move || {
            let mut builder = std::fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
            builder.create(path)
        })
        .await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let path = self.resolve(&path);
        blocking(move || std::fs::remove_dir(path)).await?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = self.resolve(&path);
        // A path that does not exist yet (an upload's target) still gets an absolute answer.
        let resolved = blocking(move || Ok(std::fs::canonicalize(&path).unwrap_or(path))).await?;
        Ok(Name { id, files: vec![File::dummy(resolved.to_string_lossy())] })
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, Self::Error> {
        let (from, to) = (self.resolve(&oldpath), self.resolve(&newpath));
        blocking(move || std::fs::rename(from, to)).await?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = self.resolve(&path);
        let target = blocking(move || std::fs::read_link(path)).await?;
        Ok(Name { id, files: vec![File::dummy(target.to_string_lossy())] })
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        // OpenSSH sends the target first and the link second (the reverse of the draft), and
        // every common client follows OpenSSH: the first field is the target.
        let (target, link) = (linkpath, self.resolve(&targetpath));
        blocking(move || std::os::unix::fs::symlink(target, link)).await?;
        Ok(ok(id))
    }
}
