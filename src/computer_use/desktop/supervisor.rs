//! One program's supervisor: a task that runs the program, copies its output into its log
//! files, restarts it with backoff when it dies, gives up after too many quick deaths, and on
//! stop takes down everything the program started.
//!
//! Every process of a program carries the environment entry `TOOLBOXD_DESKTOP=<instance>/<name>`
//! (inherited by everything it starts). Killing the process group and the descendants of the
//! leader misses the daemons a desktop session double-forks away (dbus-daemon, xfconfd…); the
//! marker finds them in `/proc/*/environ` wherever they were reparented.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::computer_use::desktop::logs::LogFile;
use crate::computer_use::desktop::programs::{Launch, Program};
use crate::environment::Environment;
use crate::sys::tree;

/// The environment variable that marks every process of the stack.
pub const MARKER_VAR: &str = "TOOLBOXD_DESKTOP";

/// A run that lasted this long was not a quick failure; the backoff starts over.
const STABLE_RUN: Duration = Duration::from_secs(30);
/// Quick failures in a row after which the supervisor gives up until a restart or start.
const MAX_QUICK_FAILURES: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a program gets to exit after SIGTERM before its tree is killed.
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
    /// This daemon's marker prefix; the program's name completes it.
    pub instance: String,
}

impl SpawnContext {
    pub fn marker(&self, program: Program) -> String {
        format!("{}/{}", self.instance, program.name())
    }
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
    let marker = ctx.marker(shared.program);
    let mut first = Some(first);
    let mut quick_failures = 0;
    shared.state.send_modify(|s| s.gave_up = false);
    loop {
        let started = Instant::now();
        let mut cmd = crate::process::command::command(&ctx.env, &launch.executable, &ctx.cwd);
        cmd.args(&launch.args)
            .envs(ctx.vars.iter().map(|(k, v)| (k, v)))
            .env(MARKER_VAR, &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
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
        let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else { return };
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
            status = child.wait() => Some(status),
            () = stop.cancelled() => None,
        };
        match exited {
            None => {
                terminate(&mut child, pid).await;
                sweep(&marker).await;
                drain(&mut pumps).await;
                shared.stderr.note(&format!("{name} stopped")).await;
                shared.state.send_modify(|s| s.pid = None);
                return;
            }
            Some(status) => {
                // The leader is gone; whatever it started goes too before the next run.
                sweep(&marker).await;
                drain(&mut pumps).await;
                let status = status.map_or_else(|err| err.to_string(), |s| s.to_string());
                shared.stderr.note(&format!("{name} exited ({status})")).await;
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

/// SIGTERM to the program's tree, then SIGKILL to whatever is left after the grace period.
/// The leader is reaped only at the end, so its pid (and process group id) stays ours.
async fn terminate(child: &mut tokio::process::Child, pid: i32) {
    let _ = tokio::task::spawn_blocking(move || tree::signal_tree(pid, true, Signal::TERM)).await;
    if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
        let _ = tokio::task::spawn_blocking(move || tree::kill_tree(pid)).await;
        let _ = child.wait().await;
    }
}

/// Kills every process carrying `marker` until none is left (bounded: a process that keeps
/// forking is given up on after a while, and logged).
async fn sweep(marker: &str) {
    let entry = format!("{MARKER_VAR}={marker}").into_bytes();
    let result = tokio::task::spawn_blocking(move || {
        for _ in 0..40 {
            let found = marked(&entry);
            if found.is_empty() {
                return Ok(());
            }
            for pid in &found {
                if let Some(pid) = rustix::process::Pid::from_raw(*pid) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(marked(&entry))
    })
    .await;
    if let Ok(Err(left)) = result {
        tracing::warn!("desktop processes {left:?} survived SIGKILL");
    }
}

/// Live (non-zombie) processes whose environment holds `entry` exactly.
pub fn marked(entry: &[u8]) -> Vec<i32> {
    let own = std::process::id();
    tree::snapshot()
        .into_iter()
        .filter(|p| p.state != 'Z' && u32::try_from(p.pid).is_ok_and(|pid| pid != own))
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|environ| environ.split(|b| *b == 0).any(|var| var == entry))
        })
        .map(|p| p.pid)
        .collect()
}

/// Lets the output pumps copy what is left in the pipes; a pipe still held open by a process
/// that escaped the sweep must not keep the supervisor waiting.
async fn drain(pumps: &mut JoinSet<()>) {
    let all = async { while pumps.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_GRACE, all).await.is_err() {
        pumps.abort_all();
    }
}
