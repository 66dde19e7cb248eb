//! The desktop stack: Xvfb, an xfce4 session, x11vnc and noVNC, started in that order,
//! supervised, and stopped in reverse (`/computeruse/start|stop|status|process-status|process/…`).
//!
//! Owns one [`supervisor::Supervisor`] per running program and each program's log files.
//! Invariants: start, stop and restart are serialised (one async lock), so the set of running
//! supervisors only changes under it; a start that fails stops what it started, so an error
//! leaves the stack as it was; every program is preflighted (installed, settings valid) before
//! any is spawned; stopping a program leaves none of its processes behind. Settings come from
//! the daemon's environment at each start (`POST /env` applies to the next start).
//!
//! Must not know: HTTP (`routes.rs` maps [`DesktopError`]), or the desktop helper's protocol.

pub mod error;
pub mod logs;
pub mod probe;
pub mod programs;
pub mod routes;
pub mod settings;
pub mod supervisor;
pub mod types;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::computer_use::desktop::error::{DesktopError, StartFailure};
use crate::computer_use::desktop::logs::LOG_LIMIT;
use crate::computer_use::desktop::programs::{Launch, Program, Readiness};
use crate::computer_use::desktop::settings::Settings;
use crate::computer_use::desktop::supervisor::{RunState, Shared, SpawnContext, Supervisor};
use crate::environment::Environment;
use crate::state::Context;

/// How long a program may take to become ready after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between two readiness probes (they start at 10 ms and double).
const MAX_PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// One program's status as the start/stop answers report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStatus {
    pub running: bool,
    pub priority: i32,
    pub auto_restart: bool,
    pub pid: Option<i32>,
    pub restarts: u32,
}

/// The stack as a whole: every program running, some, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackState {
    Active,
    Partial,
    Inactive,
}

