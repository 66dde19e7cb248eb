//! File watching: `notify`'s watcher feeds a bounded queue from its own thread; the consumer
//! coalesces bursts into batches (a short window, deduplicated by path and type). When the
//! queue is full events are dropped and the next batch starts with an `overflow` event, so a
//! client knows to rescan. Dropping the [`Watch`] drops the watcher, which stops its thread.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::event::{CreateKind, ModifyKind, RemoveKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::error::{FsError, FsResult};

/// Raw events queued between the watcher thread and the websocket.
pub const QUEUE: usize = 4096;
/// Events arriving this close together are delivered (and deduplicated) as one batch.
pub const COALESCE: Duration = Duration::from_millis(50);
/// Largest batch; a longer burst continues in the next one.
const MAX_BATCH: usize = 1024;

/// One change, as sent over the websocket: `{type, path, isDir}`; `overflow` has no path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchEvent {
    /// `create`, `write`, `remove`, `rename`, `chmod` or `overflow`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_dir: Option<bool>,
}

impl WatchEvent {
    fn overflow() -> Self {
        WatchEvent { kind: "overflow", path: None, is_dir: None }
    }
}

/// A live watch on one path.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Event>,
    overflow: Arc<AtomicBool>,
    _watcher: RecommendedWatcher,
}

impl Watch {
    pub fn start(path: &Path, recursive: bool) -> FsResult<Self> {
        std::fs::metadata(path).map_err(|err| FsError::io("stat", path, &err))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&overflow);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| match event {
            Ok(event) => {
                if tx.try_send(event).is_err() {
                    flag.store(true, Ordering::Relaxed);
                }
            }
            // The kernel queue overflowed or the watch broke: the client must rescan.
            Err(_) => flag.store(true, Ordering::Relaxed),
        })
        .map_err(|err| FsError::Unexpected(format!("watch {}: {err}", path.display())))?;
        let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        watcher.watch(path, mode).map_err(|err| match err.kind {
            notify::ErrorKind::Io(io) => FsError::io("watch", path, &io),
            notify::ErrorKind::MaxFilesWatch => FsError::Invalid(format!(
                "watch {}: too many watches (fs.inotify.max_user_watches)",
                path.display()
            )),
            other => FsError::Unexpected(format!("watch {}: {other:?}", path.display())),
        })?;
        Ok(Watch { rx, overflow, _watcher: watcher })
    }

    /// The next batch: waits for one event, then gathers what arrives within the window.
    /// `None` once the watcher is gone.
    pub async fn next_batch(&mut self) -> Option<Vec<WatchEvent>> {
        let first = self.rx.recv().await?;
        let mut raw = vec![first];
        let deadline = tokio::time::Instant::now() + COALESCE;
        while raw.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => raw.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let mut batch = Vec::new();
        if self.overflow.swap(false, Ordering::Relaxed) {
            batch.push(WatchEvent::overflow());
        }
        let mut seen = HashSet::new();
        for event in raw {
            if event.need_rescan() {
                batch.push(WatchEvent::overflow());
                continue;
            }
            for mapped in map_event(&event) {
                if seen.insert(mapped.clone()) {
                    batch.push(mapped);
                }
            }
        }
        Some(batch)
    }
}

fn map_event(event: &Event) -> Vec<WatchEvent> {
    let kind = match event.kind {
        EventKind::Create(_) => "create",
        EventKind::Modify(ModifyKind::Metadata(_)) => "chmod",
        EventKind::Modify(ModifyKind::Name(_)) => "rename",
        EventKind::Modify(_) => "write",
        EventKind::Remove(_) => "remove",
        EventKind::Access(_) | EventKind::Any | EventKind::Other => return Vec::new(),
    };
    let known_dir = match event.kind {
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => Some(true),
        EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => Some(false),
        _ => None,
    };
    event
        .paths
        .iter()
        .map(|path: &PathBuf| WatchEvent {
            kind,
            path: Some(path.to_string_lossy().into_owned()),
            is_dir: Some(
                known_dir.unwrap_or_else(|| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())),
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_writes_is_coalesced() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = Watch::start(dir.path(), true).unwrap();
        let file = dir.path().join("f.txt");
        for i in 0..20 {
            std::fs::write(&file, format!("{i}")).unwrap();
        }
        let mut events = Vec::new();
        while !events.iter().any(|e: &WatchEvent| e.kind == "write") {
            let batch =
                tokio::time::timeout(Duration::from_secs(5), watch.next_batch()).await.unwrap().unwrap();
            events.extend(batch);
        }
        let writes = events.iter().filter(|e| e.kind == "write").count();
        assert!(writes < 20, "{events:?}");
        assert!(
            events.iter().any(|e| e.kind == "create" && e.path.as_deref() == Some(file.to_str().unwrap()))
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_reported_as_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = Watch::start(dir.path(), false).unwrap();
        // Nobody reads while more events arrive than the queue holds.
        for i in 0..(QUEUE + 500) {
            std::fs::write(dir.path().join(format!("f{i}")), "").unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !watch.overflow.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let batch = watch.next_batch().await.unwrap();
        assert_eq!(batch[0], WatchEvent::overflow());
        assert!(batch.len() > 1);
    }
}
