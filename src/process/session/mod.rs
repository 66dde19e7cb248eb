//! Persistent shell sessions with logs kept on disk, and the entrypoint session.
//!
//! Owns: the session table, one long-lived shell per session (`shell`), each command's
//! directory `<data>/sessions/<sessionId>/<commandId>/` with `cmd.sh`, `output.log`,
//! `exit_code` and FIFOs (`command`), the log format and its readers (`log`, `follow`), and the
//! `entrypoint` session that runs the image's entrypoint (`entrypoint`).
//!
//! Invariants: logs are appended to disk by one pump task per command and only ever read back
//! in bounded pieces (capped JSON bodies, 16 KiB stream chunks), so they survive a client
//! disconnect and never sit whole in memory; a deleted session leaves no process behind; a
//! session whose shell exited answers `SESSION_ENDED` instead of hanging. This module knows no
//! HTTP: `routes.rs` picks the client's log format from its SDK version and maps
//! `SessionError` to the contract's statuses.

pub mod command;
pub mod entrypoint;
pub mod follow;
pub mod log;
pub mod routes;
pub mod shell;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Dirs;
use crate::environment::Environment;
use crate::error::{ApiError, ErrorCode};
use crate::process::session::command::{Command, InputError};
use crate::process::session::follow::LogTail;
use crate::process::session::shell::Session;
use crate::state::Context;

pub const ENTRYPOINT_SESSION: &str = "entrypoint";
pub const ENTRYPOINT_COMMAND: &str = "entrypoint_command";

/// How long a sync exec waits for output still in flight after the command finished; a
/// background job may keep the output pipes open for good.
const DRAIN_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "invalid session id {0:?}: it names a directory, so it must be 1 to {MAX_ID_BYTES} bytes, not . or .., and contain no '/' or NUL"
    )]
    InvalidId(String),
    #[error("session id entrypoint is reserved for the image's entrypoint")]
    ReservedId,
    #[error("can't {0} entrypoint session")]
    Entrypoint(&'static str),
    #[error("session already exists")]
    AlreadyExists,
    #[error("session not found")]
    NotFound,
    #[error("command not found")]
    CommandNotFound,
    #[error("command cannot be empty")]
    EmptyCommand,
    #[error("session ended: its shell has exited")]
    Ended,
    #[error("session cancelled")]
    Cancelled,
    #[error("command has already completed with exit code {0}")]
    Completed(i32),
    #[error("command does not accept input: it was started synchronously")]
    NotInteractive,
    #[error("the command is not reading its input (its input buffer is full)")]
    NotReading,
    #[error("command has not started yet")]
    NotStarted,
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::InvalidId(_)
            | SessionError::ReservedId
            | SessionError::Entrypoint(_)
            | SessionError::EmptyCommand
            | SessionError::Cancelled
            | SessionError::UnknownSignal(_) => ApiError::bad_request(message),
            SessionError::AlreadyExists
            | SessionError::NotInteractive
            | SessionError::NotStarted
            | SessionError::NotReading => ApiError::conflict(message),
            SessionError::NotFound | SessionError::CommandNotFound => {
                ApiError::new(ErrorCode::ProcessNotFound, message)
            }
            SessionError::Ended => ApiError::new(ErrorCode::SessionEnded, message),
            SessionError::Completed(_) => ApiError::new(ErrorCode::CommandAlreadyCompleted, message),
            SessionError::Io(io) => ApiError::internal(io.to_string()),
        }
    }
}

impl From<InputError> for SessionError {
    fn from(err: InputError) -> Self {
        match err {
            InputError::Completed(code) => SessionError::Completed(code),
            InputError::NotInteractive => SessionError::NotInteractive,
            InputError::NotReading => SessionError::NotReading,
            InputError::Io(io) => SessionError::Io(io),
        }
    }
}

/// A command as listed: `exit_code` is `None` while it runs.
#[derive(Debug, Clone)]
pub struct CommandInfo {
    pub id: String,
    pub command: String,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub commands: Vec<CommandInfo>,
}

/// What an exec produced.
#[derive(Debug)]
pub enum ExecResult {
    Started { cmd_id: String },
    Finished { cmd_id: String, exit_code: i32, log: Vec<u8> },
}

fn info(cmd: &Command) -> CommandInfo {
    CommandInfo { id: cmd.id.clone(), command: cmd.text.clone(), exit_code: cmd.exit_code() }
}

fn session_info(session: &Session) -> SessionInfo {
    SessionInfo { id: session.id.clone(), commands: session.commands().iter().map(|c| info(c)).collect() }
}

/// The longest file name Linux file systems take (`NAME_MAX`); a session id names a directory.
const MAX_ID_BYTES: usize = 255;

fn check_id(id: &str) -> Result<(), SessionError> {
    if id.is_empty()
        || id.len() > MAX_ID_BYTES
        || id == "."
        || id == ".."
        || id.contains('/')
        || id.contains('\0')
    {
        return Err(SessionError::InvalidId(id.to_owned()));
    }
    Ok(())
}