impl StackState {
    pub fn as_str(self) -> &'static str {
        match self {
            StackState::Active => "active",
            StackState::Partial => "partial",
            StackState::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DesktopService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    cwd: PathBuf,
    loopback: bool,
    overrides: BTreeMap<Program, String>,
    slots: Vec<Slot>,
    ops: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
}

#[derive(Debug)]
struct Slot {
    shared: Arc<Shared>,
    /// Taken and replaced only while `ops` is held; the lock itself is never held across an
    /// await.
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    supervisor: Supervisor,
    launch: Launch,
    settings: Settings,
}

impl DesktopService {
    pub fn new(ctx: &Context) -> Self {
        let log_dir = ctx.dirs.data.join("computeruse");
        if let Err(err) = std::fs::create_dir_all(&log_dir) {
            tracing::warn!("cannot create {}: {err}", log_dir.display());
        }
        let config = &ctx.config;
        let overrides = [
            (Program::Xvfb, &config.xvfb_command),
            (Program::Xfce4, &config.xfce4_command),
            (Program::X11vnc, &config.x11vnc_command),
            (Program::Novnc, &config.novnc_command),
        ]
        .into_iter()
        .filter_map(|(program, command)| command.clone().map(|c| (program, c)))
        .collect();
        DesktopService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                cwd: ctx.dirs.work.clone(),
                loopback: config.bind.is_loopback(),
                overrides,
                slots: Program::ALL
                    .into_iter()
                    .map(|program| Slot {
                        shared: Arc::new(Shared::new(program, &log_dir)),
                        running: Mutex::new(None),
                    })
                    .collect(),
                ops: tokio::sync::Mutex::new(()),
                shutdown: ctx.shutdown.clone(),
            }),
        }
    }

    /// Starts every program that is not running, in order, each once the previous is ready.
    /// On failure, stops what this call started and reports the first program that failed.
    pub async fn start(&self) -> Result<BTreeMap<&'static str, ProgramStatus>, DesktopError> {
        let _ops = self.inner.ops.lock().await;
        let settings = self.settings().map_err(DesktopError::Start)?;
        let launches = Program::ALL
            .into_iter()
            .map(|program| self.resolve(program, &settings))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DesktopError::Start)?;
        let mut started = Vec::new();
        for launch in launches {
            let slot = self.slot(launch.program);
            if slot.shared.state().pid.is_some() {
                continue;
            }
            // A supervisor that gave up is still registered; replace it.
            self.stop_slot(slot).await;
            if let Err(failure) = self.launch(slot, launch, &settings).await {
                for program in started.into_iter().rev() {
                    self.stop_slot(self.slot(program)).await;
                }
                return Err(DesktopError::Start(failure));
            }
            started.push(slot.shared.program);
        }
        Ok(self.statuses())
    }

    /// Stops every program, in reverse order, with everything each one started.
    pub async fn stop(&self) -> BTreeMap<&'static str, ProgramStatus> {
        let _ops = self.inner.ops.lock().await;
        for program in Program::ALL.into_iter().rev() {
            self.stop_slot(self.slot(program)).await;
        }
        self.statuses()
    }

    /// Stops one program (if it runs) and starts it again, waiting until it is ready. Uses the
    /// settings of the last start, or the environment's when the stack never started.
    pub async fn restart(&self, name: &str) -> Result<Program, DesktopError> {
        let program = parse_program(name)?;
        let _ops = self.inner.ops.lock().await;
        let slot = self.slot(program);
        let previous = slot.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        let failed = |failure| DesktopError::Restart { name: program.name(), failure };
        let (launch, settings) = match previous {
            Some(running) => {
                running.supervisor.stop().await;
                (running.launch, running.settings)
            }
            None => {
                let settings = self.settings().map_err(failed)?;
                (self.resolve(program, &settings).map_err(failed)?, settings)
            }
        };
        self.launch(slot, launch, &settings).await.map_err(failed)?;
        Ok(program)
    }

    pub fn stack_state(&self) -> StackState {
        let running = self.inner.slots.iter().filter(|slot| slot.shared.state().pid.is_some()).count();
        match running {
            0 => StackState::Inactive,
            n if n == self.inner.slots.len() => StackState::Active,
            _ => StackState::Partial,
        }
    }

    pub fn statuses(&self) -> BTreeMap<&'static str, ProgramStatus> {
        Program::ALL.into_iter().map(|program| (program.name(), self.program_status(program))).collect()
    }

    pub fn process_status(&self, name: &str) -> Result<(Program, ProgramStatus), DesktopError> {
        let program = parse_program(name)?;
        Ok((program, self.program_status(program)))
    }

    /// The program's stdout log (at most [`LOG_LIMIT`] bytes, the newest).
    pub async fn logs(&self, name: &str) -> Result<(Program, String), DesktopError> {
        let program = parse_program(name)?;
        let log = &self.slot(program).shared.stdout;
        let text = log.tail(LOG_LIMIT).await.map_err(|source| DesktopError::ReadLog {
            name: program.name(),
            what: "log",
            source,
        })?;
        Ok((program, text))
    }

    /// The program's stderr log and the supervisor's notes (at most [`LOG_LIMIT`] bytes).
    pub async fn errors(&self, name: &str) -> Result<(Program, String), DesktopError> {
        let program = parse_program(name)?;
        let log = &self.slot(program).shared.stderr;
        let text = log.tail(LOG_LIMIT).await.map_err(|source| DesktopError::ReadLog {
            name: program.name(),
            what: "error log",
            source,
        })?;
        Ok((program, text))
    }

    /// Stops the whole stack; called once when the daemon shuts down.
    pub async fn shutdown(&self) {
        self.stop().await;
    }

    fn slot(&self, program: Program) -> &Slot {
        // `slots` is built from `Program::ALL`, in the same order.
        &self.inner.slots[Program::ALL.iter().position(|p| *p == program).unwrap_or(0)]
    }

    fn program_status(&self, program: Program) -> ProgramStatus {
        let RunState { pid, restarts, .. } = self.slot(program).shared.state();
        ProgramStatus {
            running: pid.is_some(),
            priority: program.priority(),
            auto_restart: true,
            pid,
            restarts,
        }
    }

    fn settings(&self) -> Result<Settings, StartFailure> {
        Settings::from_env(&self.inner.env, crate::computer_use::display(&self.inner.env))
    }

    fn resolve(&self, program: Program, settings: &Settings) -> Result<Launch, StartFailure> {
        let (command, is_default) = match self.inner.overrides.get(&program) {
            Some(command) => (command.clone(), false),
            None => (program.default_command(self.inner.loopback), true),
        };
        let path = self.inner.env.get("PATH");
        programs::resolve(program, &command, is_default, &settings.vars(), path.as_ref())
    }

    async fn stop_slot(&self, slot: &Slot) {
        let running = slot.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(running) = running {
            running.supervisor.stop().await;
        }
    }

    /// Spawns the program under a new supervisor and waits until it is ready; on failure the
    /// supervisor is stopped again.
    async fn launch(&self, slot: &Slot, launch: Launch, settings: &Settings) -> Result<(), StartFailure> {
        let program = launch.program;
        if self.inner.shutdown.is_cancelled() {
            return Err(StartFailure::ShuttingDown);
        }
        preflight(program, settings).await?;
        let ctx = SpawnContext {
            env: self.inner.env.clone(),
            cwd: self.inner.cwd.clone(),
            vars: settings.vars().into_iter().collect(),
        };
        let (first_tx, first_rx) = oneshot::channel();
        let supervisor = Supervisor::start(Arc::clone(&slot.shared), launch.clone(), ctx, first_tx);
        let settings_copy = settings.clone();
        *slot.running.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Running { supervisor, launch, settings: settings_copy });
        let began = Instant::now();
        let ready = match first_rx.await {
            Ok(Ok(pid)) => {
                let ready = wait_ready(&slot.shared, pid, program.readiness(settings), settings).await;
                if ready.is_ok() {
                    let ms = began.elapsed().as_millis();
                    tracing::info!(program = program.name(), pid, ms, "{} ready in {ms} ms", program.name());
                }
                ready
            }
            Ok(Err(source)) => Err(StartFailure::Spawn { program: program.name(), source }),
            Err(_) => Err(StartFailure::ShuttingDown),
        };
        if ready.is_err() {
            self.stop_slot(slot).await;
        }
        ready
    }
}

