//! One command of a session: its directory on disk, its FIFOs, the task that copies its output
//! into `output.log`, and its exit code.
//!
//! Output FIFOs are opened by the daemon before the shell opens them, plus a "keeper" write end
//! so that reads don't see EOF before the shell has connected; the keeper is dropped once the
//! shell reports the command started (or finished). From then on EOF means every writer,
//! background jobs included, has closed the stream.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use crate::process::session::log::{self, Stream};

/// Echoed input lines waiting to be logged; input is small and rare, so a short queue suffices.
const ECHO_QUEUE: usize = 16;
/// How long an input write may wait for the command to read.
const INPUT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Command {
    pub id: String,
    pub text: String,
    pub dir: PathBuf,
    exit: watch::Sender<Option<i32>>,
    log_len: watch::Sender<u64>,
    drained: watch::Sender<bool>,
    started: AtomicBool,
    interactive: bool,
    keepers: Mutex<Vec<pipe::Sender>>,
    input: tokio::sync::Mutex<Option<pipe::Sender>>,
    echo: Option<mpsc::Sender<Vec<u8>>>,
}

fn mkfifo(path: &Path) -> std::io::Result<()> {
    use rustix::fs::Mode;
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::RUSR | Mode::WUSR).map_err(std::io::Error::from)
}

impl Command {
    /// Prepares the command's directory, FIFOs and log pump; the shell has not seen it yet.
    pub async fn prepare(
        id: String,
        text: String,
        dir: PathBuf,
        interactive: bool,
        suppress_echo: bool,
    ) -> std::io::Result<Command> {
        tokio::fs::create_dir_all(&dir).await?;
        {
            let mut script = tokio::fs::OpenOptions::new();
            script.write(true).create_new(true).mode(0o600);
            let mut file = script.open(dir.join("cmd.sh")).await?;
            file.write_all(text.as_bytes()).await?;
            file.write_all(b"\n").await?;
        }
        let out_path = dir.join("stdout.pipe");
        let err_path = dir.join("stderr.pipe");
        mkfifo(&out_path)?;
        mkfifo(&err_path)?;
        let out = pipe::OpenOptions::new().open_receiver(&out_path)?;
        let err = pipe::OpenOptions::new().open_receiver(&err_path)?;
        let keepers = vec![
            pipe::OpenOptions::new().open_sender(&out_path)?,
            pipe::OpenOptions::new().open_sender(&err_path)?,
        ];
        let input = if interactive {
            let in_path = dir.join("input.pipe");
            mkfifo(&in_path)?;
            // Read-write, so opening never waits for the shell and the shell never sees EOF
            // while the command may still get input.
            Some(pipe::OpenOptions::new().read_write(true).open_sender(&in_path)?)
        } else {
            None
        };
        let log_file =
            tokio::fs::OpenOptions::new().create(true).append(true).open(dir.join("output.log")).await?;
        let (echo_tx, echo_rx) = mpsc::channel(ECHO_QUEUE);
        let (log_len, _) = watch::channel(0);
        let (drained, _) = watch::channel(false);
        tokio::spawn(pump(out, err, echo_rx, log_file, log_len.clone(), drained.clone()));
        let (exit, _) = watch::channel(None);
        Ok(Command {
            id,
            text,
            dir,
            exit,
            log_len,
            drained,
            started: AtomicBool::new(false),
            interactive,
            keepers: Mutex::new(keepers),
            input: tokio::sync::Mutex::new(input),
            echo: (!suppress_echo).then_some(echo_tx),
        })
    }

    /// Where the shell reads the command's stdin from.
    pub fn stdin_path(&self) -> PathBuf {
        if self.interactive { self.dir.join("input.pipe") } else { PathBuf::from("/dev/null") }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    pub fn exit_code(&self) -> Option<i32> {
        *self.exit.borrow()
    }

    pub fn is_running(&self) -> bool {
        self.started.load(Ordering::SeqCst) && self.exit_code().is_none()
    }

    /// The shell has opened the command's redirections: EOF on the FIFOs now means the end.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
        self.keepers.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Records the exit code (first one wins), on disk too, and releases stdin.
    pub fn finish(&self, code: i32) {
        let mut first = false;
        self.exit.send_if_modified(|slot| {
            first = slot.is_none();
            if first {
                *slot = Some(code);
            }
            first
        });
        if !first {
            return;
        }
        self.keepers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Err(err) = std::fs::write(self.dir.join("exit_code"), format!("{code}\n")) {
            tracing::debug!("cannot write exit_code of {}: {err}", self.id);
        }
        if let Ok(mut input) = self.input.try_lock() {
            input.take();
        }
    }

    /// Waits for the exit code.
    pub async fn wait(&self) -> i32 {
        let mut rx = self.exit.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(code) => code.unwrap_or(-1),
            Err(_) => -1,
        }
    }

