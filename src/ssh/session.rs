//! One session channel: collects the client's terminal and environment requests, then runs a
//! shell, a command or the `sftp` subsystem, and reports how it ended.
//!
//! The connection handler answers the requests (success or failure); this task owns the
//! channel's message stream and the child. Input goes to the child through a bounded queue, and
//! while that queue is full the task stops reading the channel, which is how a child that does
//! not read its input slows the client down (russh stops reading the socket). Exit, a client
//! close or the connection's end kills the child's whole tree.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::server::{Handle, Msg};
use russh::{Channel, ChannelMsg, ChannelWriteHalf, Sig};
use rustix::process::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::environment::Environment;
use crate::ssh::child::{Child, Exit, Spec, Terminal};

/// How long output may keep flowing after the child exited (background jobs can hold the
/// output open; they are killed when the channel closes).
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Environment variables a client may set per channel.
const MAX_ENV: usize = 256;
/// Bytes buffered between the channel and the SFTP subsystem in each direction.
const SFTP_PIPE: usize = 256 * 1024;

/// What a channel needs from its connection.
#[derive(Debug, Clone)]
pub struct ChannelContext {
    pub env: Environment,
    pub work: PathBuf,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub handle: Handle,
    /// Cancelled when the connection ends or the daemon stops.
    pub cancel: CancellationToken,
}

enum Start {
    Shell,
    Exec(Vec<u8>),
    Sftp,
}

/// Runs the channel to its end.
pub async fn run(mut channel: Channel<Msg>, ctx: ChannelContext) {
    let mut terminal: Option<Terminal> = None;
    let mut env = BTreeMap::new();
    let start = loop {
        let msg = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            msg = channel.wait() => msg,
        };
        match msg {
            None | Some(ChannelMsg::Close) => return,
            Some(ChannelMsg::RequestPty { term, col_width, row_height, .. }) => {
                terminal = Some(Terminal { term, cols: dimension(col_width), rows: dimension(row_height) });
            }
            Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                if let Some(terminal) = terminal.as_mut() {
                    terminal.cols = dimension(col_width);
                    terminal.rows = dimension(row_height);
                }
            }
            Some(ChannelMsg::SetEnv { variable_name, variable_value, .. }) => {
                if valid_env(&variable_name, &variable_value) && env.len() < MAX_ENV {
                    env.insert(variable_name, variable_value);
                }
            }
            Some(ChannelMsg::RequestShell { .. }) => break Start::Shell,
            Some(ChannelMsg::Exec { command, .. }) => break Start::Exec(command),
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == "sftp" => break Start::Sftp,
            Some(_) => {}
        }
    };
    match start {
        Start::Sftp => run_sftp(channel, &ctx).await,
        Start::Shell | Start::Exec(_) => {
            let shell = crate::process::exec::shell::current(&ctx.env);
            let args: Vec<OsString> = match start {
                Start::Exec(command) => vec!["-c".into(), OsString::from_vec(command)],
                _ => vec!["-l".into()],
            };
            env.insert("SSH_CONNECTION".to_owned(), connection_var(&ctx));
            env.insert(
                "SSH_CLIENT".to_owned(),
                format!("{} {} {}", ctx.peer.ip(), ctx.peer.port(), ctx.local.port()),
            );
            let spec = Spec { program: shell, args, cwd: ctx.work.clone(), env, terminal };
            run_child(channel, &ctx, spec).await;
        }
    }
}

fn connection_var(ctx: &ChannelContext) -> String {
    format!("{} {} {} {}", ctx.peer.ip(), ctx.peer.port(), ctx.local.ip(), ctx.local.port())
}

fn dimension(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX).clamp(1, crate::process::pty::MAX_DIMENSION)
}

fn valid_env(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0')
}