fn parse_program(name: &str) -> Result<Program, DesktopError> {
    Program::from_name(name).ok_or_else(|| DesktopError::UnknownProcess(name.to_owned()))
}

/// Refuses to start a server where another process already serves, which would otherwise
/// surface as the program exiting with a bind error.
async fn preflight(program: Program, settings: &Settings) -> Result<(), StartFailure> {
    let busy = match program.readiness(settings) {
        Readiness::XDisplay => probe::x_server_answers(&settings.x_socket()).await.then(|| {
            format!("display {} (an X server answers on {})", settings.display, settings.x_socket().display())
        }),
        Readiness::Port(port) => probe::port_answers(port).await.then(|| format!("port {port}")),
        Readiness::Started => None,
    };
    match busy {
        Some(what) => Err(StartFailure::InUse { program: program.name(), what }),
        None => Ok(()),
    }
}

/// Probes until the program answers, it dies, or [`READY_TIMEOUT`] passes.
async fn wait_ready(
    shared: &Shared,
    pid: i32,
    readiness: Readiness,
    settings: &Settings,
) -> Result<(), StartFailure> {
    let program = shared.program.name();
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut interval = Duration::from_millis(10);
    loop {
        if shared.state().pid != Some(pid) {
            let detail = shared.stderr.tail(2048).await.unwrap_or_default();
            return Err(StartFailure::Exited { program, detail: detail.trim().to_owned() });
        }
        let ready = match readiness {
            Readiness::XDisplay => probe::x_server_answers(&settings.x_socket()).await,
            Readiness::Port(port) => probe::port_answers(port).await,
            Readiness::Started => true,
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let detail = match readiness {
                Readiness::XDisplay => format!("no X server answers on {}", settings.x_socket().display()),
                Readiness::Port(port) => format!("nothing accepts connections on port {port}"),
                Readiness::Started => String::new(),
            };
            return Err(StartFailure::NotReady { program, timeout: READY_TIMEOUT, detail });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_PROBE_INTERVAL);
    }
}
