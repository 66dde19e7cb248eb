//! A child process attached to a remote client (an SSH channel, a web-terminal socket).
//!
//! Both kinds start the same way: the daemon's environment (`POST /env`) plus the client's
//! variables, the work dir, a process group (or, with a terminal, a session) of its own. Input
//! arrives on a bounded queue, output leaves on bounded queues, and dropping the [`Child`] kills
//! its whole process tree, so nothing outlives the channel or socket that started it.
//!
//! Pipes go through `process::command`; terminals through `portable-pty`, as the PTY area does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::environment::Environment;
use crate::process::command::command;

/// Largest chunk read from a child's output at once.
pub const CHUNK: usize = 32 * 1024;
/// Chunks queued towards the child's input or from its output before the producer waits.
pub const QUEUE: usize = 16;

/// A terminal for the child.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub term: String,
    pub cols: u16,
    pub rows: u16,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Set over the daemon's environment.
    pub env: BTreeMap<String, String>,
    pub terminal: Option<Terminal>,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(u32),
    Signal { number: i32, core_dumped: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot open a terminal: {0}")]
    Terminal(String),
    #[error("cannot start {program}: {detail}")]
    Start { program: String, detail: String },
}

/// A running child. Dropping it kills the child and everything it started.
pub struct Child {
    pid: i32,
    /// Input for the child; dropping it closes a pipe's input (EOF).
    pub input: Option<mpsc::Sender<Bytes>>,
    pub stdout: mpsc::Receiver<Bytes>,
    /// Separate only without a terminal.
    pub stderr: Option<mpsc::Receiver<Bytes>>,
    /// Resolves once the child has exited.
    pub exit: oneshot::Receiver<Exit>,
    master: Option<Mutex<Box<dyn MasterPty + Send>>>,
    /// Set once the child has been waited for: its pid may then belong to someone else.
    reaped: Arc<AtomicBool>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child").field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl Child {
    pub fn spawn(env: &Environment, spec: Spec) -> Result<Child, SpawnError> {
        match spec.terminal.clone() {
            Some(terminal) => spawn_terminal(env, spec, &terminal),
            None => spawn_piped(env, spec),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Moves the output queue out (to a task of its own); the child keeps a closed one.
    pub fn take_stdout(&mut self) -> mpsc::Receiver<Bytes> {
        std::mem::replace(&mut self.stdout, mpsc::channel(1).1)
    }

    /// Changes the terminal's size; a child without a terminal has none to change.
    pub fn resize(&self, cols: u16, rows: u16) {
        if let Some(master) = &self.master {
            let master = master.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(err) = master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }) {
                tracing::debug!(pid = self.pid, "terminal resize failed: {err}");
            }
        }
    }

    /// Sends `signal` to the child's process group (its jobs included).
    pub fn signal(&self, signal: rustix::process::Signal) {
        if let Some(group) = rustix::process::Pid::from_raw(self.pid) {
            // The group may be gone already; that is no error for the client.
            let _ = rustix::process::kill_process_group(group, signal);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.pid <= 0 {
            return;
        }
        if self.reaped.load(Ordering::Acquire) {
            // The leader is gone; what it left behind in its group goes too. The group id stays
            // reserved while members exist, so this cannot hit a stranger.
            self.signal(rustix::process::Signal::KILL);
        } else {
            crate::sys::tree::kill_tree(self.pid);
        }
    }
}

fn spawn_piped(env: &Environment, spec: Spec) -> Result<Child, SpawnError> {
    let mut cmd = command(env, &spec.program, &spec.cwd);
    cmd.args(&spec.args)
        .envs(&spec.env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|err| SpawnError::Start {
        program: spec.program.to_string_lossy().into_owned(),
        detail: err.to_string(),
    })?;
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok()).unwrap_or(0);
    let (input_tx, mut input_rx) = mpsc::channel::<Bytes>(QUEUE);
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            while let Some(data) = input_rx.recv().await {
                if stdin.write_all(&data).await.is_err() {
                    break;
                }
            }
            // Dropping stdin here is the child's EOF.
        });
    }
    let stdout = pump(child.stdout.take());
    let stderr = pump(child.stderr.take());
    let (exit_tx, exit_rx) = oneshot::channel();
    let reaped = Arc::new(AtomicBool::new(false));
    let reaped_by_wait = Arc::clone(&reaped);
    tokio::spawn(async move {
        use std::os::unix::process::ExitStatusExt;
        let status = child.wait().await;
        reaped_by_wait.store(true, Ordering::Release);
        let exit = match status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(u32::try_from(code).unwrap_or(1)),
                (None, Some(number)) => Exit::Signal { number, core_dumped: status.core_dumped() },
                (None, None) => Exit::Code(1),
            },
            Err(_) => Exit::Code(1),
        };
        let _ = exit_tx.send(exit);
    });
    Ok(Child {
        pid,
        input: Some(input_tx),
        stdout,
        stderr: Some(stderr),
        exit: exit_rx,
        master: None,
        reaped,
    })
}

