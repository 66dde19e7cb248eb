//! Screen recordings (`/computeruse/recordings…`): `ffmpeg` grabbing the X display into an
//! H.264 MP4, one child process per active recording, run by the process owner.
//!
//! Owns the recordings (`id → entry`) and their files. Invariants:
//! - An active recording's ffmpeg belongs to this service, not to the request that started it:
//!   start and stop run in tasks of their own, so a client that hangs up changes nothing.
//! - Stopping is graceful (`q` on ffmpeg's stdin, then SIGINT, then a kill), so the MP4 gets
//!   its index and plays. The daemon's shutdown stops every active recording the same way.
//! - Whatever ends an ffmpeg, one function ([`Inner::finish`]) decides the outcome once: asked
//!   to stop and exited cleanly is `completed`, anything else `failed`.
//! - Metadata is written to disk at every change (`store`), so a restarted daemon lists every
//!   recording again.
//!
//! Must not know: HTTP. `routes.rs` translates requests and [`RecordingError`]s.

pub mod error;
pub mod routes;
pub mod store;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustix::process::Signal;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

pub use crate::computer_use::recording::error::RecordingError;
use crate::environment::Environment;
use crate::process::owner::{ChildIo, Exit, Spawn, Tree};
use crate::state::Context;

/// Recordings that may be active at once; each is an ffmpeg encoding the whole display.
pub const MAX_ACTIVE: usize = 8;
/// Longest label accepted.
pub const MAX_LABEL: usize = 100;
/// How long ffmpeg gets to finish the file after `q` before it is sent SIGINT.
const QUIT_GRACE: Duration = Duration::from_secs(10);
/// How long ffmpeg gets after SIGINT before it is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// How long a start waits for ffmpeg to open the display and write the file's header.
const START_WAIT: Duration = Duration::from_secs(10);
const START_POLL: Duration = Duration::from_millis(25);
/// Bytes of ffmpeg's log quoted when it fails at once.
const LOG_TAIL: usize = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Recording,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Recording => "recording",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }
}

/// One recording. Serialised only as the metadata file on disk (`store`); the wire form is
/// `types::Recording`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recording {
    pub id: String,
    pub file_name: String,
    pub file_path: PathBuf,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub status: Status,
    pub duration_seconds: Option<f64>,
    pub size_bytes: Option<u64>,
    /// The ffmpeg's pid while it records, so a daemon started after a crash can stop it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

#[derive(Debug)]
struct Entry {
    recording: Recording,
    active: Option<Active>,
}

/// The ffmpeg of an active recording.
#[derive(Debug)]
struct Active {
    tree: Tree,
    /// Taken by the first stop, which writes `q` into it.
    stdin: Option<ChildStdin>,
    /// Set when a stop was asked for: only then is an exit a success.
    stopping: bool,
    /// One of the `MAX_ACTIVE` places, given back when the recording ends.
    _place: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Debug, Clone)]
pub struct RecordingService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    work: PathBuf,
    /// Where the MP4 files go.
    files: PathBuf,
    /// Where the metadata and ffmpeg logs go.
    meta: PathBuf,
    // A std mutex: held only for map updates, never across an await.
    entries: Mutex<BTreeMap<String, Entry>>,
    places: Arc<tokio::sync::Semaphore>,
}

/// The outcome of deleting several recordings at once (the recordings page).
#[derive(Debug, Default)]
pub struct Deleted {
    pub deleted: Vec<String>,
    pub failed: Vec<(String, RecordingError)>,
}

