//! Files as `file://` resources, so a client can attach one to a conversation: the work dir's
//! top-level files are listed, and any file can be read through the `file:///{path}` template.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

use crate::error::ApiError;
use crate::fs::error::{FsError, blocking};
use crate::fs::text;

/// Largest file a resource read returns whole; bigger files are read with `read_file`.
const RESOURCE_LIMIT: u64 = 4 * 1024 * 1024;
/// Files listed from the work dir's top level.
const LIST_LIMIT: usize = 200;

/// The `file://` URI of an absolute path, percent-encoding what a URI cannot hold.
pub(crate) fn uri(path: &Path) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let encoded = percent_encoding::percent_encode(path.as_os_str().as_encoded_bytes(), KEEP);
    format!("file://{encoded}")
}

/// The path a `file://` URI names; relative ones (`file://notes.txt`) resolve against `work`.
fn path_of(uri: &str, work: &Path) -> Result<PathBuf, McpError> {
    let Some(rest) = uri.strip_prefix("file://") else {
        return Err(McpError::invalid_params(format!("not a file:// URI: {uri}"), None));
    };
    // `file://localhost/p` names the same file as `file:///p`.
    let rest = rest.strip_prefix("localhost").filter(|r| r.starts_with('/')).unwrap_or(rest);
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(rest).collect();
    Ok(work.join(PathBuf::from(OsString::from_vec(bytes))))
}

fn mime_type(path: &Path, is_text: bool) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        _ if is_text => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The template clients fill to read any file.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("file:///{+path}", "file")
            .with_description(
                "Any file in the sandbox by absolute path, e.g. file:///home/user/project/README.md \
                 (at most 4 MiB; larger files: use the read_file tool)",
            )
            .with_mime_type("text/plain"),
    ]
}

/// The regular files at the top of the work dir, by name.
pub(crate) async fn list(work: PathBuf) -> Vec<Resource> {
    let listed = blocking(move || {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(&work).map_err(|err| FsError::io("open", &work, &err))?;
        for entry in entries.filter_map(Result::ok) {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                files.push((entry.path(), meta.len()));
            }
        }
        files.sort();
        files.truncate(LIST_LIMIT);
        Ok(files)
    })
    .await;
    listed
        .unwrap_or_default()
        .into_iter()
        .map(|(path, size)| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Resource::new(uri(&path), name).with_size(size)
        })
        .collect()
}

/// Reads the file a `file://` URI names: text when it is UTF-8, else a base64 blob.
pub(crate) async fn read(uri: &str, work: &Path) -> Result<ReadResourceResult, McpError> {
    let path = path_of(uri, work)?;
    let owned = path.clone();
    let slice = blocking(move || {
        text::read(&owned, text::Range::Bytes { start: 0, len: RESOURCE_LIMIT + 1 }, usize::MAX)
    })
    .await
    .map_err(|err| McpError::invalid_params(ApiError::from(err).message, None))?;
    if slice.bytes.len() as u64 > RESOURCE_LIMIT {
        return Err(McpError::invalid_params(
            format!("{} is larger than 4 MiB; read it in parts with the read_file tool", path.display()),
            None,
        ));
    }
    let contents = match String::from_utf8(slice.bytes) {
        Ok(text) => ResourceContents::text(text, uri).with_mime_type(mime_type(&path, true)),
        Err(err) => {
            let blob = base64::engine::general_purpose::STANDARD.encode(err.into_bytes());
            ResourceContents::blob(blob, uri).with_mime_type(mime_type(&path, false))
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_through_percent_encoding() {
        let path = Path::new("/tmp/a dir/ü#1.txt");
        let uri = uri(path);
        assert_eq!(uri, "file:///tmp/a%20dir/%C3%BC%231.txt");
        assert_eq!(path_of(&uri, Path::new("/work")).unwrap(), path);
        assert_eq!(path_of("file://localhost/x", Path::new("/w")).unwrap(), Path::new("/x"));
        assert_eq!(path_of("file://rel.txt", Path::new("/w")).unwrap(), Path::new("/w/rel.txt"));
        assert!(path_of("http://x", Path::new("/w")).is_err());
    }
}
