//! Stateful code-interpreter contexts: one long-lived Python worker per context.
//!
//! Owns the registry of contexts (`default` plus those created by clients) and their workers.
//! The worker is `assets/interpreter_worker.py`, embedded in the binary and run as
//! `python3 -u -c <script>` (`python` if there is no `python3`) through `process::owner`, in
//! the context's cwd with the daemon's environment, in a process group of its own.
//! Invariants:
//! - runs on one context are serialised (FIFO, at most `QUEUE_LIMIT` waiting); globals persist
//!   between runs, and contexts share nothing;
//! - every run ends with one `control` line from the worker, which keeps the worker's output
//!   in step with its requests; a run that cannot get it (worker hung or dead) discards the
//!   worker, and the next run starts a fresh one;
//! - a timeout or a client that goes away interrupts the code with SIGINT (the context lives
//!   on); a worker still busy 2 s later is killed with its whole tree;
//! - deleting a context (or the daemon stopping) ends the worker's whole tree, whatever the
//!   code started.
//!
//! Knows no HTTP: runs report frames into a bounded channel and end with an [`Outcome`];
//! `socket.rs` speaks the websocket protocol and `routes.rs` maps HTTP to the service.

pub mod routes;
pub mod socket;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Dirs;
use crate::environment::Environment;
use crate::error::{ApiError, ErrorCode};
use crate::process::owner::{ChildIo, Spawn, Tree};
use crate::state::Context;

const WORKER: &str = include_str!("../../../assets/interpreter_worker.py");
pub const DEFAULT_CONTEXT: &str = "default";
/// Runs that may wait for a busy context.
pub const QUEUE_LIMIT: usize = 128;
/// How long an interrupted run may take to stop before its worker is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("unsupported language: {0} (only python is supported)")]
    Language(String),
    #[error("cwd {0} is not a directory")]
    Cwd(String),
    #[error("context not found: {0}")]
    NotFound(String),
    #[error("cannot delete default context")]
    DeleteDefault,
    #[error("failed to start the interpreter worker: {0}")]
    Start(String),
}

impl From<InterpreterError> for ApiError {
    fn from(err: InterpreterError) -> Self {
        match &err {
            InterpreterError::Language(_) | InterpreterError::Cwd(_) | InterpreterError::DeleteDefault => {
                ApiError::bad_request(err.to_string())
            }
            InterpreterError::NotFound(_) => ApiError::new(ErrorCode::ProcessNotFound, err.to_string()),
            InterpreterError::Start(_) => ApiError::internal(err.to_string()),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// The timeout passed (the code was interrupted).
    TimedOut,
    /// User code raised `KeyboardInterrupt`.
    Interrupted,
    /// The client went away; the code was interrupted.
    ClientGone,
    /// The worker died during the run.
    WorkerDied,
    /// The context was deleted during the run.
    Deleted,
    /// Too many runs are waiting for this context.
    QueueFull,
    StartFailed(String),
}

#[derive(Debug, Default)]
pub struct RunRequest {
    pub code: String,
    pub envs: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug)]
struct Worker {
    tree: Tree,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

#[derive(Debug)]
pub struct InterpreterContext {
    pub id: String,
    pub cwd: PathBuf,
    pub created_at: DateTime<Utc>,
    pub language: &'static str,
    worker: tokio::sync::Mutex<Option<Worker>>,
    active: AtomicBool,
    /// The current worker's tree, reachable without waiting for a run to finish.
    tree: Mutex<Option<Tree>>,
    waiting: AtomicUsize,
    deleted: CancellationToken,
}

impl InterpreterContext {
    fn new(id: String, cwd: PathBuf) -> Self {
        InterpreterContext {
            id,
            cwd,
            created_at: Utc::now(),
            language: "python",
            worker: tokio::sync::Mutex::new(None),
            active: AtomicBool::new(false),
            tree: Mutex::new(None),
            waiting: AtomicUsize::new(0),
            deleted: CancellationToken::new(),
        }
    }