/// The subsystem talks to russh-sftp through an in-memory pipe rather than over the channel
/// itself, so that when it ends this task still owns the channel and can report an exit status
/// before closing (OpenSSH's `scp` counts a missing status as a failure).
async fn run_sftp(channel: Channel<Msg>, ctx: &ChannelContext) {
    let (ours, theirs) = tokio::io::duplex(SFTP_PIPE);
    russh_sftp::server::run(theirs, crate::ssh::sftp::Sftp::new(ctx.work.clone())).await;
    let id = channel.id();
    let (mut read, write) = channel.split();
    let (mut from_sftp, mut to_sftp) = tokio::io::split(ours);
    let requests = async {
        loop {
            match read.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    if to_sftp.write_all(&data).await.is_err() {
                        return false;
                    }
                }
                Some(ChannelMsg::Eof) => break,
                None | Some(ChannelMsg::Close) => return false,
                Some(_) => {}
            }
        }
        // The subsystem sees the end of its input, answers what is pending and stops.
        let _ = to_sftp.shutdown().await;
        true
    };
    let answers = async {
        // As much as the pipe holds: a 32 KiB read answer plus its header read in 32 KiB pieces
        // went out as two SSH packets, one of them 13 bytes; whole reads let russh cut full ones.
        let mut buf = vec![0u8; SFTP_PIPE];
        loop {
            match from_sftp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if write.data_bytes(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let client_done = tokio::select! {
        _ = ctx.cancel.cancelled() => return,
        (finished, ()) = async { tokio::join!(requests, answers) } => finished,
    };
    if client_done {
        finish(&write, &ctx.handle, id, Exit::Code(0)).await;
    }
}

async fn run_child(channel: Channel<Msg>, ctx: &ChannelContext, spec: Spec) {
    let id = channel.id();
    let (mut read, write) = channel.split();
    let write = Arc::new(write);
    let has_terminal = spec.terminal.is_some();
    let program = spec.program.clone();
    let mut child = match Child::spawn(&ctx.env, spec) {
        Ok(child) => child,
        Err(err) => {
            tracing::warn!("ssh: {err}");
            let _ = write.extended_data_bytes(1, Bytes::from(format!("toolboxd: {err}\r\n"))).await;
            finish(&write, &ctx.handle, id, Exit::Code(127)).await;
            return;
        }
    };
    tracing::debug!(pid = child.pid(), "ssh: started {} for {}", program.to_string_lossy(), ctx.peer);
    let mut pumps = vec![tokio::spawn(forward_output(child.take_stdout(), Arc::clone(&write), None))];
    if let Some(stderr) = child.stderr.take() {
        pumps.push(tokio::spawn(forward_output(stderr, Arc::clone(&write), Some(1))));
    }
    let mut input = child.input.take();

    let exit = loop {
        let msg = tokio::select! {
            _ = ctx.cancel.cancelled() => break None,
            status = &mut child.exit => break Some(status.unwrap_or(Exit::Code(1))),
            msg = read.wait() => msg,
        };
        match msg {
            None | Some(ChannelMsg::Close) => break None,
            Some(ChannelMsg::Data { data }) => {
                let Some(tx) = &input else { continue };
                tokio::select! {
                    _ = ctx.cancel.cancelled() => break None,
                    status = &mut child.exit => break Some(status.unwrap_or(Exit::Code(1))),
                    sent = tx.send(data) => if sent.is_err() { input = None },
                }
            }
            // A terminal has no end of input; a pipe is closed so the child sees EOF.
            Some(ChannelMsg::Eof) if !has_terminal => input = None,
            Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                child.resize(dimension(col_width), dimension(row_height));
            }
            Some(ChannelMsg::Signal { signal }) => match signal_of(&signal) {
                Some(signal) => child.signal(signal),
                None => tracing::debug!("ssh: unknown signal {signal:?} ignored"),
            },
            Some(_) => {}
        }
    };
    let Some(exit) = exit else {
        // The client closed the channel or the connection ended: the child goes with it.
        for pump in pumps {
            pump.abort();
        }
        return;
    };
    drop(input);
    let drained = tokio::time::timeout(DRAIN_GRACE, futures_util::future::join_all(pumps.iter_mut())).await;
    if drained.is_err() {
        for pump in &pumps {
            pump.abort();
        }
    }
    finish(&write, &ctx.handle, id, exit).await;
    // Whatever the child left running dies now (Child's drop), not when the connection ends.
    drop(child);
}

async fn forward_output(
    mut output: mpsc::Receiver<Bytes>,
    write: Arc<ChannelWriteHalf<Msg>>,
    ext: Option<u32>,
) {
    while let Some(data) = output.recv().await {
        let sent = match ext {
            Some(ext) => write.extended_data_bytes(ext, data).await,
            None => write.data_bytes(data).await,
        };
        if sent.is_err() {
            break;
        }
    }
}

/// EOF, then the exit status (or the signal), then close: the order OpenSSH's server uses.
async fn finish(write: &ChannelWriteHalf<Msg>, handle: &Handle, id: russh::ChannelId, exit: Exit) {
    let _ = write.eof().await;
    match exit {
        Exit::Code(code) => {
            let _ = write.exit_status(code).await;
        }
        Exit::Signal { number, core_dumped } => {
            let _ = handle
                .exit_signal_request(id, sig_of(number), core_dumped, String::new(), String::new())
                .await;
        }
    }
    let _ = write.close().await;
}

/// The SSH name of a signal number (RFC 4254 §6.10).
fn sig_of(number: i32) -> Sig {
    match number {
        1 => Sig::HUP,
        2 => Sig::INT,
        3 => Sig::QUIT,
        4 => Sig::ILL,
        6 => Sig::ABRT,
        8 => Sig::FPE,
        9 => Sig::KILL,
        10 => Sig::USR1,
        11 => Sig::SEGV,
        13 => Sig::PIPE,
        14 => Sig::ALRM,
        15 => Sig::TERM,
        12 => Sig::Custom("USR2".to_owned()),
        other => Sig::Custom(format!("SIG{other}")),
    }
}

/// The signal a client asked for.
fn signal_of(sig: &Sig) -> Option<Signal> {
    Some(match sig {
        Sig::ABRT => Signal::ABORT,
        Sig::ALRM => Signal::ALARM,
        Sig::FPE => Signal::FPE,
        Sig::HUP => Signal::HUP,
        Sig::ILL => Signal::ILL,
        Sig::INT => Signal::INT,
        Sig::KILL => Signal::KILL,
        Sig::PIPE => Signal::PIPE,
        Sig::QUIT => Signal::QUIT,
        Sig::SEGV => Signal::SEGV,
        Sig::TERM => Signal::TERM,
        Sig::USR1 => Signal::USR1,
        Sig::Custom(name) => return crate::sys::tree::signal_from_name(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_both_ways() {
        assert!(matches!(sig_of(15), Sig::TERM));
        assert!(matches!(sig_of(9), Sig::KILL));
        assert_eq!(signal_of(&Sig::INT), Some(Signal::INT));
        assert_eq!(signal_of(&Sig::Custom("USR2".into())), Some(Signal::USR2));
        assert_eq!(signal_of(&Sig::Custom("NOPE".into())), None);
    }

    #[test]
    fn environment_names_are_checked() {
        assert!(valid_env("LANG", "C.UTF-8"));
        assert!(!valid_env("", "x"));
        assert!(!valid_env("A=B", "x"));
        assert!(!valid_env("A", "x\0y"));
    }
}