impl RecordingService {
    /// Recordings go to `$DAYTONA_RECORDINGS_DIR` when the daemon's environment sets it, else
    /// to `<data dir>/recordings`; what earlier runs recorded is loaded back.
    pub fn new(ctx: &Context) -> Self {
        let files = ctx
            .env
            .get("DAYTONA_RECORDINGS_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| ctx.dirs.data.join("recordings"));
        let files = if files.is_absolute() { files } else { ctx.dirs.work.join(files) };
        let meta = ctx.dirs.data.join("recording-meta");
        let entries = store::load(&meta, &files)
            .into_iter()
            .map(|(id, recording)| (id, Entry { recording, active: None }))
            .collect();
        RecordingService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                work: ctx.dirs.work.clone(),
                files,
                meta,
                entries: Mutex::new(entries),
                places: Arc::new(tokio::sync::Semaphore::new(MAX_ACTIVE)),
            }),
        }
    }

    /// The directory the MP4 files are written to.
    pub fn files_dir(&self) -> &Path {
        &self.inner.files
    }

    /// Starts recording the display. Runs to the end even if the caller goes away.
    pub async fn start(&self, label: Option<&str>) -> Result<Recording, RecordingError> {
        let label = label.filter(|l| !l.is_empty()).map(check_label).transpose()?;
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.start(label).await })
            .await
            .unwrap_or_else(|err| Err(RecordingError::CaptureFailed(err.to_string())))
    }

    /// Stops a recording and returns it finished; stopping a finished one returns it as is.
    pub async fn stop(&self, id: &str) -> Result<Recording, RecordingError> {
        if id.is_empty() {
            return Err(RecordingError::MissingId);
        }
        let inner = Arc::clone(&self.inner);
        let id = id.to_owned();
        tokio::spawn(async move { inner.stop(&id).await })
            .await
            .unwrap_or_else(|err| Err(RecordingError::CaptureFailed(err.to_string())))
    }

    /// Every recording, oldest first.
    pub fn list(&self) -> Vec<Recording> {
        let entries = self.inner.lock();
        let mut all: Vec<Recording> = entries.values().map(|e| e.recording.clone()).collect();
        all.sort_by(|a, b| a.start_time.cmp(&b.start_time).then_with(|| a.id.cmp(&b.id)));
        all
    }

    pub fn get(&self, id: &str) -> Result<Recording, RecordingError> {
        self.inner.lock().get(id).map(|e| e.recording.clone()).ok_or(RecordingError::NotFound)
    }

    /// The recording named `file_name` (the recordings page's `/videos/{file}`): only files of
    /// known recordings are served, so no name can reach outside the recordings.
    pub fn by_file_name(&self, file_name: &str) -> Result<Recording, RecordingError> {
        let entries = self.inner.lock();
        entries
            .values()
            .find(|e| e.recording.file_name == file_name)
            .map(|e| e.recording.clone())
            .ok_or(RecordingError::NotFound)
    }

    /// The file to download for recording `id`.
    pub fn file(&self, id: &str) -> Result<PathBuf, RecordingError> {
        let recording = self.get(id)?;
        if !recording.file_path.is_file() {
            return Err(RecordingError::FileMissing);
        }
        Ok(recording.file_path)
    }

    /// Deletes a finished recording: its file, metadata and log.
    pub fn delete(&self, id: &str) -> Result<(), RecordingError> {
        let removed = {
            let mut entries = self.inner.lock();
            match entries.get(id) {
                None => return Err(RecordingError::NotFound),
                Some(entry) if entry.active.is_some() => return Err(RecordingError::StillActive),
                Some(_) => entries.remove(id).map(|e| e.recording),
            }
        };
        match removed {
            Some(recording) => store::remove(&self.inner.meta, &recording),
            None => Err(RecordingError::NotFound),
        }
    }

    /// Deletes each of `ids`, reporting which were deleted and why the others were not.
    pub fn delete_many(&self, ids: &[String]) -> Deleted {
        let mut outcome = Deleted::default();
        for id in ids {
            match self.delete(id) {
                Ok(()) => outcome.deleted.push(id.clone()),
                Err(err) => outcome.failed.push((id.clone(), err)),
            }
        }
        outcome
    }

    /// Finishes every active recording (the daemon is stopping), all at once.
    pub async fn shutdown(&self) {
        let active: Vec<String> =
            self.inner.lock().iter().filter(|(_, e)| e.active.is_some()).map(|(id, _)| id.clone()).collect();
        if !active.is_empty() {
            tracing::info!("finishing {} active recording(s)", active.len());
        }
        let stops = active.iter().map(|id| self.inner.stop(id));
        for result in futures_util::future::join_all(stops).await {
            if let Err(err) = result {
                tracing::warn!("a recording could not be finished: {err}");
            }
        }
    }
}

/// The contract's label rule: ≤100 characters of `[A-Za-z0-9 ._-]`, no leading dot.
pub fn check_label(label: &str) -> Result<String, RecordingError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-');
    if label.chars().count() > MAX_LABEL || label.starts_with('.') || !label.chars().all(allowed) {
        return Err(RecordingError::InvalidLabel(label.to_owned()));
    }
    Ok(label.to_owned())
}