    /// Whether a worker is running (the default context starts its worker on first use).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn current_tree(&self) -> Option<Tree> {
        self.tree.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Signals the worker's process group (the code it runs, and its children).
    fn signal(&self, signal: Signal) {
        if let Some(tree) = self.current_tree() {
            tree.signal_group(signal);
        }
    }
}

#[derive(Debug, Clone)]
pub struct InterpreterService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    dirs: Arc<Dirs>,
    contexts: Mutex<HashMap<String, Arc<InterpreterContext>>>,
}

impl InterpreterService {
    pub fn new(ctx: &Context) -> Self {
        let default = Arc::new(InterpreterContext::new(DEFAULT_CONTEXT.to_owned(), ctx.dirs.work.clone()));
        InterpreterService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                dirs: Arc::clone(&ctx.dirs),
                contexts: Mutex::new(HashMap::from([(DEFAULT_CONTEXT.to_owned(), default)])),
            }),
        }
    }

    pub async fn shutdown(&self) {
        let contexts: Vec<_> = self.contexts().drain().map(|(_, context)| context).collect();
        for context in contexts {
            context.deleted.cancel();
            if let Some(tree) = context.current_tree() {
                tree.kill().await;
            }
        }
    }

    fn contexts(&self) -> MutexGuard<'_, HashMap<String, Arc<InterpreterContext>>> {
        self.inner.contexts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a context and starts its worker.
    pub async fn create(
        &self,
        cwd: Option<&str>,
        language: Option<&str>,
    ) -> Result<Arc<InterpreterContext>, InterpreterError> {
        if let Some(language) = language.filter(|l| !l.is_empty() && !l.eq_ignore_ascii_case("python")) {
            return Err(InterpreterError::Language(language.to_owned()));
        }
        let cwd = match cwd.filter(|cwd| !cwd.is_empty()) {
            Some(cwd) => self.inner.dirs.resolve_path(cwd),
            None => self.inner.dirs.work.clone(),
        };
        if !cwd.is_dir() {
            return Err(InterpreterError::Cwd(cwd.display().to_string()));
        }
        let context = Arc::new(InterpreterContext::new(uuid::Uuid::new_v4().to_string(), cwd));
        *context.worker.lock().await = Some(self.spawn(&context)?);
        self.contexts().insert(context.id.clone(), Arc::clone(&context));
        Ok(context)
    }

    /// Client-created contexts (the default one is not listed).
    pub fn list(&self) -> Vec<Arc<InterpreterContext>> {
        let mut contexts: Vec<_> =
            self.contexts().values().filter(|c| c.id != DEFAULT_CONTEXT).cloned().collect();
        contexts.sort_by_key(|c| c.created_at);
        contexts
    }

    pub fn get(&self, id: &str) -> Result<Arc<InterpreterContext>, InterpreterError> {
        self.contexts().get(id).cloned().ok_or_else(|| InterpreterError::NotFound(id.to_owned()))
    }

    /// Removes a context: SIGTERM to its worker's whole tree, SIGKILL to whatever is still
    /// there 2 s later. Returns once nothing of the tree is left.
    pub async fn delete(&self, id: &str) -> Result<(), InterpreterError> {
        if id == DEFAULT_CONTEXT {
            return Err(InterpreterError::DeleteDefault);
        }
        let context = self.contexts().remove(id).ok_or_else(|| InterpreterError::NotFound(id.to_owned()))?;
        context.deleted.cancel();
        if let Some(tree) = context.current_tree() {
            tree.terminate(INTERRUPT_GRACE).await;
        }
        context.active.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn spawn(&self, context: &InterpreterContext) -> Result<Worker, InterpreterError> {
        let mut last_err = None;
        for python in ["python3", "python"] {
            let mut spawn = Spawn::new(python, &context.cwd, &self.inner.env);
            spawn
                .args(["-u", "-c", WORKER])
                .stdin(ChildIo::Piped)
                .stdout(ChildIo::Piped)
                .stderr(ChildIo::Inherit);
            match spawn.spawn() {
                Ok(mut child) => {
                    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                        return Err(InterpreterError::Start("worker pipes missing".to_owned()));
                    };
                    *context.tree.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(child.tree.clone());
                    context.active.store(true, Ordering::Relaxed);
                    return Ok(Worker { tree: child.tree, stdin, stdout: BufReader::new(stdout).lines() });
                }
                Err(err) => last_err = Some(err),
            }
        }
        Err(InterpreterError::Start(last_err.map_or_else(String::new, |err| err.to_string())))
    }

    /// Runs code on a context, sending the worker's frames (JSON text) to `out`. Returns when
    /// the run is over; `client_gone` interrupts it.
    pub async fn run(
        &self,
        context: Arc<InterpreterContext>,
        request: RunRequest,
        out: mpsc::Sender<String>,
        client_gone: CancellationToken,
    ) -> Outcome {
        if context.waiting.fetch_add(1, Ordering::AcqRel) >= QUEUE_LIMIT {
            context.waiting.fetch_sub(1, Ordering::AcqRel);
            return Outcome::QueueFull;
        }
        let guard = tokio::select! {
            guard = context.worker.lock() => Some(guard),
            () = context.deleted.cancelled() => None,
            () = client_gone.cancelled() => None,
        };
        context.waiting.fetch_sub(1, Ordering::AcqRel);
        let Some(mut guard) = guard else {
            return if context.deleted.is_cancelled() { Outcome::Deleted } else { Outcome::ClientGone };
        };
        let alive = match guard.as_mut() {
            Some(worker) => worker.tree.exit().is_none(),
            None => false,
        };
        if !alive {
            *guard = None;
            match self.spawn(&context) {
                Ok(worker) => *guard = Some(worker),
                Err(err) => {
                    context.active.store(false, Ordering::Relaxed);
                    return Outcome::StartFailed(err.to_string());
                }
            }
        }
        let Some(worker) = guard.as_mut() else { return Outcome::WorkerDied };
        let (outcome, in_step) = drive(&context, worker, request, &out, &client_gone).await;
        if !in_step {
            if let Some(worker) = guard.take() {
                worker.tree.kill().await;
            }
            context.active.store(false, Ordering::Relaxed);
        }
        outcome
    }
}

