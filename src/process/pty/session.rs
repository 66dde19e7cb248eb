//! One terminal: a shell in a pseudo-terminal, its output ring and its lifecycle.
//!
//! Tasks per started session (all end when the shell and the terminal are gone), on the
//! runtime with the master in non-blocking mode, so a keystroke and its echo cross no thread:
//! - a reader: reads of the master (≤32 KiB) appended to the ring; it never waits for a
//!   client, so a stalled client cannot stall the shell;
//! - a writer: drains a bounded input channel (64 chunks) into the master, so a shell that
//!   stops reading its input stalls only this task and, through the channel, the senders;
//! - a waiter: waits for the shell, gives the reader up to 5 s to drain, then publishes the
//!   exit and removes the session from the registry.
//!
//! The shell is started through `process::owner` as the leader of a new session with the
//! terminal as its controlling tty, so its exit code or signal is exact and deleting the
//! terminal kills everything it started, `setsid … &` and double forks included.
//!
//! Progress (ring end offset, exit) is published on a `watch` channel; clients keep their own
//! cursor into the ring (see `socket.rs`).

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::environment::Environment;
use crate::process::owner::{Spawn, Tree};
use crate::process::pty::PtyError;
use crate::process::pty::ring::{Chunk, Ring};

/// Output kept per terminal for clients that connect later or fall behind.
pub const RING_CAPACITY: usize = 1024 * 1024;
/// Largest output frame sent to a client.
pub const MAX_CHUNK: usize = 32 * 1024;
const INPUT_QUEUE: usize = 64;
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How the shell ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub reason: Option<String>,
}

impl Exit {
    pub fn from_code(code: i32) -> Self {
        let reason = match code {
            0 => None,
            130 => Some("Ctrl+C".to_owned()),
            137 => Some("SIGKILL".to_owned()),
            143 => Some("SIGTERM".to_owned()),
            n if n > 128 => Some(format!("signal {}", n - 128)),
            _ => Some("non-zero exit".to_owned()),
        };
        Exit { code, reason }
    }

    pub fn killed() -> Self {
        Exit::from_code(137)
    }
}

/// What watchers of a terminal see change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub end: u64,
    pub exit: Option<Exit>,
}

#[derive(Debug, Clone)]
pub struct PtyOptions {
    pub id: String,
    pub cwd: PathBuf,
    pub envs: BTreeMap<String, String>,
    pub cols: u16,
    pub rows: u16,
    pub lazy_start: bool,
}

enum Run {
    NotStarted,
    Running { master: OwnedFd, tree: Tree },
    Ended,
}

