//! Pseudo-terminal pairs: the master side stays in the daemon, the slave side becomes a
//! child's stdio (and controlling terminal, see `sys::child`).
//!
//! [`async_master`] registers a master with the runtime's reactor; that registration is the
//! one unsafe call here (tokio cannot check that the descriptor stays open).

#![allow(unsafe_code)]

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

/// Opens a new terminal of `cols` × `rows`; returns `(master, slave)`, both close-on-exec.
pub fn open(cols: u16, rows: u16) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave =
        rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
    resize(&master, cols, rows)?;
    Ok((master, slave))
}

/// Puts `master` in non-blocking mode and registers it with the current runtime, so tasks can
/// read and write it without a thread of their own. Needs a tokio runtime.
pub fn async_master(master: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    rustix::io::ioctl_fionbio(&master, true)?;
    // SAFETY: the `AsyncFd` owns the `OwnedFd`: the descriptor stays open, and names the same
    // file description, until the `AsyncFd` is dropped or unwrapped.
    unsafe { tokio::io::unix::AsyncFd::register(master) }.map_err(|err| err.into_parts().1)
}

/// Sets the terminal size; the foreground process group gets SIGWINCH.
pub fn resize(master: &OwnedFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let size = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(master, size)?;
    Ok(())
}
