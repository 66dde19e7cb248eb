//! A child process attached to a remote client (an SSH channel, a web-terminal socket).
//!
//! Both kinds start through the daemon's one process owner (`process::owner`): the daemon's
//! environment (`POST /env`) plus the client's variables, the work dir, a process group (or,
//! with a terminal, a session) of its own. Input arrives on a bounded queue, output leaves on
//! bounded queues, and dropping the [`Child`] drops the owner's tree handle, which kills the
//! whole tree, so nothing outlives the channel or socket that started it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::environment::Environment;
use crate::process::owner::{self, ChildIo, Spawn, Tree};

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

impl From<owner::Exit> for Exit {
    fn from(exit: owner::Exit) -> Self {
        match exit {
            owner::Exit::Code(code) => Exit::Code(u32::try_from(code).unwrap_or(1)),
            owner::Exit::Signal(number) => Exit::Signal { number, core_dumped: false },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot open a terminal: {0}")]
    Terminal(String),
    #[error("cannot start {program}: {detail}")]
    Start { program: String, detail: String },
}

/// A running child. Dropping it kills the child and everything it started.
#[derive(Debug)]
pub struct Child {
    tree: Tree,
    /// Input for the child; dropping it closes a pipe's input (EOF).
    pub input: Option<mpsc::Sender<Bytes>>,
    pub stdout: mpsc::Receiver<Bytes>,
    /// Separate only without a terminal.
    pub stderr: Option<mpsc::Receiver<Bytes>>,
    /// Resolves once the child has exited.
    pub exit: oneshot::Receiver<Exit>,
    master: Option<OwnedFd>,
}

impl Child {
    pub fn spawn(env: &Environment, spec: Spec) -> Result<Child, SpawnError> {
        match spec.terminal.clone() {
            Some(terminal) => spawn_terminal(env, spec, &terminal),
            None => spawn_piped(env, spec),
        }
    }

    pub fn pid(&self) -> i32 {
        self.tree.pid()
    }

    /// Moves the output queue out (to a task of its own); the child keeps a closed one.
    pub fn take_stdout(&mut self) -> mpsc::Receiver<Bytes> {
        std::mem::replace(&mut self.stdout, mpsc::channel(1).1)
    }

    /// Changes the terminal's size; a child without a terminal has none to change.
    pub fn resize(&self, cols: u16, rows: u16) {
        if let Some(master) = &self.master {
            if let Err(err) = crate::sys::pty::resize(master, cols, rows) {
                tracing::debug!(pid = self.pid(), "terminal resize failed: {err}");
            }
        }
    }

    /// Sends `signal` to the child's process group (its jobs included).
    pub fn signal(&self, signal: rustix::process::Signal) {
        self.tree.signal_group(signal);
    }
}

fn start_error(spec: &Spec, err: &std::io::Error) -> SpawnError {
    SpawnError::Start { program: spec.program.to_string_lossy().into_owned(), detail: err.to_string() }
}

/// Publishes the tree's exit on a oneshot.
fn exit_of(tree: &Tree) -> oneshot::Receiver<Exit> {
    let (tx, rx) = oneshot::channel();
    let exited = tree.exited();
    tokio::spawn(async move {
        let _ = tx.send(Exit::from(exited.await));
    });
    rx
}

fn spawn_piped(env: &Environment, spec: Spec) -> Result<Child, SpawnError> {
    let mut spawn = Spawn::new(&spec.program, &spec.cwd, env);
    spawn
        .args(&spec.args)
        .envs(&spec.env)
        .stdin(ChildIo::Piped)
        .stdout(ChildIo::Piped)
        .stderr(ChildIo::Piped);
    let child = spawn.spawn().map_err(|err| start_error(&spec, &err))?;
    let (input_tx, mut input_rx) = mpsc::channel::<Bytes>(QUEUE);
    if let Some(mut stdin) = child.stdin {
        tokio::spawn(async move {
            while let Some(data) = input_rx.recv().await {
                if stdin.write_all(&data).await.is_err() {
                    break;
                }
            }
            // Dropping stdin here is the child's EOF.
        });
    }
    let exit = exit_of(&child.tree);
    Ok(Child {
        stdout: pump(child.stdout),
        stderr: Some(pump(child.stderr)),
        tree: child.tree,
        input: Some(input_tx),
        exit,
        master: None,
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
    let term_error = |err: std::io::Error| SpawnError::Terminal(err.to_string());
    let (master, slave) =
        crate::sys::pty::open(terminal.cols.max(1), terminal.rows.max(1)).map_err(term_error)?;
    let mut spawn = Spawn::new(&spec.program, &spec.cwd, env);
    spawn
        .args(&spec.args)
        .envs(&spec.env)
        .env("TERM", &terminal.term)
        .stdin(slave.try_clone().map_err(term_error)?)
        .stdout(slave.try_clone().map_err(term_error)?)
        .stderr(slave)
        .new_session(true);
    // The spawn consumes the slave descriptors: the reader sees EOF (EIO) only once the child
    // and everything that inherited the terminal have closed it.
    let child = spawn.spawn().map_err(|err| start_error(&spec, &err))?;
    let mut reader = master.try_clone().map(std::fs::File::from).map_err(term_error)?;
    let mut writer = master.try_clone().map(std::fs::File::from).map_err(term_error)?;

    // Terminal reads and writes block, so each direction gets a thread of its own; the queues
    // between them and the async side are bounded.
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(QUEUE);
    std::thread::Builder::new()
        .name("remote-pty-read".into())
        .spawn(move || {
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
        })
        .map_err(term_error)?;
    let (input_tx, mut input_rx) = mpsc::channel::<Bytes>(QUEUE);
    let _ = std::thread::Builder::new().name("remote-pty-write".into()).spawn(move || {
        while let Some(data) = input_rx.blocking_recv() {
            if writer.write_all(&data).and_then(|()| writer.flush()).is_err() {
                break;
            }
        }
    });
    let exit = exit_of(&child.tree);
    Ok(Child {
        tree: child.tree,
        input: Some(input_tx),
        stdout: out_rx,
        stderr: None,
        exit,
        master: Some(master),
    })
}
