//! A session's long-lived shell and the protocol the daemon speaks with it.
//!
//! The shell reads a wrapper block per command on its stdin. The block sources `cmd.sh` in the
//! shell itself (so `cd`, exports and functions persist) with stdin/stdout/stderr redirected to
//! the command's FIFOs, and reports on the shell's own stdout, which only the wrapper writes to:
//! `S <id>` once the redirections are open, `E <id> <status>` when the command is done. A
//! command that ends the shell (`exit`) gets the shell's status; the session then refuses work.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::environment::Environment;
use crate::process::owner::{ChildIo, Spawn, Tree};
use crate::process::session::command::Command;

/// Wrapper blocks waiting to be written to the shell; each is a few hundred bytes.
const SCRIPT_QUEUE: usize = 64;

#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub dir: PathBuf,
    /// The shell's tree: everything the session started dies with it.
    pub tree: Tree,
    script_tx: mpsc::Sender<String>,
    commands: Mutex<Vec<Arc<Command>>>,
    ended: watch::Sender<Option<i32>>,
    /// Cancelled when the session is deleted; waiters and log streams watch it.
    pub deleted: CancellationToken,
}

/// The session's shell has exited.
#[derive(Debug)]
pub struct Ended;

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

impl Session {
    /// Starts the shell; `dir` holds the session's command directories.
    pub fn start(
        id: String,
        dir: PathBuf,
        env: &Environment,
        shell: &std::ffi::OsStr,
        cwd: &Path,
    ) -> std::io::Result<Arc<Session>> {
        std::fs::create_dir_all(&dir)?;
        let mut spawn = Spawn::new(shell, cwd, env);
        spawn.stdin(ChildIo::Piped).stdout(ChildIo::Piped);
        let mut child = spawn.spawn()?;
        let tree = child.tree.clone();
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the session shell has no stdin/stdout pipe"));
        };
        let (script_tx, mut script_rx) = mpsc::channel::<String>(SCRIPT_QUEUE);
        let (ended, _) = watch::channel(None);
        let session = Arc::new(Session {
            id,
            dir,
            tree,
            script_tx,
            commands: Mutex::new(Vec::new()),
            ended,
            deleted: CancellationToken::new(),
        });
        tokio::spawn(async move {
            while let Some(block) = script_rx.recv().await {
                if stdin.write_all(block.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let control = session.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                control.on_control_line(&line);
            }
        });
        // A weak reference: the session (and with it the tree handle) must be able to drop.
        let waiter = Arc::downgrade(&session);
        let exited = child.tree.exited();
        tokio::spawn(async move {
            let code = exited.await.shell_code();
            if let Some(session) = waiter.upgrade() {
                session.on_shell_exit(code);
            }
        });
        Ok(session)
    }

    fn on_control_line(&self, line: &str) {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("S"), Some(id), None) => {
                if let Some(cmd) = self.command(id) {
                    cmd.mark_started();
                }
            }
            (Some("E"), Some(id), Some(status)) => {
                if let Some(cmd) = self.command(id) {
                    cmd.mark_started();
                    cmd.finish(status.trim().parse().unwrap_or(-1));
                }
            }
            _ => {
                tracing::debug!(session = %self.id, "unexpected control line from the session shell: {line:?}")
            }
        }
    }

    fn on_shell_exit(&self, code: i32) {
        self.ended.send_replace(Some(code));
        // Commands the shell never finished (it ran `exit`, or was killed) end with its status.
        for cmd in self.commands() {
            cmd.finish(code);
        }
        tracing::debug!(session = %self.id, "session shell exited with {code}");
    }

    pub fn ended(&self) -> Option<i32> {
        *self.ended.borrow()
    }

    pub fn command(&self, id: &str) -> Option<Arc<Command>> {
        self.commands.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|c| c.id == id).cloned()
    }

    pub fn commands(&self) -> Vec<Arc<Command>> {
        self.commands.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Hands a prepared command to the shell.
    pub async fn submit(&self, cmd: Arc<Command>) -> Result<(), Ended> {
        if self.ended().is_some() {
            return Err(Ended);
        }
        let id = quote(&cmd.id);
        let block = format!(
            "{{ printf 'S %s\\n' {id} >&9; . {script} 9>&-; }} 9>&1 <{stdin} >{out} 2>{err}\nprintf 'E %s %s\\n' {id} \"$?\"\n",
            script = quote_path(&cmd.dir.join("cmd.sh")),
            stdin = quote_path(&cmd.stdin_path()),
            out = quote_path(&cmd.dir.join("stdout.pipe")),
            err = quote_path(&cmd.dir.join("stderr.pipe")),
        );
        self.commands.lock().unwrap_or_else(|p| p.into_inner()).push(cmd.clone());
        if self.script_tx.send(block).await.is_err() || self.ended().is_some() {
            cmd.finish(self.ended().unwrap_or(-1));
            return Err(Ended);
        }
        Ok(())
    }

    /// SIGTERM to the shell and everything it started; SIGKILL to whatever is left after
    /// `grace`. Returns once no member of the tree is left.
    pub async fn terminate(&self, grace: Duration, interval: Duration) {
        self.tree.terminate_polling(grace, interval).await;
    }

    /// Kills the whole tree at once (daemon shutdown).
    pub async fn kill(&self) {
        self.tree.kill().await;
    }
}