/// Feeds one request to the worker and forwards its lines until its control line. The flag
/// says whether the worker ended the run with that line (so it can take the next request).
async fn drive(
    context: &InterpreterContext,
    worker: &mut Worker,
    request: RunRequest,
    out: &mpsc::Sender<String>,
    client_gone: &CancellationToken,
) -> (Outcome, bool) {
    let line = serde_json::json!({"code": request.code, "envs": request.envs}).to_string() + "\n";
    if worker.stdin.write_all(line.as_bytes()).await.is_err() || worker.stdin.flush().await.is_err() {
        return (Outcome::WorkerDied, false);
    }
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let deadline = request.timeout.map_or(far, |timeout| Instant::now() + timeout);
    let mut interrupted_at: Option<Instant> = None;
    let mut timed_out = false;
    let mut gone = false;
    loop {
        let grace_end = interrupted_at.map_or(far, |at| at + INTERRUPT_GRACE);
        tokio::select! {
            line = worker.stdout.next_line() => {
                let Ok(Some(line)) = line else { return (Outcome::WorkerDied, false) };
                let frame: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if frame["type"] == "control" {
                    if !gone {
                        let _ = out.send(line).await;
                    }
                    let outcome = if timed_out {
                        Outcome::TimedOut
                    } else if gone {
                        Outcome::ClientGone
                    } else if frame["text"] == "interrupted" {
                        Outcome::Interrupted
                    } else {
                        Outcome::Completed
                    };
                    return (outcome, true);
                }
                if !gone && out.send(line).await.is_err() {
                    gone = true;
                    context.signal(Signal::INT);
                    interrupted_at.get_or_insert_with(Instant::now);
                }
            }
            () = tokio::time::sleep_until(deadline), if !timed_out && interrupted_at.is_none() => {
                timed_out = true;
                context.signal(Signal::INT);
                interrupted_at = Some(Instant::now());
            }
            () = client_gone.cancelled(), if !gone => {
                gone = true;
                if interrupted_at.is_none() {
                    context.signal(Signal::INT);
                    interrupted_at = Some(Instant::now());
                }
            }
            () = tokio::time::sleep_until(grace_end), if interrupted_at.is_some() => {
                // Still busy after the interrupt: the worker is discarded by the caller.
                return (if timed_out { Outcome::TimedOut } else { Outcome::ClientGone }, false);
            }
            () = context.deleted.cancelled() => return (Outcome::Deleted, false),
        }
    }
}
