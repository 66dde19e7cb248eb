//! Runs one script in the shell: script on stdin, stdout and stderr merged into one capped
//! buffer, a deadline that kills the whole tree.
//!
//! The child's tree handle lives in the run's future: a timeout, or the request future dropped
//! because the client went away, kills the whole tree. A script that finishes may leave
//! background jobs running (`nohup server &` is how clients start servers); those are
//! disowned, so they live on as the daemon's until it shuts down.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::environment::Environment;
use crate::process::exec::output::CappedOutput;
use crate::process::owner::Spawn;

/// The most read from the output pipe at once.
const READ_CHUNK: usize = 64 * 1024;

/// What a finished script left behind.
#[derive(Debug)]
pub struct Finished {
    /// 0..255 on a normal exit, -1 on a signal death or when the shell could not start.
    pub exit_code: i32,
    pub output: String,
}

/// Why a script has no result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("command execution timeout")]
    Timeout,
    #[error("cannot collect the command's output: {0}")]
    Io(#[from] std::io::Error),
}

/// One script to run.
#[derive(Debug)]
pub struct Script<'a> {
    pub shell: &'a OsStr,
    /// Positional parameters (`$1`…) for the script, each passed as exactly one argument.
    pub args: &'a [String],
    pub text: String,
    pub cwd: &'a Path,
    pub envs: &'a BTreeMap<String, String>,
    /// `None` runs without a deadline.
    pub timeout: Option<Duration>,
    pub output_limit: usize,
}

/// Writes as much of `text` into the (empty) pipe as it takes without waiting; returns how
/// much was written.
fn prefill(pipe: &tokio::net::unix::pipe::Sender, text: &[u8]) -> std::io::Result<usize> {
    let mut sent = 0;
    while sent < text.len() {
        match pipe.try_write(&text[sent..]) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    Ok(sent)
}

pub async fn run(env: &Environment, script: Script<'_>) -> Result<Finished, RunError> {
    if !script.cwd.is_dir() {
        let what = if script.cwd.exists() { "is not a directory" } else { "does not exist" };
        return Ok(Finished {
            exit_code: -1,
            output: format!("cannot start the command: working directory {} {what}", script.cwd.display()),
        });
    }
    let (writer, mut pipe) = tokio::net::unix::pipe::pipe()?;
    let writer = writer.into_blocking_fd()?;
    // Input: the script goes into the pipe before the shell starts, as far as the pipe holds it
    // (usually all of it), so a short script costs no task and no wake-up.
    let (mut script_in, stdin) = tokio::net::unix::pipe::pipe()?;
    let stdin = stdin.into_blocking_fd()?;
    let unsent = prefill(&script_in, script.text.as_bytes())?;
    let mut cmd = Spawn::new(script.shell, script.cwd, env);
    if !script.args.is_empty() {
        // `-s` keeps reading the script from stdin; `--` keeps an argument like `-x` from
        // being taken as a shell option.
        cmd.arg("-s").arg("--").args(script.args);
    }
    cmd.envs(script.envs).stdin(stdin).stderr(writer.try_clone()?).stdout(writer);
    // The spawn consumes the command and with it the pipe's write ends: EOF only comes once
    // the tree has closed them all.
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ok(Finished {
                exit_code: -1,
                output: format!(
                    "cannot start the shell {} in {}: {err}",
                    script.shell.to_string_lossy(),
                    script.cwd.display()
                ),
            });
        }
    };
    if unsent < script.text.len() {
        let mut rest = script.text.into_bytes();
        rest.drain(..unsent);
        // A shell that exits before reading its whole script closes the pipe; that is not an error.
        tokio::spawn(async move {
            let _ = script_in.write_all(&rest).await;
        });
    } else {
        drop(script_in);
    }
    let tree = child.tree;
    let limit = script.output_limit;
    let work = async {
        let mut output = CappedOutput::new(limit);
        // Read into spare capacity: nothing is zeroed per request.
        let mut buf = Vec::with_capacity(READ_CHUNK);
        loop {
            buf.clear();
            if pipe.read_buf(&mut buf).await? == 0 {
                break;
            }
            output.push(&buf);
        }
        let exit = tree.wait().await;
        Ok::<_, std::io::Error>((exit, output))
    };
    let result = match script.timeout {
        Some(deadline) => match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => {
                tree.kill().await;
                return Err(RunError::Timeout);
            }
        },
        None => work.await,
    };
    let (exit, output) = result?;
    // The shell has exited and the pipe is closed: what is left of the tree runs detached.
    tree.disown();
    Ok(Finished { exit_code: exit.code().unwrap_or(-1), output: output.into_string() })
}
