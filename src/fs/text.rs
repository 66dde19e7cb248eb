//! Text-file operations for callers that want a bounded slice of a file in hand rather than a
//! stream: read a line or byte range, write a whole file, and replace one exact string.
//!
//! Reads stream the file and keep at most `limit` bytes; edits load the file (at most
//! [`EDIT_LIMIT`]) and write the result atomically through [`AtomicUpload`], so a failed edit
//! leaves the file as it was.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::error::{FsError, FsResult, blocking};
use super::journal::UploadJournal;
use super::paths::EntryPath;
use super::upload::AtomicUpload;

/// Files larger than this are not loaded for an exact-string edit.
pub const EDIT_LIMIT: u64 = 16 * 1024 * 1024;

/// Which part of a file to read.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    /// Lines `first..first + count` (1-based).
    Lines { first: u64, count: u64 },
    /// Bytes `start..start + len`.
    Bytes { start: u64, len: u64 },
}

/// A slice of a file as read.
#[derive(Debug)]
pub struct Slice {
    pub bytes: Vec<u8>,
    /// First line (lines) or byte offset (bytes) of the slice.
    pub start: u64,
    /// Lines or bytes in the slice.
    pub count: u64,
    /// Size of the whole file.
    pub file_size: u64,
    /// True when the file continues past the slice.
    pub more: bool,
    /// True when the slice stopped at `limit` bytes before reaching the requested end.
    pub truncated: bool,
}

fn open_file(path: &Path) -> FsResult<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).map_err(|err| FsError::io("open", path, &err))?;
    let meta = file.metadata().map_err(|err| FsError::io("stat", path, &err))?;
    if meta.is_dir() {
        return Err(FsError::Invalid(format!("{} is a directory", path.display())));
    }
    if !meta.is_file() {
        return Err(FsError::Invalid(format!("{} is not a regular file", path.display())));
    }
    Ok((file, meta.len()))
}

/// Reads `range` of the file, keeping at most `limit` bytes.
pub fn read(path: &Path, range: Range, limit: usize) -> FsResult<Slice> {
    let (mut file, file_size) = open_file(path)?;
    let io = |err: std::io::Error| FsError::io("read", path, &err);
    match range {
        Range::Bytes { start, len } => {
            let want = len.min(limit as u64);
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut bytes = Vec::new();
            file.take(want).read_to_end(&mut bytes).map_err(io)?;
            let end = start.saturating_add(bytes.len() as u64);
            Ok(Slice {
                count: bytes.len() as u64,
                bytes,
                start,
                file_size,
                more: end < file_size,
                truncated: want < len && end < file_size,
            })
        }
        Range::Lines { first, count } => {
            let first = first.max(1);
            let last = first.saturating_add(count);
            let mut reader = BufReader::with_capacity(64 * 1024, file);
            let mut bytes = Vec::new();
            let (mut line, mut taken, mut partial) = (1u64, 0u64, false);
            let (mut more, mut truncated) = (false, false);
            'scan: loop {
                let buf = reader.fill_buf().map_err(io)?;
                if buf.is_empty() {
                    break;
                }
                let mut consumed = 0;
                while consumed < buf.len() {
                    if line >= last {
                        more = true;
                        break 'scan;
                    }
                    let rest = &buf[consumed..];
                    let newline = rest.iter().position(|&b| b == b'\n');
                    let segment = &rest[..newline.map_or(rest.len(), |i| i + 1)];
                    if line >= first {
                        let room = limit - bytes.len();
                        if segment.len() > room {
                            bytes.extend_from_slice(&segment[..room]);
                            (more, truncated) = (true, true);
                            break 'scan;
                        }
                        bytes.extend_from_slice(segment);
                        partial = newline.is_none();
                        if !partial {
                            taken += 1;
                        }
                    }
                    consumed += segment.len();
                    if newline.is_some() {
                        line += 1;
                    }
                }
                reader.consume(consumed);
            }
            if partial && !truncated {
                taken += 1;
            }
            Ok(Slice { bytes, start: first, count: taken, file_size, more, truncated })
        }
    }
}

/// Writes `content` as the whole file, atomically, creating parent directories (0755).
pub async fn write(entry: &EntryPath, journal: &Arc<UploadJournal>, content: &[u8]) -> FsResult<u64> {
    let shown = entry.path.display().to_string();
    let mut upload = AtomicUpload::begin(entry, 0o755, journal).await.map_err(|err| err.into_fs(&shown))?;
    upload.write(bytes::Bytes::copy_from_slice(content)).await.map_err(|err| err.into_fs(&shown))?;
    upload.commit().await.map_err(|err| err.into_fs(&shown))
}