    /// Waits until the output pipes reached EOF, or `grace` passed (a background job may hold
    /// them open indefinitely).
    pub async fn wait_drained(&self, grace: Duration) {
        let mut rx = self.drained.subscribe();
        let _ = tokio::time::timeout(grace, rx.wait_for(|d| *d)).await;
    }

    pub fn is_drained(&self) -> bool {
        *self.drained.borrow()
    }

    /// Notified whenever the log grows or the pipes drain.
    pub fn log_watch(&self) -> (watch::Receiver<u64>, watch::Receiver<bool>) {
        (self.log_len.subscribe(), self.drained.subscribe())
    }

    pub fn exit_watch(&self) -> watch::Receiver<Option<i32>> {
        self.exit.subscribe()
    }

    /// Writes `data` (newline-terminated) to the command's stdin and echoes it into the log.
    pub async fn send_input(&self, data: &str) -> Result<(), InputError> {
        if let Some(code) = self.exit_code() {
            return Err(InputError::Completed(code));
        }
        let mut line = data.as_bytes().to_vec();
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        let mut input = self.input.lock().await;
        let Some(pipe) = input.as_mut() else {
            return Err(match self.exit_code() {
                Some(code) => InputError::Completed(code),
                None => InputError::NotInteractive,
            });
        };
        // A command that never reads would otherwise hold this request (and the lock) forever
        // once the pipe buffer is full.
        match tokio::time::timeout(INPUT_WRITE_TIMEOUT, pipe.write_all(&line)).await {
            Ok(written) => written.map_err(InputError::Io)?,
            Err(_) => return Err(InputError::NotReading),
        }
        drop(input);
        if let Some(echo) = &self.echo {
            let _ = echo.send(line).await;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("command has already completed with exit code {0}")]
    Completed(i32),
    #[error("command does not accept input: it was started synchronously")]
    NotInteractive,
    #[error("the command is not reading its input (its input buffer is full)")]
    NotReading,
    #[error("cannot write to the command's input: {0}")]
    Io(std::io::Error),
}

/// Copies both output FIFOs and input echoes into the log, line-framed, until both FIFOs close.
async fn pump(
    mut out: pipe::Receiver,
    mut err: pipe::Receiver,
    mut echo: mpsc::Receiver<Vec<u8>>,
    mut file: tokio::fs::File,
    log_len: watch::Sender<u64>,
    drained: watch::Sender<bool>,
) {
    let (mut out_open, mut err_open, mut echo_open) = (true, true, true);
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // Whether each stream's last logged byte ended a line, to terminate a final partial line.
    let (mut out_eol, mut err_eol) = (true, true);
    let mut written: u64 = 0;
    let mut framed = Vec::with_capacity(32 * 1024);
    while out_open || err_open {
        framed.clear();
        tokio::select! {
            read = out.read(&mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => {
                    out_open = false;
                    if !out_eol { framed.extend_from_slice(&log::STDOUT_MARKER); framed.push(b'\n'); }
                }
                Ok(n) => { log::frame(Stream::Stdout, &out_buf[..n], &mut framed); out_eol = out_buf[n - 1] == b'\n'; }
            },
            read = err.read(&mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => {
                    err_open = false;
                    if !err_eol { framed.extend_from_slice(&log::STDERR_MARKER); framed.push(b'\n'); }
                }
                Ok(n) => { log::frame(Stream::Stderr, &err_buf[..n], &mut framed); err_eol = err_buf[n - 1] == b'\n'; }
            },
            line = echo.recv(), if echo_open => match line {
                Some(line) => log::frame(Stream::Stdout, &line, &mut framed),
                None => echo_open = false,
            },
        }
        if framed.is_empty() {
            continue;
        }
        if let Err(e) = file.write_all(&framed).await {
            tracing::warn!("cannot append to a command log: {e}");
            break;
        }
        // tokio's File completes writes in the background; flush so readers see every byte
        // that the length watch announces.
        if let Err(e) = file.flush().await {
            tracing::warn!("cannot flush a command log: {e}");
            break;
        }
        written += framed.len() as u64;
        log_len.send_replace(written);
    }
    let _ = file.flush().await;
    drained.send_replace(true);
}
