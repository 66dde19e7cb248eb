//! Mutations addressed by path: delete, create folder, move, permissions and replace.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

use super::error::{FsError, FsResult, os_text};

/// `DELETE /files`: the existence check follows links (a dangling link is 404); `recursive`
/// is `rm -rf`, removing only the link when the path is one.
pub fn delete(path: &Path, recursive: bool) -> FsResult<()> {
    let meta = fs::metadata(path).map_err(|err| FsError::io("stat", path, &err))?;
    if meta.is_dir() && !recursive {
        return Err(FsError::Invalid("cannot delete directory without recursive flag".to_owned()));
    }
    let own = fs::symlink_metadata(path).map_err(|err| FsError::io("lstat", path, &err))?;
    let result = if own.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    result.map_err(|err| FsError::io("remove", path, &err))
}

/// Parses an octal mode the way the reference does: base-8 digits only (`755`, `0755`).
pub fn parse_mode(mode: &str) -> FsResult<u32> {
    let invalid = || FsError::Invalid("invalid mode format".to_owned());
    if mode.is_empty() || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(invalid());
    }
    u32::from_str_radix(mode, 8).map_err(|_| invalid())
}

/// `POST /files/folder`: `mkdir -p` with `mode` on every level created (minus the umask).
pub fn create_folder(path: &Path, mode: u32) -> FsResult<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode & 0o7777)
        .create(path)
        .map_err(|err| FsError::Os(format!("mkdir {}: {}", path.display(), os_text(&err))))
}

/// What a cross-device move answers when the copy landed but the source could not be removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovePartial {
    pub message: String,
    pub error: String,
}

/// `POST /files/move`: never overwrites and never moves "into" a directory.
pub fn move_path(source: &Path, destination: &Path) -> FsResult<Option<MovePartial>> {
    fs::metadata(source).map_err(|err| FsError::io("stat", source, &err))?;
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::metadata(parent).map_err(|err| FsError::io("stat", parent, &err))?;
    }
    if fs::symlink_metadata(destination).is_ok() {
        return Err(FsError::AlreadyExists("destination already exists".to_owned()));
    }
    match fs::rename(source, destination) {
        Ok(()) => Ok(None),
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            copy_recursive(source, destination)
                .map_err(|err| FsError::Os(format!("failed to move file: {}", os_text(&err))))?;
            let own = fs::symlink_metadata(source).map_err(|err| FsError::io("lstat", source, &err))?;
            let removed = if own.is_dir() { fs::remove_dir_all(source) } else { fs::remove_file(source) };
            Ok(removed.err().map(|err| MovePartial {
                message: "file copied successfully but source could not be deleted".to_owned(),
                error: format!("failed to delete source: {}", os_text(&err)),
            }))
        }
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(FsError::io("rename", source, &err)),
        Err(err) => Err(FsError::Os(format!("failed to move file: {}", os_text(&err)))),
    }
}

/// Copies a tree following symlinks (links become contents), keeping permission bits.
fn copy_recursive(source: &Path, destination: &Path) -> io::Result<()> {
    let meta = fs::metadata(source)?;
    if meta.is_dir() {
        fs::DirBuilder::new().mode(meta.permissions().mode() & 0o7777).create(destination)?;
        for entry in fs::read_dir(source)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &destination.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(source, destination).map(drop)
    }
}

/// Reads `name:x:id:…` databases (`/etc/passwd`, `/etc/group`) directly: the binary is static,
/// so NSS lookups through libc are not an option.
pub fn lookup_id(database: &str, name: &str) -> Option<u32> {
    let text = fs::read_to_string(database).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let entry = fields.next()?;
        let id = fields.nth(1)?;
        (entry == name).then(|| id.parse().ok()).flatten()
    })
}

fn resolve_id(value: Option<&str>, database: &str, what: &str) -> FsResult<Option<u32>> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(id) => Ok(Some(id)),
            Err(_) => {
                lookup_id(database, v).map(Some).ok_or_else(|| FsError::Invalid(format!("{what} not found")))
            }
        },
    }
}