/// `program` in the `PATH` of `env`, if it is an executable file there.
fn find_in_path(env: &Environment, program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.get("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
        candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Seconds between two instants, to the millisecond.
fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    (end - start).num_milliseconds().max(0) as f64 / 1000.0
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn start(self: Arc<Self>, label: Option<String>) -> Result<Recording, RecordingError> {
        let ffmpeg = find_in_path(&self.env, "ffmpeg").ok_or(RecordingError::FfmpegNotFound)?;
        let place =
            Arc::clone(&self.places).try_acquire_owned().map_err(|_| RecordingError::TooMany(MAX_ACTIVE))?;
        // The display computer use drives: the environment's `DISPLAY`, else `:0`.
        let screen = crate::computer_use::display(&self.env);
        let id = uuid::Uuid::new_v4().to_string();
        let start_time = Utc::now();
        let file_name = format!(
            "{id}_{}_{}.mp4",
            label.as_deref().unwrap_or("session"),
            start_time.format("%Y%m%d_%H%M%S")
        );
        let file_path = self.files.join(&file_name);
        for dir in [&self.files, &self.meta] {
            tokio::fs::create_dir_all(dir).await.map_err(|err| RecordingError::store("create", dir, err))?;
        }
        let log_path = store::log_path(&self.meta, &id);
        let log = std::fs::File::create(&log_path)
            .map_err(|err| RecordingError::store("create", &log_path, err))?;
        let mut spawn = Spawn::new(&ffmpeg, &self.work, &self.env);
        spawn
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-f", "x11grab", "-framerate", "30"])
            .arg("-i")
            .arg(&screen)
            // yuv420p needs even dimensions; an odd-sized display loses its last row or column.
            .args(["-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-y"])
            .arg(&file_path)
            .stdin(ChildIo::Piped)
            .stderr(log);
        let mut child = spawn.spawn().map_err(RecordingError::Spawn)?;

        // ffmpeg writes the MP4 header once it has the display; if it exits first, it had not.
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while child.tree.exit().is_none() && tokio::time::Instant::now() < deadline {
            if std::fs::metadata(&file_path).is_ok_and(|m| m.len() > 0) {
                break;
            }
            tokio::time::sleep(START_POLL).await;
        }
        if child.tree.exit().is_some() {
            let detail = store::tail(&log_path, LOG_TAIL);
            let _ = std::fs::remove_file(&file_path);
            let _ = std::fs::remove_file(&log_path);
            if detail.contains("display") {
                return Err(RecordingError::NoDisplay { display: screen, detail });
            }
            return Err(RecordingError::CaptureFailed(detail));
        }

        let recording = Recording {
            id: id.clone(),
            file_name,
            file_path,
            // The video starts now, not when the request came (ffmpeg takes a moment to start).
            start_time: Utc::now(),
            end_time: None,
            status: Status::Recording,
            duration_seconds: None,
            size_bytes: None,
            pid: Some(child.tree.pid()),
        };
        let exited = child.tree.exited();
        let active = Active { tree: child.tree, stdin: child.stdin.take(), stopping: false, _place: place };
        self.lock().insert(id.clone(), Entry { recording: recording.clone(), active: Some(active) });
        if let Err(err) = store::save(&self.meta, &recording) {
            tracing::warn!("{err}");
        }
        tracing::info!(recording.id = %id, "recording {} on {}", recording.file_name, screen);
        // Whatever ends ffmpeg (a stop, a crash, a closed display), the recording is finished.
        let inner = Arc::clone(&self);
        tokio::spawn(async move {
            let exit = exited.await;
            inner.finish(&id, exit);
        });
        Ok(recording)
    }

    async fn stop(&self, id: &str) -> Result<Recording, RecordingError> {
        let (tree, stdin) = {
            let mut entries = self.lock();
            let entry = entries.get_mut(id).ok_or(RecordingError::NotFound)?;
            let Some(active) = entry.active.as_mut() else { return Ok(entry.recording.clone()) };
            active.stopping = true;
            (active.tree.clone(), active.stdin.take())
        };
        if let Some(mut stdin) = stdin {
            // `q` is ffmpeg's own "finish and quit"; a write error means it is already gone.
            let _ = stdin.write_all(b"q").await;
            let _ = stdin.flush().await;
        }
        let exit = match tokio::time::timeout(QUIT_GRACE, tree.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                tracing::warn!(recording.id = %id, "ffmpeg ignored q; interrupting it");
                tree.signal(Signal::INT);
                match tokio::time::timeout(INTERRUPT_GRACE, tree.wait()).await {
                    Ok(exit) => exit,
                    Err(_) => {
                        tree.kill().await;
                        tree.wait().await
                    }
                }
            }
        };
        self.finish(id, exit);
        self.lock().get(id).map(|e| e.recording.clone()).ok_or(RecordingError::NotFound)
    }

    /// Records how ffmpeg ended; the first call for a recording decides, later ones do nothing.
    fn finish(&self, id: &str, exit: Exit) {
        let finished = {
            let mut entries = self.lock();
            let Some(entry) = entries.get_mut(id) else { return };
            let Some(active) = entry.active.take() else { return };
            // ffmpeg exits 0 after `q`, 255 after a SIGINT it handled; both finish the file.
            let clean = matches!(exit, Exit::Code(0) | Exit::Code(255));
            let recording = &mut entry.recording;
            recording.pid = None;
            recording.status = if active.stopping && clean { Status::Completed } else { Status::Failed };
            let end = Utc::now();
            recording.end_time = Some(end);
            recording.duration_seconds = Some(seconds_between(recording.start_time, end));
            recording.size_bytes = std::fs::metadata(&recording.file_path).ok().map(|m| m.len());
            recording.clone()
        };
        if finished.status == Status::Failed {
            let detail = store::tail(&store::log_path(&self.meta, id), LOG_TAIL);
            tracing::warn!(recording.id = %id, "recording failed: ffmpeg ended with {exit:?}: {detail}");
        }
        if let Err(err) = store::save(&self.meta, &finished) {
            tracing::warn!("{err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_contract() {
        for good in ["demo", "my test.1", "a-b_c", &"x".repeat(100)] {
            assert!(check_label(good).is_ok(), "{good}");
        }
        for bad in [".hidden", "a/b", "..", "a\\b", "é", "tab\there", &"x".repeat(101)] {
            assert!(matches!(check_label(bad), Err(RecordingError::InvalidLabel(_))), "{bad}");
        }
    }
}
