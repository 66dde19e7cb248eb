//! Mutations addressed by path: delete, create folder, move, permissions and replace.
//!
//! Each one takes an [`EntryPath`] (so `.`, `..` and `/` never reach it), checks everything it
//! can before it changes anything, and undoes its own partial work when a later step fails:
//! an error answer means the disk is as it was. None of them follows a symlink to remove or
//! rename something: a link is removed, renamed or copied as a link.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

use super::atomic;
use super::error::{FsError, FsResult, os_text};
use super::journal::UploadJournal;
use super::paths::EntryPath;

fn lstat(path: &Path) -> FsResult<fs::Metadata> {
    fs::symlink_metadata(path).map_err(|err| FsError::io("lstat", path, &err))
}

/// A trailing slash asks for a directory; on a symlink the kernel would act on the link's
/// target instead of the link, so that is refused rather than guessed.
fn check_dir_only(entry: &EntryPath, own: &fs::Metadata) -> FsResult<()> {
    if !entry.dir_only || own.is_dir() {
        return Ok(());
    }
    let path = entry.path.display();
    Err(if own.file_type().is_symlink() {
        FsError::Invalid(format!(
            "{path}/ names a symlink with a trailing slash; send the path without the slash to act on the link"
        ))
    } else {
        FsError::Os(format!("{path}/: not a directory"))
    })
}

/// `DELETE /files`: the existence check follows links (a dangling link is 404, as in the
/// reference); what is removed is never a link's target: a link is unlinked, a directory is
/// removed with `rm -rf` semantics (links inside are unlinked, not followed).
pub fn delete(entry: &EntryPath, recursive: bool) -> FsResult<()> {
    let path = entry.as_path();
    let own = lstat(path)?;
    check_dir_only(entry, &own)?;
    let followed = fs::metadata(path).map_err(|err| FsError::io("stat", path, &err))?;
    if followed.is_dir() && !recursive {
        return Err(FsError::Invalid("cannot delete directory without recursive flag".to_owned()));
    }
    let removed = if own.is_dir() {
        check_removable(path, own.dev())?;
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.map_err(|err| FsError::io("remove", path, &err))
}

/// Walks a tree before `rm -rf` so that the common reasons it would stop half-way (a directory
/// it cannot write or read, a mount point inside) are found while nothing is removed yet.
fn check_removable(root: &Path, device: u64) -> FsResult<()> {
    use rustix::fs::Access;
    let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let writable = |dir: &Path| rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK);
    writable(parent).map_err(|err| FsError::io("remove", root, &err.into()))?;
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        writable(&dir).map_err(|err| FsError::io("remove", &dir, &err.into()))?;
        for entry in fs::read_dir(&dir).map_err(|err| FsError::io("open", &dir, &err))? {
            let entry = entry.map_err(|err| FsError::io("readdir", &dir, &err))?;
            let path = entry.path();
            let meta = lstat(&path)?;
            if meta.is_dir() {
                if meta.dev() != device {
                    return Err(FsError::Os(format!(
                        "remove {}: device or resource busy (a mount point)",
                        path.display()
                    )));
                }
                pending.push(path);
            }
        }
    }
    Ok(())
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
pub fn create_folder(entry: &EntryPath, mode: u32) -> FsResult<()> {
    let path = entry.as_path();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode & 0o7777)
        .create(path)
        .map_err(|err| FsError::Os(format!("mkdir {}: {}", path.display(), os_text(&err))))
}

