//! The journal of in-flight temp files, so a daemon killed mid-upload (SIGKILL, OOM, power)
//! leaves no litter beside its targets after the next start.
//!
//! Each temp file gets an entry in `<data dir>/uploads/`: a small file holding the temp file's
//! path, created before the temp file and removed after it is renamed or unlinked. The writer
//! holds an exclusive `flock` on its entry while the temp file exists; the kernel drops that
//! lock when the process dies, however it dies. At start the journal removes the temp file of
//! every entry it can lock (its owner is gone), so two daemons sharing a data dir never touch
//! each other's uploads. Only names with the temp prefix are ever removed.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// Every temp file the fs area writes starts with this.
pub const TEMP_PREFIX: &str = ".toolboxd-upload-";

#[derive(Debug)]
pub struct UploadJournal {
    dir: Option<PathBuf>,
}

impl UploadJournal {
    /// Opens (creating) `<data>/uploads` and removes what dead writers left. A journal that
    /// cannot be created is logged and uploads go on unjournaled: they still clean up after
    /// themselves unless the daemon is killed.
    pub fn open(data: &Path) -> Self {
        let dir = data.join("uploads");
        if let Err(err) = fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "upload journal unavailable: {err}");
            return UploadJournal { dir: None };
        }
        let removed = sweep(&dir);
        if removed > 0 {
            tracing::info!(removed, "removed {removed} temp files left by an interrupted upload");
        }
        UploadJournal { dir: Some(dir) }
    }

    /// A journal that records nothing (unit tests).
    pub fn disabled() -> Self {
        UploadJournal { dir: None }
    }

    /// Records `temp` before it is created; the entry goes when the returned guard drops.
    pub fn record(&self, temp: &Path) -> Option<JournalEntry> {
        let dir = self.dir.as_ref()?;
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let entry = (|| {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
            flock(&file, FlockOperation::NonBlockingLockExclusive)?;
            file.write_all(temp.as_os_str().as_bytes())?;
            Ok::<_, io::Error>(file)
        })();
        match entry {
            Ok(file) => Some(JournalEntry { path, _lock: file }),
            Err(err) => {
                let _ = fs::remove_file(&path);
                tracing::warn!(entry = %path.display(), "cannot journal an upload: {err}");
                None
            }
        }
    }
}

/// One in-flight temp file; dropping it (after the temp file is gone) removes the entry.
#[derive(Debug)]
pub struct JournalEntry {
    path: PathBuf,
    _lock: File,
}

impl Drop for JournalEntry {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the temp file of every entry whose writer is gone; returns how many went.
fn sweep(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(mut file) = File::open(&path) else { continue };
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // a live writer holds it
        }
        let mut recorded = Vec::new();
        if file.read_to_end(&mut recorded).is_err() {
            continue;
        }
        let temp = PathBuf::from(OsString::from_vec(recorded));
        let is_ours = temp.file_name().is_some_and(|n| n.as_bytes().starts_with(TEMP_PREFIX.as_bytes()));
        if is_ours && fs::remove_file(&temp).is_ok() {
            removed += 1;
        }
        let _ = fs::remove_file(&path);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_dead_writers_are_swept_and_live_ones_kept() {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let journal = UploadJournal::open(data.path());
        let live = work.path().join(format!("{TEMP_PREFIX}live"));
        let dead = work.path().join(format!("{TEMP_PREFIX}dead"));
        let stranger = work.path().join("not-a-temp-file");
        for path in [&live, &dead, &stranger] {
            fs::write(path, "x").unwrap();
        }
        let _held = journal.record(&live).unwrap();
        // An entry whose writer died: written, lock released.
        fs::write(data.path().join("uploads/dead"), dead.as_os_str().as_bytes()).unwrap();
        fs::write(data.path().join("uploads/stranger"), stranger.as_os_str().as_bytes()).unwrap();

        // A second daemon on the same data dir.
        let _other = UploadJournal::open(data.path());
        assert!(live.exists(), "a live upload is left alone");
        assert!(!dead.exists());
        assert!(stranger.exists(), "only temp-prefixed names are removed");
        let left: Vec<_> = fs::read_dir(data.path().join("uploads")).unwrap().collect();
        assert_eq!(left.len(), 1, "only the live entry remains");
    }
}
