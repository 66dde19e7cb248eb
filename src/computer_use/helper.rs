//! The client side of the desktop helper `toolboxd-desktop`.
//!
//! The helper is started on the first request that needs the display, through the process
//! owner (`process::owner::Spawn`: the daemon's environment, a tree of its own, killed when its
//! handle goes), with `DISPLAY` set to the display the request is for. It stays up between
//! requests; when it exits, stops answering or the display changes, it is replaced on the
//! next request. Requests are JSON lines with an id; a reader task hands each answer to the
//! request waiting for that id.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] requests use the helper at once and later ones wait at most
//! [`QUEUE_WAIT`] for a slot (then 503); every request has a deadline after which the helper is
//! killed; an answer line is at most [`MAX_LINE`] bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::{CancellationToken, DropGuard};
use toolboxd_desktop_protocol::{ErrorKind, HelperError, Op, Output, PROTOCOL_VERSION, Reply, Request};

use crate::computer_use::error::ComputerUseError;
use crate::environment::Environment;
use crate::process::owner::{ChildIo, Exit, Spawn};

/// The helper's file name, looked for beside the daemon's own executable and on `PATH`.
pub const HELPER_NAME: &str = "toolboxd-desktop";

/// Requests that may be with the helper at once (it carries them out one after another).
pub const MAX_IN_FLIGHT: usize = 16;

/// How long a request waits for one of the [`MAX_IN_FLIGHT`] slots before a 503.
pub const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// How long a freshly started helper has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest line the helper may write: a base64 screenshot of a large screen fits.
pub const MAX_LINE: usize = 256 * 1024 * 1024;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Reply, HelperError>>>>>;

/// Starts, talks to and replaces the desktop helper.
#[derive(Debug)]
pub struct Helper {
    /// `--desktop-helper`, when given.
    configured: Option<PathBuf>,
    env: Environment,
    cwd: PathBuf,
    running: tokio::sync::Mutex<Option<Arc<Connection>>>,
    slots: Semaphore,
    next_id: AtomicU64,
}

/// One running helper process.
#[derive(Debug)]
struct Connection {
    display: String,
    lines: mpsc::Sender<String>,
    pending: Pending,
    /// Cancelled once the helper's stdout closed or the process ended.
    exited: CancellationToken,
    why_exited: Arc<Mutex<Option<String>>>,
    /// Dropping the last handle, or cancelling, kills the process.
    kill: CancellationToken,
    _kill_on_drop: DropGuard,
}

impl Connection {
    fn exit_reason(&self) -> String {
        let reason = self.why_exited.lock().unwrap_or_else(|p| p.into_inner()).clone();
        reason.unwrap_or_else(|| "its output closed".to_owned())
    }
}

impl Helper {
    pub fn new(configured: Option<PathBuf>, env: Environment, cwd: PathBuf) -> Self {
        Helper {
            configured,
            env,
            cwd,
            running: tokio::sync::Mutex::new(None),
            slots: Semaphore::new(MAX_IN_FLIGHT),
            next_id: AtomicU64::new(1),
        }
    }

