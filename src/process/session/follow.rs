//! Reading a command log while it grows: the data behind `logs?follow=true`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::process::session::command::Command;

/// How long a finished command's log may stay quiet (a background job holding its output open)
/// before a follow stream ends, as the reference daemon does.
const QUIET_AFTER_EXIT: Duration = Duration::from_secs(1);
/// Fallback wake-up while following, in case a change notification is missed.
const POLL: Duration = Duration::from_millis(500);
const CHUNK: usize = 16 * 1024;

/// A cursor over one command's `output.log`.
#[derive(Debug)]
pub struct LogTail {
    file: tokio::fs::File,
    cmd: Arc<Command>,
    session_gone: CancellationToken,
    follow: bool,
    buf: Vec<u8>,
}

impl LogTail {
    pub async fn open(
        cmd: Arc<Command>,
        session_gone: CancellationToken,
        follow: bool,
    ) -> std::io::Result<Self> {
        let file = tokio::fs::File::open(cmd.log_path()).await?;
        Ok(LogTail { file, cmd, session_gone, follow, buf: vec![0; CHUNK] })
    }

    /// The next chunk of the log, or `None` at the end: EOF without follow; with follow, once the
    /// command has exited and its output is drained (or quiet for a second), or the session is
    /// deleted.
    pub async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let (mut len_rx, mut drained_rx) = self.cmd.log_watch();
        let mut exit_rx = self.cmd.exit_watch();
        loop {
            len_rx.borrow_and_update();
            drained_rx.borrow_and_update();
            exit_rx.borrow_and_update();
            let n = self.file.read(&mut self.buf).await?;
            if n > 0 {
                return Ok(Some(self.buf[..n].to_vec()));
            }
            if !self.follow || self.session_gone.is_cancelled() {
                return Ok(None);
            }
            let exited = self.cmd.exit_code().is_some();
            if exited && self.cmd.is_drained() {
                // Drained is announced after the final flush; one more read catches the tail.
                let n = self.file.read(&mut self.buf).await?;
                return Ok((n > 0).then(|| self.buf[..n].to_vec()));
            }
            let wait = if exited { QUIET_AFTER_EXIT } else { POLL };
            tokio::select! {
                _ = len_rx.changed() => {}
                _ = drained_rx.changed() => {}
                _ = exit_rx.changed() => {}
                () = self.session_gone.cancelled() => {}
                () = tokio::time::sleep(wait) => {
                    if exited {
                        let n = self.file.read(&mut self.buf).await?;
                        if n == 0 {
                            return Ok(None);
                        }
                        return Ok(Some(self.buf[..n].to_vec()));
                    }
                }
            }
        }
    }
}