/// Replaces `old` with `new` in the file: exactly one occurrence, or every one when `all`.
/// Returns how many were replaced. Fails, changing nothing, when `old` is empty or absent, or
/// occurs more than once without `all`.
pub async fn edit(
    entry: &EntryPath,
    journal: &Arc<UploadJournal>,
    old: &str,
    new: &str,
    all: bool,
) -> FsResult<usize> {
    let path = entry.path.as_path();
    if old.is_empty() {
        return Err(FsError::Invalid("the text to replace must not be empty".to_owned()));
    }
    let owned = path.to_owned();
    let text = blocking(move || {
        let (file, size) = open_file(&owned)?;
        if size > EDIT_LIMIT {
            return Err(FsError::Invalid(format!(
                "{} is {size} bytes; exact-string edits take files up to {EDIT_LIMIT} bytes",
                owned.display()
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(EDIT_LIMIT + 1).read_to_end(&mut bytes).map_err(|err| FsError::io("read", &owned, &err))?;
        String::from_utf8(bytes)
            .map_err(|_| FsError::Invalid(format!("{} is not UTF-8 text", owned.display())))
    })
    .await?;
    let found = text.matches(old).count();
    match found {
        0 => {
            return Err(FsError::Invalid(format!(
                "the text to replace was not found in {}; read the file and copy the text exactly, \
                 whitespace included",
                path.display()
            )));
        }
        n if n > 1 && !all => {
            return Err(FsError::Invalid(format!(
                "the text to replace occurs {n} times in {}; include more surrounding lines to make \
                 it unique, or replace every occurrence",
                path.display()
            )));
        }
        _ => {}
    }
    let replaced = if all { text.replace(old, new) } else { text.replacen(old, new, 1) };
    write(entry, journal, replaced.as_bytes()).await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn line_ranges_are_one_based_and_report_what_follows() {
        let (_dir, path) = file("a\nb\nc\nd\n");
        let slice = read(&path, Range::Lines { first: 2, count: 2 }, 1024).unwrap();
        assert_eq!(slice.bytes, b"b\nc\n");
        assert_eq!((slice.start, slice.count, slice.more, slice.truncated), (2, 2, true, false));
        let slice = read(&path, Range::Lines { first: 3, count: 10 }, 1024).unwrap();
        assert_eq!(slice.bytes, b"c\nd\n");
        assert!(!slice.more);
        let slice = read(&path, Range::Lines { first: 9, count: 10 }, 1024).unwrap();
        assert!(slice.bytes.is_empty());
    }

    #[test]
    fn a_last_line_without_newline_is_a_line() {
        let (_dir, path) = file("a\nb");
        let slice = read(&path, Range::Lines { first: 2, count: 5 }, 1024).unwrap();
        assert_eq!(slice.bytes, b"b");
        assert_eq!(slice.count, 1);
    }

    #[test]
    fn reads_stop_at_the_byte_budget() {
        let (_dir, path) = file(&"x".repeat(100));
        let slice = read(&path, Range::Lines { first: 1, count: 10 }, 10).unwrap();
        assert_eq!(slice.bytes.len(), 10);
        assert!(slice.truncated);
        let slice = read(&path, Range::Bytes { start: 95, len: 50 }, 1024).unwrap();
        assert_eq!(slice.bytes.len(), 5);
        assert!(!slice.more);
        let slice = read(&path, Range::Bytes { start: 0, len: 50 }, 20).unwrap();
        assert_eq!((slice.bytes.len(), slice.truncated, slice.more), (20, true, true));
    }

    #[tokio::test]
    async fn edits_need_exactly_one_match_unless_all() {
        let (dir, path) = file("one two two\n");
        let entry = EntryPath::new("f.txt", |p| dir.path().join(p)).unwrap();
        let journal = Arc::new(UploadJournal::open(dir.path()));
        let edit = |old: &'static str, new: &'static str, all: bool| {
            let (entry, journal) = (entry.clone(), Arc::clone(&journal));
            async move { edit(&entry, &journal, old, new, all).await }
        };
        assert!(edit("three", "3", false).await.unwrap_err().to_string().contains("not found"));
        assert!(edit("two", "2", false).await.unwrap_err().to_string().contains("2 times"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one two two\n");
        assert_eq!(edit("one", "1", false).await.unwrap(), 1);
        assert_eq!(edit("two", "2", true).await.unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1 2 2\n");
    }
}
