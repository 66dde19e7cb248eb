//! One program's supervisor: a task that runs the program, copies its output into its log
//! files, restarts it with backoff when it dies, gives up after too many quick deaths, and on
//! stop takes down everything the program started.
//!
//! Each run is one `process::owner` tree. A desktop session double-forks daemons away from its
//! process group and parent chain (dbus-daemon, xfconfd…); the owner still counts them as the
//! tree's (its tag is inherited), so killing the tree after the leader dies, or on stop, leaves
//! none of them behind.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::computer_use::desktop::logs::LogFile;
use crate::computer_use::desktop::programs::{Launch, Program};
use crate::environment::Environment;
use crate::process::owner::{ChildIo, Exit, Spawn};

/// A run that lasted this long was not a quick failure; the backoff starts over.
const STABLE_RUN: Duration = Duration::from_secs(30);
/// Quick failures in a row after which the supervisor gives up until a restart or start.
const MAX_QUICK_FAILURES: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a program's tree gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long the output pumps get to drain after the program is gone.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// What the status endpoints report about one program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunState {
    /// The running process, if any.
    pub pid: Option<i32>,
    /// Automatic restarts since the daemon started.
    pub restarts: u32,
    /// Set when the supervisor stopped restarting after too many quick failures.
    pub gave_up: bool,
}

/// A program's log files and published state; lives as long as the service.
#[derive(Debug)]
pub struct Shared {
    pub program: Program,
    pub stdout: LogFile,
    pub stderr: LogFile,
    state: watch::Sender<RunState>,
}

impl Shared {
    pub fn new(program: Program, log_dir: &std::path::Path) -> Self {
        Shared {
            program,
            stdout: LogFile::new(log_dir.join(format!("{}.log", program.name()))),
            stderr: LogFile::new(log_dir.join(format!("{}.err", program.name()))),
            state: watch::Sender::new(RunState::default()),
        }
    }

    pub fn state(&self) -> RunState {
        self.state.borrow().clone()
    }
}

/// Where and how a program's processes start.
#[derive(Debug, Clone)]
pub struct SpawnContext {
    pub env: Environment,
    pub cwd: PathBuf,
    /// `DISPLAY`, `VNC_*`: set for every program.
    pub vars: Vec<(&'static str, String)>,
}

/// A running supervisor; [`Supervisor::stop`] ends it and everything it started.
#[derive(Debug)]
pub struct Supervisor {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Starts supervising; `first` receives the pid of the first run or why it did not spawn.
    pub fn start(
        shared: Arc<Shared>,
        launch: Launch,
        ctx: SpawnContext,
        first: oneshot::Sender<std::io::Result<i32>>,
    ) -> Supervisor {
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(shared, launch, ctx, stop.clone(), first));
        Supervisor { stop, task }
    }

    /// Stops the program (SIGTERM to its tree, SIGKILL after a grace period) and waits until
    /// none of its processes is left.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(err) = self.task.await {
            tracing::error!("a desktop supervisor failed: {err}");
        }
    }
}

async fn supervise(
    shared: Arc<Shared>,
    launch: Launch,
    ctx: SpawnContext,
    stop: CancellationToken,
    first: oneshot::Sender<std::io::Result<i32>>,
) {
    let name = shared.program.name();
    let mut first = Some(first);
    let mut quick_failures = 0;
    shared.state.send_modify(|s| s.gave_up = false);
    loop {
        let started = Instant::now();
        let mut spawn = Spawn::new(&launch.executable, &ctx.cwd, &ctx.env);
        spawn
            .args(&launch.args)
            .envs(ctx.vars.iter().map(|(k, v)| (k, v)))
            .stdout(ChildIo::Piped)
            .stderr(ChildIo::Piped);
        let mut child = match spawn.spawn() {
            Ok(child) => child,
            Err(err) => {
                shared.stderr.note(&format!("cannot start {name} ({}): {err}", launch.command_line)).await;
                match first.take() {
                    // A start that cannot even spawn fails at once instead of retrying.
                    Some(first) => {
                        let _ = first.send(Err(err));
                        return;
                    }
                    None => {
                        quick_failures += 1;
                        if !backoff(&shared, &stop, quick_failures).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let tree = child.tree.clone();
        let pid = tree.pid();
        shared.state.send_modify(|s| s.pid = Some(pid));
        if let Some(first) = first.take() {
            let _ = first.send(Ok(pid));
        }
        let mut pumps = JoinSet::new();
        if let Some(out) = child.stdout.take() {
            let log = shared.stdout.clone();
            pumps.spawn(async move { log.pump(out).await });
        }
        if let Some(err) = child.stderr.take() {
            let log = shared.stderr.clone();
            pumps.spawn(async move { log.pump(err).await });
        }

        let exited = tokio::select! {
            exit = tree.wait() => Some(exit),
            () = stop.cancelled() => None,
        };
        match exited {
            None => {
                tree.terminate(STOP_GRACE).await;
                drain(&mut pumps).await;
                shared.stderr.note(&format!("{name} stopped")).await;
                shared.state.send_modify(|s| s.pid = None);
                return;
            }
            Some(exit) => {
                // The leader is gone; whatever it started goes too before the next run.
                tree.kill().await;
                drain(&mut pumps).await;
                shared.stderr.note(&format!("{name} exited ({})", describe(exit))).await;
                shared.state.send_modify(|s| s.pid = None);
            }
        }
        if started.elapsed() >= STABLE_RUN {
            quick_failures = 0;
        }
        quick_failures += 1;
        if !backoff(&shared, &stop, quick_failures).await {
            return;
        }
    }
}

/// Waits before the next run; false when the supervisor should end instead (stopped, or too
/// many quick failures).
async fn backoff(shared: &Shared, stop: &CancellationToken, quick_failures: u32) -> bool {
    let name = shared.program.name();
    if stop.is_cancelled() {
        return false;
    }
    if quick_failures > MAX_QUICK_FAILURES {
        shared
            .stderr
            .note(&format!(
                "{name} failed {MAX_QUICK_FAILURES} times in a row; not restarting it again \
                 (POST /computeruse/process/{name}/restart or /computeruse/start to try again)"
            ))
            .await;
        shared.state.send_modify(|s| s.gave_up = true);
        return false;
    }
    let delay = FIRST_BACKOFF.saturating_mul(1 << (quick_failures - 1).min(8)).min(MAX_BACKOFF);
    shared.stderr.note(&format!("restarting {name} in {} ms", delay.as_millis())).await;
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = stop.cancelled() => return false,
    }
    shared.state.send_modify(|s| s.restarts += 1);
    true
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exit code {code}"),
        Exit::Signal(signal) => format!("killed by signal {signal}"),
    }
}

/// Lets the output pumps copy what is left in the pipes; a pipe still held open by a process
/// that escaped the sweep must not keep the supervisor waiting.
async fn drain(pumps: &mut JoinSet<()>) {
    let all = async { while pumps.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_GRACE, all).await.is_err() {
        pumps.abort_all();
    }
}