fn duration_env(env: &Environment, name: &str, default: Duration, min: Duration) -> Duration {
    env.get(name).and_then(|v| v.to_str().and_then(parse_go_duration)).map_or(default, |d| d.max(min))
}

/// Parses the simple Go durations the reference daemon accepts here: `5s`, `100ms`, `1m`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[derive(Debug, Clone)]
pub struct SessionService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    dirs: Arc<Dirs>,
    root: PathBuf,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    output_limit: usize,
    grace: Duration,
    interval: Duration,
}

impl SessionService {
    pub fn new(ctx: &Context) -> Self {
        let root = entrypoint::sessions_root(&ctx.dirs.data);
        // Logs of a previous daemon run belong to shells that no longer exist.
        if let Err(err) = std::fs::remove_dir_all(&root) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot clear old session logs in {}: {err}", root.display());
            }
        }
        let service = SessionService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                dirs: ctx.dirs.clone(),
                root,
                sessions: Mutex::new(HashMap::new()),
                output_limit: ctx.config.exec_output_limit.max(2),
                grace: duration_env(
                    &ctx.env,
                    "DAYTONA_TERMINATION_GRACE_PERIOD",
                    Duration::from_secs(5),
                    Duration::from_secs(1),
                ),
                interval: duration_env(
                    &ctx.env,
                    "DAYTONA_TERMINATION_CHECK_INTERVAL",
                    Duration::from_millis(100),
                    Duration::from_millis(1),
                ),
            }),
        };
        if !ctx.config.entrypoint.is_empty() {
            let text = ctx
                .config
                .entrypoint
                .iter()
                .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
                .collect::<Vec<_>>()
                .join(" ");
            let service = service.clone();
            tokio::spawn(async move {
                if let Err(err) = service.start_entrypoint(text).await {
                    tracing::error!("cannot start the entrypoint: {err}");
                }
            });
        }
        service
    }

    pub async fn shutdown(&self) {
        let sessions: Vec<Arc<Session>> =
            self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, s)| s).collect();
        for session in sessions {
            session.deleted.cancel();
            session.kill().await;
        }
    }

    fn lookup(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or(SessionError::NotFound)
    }

    fn start_session(&self, id: &str, legacy_cwd: bool) -> Result<Arc<Session>, SessionError> {
        check_id(id)?;
        let mut sessions = self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.contains_key(id) {
            return Err(SessionError::AlreadyExists);
        }
        let cwd = match (&self.inner.dirs.home, legacy_cwd) {
            (Some(home), true) => home.clone(),
            _ => self.inner.dirs.work.clone(),
        };
        let shell = crate::process::exec::shell::current(&self.inner.env);
        let session = Session::start(id.to_owned(), self.inner.root.join(id), &self.inner.env, &shell, &cwd)?;
        sessions.insert(id.to_owned(), session.clone());
        Ok(session)
    }

    /// Starts a session; `legacy_cwd` (SDKs before 0.103.0) starts its shell in `$HOME`.
    pub fn create(&self, id: &str, legacy_cwd: bool) -> Result<(), SessionError> {
        if id == ENTRYPOINT_SESSION {
            return Err(SessionError::ReservedId);
        }
        self.start_session(id, legacy_cwd).map(|_| ())
    }

    /// Every session but the entrypoint.
    pub fn list(&self) -> Vec<SessionInfo> {
        let sessions = self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.values().filter(|s| s.id != ENTRYPOINT_SESSION).map(|s| session_info(s)).collect()
    }

    pub fn get(&self, id: &str) -> Result<SessionInfo, SessionError> {
        self.lookup(id).map(|s| session_info(&s))
    }

    /// Stops the session's whole process tree and removes its logs.
    pub async fn delete(&self, id: &str) -> Result<(), SessionError> {
        if id == ENTRYPOINT_SESSION {
            return Err(SessionError::Entrypoint("delete"));
        }
        let session = self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let session = session.ok_or(SessionError::NotFound)?;
        session.deleted.cancel();
        session.terminate(self.inner.grace, self.inner.interval).await;
        let dir = session.dir.clone();
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await.ok();
        Ok(())
    }

    pub async fn exec(
        &self,
        session_id: &str,
        text: &str,
        run_async: bool,
        suppress_echo: bool,
    ) -> Result<ExecResult, SessionError> {
        if session_id == ENTRYPOINT_SESSION {
            return Err(SessionError::Entrypoint("execute commands in"));
        }
        let session = self.lookup(session_id)?;
        if text.trim().is_empty() {
            return Err(SessionError::EmptyCommand);
        }
        self.run(&session, uuid::Uuid::new_v4().to_string(), text, run_async, suppress_echo).await
    }

    async fn run(
        &self,
        session: &Arc<Session>,
        cmd_id: String,
        text: &str,
        run_async: bool,
        suppress_echo: bool,
    ) -> Result<ExecResult, SessionError> {
        if session.ended().is_some() {
            return Err(SessionError::Ended);
        }
        let dir = session.dir.join(&cmd_id);
        let cmd =
            Arc::new(Command::prepare(cmd_id.clone(), text.to_owned(), dir, run_async, suppress_echo).await?);
        session.submit(cmd.clone()).await.map_err(|_| SessionError::Ended)?;
        if run_async {
            return Ok(ExecResult::Started { cmd_id });
        }
        let exit_code = tokio::select! {
            code = cmd.wait() => code,
            () = session.deleted.cancelled() => {
                cmd.finish(1);
                return Err(SessionError::Cancelled);
            }
        };
        cmd.wait_drained(DRAIN_GRACE).await;
        let log = self.read_log(&cmd).await?;
        Ok(ExecResult::Finished { cmd_id, exit_code, log })
    }

    async fn read_log(&self, cmd: &Command) -> Result<Vec<u8>, SessionError> {
        let path = cmd.log_path();
        let limit = self.inner.output_limit;
        let read = tokio::task::spawn_blocking(move || log::read_capped(&path, limit)).await;
        read.map_err(|e| SessionError::Io(std::io::Error::other(e)))?.map_err(SessionError::Io)
    }

    fn command(&self, session_id: &str, cmd_id: &str) -> Result<(Arc<Session>, Arc<Command>), SessionError> {
        let session = self.lookup(session_id)?;
        let cmd = session.command(cmd_id).ok_or(SessionError::CommandNotFound)?;
        Ok((session, cmd))
    }

    pub fn get_command(&self, session_id: &str, cmd_id: &str) -> Result<CommandInfo, SessionError> {
        self.command(session_id, cmd_id).map(|(_, cmd)| info(&cmd))
    }

    /// The command's log so far (bounded by the output limit).
    pub async fn logs(&self, session_id: &str, cmd_id: &str) -> Result<Vec<u8>, SessionError> {
        let (_, cmd) = self.command(session_id, cmd_id)?;
        self.read_log(&cmd).await
    }

    /// A cursor over the command's log from its start.
    pub async fn tail(&self, session_id: &str, cmd_id: &str, follow: bool) -> Result<LogTail, SessionError> {
        let (session, cmd) = self.command(session_id, cmd_id)?;
        Ok(LogTail::open(cmd, session.deleted.clone(), follow).await?)
    }

    pub async fn send_input(&self, session_id: &str, cmd_id: &str, data: &str) -> Result<(), SessionError> {
        if session_id == ENTRYPOINT_SESSION {
            return Err(SessionError::Entrypoint("send input to"));
        }
        let (session, cmd) = self.command(session_id, cmd_id)?;
        if let Some(code) = cmd.exit_code() {
            return Err(SessionError::Completed(code));
        }
        if session.ended().is_some() {
            return Err(SessionError::Ended);
        }
        Ok(cmd.send_input(data).await?)
    }

    /// Sends `signal` to every process the session shell has started (the running command and
    /// any background jobs); the shell itself is spared so the session survives.
    pub async fn signal(&self, session_id: &str, cmd_id: &str, signal: &str) -> Result<(), SessionError> {
        let sig = crate::sys::tree::signal_from_name(signal)
            .ok_or_else(|| SessionError::UnknownSignal(signal.to_owned()))?;
        let (session, cmd) = self.command(session_id, cmd_id)?;
        if let Some(code) = cmd.exit_code() {
            return Err(SessionError::Completed(code));
        }
        if !cmd.is_running() {
            return Err(SessionError::NotStarted);
        }
        session.tree.signal_tree(sig, false).await;
        Ok(())
    }

    /// Waits until the command exits, or `timeout` passes; returns its state either way.
    pub async fn wait(
        &self,
        session_id: &str,
        cmd_id: &str,
        timeout: Option<Duration>,
    ) -> Result<CommandInfo, SessionError> {
        let (session, cmd) = self.command(session_id, cmd_id)?;
        let waiting = async {
            tokio::select! {
                _ = cmd.wait() => {}
                () = session.deleted.cancelled() => {}
            }
        };
        match timeout {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, waiting).await;
            }
            None => waiting.await,
        }
        Ok(info(&cmd))
    }

    async fn start_entrypoint(&self, text: String) -> Result<(), SessionError> {
        let session = self.start_session(ENTRYPOINT_SESSION, false)?;
        self.run(&session, ENTRYPOINT_COMMAND.to_owned(), &text, true, true).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("x"), None);
    }

    #[test]
    fn session_ids_cannot_escape_the_sessions_dir() {
        assert!(check_id("a-b_c.1").is_ok());
        assert!(check_id(&"a".repeat(255)).is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b", &"a".repeat(256)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
