//! PID 1 duty: when toolboxd is the first process of a container (or PID namespace) it must reap
//! every orphan that gets reparented to it, or zombies pile up.
//!
//! Reaping with `waitpid(-1)` inside the daemon would race the daemon's own waits on its
//! children and steal their exit statuses. So PID 1 does nothing but init work: it starts the
//! real daemon as its child (`/proc/self/exe`, same arguments), reaps everything, forwards
//! SIGTERM/SIGINT/SIGHUP/SIGQUIT to the daemon and exits with the daemon's status. The daemon
//! is a child subreaper (`sys::reaper`), so orphans of its own children reparent to it and it
//! reaps them without racing its own waits; what reaches PID 1 is the rest of the container.

use std::process::ExitCode;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};

/// True when this process is PID 1 and so must become the init loop.
pub fn is_pid1() -> bool {
    rustix::process::getpid().is_init()
}

/// Runs the init loop around a child copy of this binary; returns the child's exit status.
pub fn run_as_init() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("init: cannot start the signal runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(supervise())
}

async fn supervise() -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};

    let args: Vec<_> = std::env::args_os().skip(1).collect();
    // The daemon itself is not PID 1, so it serves instead of recursing into init mode.
    #[allow(clippy::disallowed_methods)]
    let child = std::process::Command::new("/proc/self/exe").args(&args).spawn();
    let child = match child {
        Ok(child) => child,
        Err(err) => {
            tracing::error!("init: cannot start the daemon: {err}");
            return ExitCode::from(2);
        }
    };
    let Some(daemon) = Pid::from_raw(child.id() as i32) else { return ExitCode::from(2) };
    // Dropping a std Child neither kills nor waits for it; the loop below reaps it.
    drop(child);

    let kinds = [
        SignalKind::child(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::hangup(),
        SignalKind::quit(),
    ];
    let mut streams = Vec::new();
    for kind in kinds {
        match signal(kind) {
            Ok(stream) => streams.push(stream),
            Err(err) => tracing::error!("init: cannot watch signal {kind:?}: {err}"),
        }
    }
    let [chld, term, int, hup, quit] = &mut streams[..] else {
        return ExitCode::from(2);
    };
    loop {
        // The periodic tick covers any coalesced SIGCHLD; reaping is cheap when nothing waits.
        tokio::select! {
            _ = chld.recv() => {}
            _ = term.recv() => forward(daemon, Signal::TERM),
            _ = int.recv() => forward(daemon, Signal::INT),
            _ = hup.recv() => forward(daemon, Signal::HUP),
            _ = quit.recv() => forward(daemon, Signal::QUIT),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Some(code) = reap_all(daemon) {
            return code;
        }
    }
}

fn forward(daemon: Pid, signal: Signal) {
    if let Err(err) = rustix::process::kill_process(daemon, signal) {
        tracing::warn!("init: cannot forward {signal:?} to the daemon: {err}");
    }
}

/// Reaps every exited child; returns the daemon's exit status once the daemon is among them.
fn reap_all(daemon: Pid) -> Option<ExitCode> {
    loop {
        // `wait`, not `waitpid(None)`: the latter only waits for our own process group.
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) if pid == daemon => {
                let code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(signal)) => 128 + signal,
                    (None, None) => 1,
                };
                return Some(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)));
            }
            Ok(Some(_)) => {}
            Ok(None) => return None,
            // ECHILD: nothing left at all, which means the daemon is gone too.
            Err(_) => return Some(ExitCode::from(1)),
        }
    }
}