/// What `POST /files/move` answers: `error` only when a cross-device copy landed but the
/// source could not be removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoveResult {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /files/move`: never overwrites and never moves "into" a directory. A symlink source
/// is moved as a link (its existence check follows it, as in the reference).
pub fn move_path(source: &EntryPath, destination: &EntryPath) -> FsResult<MoveResult> {
    let (from, to) = (source.as_path(), destination.as_path());
    let own = lstat(from)?;
    fs::metadata(from).map_err(|err| FsError::io("stat", from, &err))?;
    check_dir_only(source, &own)?;
    if destination.dir_only && !own.is_dir() {
        return Err(FsError::Os(format!("{}/: not a directory", to.display())));
    }
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::metadata(parent).map_err(|err| FsError::io("stat", parent, &err))?;
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(FsError::AlreadyExists("destination already exists".to_owned()));
    }
    let moved = || MoveResult { message: "file moved successfully".to_owned(), error: None };
    match fs::rename(from, to) {
        Ok(()) => Ok(moved()),
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            if let Err(err) = copy_tree(from, to) {
                // Take back what the copy created, so a failed move leaves no half copy.
                let _ = remove_entry(to);
                return Err(FsError::Os(format!("failed to move file: {}", os_text(&err))));
            }
            Ok(match remove_entry(from) {
                Ok(()) => moved(),
                Err(err) => MoveResult {
                    message: "file copied successfully but source could not be deleted".to_owned(),
                    error: Some(format!("failed to delete source: {}", os_text(&err))),
                },
            })
        }
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(FsError::io("rename", from, &err)),
        Err(err) => Err(FsError::Os(format!("failed to move file: {}", os_text(&err)))),
    }
}

/// Removes a file, a link (not its target) or a whole directory tree.
fn remove_entry(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) }
}

/// Copies a tree as `cp -a` would for contents: links stay links (so a loop or a link to `/`
/// copies as one small entry), permission bits are kept.
fn copy_tree(source: &Path, destination: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(source)?, destination)
    } else if meta.is_dir() {
        fs::DirBuilder::new().mode(meta.permissions().mode() & 0o7777).create(destination)?;
        for entry in fs::read_dir(source)? {
            let entry = entry?;
            copy_tree(&entry.path(), &destination.join(entry.file_name()))?;
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

/// `POST /files/permissions`: chmod (only the nine rwx bits) before chown; names or ids. Both
/// act on a symlink's target, as chmod(1) and chown(1) do. Every argument is checked first,
/// and a chown that fails puts the old mode back.
pub fn set_permissions(
    entry: &EntryPath,
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
) -> FsResult<()> {
    let path = entry.as_path();
    let mode = mode.filter(|m| !m.is_empty()).map(parse_mode).transpose()?;
    let uid = resolve_id(owner, "/etc/passwd", "user")?;
    let gid = resolve_id(group, "/etc/group", "group")?;
    let before = fs::metadata(path).map_err(|err| FsError::io("stat", path, &err))?;
    if entry.dir_only && !before.is_dir() {
        return Err(FsError::Os(format!("{}/: not a directory", path.display())));
    }
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777)).map_err(|err| {
            match err.kind() {
                io::ErrorKind::PermissionDenied => FsError::io("chmod", path, &err),
                _ => FsError::Os(format!("failed to change mode: {}", os_text(&err))),
            }
        })?;
    }
    if uid.is_some() || gid.is_some() {
        if let Err(err) = std::os::unix::fs::chown(path, uid, gid) {
            if mode.is_some() {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(before.mode() & 0o7777));
            }
            return Err(match err.kind() {
                io::ErrorKind::PermissionDenied => FsError::io("chown", path, &err),
                _ => FsError::Os(format!("failed to change ownership: {}", os_text(&err))),
            });
        }
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

/// Literal, binary-safe replace-all over a file (through symlinks), rewritten even when
/// nothing matched, as the reference does. The new contents go to a temp file renamed over
/// the old one (mode and owner kept), so a failed write leaves the file as it was.
pub fn replace_in_file(
    shown: &str,
    path: &Path,
    pattern: &[u8],
    new_value: &[u8],
    journal: &UploadJournal,
) -> ReplaceResult {
    let open = |err: io::Error| format!("open {shown}: {}", os_text(&err));
    let outcome = atomic::write_target(path)
        .map_err(open)
        .and_then(|target| {
            let meta = fs::metadata(&target).map_err(open)?;
            // Reading a FIFO would wait forever for a writer.
            if super::download::is_stream_node(&meta) {
                return Err(format!("open {shown}: not a regular file"));
            }
            Ok((fs::read(&target).map_err(open)?, target))
        })
        .and_then(|(data, target)| {
            let replaced = replace_all(&data, pattern, new_value);
            let write = |err: io::Error| format!("write {shown}: {}", os_text(&err));
            let (mut file, staged) = atomic::stage(&target, journal).map_err(write)?;
            file.write_all(&replaced).map_err(write)?;
            staged.commit(file).map_err(write)
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
