//! Downloads: single files with byte ranges, and the bulk-download multipart stream. Both read
//! from disk in bounded chunks; bulk-download has one file open at a time.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
use std::io::Read;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::error::{FsError, FsResult, os_text};

/// Bytes read from disk per chunk: large enough that syscalls and task hand-offs cost little,
/// small enough that the chunks alive per download (queued, being read, being sent) stay near
/// a megabyte.
pub const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the disk reader and the socket.
const QUEUE: usize = 2;

/// `filename="…"`: Latin-1-safe, quotes and backslashes escaped, CR/LF/NUL dropped, other
/// controls and code points above U+00FF replaced by `_` (as the reference writes it).
pub fn latin1_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\r' | '\n' | '\0' => {}
            c if (c as u32) < 0x20 || c as u32 == 0x7f || c as u32 > 0xff => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// `filename*=utf-8''…`: RFC 5987 attr-chars kept, every other byte `%XX`.
pub fn rfc5987(name: &str) -> String {
    const KEEP: &[u8] = b"!#$&+-.^_`|~";
    let mut out = String::with_capacity(name.len() * 3);
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Content-Disposition` parameters naming `name` both ways.
pub fn filename_params(name: &str) -> String {
    format!("filename=\"{}\"; filename*=utf-8''{}", latin1_filename(name), rfc5987(name))
}

/// Go's built-in extension table (`mime.TypeByExtension`), the part that matters for downloads.
pub fn content_type_for(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    if ext.contains('/') {
        return "application/octet-stream";
    }
    match ext.as_str() {
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "text/xml; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/vnd.microsoft.icon",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// Why one bulk-download part is an `error` part, from an open error.
fn open_error(shown: &str, err: &io::Error) -> FsError {
    let einval = rustix::io::Errno::INVAL.raw_os_error();
    match err.kind() {
        io::ErrorKind::NotFound => FsError::NotFound(shown.to_owned()),
        io::ErrorKind::PermissionDenied => FsError::AccessDenied(shown.to_owned()),
        _ if err.raw_os_error() == Some(einval) => FsError::InvalidPath(shown.to_owned()),
        _ => FsError::ReadFailed(os_text(err)),
    }
}

/// A fresh multipart boundary for one bulk-download response. Random, so no file's contents
/// can contain the delimiter line (clients read the boundary from `Content-Type`).
pub fn new_boundary() -> String {
    format!("toolboxd-{}", uuid::Uuid::new_v4().simple())
}

/// Renders a failed path's error as the JSON body of its `error` part.
pub type ErrorRenderer = Box<dyn Fn(&str, FsError) -> String + Send>;

/// The multipart body of `POST /files/bulk-download`: one part per requested path, in order,
/// produced on a blocking thread that opens one file at a time and reads straight into the
/// chunks it queues (bounded). A read error mid-file ends the stream with an error, so the
/// closing delimiter is missing (the SDK then reports a truncated response). The thread stops
/// as soon as the client is gone (the queue closes).
pub fn bulk_stream(
    requests: Vec<(String, PathBuf)>,
    boundary: String,
    render_error: ErrorRenderer,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    tokio::task::spawn_blocking(move || {
        for (index, (shown, path)) in requests.iter().enumerate() {
            let delimiter =
                if index == 0 { format!("--{boundary}\r\n") } else { format!("\r\n--{boundary}\r\n") };
            if tx.blocking_send(Ok(Bytes::from(delimiter))).is_err() {
                return;
            }
            if !send_part(&tx, shown, path, &render_error) {
                return;
            }
        }
        let _ = tx.blocking_send(Ok(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// The headers and JSON body of an `error` part.
fn error_part(shown: &str, err: FsError, render_error: &ErrorRenderer) -> Bytes {
    Bytes::from(format!(
        "Content-Disposition: form-data; name=\"error\"; {}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{}",
        filename_params(shown),
        render_error(shown, err)
    ))
}

/// Sends one part; false when the stream must stop (client gone or read error).
fn send_part(
    tx: &mpsc::Sender<io::Result<Bytes>>,
    shown: &str,
    path: &std::path::Path,
    render_error: &ErrorRenderer,
) -> bool {
    let send = |item: io::Result<Bytes>| tx.blocking_send(item).is_ok();
    let fail = |err: FsError| send(Ok(error_part(shown, err, render_error)));
    if shown.is_empty() {
        return fail(FsError::InvalidPath("path is empty".to_owned()));
    }
    // A FIFO or socket would block the open (or the reads) forever.
    if std::fs::metadata(path).is_ok_and(|m| is_stream_node(&m)) {
        return fail(FsError::InvalidPath(shown.to_owned()));
    }
    let opened = std::fs::File::open(path).and_then(|file| file.metadata().map(|meta| (file, meta)));
    let (file, meta) = match opened {
        Ok(opened) => opened,
        Err(err) => return fail(open_error(shown, &err)),
    };
    if meta.is_dir() {
        return fail(FsError::InvalidPath(format!("path points to a directory: {shown}")));
    }
    let headers = format!(
        "Content-Disposition: form-data; name=\"file\"; {}\r\nContent-Length: {}\r\nContent-Type: {}\r\n\r\n",
        filename_params(shown),
        meta.len(),
        content_type_for(shown)
    );
    if !send(Ok(Bytes::from(headers))) {
        return false;
    }
    let mut file = file;
    loop {
        // `read_to_end` on a `take` fills spare capacity without zeroing it first.
        let mut chunk = Vec::with_capacity(CHUNK);
        match (&mut file).take(CHUNK as u64).read_to_end(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {
                if !send(Ok(Bytes::from(chunk))) {
                    return false;
                }
            }
            Err(err) => {
                send(Err(err));
                return false;
            }
        }
    }
}

/// FIFOs and sockets: opening or reading them waits for a peer that may never come.
pub fn is_stream_node(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo() || meta.file_type().is_socket()
}

/// A satisfiable byte range of a file of `size` bytes, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range` header: send the whole file.
    Full,
    /// Inclusive `start..=end`.
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `bytes=` range. As RFC 9110 (14.2) says, a header that is not a valid
/// range (another unit, `bytes=abc`, `bytes=5-1`) is ignored and the whole file is sent; only a
/// valid range that misses the file is unsatisfiable. Several ranges are answered with the
/// whole file (also allowed by RFC 9110).
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (start, end) = (start.trim(), end.trim());
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    if start.is_empty() {
        let Some(suffix) = number(end) else { return RangeRequest::Full };
        if suffix == 0 || size == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial(size.saturating_sub(suffix), size - 1);
    }
    let Some(start) = number(start) else { return RangeRequest::Full };
    let end = match end {
        "" => None,
        end => match number(end) {
            Some(end) if end >= start => Some(end),
            _ => return RangeRequest::Full,
        },
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(start, end.map_or(size - 1, |end| end.min(size - 1)))
}

/// What `GET /files/download` answers.
#[derive(Debug)]
pub enum Download {
    /// `If-Modified-Since` is not older than the file.
    NotModified { modified: SystemTime },
    /// A valid range that misses the file.
    Unsatisfiable { size: u64, modified: Option<SystemTime> },
    /// The bytes to send: the whole file, or `range` (inclusive) of it.
    Content {
        file: tokio::io::Take<tokio::fs::File>,
        size: u64,
        range: Option<(u64, u64)>,
        modified: Option<SystemTime>,
    },
}

/// Opens one file for download, honouring `Range` and `If-Modified-Since` (header values as
/// sent) like Go's `http.ServeFile`. Directories, FIFOs and sockets are refused.
pub async fn open(path: &Path, range: Option<&str>, if_modified_since: Option<&str>) -> FsResult<Download> {
    let meta = tokio::fs::metadata(path).await.map_err(|err| FsError::io("stat", path, &err))?;
    if meta.is_dir() || is_stream_node(&meta) {
        return Err(FsError::Invalid("path must be a file".to_owned()));
    }
    let mut file = tokio::fs::File::open(path).await.map_err(|err| FsError::io("open", path, &err))?;
    let size = meta.len();
    let modified = meta.modified().ok();
    if let Some(modified) = modified.filter(|m| not_modified_since(if_modified_since, *m)) {
        return Ok(Download::NotModified { modified });
    }
    let (start, len, range) = match parse_range(range, size) {
        RangeRequest::Full => (0, size, None),
        RangeRequest::Partial(start, end) => (start, end - start + 1, Some((start, end))),
        RangeRequest::Unsatisfiable => return Ok(Download::Unsatisfiable { size, modified }),
    };
    if start > 0 {
        file.seek(io::SeekFrom::Start(start)).await.map_err(|err| FsError::io("seek", path, &err))?;
    }
    Ok(Download::Content { file: file.take(len), size, range, modified })
}

fn not_modified_since(header: Option<&str>, modified: SystemTime) -> bool {
    let Some(since) = header else { return false };
    let Ok(since) = chrono::DateTime::parse_from_rfc2822(since) else { return false };
    chrono::DateTime::<chrono::Utc>::from(modified).timestamp() <= since.timestamp()
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[test]
    fn filename_encodings_match_the_contract() {
        assert_eq!(rfc5987("/tmp/a.txt"), "%2Ftmp%2Fa.txt");
        assert_eq!(rfc5987("a b~é"), "a%20b~%C3%A9");
        assert_eq!(latin1_filename("a\"b\\c\r\n\u{1}é€"), "a\\\"b\\\\c_é_");
    }

    #[test]
    fn ranges_like_serve_file() {
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), RangeRequest::Partial(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeRequest::Partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), RangeRequest::Partial(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), RangeRequest::Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=2-100"), 10), RangeRequest::Partial(2, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), RangeRequest::Unsatisfiable);
        // Invalid ranges are ignored (RFC 9110 14.2), not refused.
        assert_eq!(parse_range(Some("bytes=5-2"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=abc"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=a-3"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=1-x"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=-x"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=+1-2"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Full);
    }

    #[tokio::test]
    async fn bulk_stream_is_byte_exact() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        let requests = vec![
            ("/tmp/a.txt".to_owned(), dir.path().join("a.txt")),
            ("/nope".to_owned(), dir.path().join("nope")),
        ];
        let mut body = Vec::new();
        let render: ErrorRenderer =
            Box::new(|shown, err| format!("{{\"path\":\"{shown}\",\"message\":\"{err}\"}}"));
        let mut stream = std::pin::pin!(bulk_stream(requests, "B0UND".to_owned(), render));
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.unwrap());
        }
        let body = String::from_utf8(body).unwrap();
        let expected = "--B0UND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/tmp/a.txt\"; filename*=utf-8''%2Ftmp%2Fa.txt\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--B0UND\r\nContent-Disposition: form-data; name=\"error\"; filename=\"/nope\"; filename*=utf-8''%2Fnope\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{\"path\":\"/nope\",\"message\":\"file not found: /nope\"}\r\n--B0UND--\r\n";
        assert_eq!(body, expected);
        assert_ne!(new_boundary(), new_boundary());
    }
}