/// Copies a pipe into a bounded queue of chunks; the queue closes at the pipe's EOF.
fn pump(source: Option<impl AsyncRead + Unpin + Send + 'static>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(QUEUE);
    if let Some(mut source) = source {
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match source.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    rx
}

fn spawn_terminal(env: &Environment, spec: Spec, terminal: &Terminal) -> Result<Child, SpawnError> {
    let size =
        PtySize { rows: terminal.rows.max(1), cols: terminal.cols.max(1), pixel_width: 0, pixel_height: 0 };
    let pair = native_pty_system().openpty(size).map_err(|err| SpawnError::Terminal(err.to_string()))?;
    let mut cmd = CommandBuilder::new(&spec.program);
    cmd.args(&spec.args);
    cmd.env_clear();
    for (name, value) in env.snapshot() {
        cmd.env(name, value);
    }
    for (name, value) in &spec.env {
        cmd.env(name, value);
    }
    cmd.env("TERM", &terminal.term);
    cmd.cwd(&spec.cwd);
    let start_error =
        |detail: String| SpawnError::Start { program: spec.program.to_string_lossy().into_owned(), detail };
    let mut child = pair.slave.spawn_command(cmd).map_err(|err| start_error(err.to_string()))?;
    // The reader sees EOF only once every slave descriptor is closed, ours included.
    drop(pair.slave);
    let pid = child.process_id().and_then(|pid| i32::try_from(pid).ok()).unwrap_or(0);
    let kill_on_error = |err: String, child: &mut Box<dyn portable_pty::Child + Send + Sync>| {
        let _ = child.kill();
        SpawnError::Terminal(err)
    };
    let mut reader = match pair.master.try_clone_reader() {
        Ok(reader) => reader,
        Err(err) => return Err(kill_on_error(err.to_string(), &mut child)),
    };
    let mut writer = match pair.master.take_writer() {
        Ok(writer) => writer,
        Err(err) => return Err(kill_on_error(err.to_string(), &mut child)),
    };

    // Terminal reads and writes block, so each direction gets a thread of its own; the queues
    // between them and the async side are bounded.
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(QUEUE);
    let spawned = std::thread::Builder::new().name("ssh-pty-read".into()).spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if out_tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO once the last slave descriptor closes: the normal end on Linux.
                Err(_) => break,
            }
        }
    });
    if let Err(err) = spawned {
        return Err(kill_on_error(err.to_string(), &mut child));
    }
    let (input_tx, mut input_rx) = mpsc::channel::<Bytes>(QUEUE);
    let _ = std::thread::Builder::new().name("ssh-pty-write".into()).spawn(move || {
        while let Some(data) = input_rx.blocking_recv() {
            if writer.write_all(&data).and_then(|()| writer.flush()).is_err() {
                break;
            }
        }
    });
    let (exit_tx, exit_rx) = oneshot::channel();
    let reaped = Arc::new(AtomicBool::new(false));
    let reaped_by_wait = Arc::clone(&reaped);
    let _ = std::thread::Builder::new().name("ssh-pty-wait".into()).spawn(move || {
        let status = child.wait();
        reaped_by_wait.store(true, Ordering::Release);
        let exit = match status {
            Ok(status) => match status.signal().and_then(signal_number) {
                Some(number) => Exit::Signal { number, core_dumped: false },
                None => Exit::Code(status.exit_code()),
            },
            Err(_) => Exit::Code(1),
        };
        let _ = exit_tx.send(exit);
    });
    Ok(Child {
        pid,
        input: Some(input_tx),
        stdout: out_rx,
        stderr: None,
        exit: exit_rx,
        master: Some(Mutex::new(pair.master)),
        reaped,
    })
}

/// portable-pty reports a signal death by its `strsignal` description.
fn signal_number(description: &str) -> Option<i32> {
    Some(match description {
        "Hangup" => 1,
        "Interrupt" => 2,
        "Quit" => 3,
        "Illegal instruction" => 4,
        "Aborted" => 6,
        "Floating point exception" => 8,
        "Killed" => 9,
        "User defined signal 1" => 10,
        "Segmentation fault" => 11,
        "User defined signal 2" => 12,
        "Broken pipe" => 13,
        "Alarm clock" => 14,
        "Terminated" => 15,
        _ => return None,
    })
}
