//! Per-program log files with a size bound: `<name>.log` (stdout) and `<name>.err` (stderr plus
//! the supervisor's own notes) in `<data>/computeruse/`. A file that reaches [`LOG_LIMIT`] is
//! renamed to `<file>.1` (replacing the previous one) and started afresh, so a program keeps at
//! most twice the limit on disk per stream whatever it prints.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// Bytes one log file reaches before it is rotated; also the most a logs answer carries.
pub const LOG_LIMIT: u64 = 1024 * 1024;

/// One append-only, rotating log file. Writers from several runs of a program share it.
#[derive(Debug, Clone)]
pub struct LogFile {
    path: Arc<PathBuf>,
    limit: u64,
    // Serialises writes and rotation; the size is re-read from the file, never cached.
    lock: Arc<Mutex<()>>,
}

impl LogFile {
    pub fn new(path: PathBuf) -> Self {
        LogFile { path: Arc::new(path), limit: LOG_LIMIT, lock: Arc::new(Mutex::new(())) }
    }

    #[cfg(test)]
    fn with_limit(path: PathBuf, limit: u64) -> Self {
        LogFile { limit, ..LogFile::new(path) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn previous(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Appends `bytes`, rotating first when they would take the file past the limit.
    pub async fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let _guard = self.lock.lock().await;
        let size = tokio::fs::metadata(&*self.path).await.map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + bytes.len() as u64 > self.limit {
            tokio::fs::rename(&*self.path, self.previous()).await?;
        }
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&*self.path).await?;
        file.write_all(bytes).await?;
        // tokio's `File` finishes writes in the background; flushing makes the bytes (and the
        // size the next append checks) visible before the lock is released.
        file.flush().await
    }

    /// Appends one line written by the daemon itself.
    pub async fn note(&self, line: &str) {
        let text = format!("[toolboxd] {line}\n");
        if let Err(err) = self.append(text.as_bytes()).await {
            tracing::warn!("cannot write to {}: {err}", self.path.display());
        }
    }

    /// Copies `reader` into the file until end of input, one read at a time.
    pub async fn pump(&self, mut reader: impl AsyncRead + Unpin) {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if let Err(err) = self.append(&buffer[..n]).await {
                        tracing::warn!("cannot write to {}: {err}", self.path.display());
                    }
                }
            }
        }
    }

    /// The last `limit` bytes of the log (the rotated file first, then the current one), as
    /// text; a missing file reads as empty.
    pub async fn tail(&self, limit: u64) -> std::io::Result<String> {
        let _guard = self.lock.lock().await;
        let current = read_tail(&self.path, limit).await?;
        let wanted = limit.saturating_sub(current.len() as u64);
        let mut bytes = if wanted > 0 { read_tail(&self.previous(), wanted).await? } else { Vec::new() };
        bytes.extend_from_slice(&current);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

async fn read_tail(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let size = file.metadata().await?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(limit))).await?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_log_rotates_and_the_tail_spans_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::with_limit(dir.path().join("p.log"), 10);
        log.append(b"aaaaaaaa").await.unwrap();
        log.append(b"bbbbbbbb").await.unwrap();
        log.append(b"cccc").await.unwrap();
        // Each append that would pass 10 bytes rotated first: the a's are gone for good.
        assert_eq!(std::fs::read(dir.path().join("p.log.1")).unwrap(), b"bbbbbbbb");
        assert_eq!(std::fs::read(dir.path().join("p.log")).unwrap(), b"cccc");
        assert_eq!(log.tail(10).await.unwrap(), "bbbbbbcccc");
        assert_eq!(log.tail(100).await.unwrap(), "bbbbbbbbcccc");
    }

    #[tokio::test]
    async fn a_missing_log_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LogFile::new(dir.path().join("none.log")).tail(LOG_LIMIT).await.unwrap(), "");
    }
}