pub struct Session {
    pub id: String,
    pub cwd: PathBuf,
    pub envs: BTreeMap<String, String>,
    pub lazy_start: bool,
    pub created_at: DateTime<Utc>,
    size: Mutex<(u16, u16)>,
    run: Mutex<Run>,
    ring: Mutex<Ring>,
    progress: watch::Sender<Progress>,
    input: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// Cancelled by a delete: clients close at once, without draining.
    pub killed: CancellationToken,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("cwd", &self.cwd).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Session {
    pub fn new(options: PtyOptions) -> Self {
        Session {
            id: options.id,
            cwd: options.cwd,
            envs: options.envs,
            lazy_start: options.lazy_start,
            created_at: Utc::now(),
            size: Mutex::new((options.cols, options.rows)),
            run: Mutex::new(Run::NotStarted),
            ring: Mutex::new(Ring::new(RING_CAPACITY)),
            progress: watch::channel(Progress::default()).0,
            input: Mutex::new(None),
            killed: CancellationToken::new(),
        }
    }

    pub fn size(&self) -> (u16, u16) {
        *lock(&self.size)
    }

    pub fn is_active(&self) -> bool {
        matches!(*lock(&self.run), Run::Running { .. })
    }

    pub fn has_ended(&self) -> bool {
        matches!(*lock(&self.run), Run::Ended)
    }

    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub fn ring_start(&self) -> u64 {
        lock(&self.ring).start()
    }

    pub fn read(&self, from: u64) -> Chunk {
        lock(&self.ring).read(from, MAX_CHUNK)
    }

    /// The queue into the terminal's input, once the shell runs.
    pub fn input(&self) -> Option<mpsc::Sender<Bytes>> {
        lock(&self.input).clone()
    }

    /// Starts the shell unless it already runs (or ran); `on_exit` runs once the shell has
    /// exited and its output is drained.
    pub fn start(
        self: &Arc<Self>,
        env: &Environment,
        on_exit: impl FnOnce(&Arc<Session>) + Send + 'static,
    ) -> Result<(), PtyError> {
        let mut run = lock(&self.run);
        if !matches!(*run, Run::NotStarted) {
            return Ok(());
        }
        if self.killed.is_cancelled() {
            return Err(PtyError::Ended(self.id.clone()));
        }
        let (cols, rows) = self.size();
        let start = |err: std::io::Error| PtyError::Start(err.to_string());
        let (master, slave) = crate::sys::pty::open(cols, rows).map_err(start)?;
        let mut spawn = Spawn::new(shell(env), &self.cwd, env);
        spawn
            .args(["-i", "-l"])
            .envs(&self.envs)
            .stdin(slave.try_clone().map_err(start)?)
            .stdout(slave.try_clone().map_err(start)?)
            .stderr(slave)
            .new_session(true);
        // The spawn consumes the slave descriptors: the reader sees EOF (EIO) only once the
        // shell and everything that inherited the terminal have closed it.
        let child = spawn.spawn().map_err(start)?;
        let tree = child.tree;
        // The master is served by two tasks on the runtime, not by threads: a keystroke then
        // reaches the shell, and its echo the client, without a thread switch on the way.
        let io = master.try_clone().and_then(crate::sys::pty::async_master).map(Arc::new).map_err(start)?;

        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(read_output(Arc::clone(&io), Arc::clone(self), done_tx));
        let (input_tx, input_rx) = mpsc::channel::<Bytes>(INPUT_QUEUE);
        tokio::spawn(write_input(io, input_rx));
        *lock(&self.input) = Some(input_tx);

        let session = Arc::clone(self);
        let exited = tree.exited();
        tokio::spawn(async move {
            let exit = Exit::from_code(exited.await.shell_code());
            // Background jobs may hold the terminal open; don't wait for them forever.
            let _ = tokio::time::timeout(DRAIN_GRACE, done_rx).await;
            session.finish(exit);
            on_exit(&session);
        });

        *run = Run::Running { master, tree };
        Ok(())
    }

    fn push_output(&self, data: &[u8]) {
        let end = {
            let mut ring = lock(&self.ring);
            ring.push(data);
            ring.end()
        };
        self.progress.send_modify(|progress| progress.end = end);
    }

    fn finish(&self, exit: Exit) {
        *lock(&self.run) = Run::Ended;
        *lock(&self.input) = None;
        let end = lock(&self.ring).end();
        self.progress.send_modify(|progress| {
            progress.end = end;
            progress.exit.get_or_insert(exit);
        });
    }

    /// Changes the terminal size (stored for a shell that has not started yet).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), PtyError> {
        let run = lock(&self.run);
        match &*run {
            Run::Ended => return Err(PtyError::Ended(self.id.clone())),
            Run::Running { master, .. } => crate::sys::pty::resize(master, cols, rows)
                .map_err(|err| PtyError::Resize(err.to_string()))?,
            Run::NotStarted => {}
        }
        *lock(&self.size) = (cols, rows);
        Ok(())
    }

    /// Kills the shell and everything it started (on this thread: it reads `/proc`).
    pub fn kill(&self) {
        self.killed.cancel();
        let tree = match &*lock(&self.run) {
            Run::Running { tree, .. } => Some(tree.clone()),
            _ => None,
        };
        if let Some(tree) = tree {
            tree.kill_now();
        }
    }
}

/// Appends everything the terminal prints to the ring until the last slave descriptor closes
/// (EIO, the normal end on Linux); it never waits for a client, so a stalled client cannot
/// stall the shell.
async fn read_output(
    io: Arc<AsyncFd<OwnedFd>>,
    session: Arc<Session>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut buf = vec![0u8; MAX_CHUNK];
    loop {
        let Ok(mut ready) = io.readable().await else { break };
        match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut buf)?)) {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => session.push_output(&buf[..n]),
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(_)) => break,
            // Not readable after all: `try_io` cleared the readiness; wait again.
            Err(_) => {}
        }
    }
    let _ = done.send(());
}

/// Drains the bounded input queue into the terminal. A shell that stops reading its input
/// leaves this task waiting for the terminal to become writable, and the queue's senders
/// waiting for room.
async fn write_input(io: Arc<AsyncFd<OwnedFd>>, mut input: mpsc::Receiver<Bytes>) {
    while let Some(data) = input.recv().await {
        let mut rest = &data[..];
        while !rest.is_empty() {
            let Ok(mut ready) = io.writable().await else { return };
            match ready.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), rest)?)) {
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => return,
                Err(_) => {}
            }
        }
    }
}

/// The shell a terminal runs: bash if installed, else the daemon's `$SHELL`, else `/bin/sh`.
fn shell(env: &Environment) -> String {
    for candidate in ["/bin/bash", "/usr/bin/bash"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    env.get("SHELL")
        .and_then(|shell| shell.into_string().ok())
        .filter(|shell| !shell.is_empty() && std::path::Path::new(shell).exists())
        .unwrap_or_else(|| "/bin/sh".to_owned())
}
