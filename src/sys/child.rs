//! What a child does between fork and exec that std cannot express without unsafe code.

#![allow(unsafe_code)]

use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;

/// Makes the child lead a new session (and so a new process group); with `controlling_tty`,
/// its stdin, which must be a terminal's slave side, becomes the session's controlling
/// terminal, as a login on that terminal would have it.
pub fn lead_new_session(cmd: &mut std::process::Command, controlling_tty: bool) {
    let hook = move || -> std::io::Result<()> {
        rustix::process::setsid()?;
        if controlling_tty {
            // SAFETY: std has already made the requested stdin descriptor 0, and nothing
            // closes it before exec.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            rustix::process::ioctl_tiocsctty(stdin)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only makes two raw system
    // calls (setsid, ioctl), which are async-signal-safe, and neither allocates nor locks.
    #[allow(clippy::disallowed_methods)]
    unsafe {
        cmd.pre_exec(hook);
    }
}
