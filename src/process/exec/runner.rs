//! Runs one script in the shell: script on stdin, stdout and stderr merged into one capped
//! buffer, a deadline that kills the whole tree.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::environment::Environment;
use crate::process::command::command;
use crate::process::exec::output::CappedOutput;
use crate::sys::tree;

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
    pub text: String,
    pub cwd: &'a Path,
    pub envs: &'a BTreeMap<String, String>,
    /// `None` runs without a deadline.
    pub timeout: Option<Duration>,
    pub output_limit: usize,
}

/// Kills the tree if the run is abandoned (timeout, or the request future dropped when the
/// client went away); `kill_on_drop` alone would only kill the shell.
struct TreeGuard {
    pid: Option<i32>,
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            tree::kill_tree(pid);
        }
    }
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
    let mut cmd = command(env, script.shell, script.cwd);
    cmd.envs(script.envs).stdin(Stdio::piped()).stderr(writer.try_clone()?).stdout(writer);
    let spawned = cmd.spawn();
    // The command holds the pipe's write ends; EOF only comes once they are all closed.
    drop(cmd);
    let mut child = match spawned {
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
    let mut guard = TreeGuard { pid: child.id().and_then(|pid| i32::try_from(pid).ok()) };
    if let Some(mut stdin) = child.stdin.take() {
        let text = script.text;
        // A shell that exits before reading its whole script closes the pipe; that is not an error.
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let limit = script.output_limit;
    let work = async {
        let mut output = CappedOutput::new(limit);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = pipe.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            output.push(&buf[..n]);
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, output))
    };
    let result = match script.timeout {
        Some(deadline) => match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => {
                if let Some(pid) = guard.pid.take() {
                    tokio::task::spawn_blocking(move || tree::kill_tree(pid)).await.ok();
                }
                return Err(RunError::Timeout);
            }
        },
        None => work.await,
    };
    let (status, output) = result?;
    // The shell has exited and the pipe is closed: nothing of the tree holds our output any more.
    guard.pid = None;
    Ok(Finished { exit_code: status.code().unwrap_or(-1), output: output.into_string() })
}
