//! Replacing a file's contents so that it holds the old bytes or the new, never a mix: the new
//! bytes go to a journaled temp file beside the target, which is renamed over it at the end.
//! Used by every upload and by replace.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::journal::{JournalEntry, TEMP_PREFIX, UploadJournal};

/// Symlinks followed before giving up, as the kernel does (`ELOOP`).
const MAX_LINKS: usize = 40;

fn errno(code: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(code.raw_os_error())
}

/// Where a write to `path` lands. A symlink is written through to the end of its chain, as
/// `open(O_CREAT)` would: an existing target is replaced, a missing one is created when its
/// directory exists (a dangling link whose directory is missing is an error, and no directory
/// is created through a link). A directory is `EISDIR`.
pub fn write_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                if link.as_os_str().as_encoded_bytes().ends_with(b"/") {
                    return Err(errno(rustix::io::Errno::ISDIR));
                }
                let dir = current.parent().map(Path::to_owned).unwrap_or_default();
                current = dir.join(link);
            }
            Ok(meta) if meta.is_dir() => return Err(errno(rustix::io::Errno::ISDIR)),
            Ok(_) => return Ok(current),
            // The requested path itself cannot be looked at (missing, or a parent is a file):
            // creating its directories and the file will say why, in the contract's words.
            Err(_) if current == path => return Ok(current),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // The end of a dangling link: only its own directory must exist.
                let dir = current.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                return match fs::metadata(dir) {
                    Ok(meta) if meta.is_dir() => Ok(current),
                    Ok(_) => Err(errno(rustix::io::Errno::NOTDIR)),
                    Err(err) => Err(err),
                };
            }
            Err(err) => return Err(err),
        }
    }
    Err(errno(rustix::io::Errno::LOOP))
}

/// A temp file beside its target. Dropping it unlinks the temp file, then its journal entry.
#[derive(Debug)]
pub struct Staged {
    // Field order is drop order: the temp file goes before the entry that records it.
    temp: tempfile::TempPath,
    _entry: Option<JournalEntry>,
    target: PathBuf,
}

/// Creates an empty temp file (mode 0600) in `target`'s directory, journaled before it exists.
pub fn stage(target: &Path, journal: &UploadJournal) -> io::Result<(File, Staged)> {
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let entry = journal.record(&temp);
    // The guard exists before the file, so no path through here leaves the file behind.
    let temp = tempfile::TempPath::try_from_path(temp)?;
    let staged = Staged { temp, _entry: entry, target: target.to_owned() };
    let file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&*staged.temp)?;
    Ok((file, staged))
}

impl Staged {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Gives the written `file` the old file's mode and owner (or `0666 &^ umask` when new)
    /// and renames it over the target.
    pub fn commit(self, file: File) -> io::Result<()> {
        let previous = fs::metadata(&self.target).ok();
        let mode = previous.as_ref().map_or(0o666 & !umask(), |m| m.mode() & 0o7777);
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(previous) = &previous {
            if previous.uid() != file.metadata().map(|m| m.uid()).unwrap_or(previous.uid()) {
                // Keeping the old owner only works with privileges; without them the file
                // belongs to the daemon's user, as a fresh file would.
                let _ = std::os::unix::fs::fchown(&file, Some(previous.uid()), Some(previous.gid()));
            }
        }
        drop(file);
        let Staged { temp, _entry, target } = self;
        temp.persist(&target).map_err(|err| err.error)
    }
}

fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn writes_go_through_links_but_never_create_directories_through_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("file"), "x").unwrap();
        symlink("file", d.join("to-file")).unwrap();
        symlink("to-file", d.join("chain")).unwrap();
        symlink("new-name", d.join("dangling")).unwrap();
        symlink("missing-dir/x", d.join("dangling-deep")).unwrap();
        symlink(".", d.join("to-dot")).unwrap();
        symlink("loop", d.join("loop")).unwrap();
        assert_eq!(write_target(&d.join("chain")).unwrap(), d.join("file"));
        assert_eq!(write_target(&d.join("dangling")).unwrap(), d.join("new-name"));
        assert_eq!(write_target(&d.join("fresh")).unwrap(), d.join("fresh"));
        assert_eq!(write_target(&d.join("dangling-deep")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(write_target(&d.join("to-dot")).unwrap_err().raw_os_error(), Some(21));
        assert_eq!(write_target(d).unwrap_err().raw_os_error(), Some(21));
        assert_eq!(write_target(&d.join("loop")).unwrap_err().raw_os_error(), Some(40));
    }
}