/// `POST /files/permissions`: chmod (only the nine rwx bits) before chown; names or ids.
pub fn set_permissions(
    path: &Path,
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
) -> FsResult<()> {
    let mode = mode.filter(|m| !m.is_empty()).map(parse_mode).transpose()?;
    let uid = resolve_id(owner, "/etc/passwd", "user")?;
    let gid = resolve_id(group, "/etc/group", "group")?;
    fs::metadata(path).map_err(|err| FsError::io("stat", path, &err))?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777)).map_err(|err| {
            match err.kind() {
                io::ErrorKind::PermissionDenied => FsError::io("chmod", path, &err),
                _ => FsError::Os(format!("failed to change mode: {}", os_text(&err))),
            }
        })?;
    }
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid).map_err(|err| match err.kind() {
            io::ErrorKind::PermissionDenied => FsError::io("chown", path, &err),
            _ => FsError::Os(format!("failed to change ownership: {}", os_text(&err))),
        })?;
    }
    Ok(())
}

/// One entry of `POST /files/replace`'s answer, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaceResult {
    pub file: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Literal, binary-safe replace-all over a file, rewritten in place (mode kept) even when
/// nothing matched, as the reference does.
pub fn replace_in_file(shown: &str, path: &Path, pattern: &[u8], new_value: &[u8]) -> ReplaceResult {
    let outcome = fs::metadata(path)
        .map_err(|err| format!("open {shown}: {}", os_text(&err)))
        .and_then(|meta| {
            // Reading a FIFO would wait forever for a writer.
            if super::download::is_stream_node(&meta) {
                return Err(format!("open {shown}: not a regular file"));
            }
            fs::read(path).map_err(|err| format!("open {shown}: {}", os_text(&err)))
        })
        .and_then(|data| {
            let replaced = replace_all(&data, pattern, new_value);
            fs::write(path, replaced).map_err(|err| format!("write {shown}: {}", os_text(&err)))
        });
    ReplaceResult { file: shown.to_owned(), success: outcome.is_ok(), error: outcome.err() }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    if needle.is_empty() {
        out.extend_from_slice(haystack);
        return out;
    }
    let finder = substring_finder(needle);
    let mut rest = haystack;
    while let Some(at) = finder(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A substring finder: scan for the first byte, then compare the rest.
fn substring_finder(needle: &[u8]) -> impl Fn(&[u8]) -> Option<usize> + '_ {
    move |hay: &[u8]| {
        let first = needle[0];
        let mut start = 0;
        while start + needle.len() <= hay.len() {
            let at = start + hay[start..=hay.len() - needle.len()].iter().position(|&b| b == first)?;
            if &hay[at..at + needle.len()] == needle {
                return Some(at);
            }
            start = at + 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_octal_digits_only() {
        assert_eq!(parse_mode("755").unwrap(), 0o755);
        assert_eq!(parse_mode("0755").unwrap(), 0o755);
        assert_eq!(parse_mode("4755").unwrap(), 0o4755);
        assert!(parse_mode("0o755").is_err());
        assert!(parse_mode("rwx").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("789").is_err());
    }

    #[test]
    fn replace_is_literal_and_binary_safe() {
        assert_eq!(replace_all(b"a.b a.b", b"a.b", b"X"), b"X X");
        assert_eq!(replace_all(b"\0ab\0ab", b"ab", b""), b"\0\0");
        assert_eq!(replace_all(b"aaa", b"aa", b"b"), b"ba");
        assert_eq!(replace_all(b"abc", b"abcd", b"x"), b"abc");
    }

    #[test]
    fn passwd_lookup_reads_the_database() {
        assert_eq!(lookup_id("/etc/passwd", "root"), Some(0));
        assert_eq!(lookup_id("/etc/group", "root"), Some(0));
        assert_eq!(lookup_id("/etc/passwd", "no-such-user-here"), None);
    }
}
