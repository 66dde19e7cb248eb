//! The daemon as a child subreaper: orphans of its children are reparented to it (not to
//! init), so they stay inside the tree walks of `sys::tree`, and it reaps them.
//!
//! Reaping must never steal the exit status of a child whose handle waits for it (the owner in
//! `process::owner` waits for each of its children by pid). So the reaper never calls
//! `wait(-1)`: it lists the daemon's children that are zombies and reaps, by pid, only those
//! that are not registered as owned. A child is registered while the registry lock is held
//! across its spawn, so the reaper cannot see it exit before it is registered (that would also
//! race std's own wait for a child whose `exec` failed), and unregistered only after its owner
//! has reaped it. Registrations are counted, so a pid reused by a new child right after its
//! previous owner reaped it stays registered until both have released it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::{Pid, WaitOptions};

/// Pids whose exit status belongs to an owner, with how many owners hold each.
static OWNED: Mutex<BTreeMap<i32, usize>> = Mutex::new(BTreeMap::new());

fn owned() -> MutexGuard<'static, BTreeMap<i32, usize>> {
    OWNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes this process a child subreaper. Fails only on kernels older than 3.4.
pub fn become_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(std::io::Error::from)
}

/// Runs `spawn` with reaping paused and registers the pid of what it started as owned.
pub fn spawn_owned<T>(
    spawn: impl FnOnce() -> std::io::Result<T>,
    pid_of: impl FnOnce(&T) -> Option<u32>,
) -> std::io::Result<T> {
    let mut owned = owned();
    let child = spawn()?;
    if let Some(pid) = pid_of(&child).and_then(|pid| i32::try_from(pid).ok()) {
        *owned.entry(pid).or_default() += 1;
    }
    Ok(child)
}

/// The owner of `pid` has reaped it.
pub fn release(pid: i32) {
    let mut owned = owned();
    if let Some(count) = owned.get_mut(&pid) {
        *count -= 1;
        if *count == 0 {
            owned.remove(&pid);
        }
    }
}

/// The daemon's direct children: from `/proc/self/task/*/children`, else a full scan.
fn children() -> Vec<i32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut found = Vec::new();
    for task in tasks.filter_map(Result::ok) {
        match std::fs::read_to_string(task.path().join("children")) {
            Ok(text) => found.extend(text.split_whitespace().filter_map(|pid| pid.parse::<i32>().ok())),
            // Kernels without CONFIG_PROC_CHILDREN.
            Err(_) => {
                return crate::sys::tree::snapshot()
                    .into_iter()
                    .filter(|p| p.ppid == me)
                    .map(|p| p.pid)
                    .collect();
            }
        }
    }
    found
}

/// Whether some child of the daemon, owned or not, has exited and is not reaped yet (looked
/// at without reaping it).
fn exited_child_waiting() -> bool {
    use rustix::process::{WaitId, WaitIdOptions};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    // ECHILD: no children at all.
    matches!(rustix::process::waitid(WaitId::All, options), Ok(Some(_)))
}

/// Reaps every exited child that no owner waits for; returns how many were reaped.
pub fn reap_orphans() -> usize {
    let owned = owned();
    let mut reaped = 0;
    for pid in children() {
        if owned.contains_key(&pid) {
            continue;
        }
        let zombie = crate::sys::tree::stat(pid).is_some_and(|p| p.state == 'Z');
        let Some(pid) = Pid::from_raw(pid).filter(|_| zombie) else { continue };
        if let Ok(Some(_)) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            reaped += 1;
        }
    }
    reaped
}

/// Reaps orphans whenever a child exits (and every few seconds, in case a SIGCHLD was
/// coalesced with one the runtime consumed). Call inside the runtime.
pub fn spawn_reaper() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut chld = match signal(SignalKind::child()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::error!("cannot watch SIGCHLD; adopted orphans are reaped every 5 s only: {err}");
            return;
        }
    };
    tokio::spawn(async move {
        let mut watching = true;
        loop {
            tokio::select! {
                received = chld.recv(), if watching => watching = received.is_some(),
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            // Most exits are owned children's, which their owners reap at once (through a
            // pidfd). Let those run first, then look, with one syscall, whether any child is
            // left to reap at all before scanning `/proc` on a blocking thread.
            tokio::task::yield_now().await;
            if !exited_child_waiting() {
                continue;
            }
            let reaped = tokio::task::spawn_blocking(reap_orphans).await.unwrap_or(0);
            if reaped > 0 {
                tracing::debug!("reaped {reaped} adopted orphan(s)");
            }
        }
    });
}
