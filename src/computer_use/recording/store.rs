//! Recordings on disk: one JSON file of metadata per recording in `<data dir>/recording-meta/`
//! (written to a temp file, then renamed), and the MP4 files in the recordings directory.
//!
//! At start every metadata file is read back. A recording still marked `recording` was not
//! finalised by the daemon that made it (it was killed), so it becomes `failed`. MP4 files in
//! the recordings directory that have no metadata (copied there, or made by the reference
//! daemon) are listed too, as the reference rediscovers them: the id is the UUID the name
//! starts with, else a UUIDv5 of the path, and the start and end are the file's mtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::computer_use::recording::error::RecordingError;
use crate::computer_use::recording::{Recording, Status};

/// Reads every recording known from a previous run.
pub fn load(meta_dir: &Path, files_dir: &Path) -> BTreeMap<String, Recording> {
    let mut found = BTreeMap::new();
    for path in dir_entries(meta_dir).filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let parsed =
            std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice::<Recording>(&bytes).ok());
        let Some(mut recording) = parsed else {
            tracing::warn!("ignoring unreadable recording metadata {}", path.display());
            continue;
        };
        if recording.status == Status::Recording {
            // The daemon that ran it was killed without finishing it. Its ffmpeg may still be
            // running, reparented: ask it to finish the file (SIGINT), and never record again.
            if let Some(pid) =
                recording.pid.take().filter(|pid| is_ffmpeg_writing(*pid, &recording.file_path))
            {
                tracing::warn!(recording.id = %recording.id, "stopping ffmpeg {pid} left by a killed daemon");
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
                }
            }
            let meta = std::fs::metadata(&recording.file_path).ok();
            recording.end_time = meta.as_ref().and_then(|m| m.modified().ok()).map(DateTime::<Utc>::from);
            recording.size_bytes = meta.map(|m| m.len());
            recording.status = Status::Failed;
            if let Err(err) = save(meta_dir, &recording) {
                tracing::warn!("{err}");
            }
        }
        found.insert(recording.id.clone(), recording);
    }
    let known: Vec<PathBuf> = found.values().map(|r| r.file_path.clone()).collect();
    for path in dir_entries(files_dir).filter(|p| p.extension().is_some_and(|e| e == "mp4")) {
        if known.contains(&path) {
            continue;
        }
        if let Some(recording) = orphan(&path) {
            found.entry(recording.id.clone()).or_insert(recording);
        }
    }
    found
}

/// Whether process `pid` is an ffmpeg writing `file` (the pid may have been reused since).
fn is_ffmpeg_writing(pid: i32, file: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.first().is_some_and(|program| program.ends_with(b"ffmpeg"))
        && args.contains(&file.as_os_str().as_encoded_bytes())
}

fn dir_entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|entry| entry.path())
}

/// A completed recording for an MP4 file that has no metadata.
fn orphan(path: &Path) -> Option<Recording> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let file_name = path.file_name()?.to_str()?.to_owned();
    let id = file_name.get(..36).and_then(|head| uuid::Uuid::parse_str(head).ok()).unwrap_or_else(|| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, path.as_os_str().as_encoded_bytes())
    });
    let mtime = DateTime::<Utc>::from(meta.modified().ok()?);
    Some(Recording {
        id: id.to_string(),
        file_name,
        file_path: path.to_owned(),
        start_time: mtime,
        end_time: Some(mtime),
        status: Status::Completed,
        duration_seconds: None,
        size_bytes: Some(meta.len()),
        pid: None,
    })
}

fn meta_path(meta_dir: &Path, id: &str) -> PathBuf {
    meta_dir.join(format!("{id}.json"))
}

/// Where ffmpeg's own messages about recording `id` go.
pub fn log_path(meta_dir: &Path, id: &str) -> PathBuf {
    meta_dir.join(format!("{id}.log"))
}

/// Writes `recording`'s metadata atomically (temp file, then rename).
pub fn save(meta_dir: &Path, recording: &Recording) -> Result<(), RecordingError> {
    let path = meta_path(meta_dir, &recording.id);
    let temp = meta_dir.join(format!(".{}.json.tmp", recording.id));
    let bytes = serde_json::to_vec_pretty(recording)
        .map_err(|err| RecordingError::store("encode", &path, err.into()))?;
    std::fs::create_dir_all(meta_dir).map_err(|err| RecordingError::store("create", meta_dir, err))?;
    std::fs::write(&temp, bytes).map_err(|err| RecordingError::store("write", &temp, err))?;
    std::fs::rename(&temp, &path).map_err(|err| RecordingError::store("rename", &temp, err))
}

/// Removes a recording's file, metadata and log; files already gone are fine.
pub fn remove(meta_dir: &Path, recording: &Recording) -> Result<(), RecordingError> {
    for path in
        [recording.file_path.clone(), meta_path(meta_dir, &recording.id), log_path(meta_dir, &recording.id)]
    {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(RecordingError::store("remove", &path, err)),
        }
    }
    Ok(())
}

/// The last `max` bytes of a file, as text (ffmpeg's reason for stopping).
pub fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path, status: Status) -> Recording {
        Recording {
            id: "6f1c1c52-7d0e-4a53-9a57-0d4c3c1b9e11".to_owned(),
            file_name: "a.mp4".to_owned(),
            file_path: dir.join("a.mp4"),
            start_time: Utc::now(),
            end_time: None,
            status,
            duration_seconds: None,
            size_bytes: None,
            pid: None,
        }
    }

    #[test]
    fn an_unfinished_recording_comes_back_failed_and_orphan_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let (meta, files) = (dir.path().join("meta"), dir.path().join("files"));
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("a.mp4"), b"partial").unwrap();
        save(&meta, &sample(&files, Status::Recording)).unwrap();
        std::fs::write(files.join("0b9e2f3e-52a1-4b52-8f0e-8c0d8f0e1a2b_session_20260101_000000.mp4"), b"x")
            .unwrap();
        std::fs::write(files.join("other.mp4"), b"yy").unwrap();

        let found = load(&meta, &files);
        assert_eq!(found.len(), 3, "{found:?}");
        let unfinished = &found["6f1c1c52-7d0e-4a53-9a57-0d4c3c1b9e11"];
        assert_eq!(unfinished.status, Status::Failed);
        assert_eq!(unfinished.size_bytes, Some(7));
        assert!(found.contains_key("0b9e2f3e-52a1-4b52-8f0e-8c0d8f0e1a2b"));
        let other = found.values().find(|r| r.file_name == "other.mp4").unwrap();
        assert_eq!(other.status, Status::Completed);
        assert_eq!(
            load(&meta, &files)["6f1c1c52-7d0e-4a53-9a57-0d4c3c1b9e11"].status,
            Status::Failed,
            "saved"
        );
        assert_eq!(
            load(&meta, &files).get(&other.id).map(|r| &r.file_name),
            Some(&other.file_name),
            "stable ids"
        );
    }
}