    /// Carries `op` out on `display`, waiting at most `deadline` for the answer.
    pub async fn call(&self, display: &str, op: Op, deadline: Duration) -> Result<Reply, HelperCallError> {
        let _slot = match tokio::time::timeout(QUEUE_WAIT, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(ComputerUseError::ShuttingDown.into()),
            Err(_) => return Err(ComputerUseError::Busy(MAX_IN_FLIGHT).into()),
        };
        let connection = self.connection(display).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let line = serde_json::to_string(&Request { id, op })
            .map_err(|err| ComputerUseError::Failed(format!("cannot encode a helper request: {err}")))?;
        let (answer, answered) = oneshot::channel();
        connection.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, answer);
        // The reader marks the helper exited before it drops every waiting request, so a request
        // registered after that sees the mark here instead of waiting for its deadline.
        if connection.exited.is_cancelled() || connection.lines.send(line).await.is_err() {
            connection.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(ComputerUseError::HelperExited(connection.exit_reason()).into());
        }
        match tokio::time::timeout(deadline, answered).await {
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(error))) => Err(HelperCallError::Helper(error)),
            Ok(Err(_)) => Err(ComputerUseError::HelperExited(connection.exit_reason()).into()),
            Err(_) => {
                tracing::warn!(
                    "desktop helper did not answer request {id} within {}s; killing it",
                    deadline.as_secs()
                );
                connection.kill.cancel();
                self.forget(&connection).await;
                Err(ComputerUseError::Timeout(deadline).into())
            }
        }
    }

    /// Kills the helper, if one runs.
    pub async fn stop(&self) {
        if let Some(connection) = self.running.lock().await.take() {
            connection.kill.cancel();
        }
        self.slots.close();
    }

    async fn forget(&self, connection: &Arc<Connection>) {
        let mut running = self.running.lock().await;
        if running.as_ref().is_some_and(|current| Arc::ptr_eq(current, connection)) {
            *running = None;
        }
    }

    /// The running helper for `display`, started (or replaced) if need be.
    async fn connection(&self, display: &str) -> Result<Arc<Connection>, ComputerUseError> {
        let mut running = self.running.lock().await;
        if let Some(current) = running.as_ref() {
            if !current.exited.is_cancelled() && current.display == display {
                return Ok(Arc::clone(current));
            }
            if !current.exited.is_cancelled() {
                let (old, new) = (&current.display, display);
                tracing::info!("DISPLAY changed from {old} to {new}; restarting the desktop helper");
            }
        }
        *running = None;
        let connection = Arc::new(self.spawn(display).await?);
        *running = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Whether the helper binary can be found (it may still fail to start or find no display).
    pub fn installed(&self) -> bool {
        self.locate().is_ok()
    }

    fn locate(&self) -> Result<PathBuf, ComputerUseError> {
        if let Some(path) = &self.configured {
            return if path.is_file() {
                Ok(path.clone())
            } else {
                Err(ComputerUseError::HelperNotFound(format!("{} does not exist", path.display())))
            };
        }
        let mut looked = Vec::new();
        if let Some(beside) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_owned)) {
            let candidate = beside.join(HELPER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(beside.display().to_string());
        }
        if let Some(path) = self.env.get("PATH") {
            if let Some(found) =
                std::env::split_paths(&path).map(|dir| dir.join(HELPER_NAME)).find(|c| c.is_file())
            {
                return Ok(found);
            }
            looked.push("$PATH".to_owned());
        }
        Err(ComputerUseError::HelperNotFound(format!("looked in {}", looked.join(" and "))))
    }

    async fn spawn(&self, display: &str) -> Result<Connection, ComputerUseError> {
        let path = self.locate()?;
        let mut spawn = Spawn::new(&path, &self.cwd, &self.env);
        spawn.env("DISPLAY", display).stdin(ChildIo::Piped).stdout(ChildIo::Piped).stderr(ChildIo::Piped);
        let child =
            spawn.spawn().map_err(|source| ComputerUseError::HelperSpawn { path: path.clone(), source })?;
        let broken = |detail: String| ComputerUseError::HelperBroken { path: path.clone(), detail };
        let tree = child.tree;
        let (Some(mut stdin), Some(stdout), Some(stderr)) = (child.stdin, child.stdout, child.stderr) else {
            return Err(broken("its stdio could not be captured".to_owned()));
        };
        let mut output = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, output.next()).await {
            Ok(Some(Ok(line))) => serde_json::from_str::<Output>(&line).ok(),
            Ok(_) => return Err(broken("it exited before saying hello".to_owned())),
            Err(_) => {
                return Err(broken(format!("it did not say hello within {}s", HELLO_TIMEOUT.as_secs())));
            }
        };
        match hello {
            Some(Output::Hello { protocol }) if protocol == PROTOCOL_VERSION => {}
            Some(Output::Hello { protocol }) => {
                return Err(broken(format!(
                    "it speaks protocol {protocol}, toolboxd speaks {PROTOCOL_VERSION}"
                )));
            }
            _ => return Err(broken("its first line is not a hello".to_owned())),
        }
        let shown = (path.display(), display);
        tracing::info!(helper.pid = tree.pid(), "desktop helper {} started on DISPLAY={}", shown.0, shown.1);

        let pending: Pending = Arc::default();
        let exited = CancellationToken::new();
        let why_exited = Arc::new(Mutex::new(None));
        let kill = CancellationToken::new();
        let (lines, mut to_write) = mpsc::channel::<String>(MAX_IN_FLIGHT);

        tokio::spawn(async move {
            while let Some(mut line) = to_write.recv().await {
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(read_answers(output, Arc::clone(&pending), exited.clone(), Arc::clone(&why_exited)));
        tokio::spawn(log_stderr(stderr));
        let (watch_kill, watch_exited, watch_why) = (kill.clone(), exited.clone(), Arc::clone(&why_exited));
        tokio::spawn(async move {
            let reason = tokio::select! {
                exit = tree.wait() => match exit {
                    Exit::Code(code) => format!("it exited with code {code}"),
                    Exit::Signal(signal) => format!("it was killed by signal {signal}"),
                },
                () = watch_kill.cancelled() => {
                    tree.kill().await;
                    "it was stopped".to_owned()
                }
            };
            tracing::info!("desktop helper stopped: {reason}");
            watch_why.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
            watch_exited.cancel();
        });

        Ok(Connection {
            display: display.to_owned(),
            lines,
            pending,
            exited,
            why_exited,
            _kill_on_drop: kill.clone().drop_guard(),
            kill,
        })
    }
}

/// Why a helper call failed: on the way (the core's own error) or in the helper.
#[derive(Debug)]
pub enum HelperCallError {
    Core(ComputerUseError),
    Helper(HelperError),
}

impl From<ComputerUseError> for HelperCallError {
    fn from(err: ComputerUseError) -> Self {
        HelperCallError::Core(err)
    }
}

impl HelperCallError {
    /// The helper's own failures keep its message; `display_hint` words an unreachable display.
    pub fn into_error(self, display_hint: impl FnOnce(&str) -> String) -> ComputerUseError {
        match self {
            HelperCallError::Core(err) => err,
            HelperCallError::Helper(HelperError { kind, message }) => match kind {
                ErrorKind::DisplayUnreachable => ComputerUseError::DisplayUnreachable(display_hint(&message)),
                ErrorKind::InvalidInput => ComputerUseError::Rejected(message),
                ErrorKind::Failed => ComputerUseError::Failed(message),
            },
        }
    }
}

async fn read_answers(
    mut output: FramedRead<tokio::process::ChildStdout, LinesCodec>,
    pending: Pending,
    exited: CancellationToken,
    why_exited: Arc<Mutex<Option<String>>>,
) {
    let reason = loop {
        match output.next().await {
            None => break None,
            Some(Err(err)) => break Some(format!("its output was unreadable: {err}")),
            Some(Ok(line)) => match serde_json::from_str::<Output>(&line) {
                Ok(Output::Response { id, result }) => {
                    let waiter = pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    // A waiter that gave up (its deadline passed) is simply gone.
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(result);
                    }
                }
                Ok(Output::Hello { .. }) => {}
                Err(err) => break Some(format!("it wrote something that is not a message: {err}")),
            },
        }
    };
    if let Some(reason) = reason {
        tracing::warn!("desktop helper dropped: {reason}");
        why_exited.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
    }
    exited.cancel();
    pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

async fn log_stderr(stderr: tokio::process::ChildStderr) {
    let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(8 * 1024));
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => tracing::warn!("desktop helper: {line}"),
            Err(_) => continue,
        }
    }
}
