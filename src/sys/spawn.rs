//! Starting a program with `posix_spawn` (glibc's `clone(CLONE_VM | CLONE_VFORK)`), without
//! going through `std::process::Command`.
//!
//! std takes the same path only when it can find `posix_spawn_file_actions_addchdir_np` by a
//! run-time symbol lookup, which never succeeds in a statically linked binary; there every
//! child with a working directory (all of the daemon's) is started with `fork`, which copies
//! the daemon's page tables and makes both sides take copy-on-write faults. Here the function
//! is linked directly.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

/// What one of the child's descriptors 0, 1 and 2 becomes.
#[derive(Debug)]
pub enum Slot<'a> {
    /// The daemon's own.
    Inherit,
    /// `/dev/null`, opened read-write in the child.
    DevNull,
    /// A duplicate of this descriptor (which must be above 2).
    Dup(BorrowedFd<'a>),
}

/// One program to start.
#[derive(Debug)]
pub struct Request<'a> {
    /// A path (with a `/`): no `PATH` search happens here.
    pub path: &'a CStr,
    pub argv: &'a [CString],
    /// `NAME=value` entries: the child's whole environment.
    pub envp: &'a [CString],
    pub cwd: &'a CStr,
    pub stdio: [Slot<'a>; 3],
    /// Puts the child in a process group of its own.
    pub new_process_group: bool,
}

fn check(ret: c_int) -> io::Result<()> {
    match ret {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*mut c_char> {
    strings.iter().map(|s| s.as_ptr().cast_mut()).chain(std::iter::once(ptr::null_mut())).collect()
}

struct FileActions(MaybeUninit<libc::posix_spawn_file_actions_t>);

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: only constructed after a successful `posix_spawn_file_actions_init`.
        unsafe { libc::posix_spawn_file_actions_destroy(self.0.as_mut_ptr()) };
    }
}

struct Attributes(MaybeUninit<libc::posix_spawnattr_t>);

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: only constructed after a successful `posix_spawnattr_init`.
        unsafe { libc::posix_spawnattr_destroy(self.0.as_mut_ptr()) };
    }
}

/// Starts the program; returns its pid. An error (including a program that cannot be
/// executed: glibc reports exec failures) means no child exists.
pub fn spawn(request: &Request<'_>) -> io::Result<i32> {
    for slot in &request.stdio {
        if let Slot::Dup(fd) = slot
            && fd.as_raw_fd() <= 2
        {
            // The dup2 actions run in order, so a source among 0..=2 could be overwritten
            // before it is copied.
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "stdio source descriptor below 3"));
        }
    }
    let argv = null_terminated(request.argv);
    let envp = null_terminated(request.envp);
    let dev_null = c"/dev/null";

    let mut actions = FileActions(MaybeUninit::uninit());
    // SAFETY: initialising storage that lives as long as `actions`, which destroys it.
    check(unsafe { libc::posix_spawn_file_actions_init(actions.0.as_mut_ptr()) })?;
    let mut attrs = Attributes(MaybeUninit::uninit());
    // SAFETY: as above.
    check(unsafe { libc::posix_spawnattr_init(attrs.0.as_mut_ptr()) })?;

    for (target, slot) in (0..).zip(&request.stdio) {
        let ret = match slot {
            Slot::Inherit => 0,
            // SAFETY: `actions` is initialised; the path is a NUL-terminated string that
            // outlives the spawn.
            Slot::DevNull => unsafe {
                libc::posix_spawn_file_actions_addopen(
                    actions.0.as_mut_ptr(),
                    target,
                    dev_null.as_ptr(),
                    libc::O_RDWR,
                    0,
                )
            },
            // SAFETY: `actions` is initialised; the descriptor is borrowed for the whole call.
            Slot::Dup(fd) => unsafe {
                libc::posix_spawn_file_actions_adddup2(actions.0.as_mut_ptr(), fd.as_raw_fd(), target)
            },
        };
        check(ret)?;
    }
    // SAFETY: `actions` is initialised; `cwd` is NUL-terminated and outlives the spawn.
    check(unsafe {
        libc::posix_spawn_file_actions_addchdir_np(actions.0.as_mut_ptr(), request.cwd.as_ptr())
    })?;

    // The daemon ignores SIGPIPE; an ignored signal stays ignored across exec, so the child
    // gets the default back, as std's spawn does.
    let mut flags = libc::POSIX_SPAWN_SETSIGDEF;
    let mut default_signals = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: the set is initialised by sigemptyset before anything reads it (neither call
    // can fail for a valid set and signal number), and `attrs` is initialised.
    unsafe {
        libc::sigemptyset(default_signals.as_mut_ptr());
        libc::sigaddset(default_signals.as_mut_ptr(), libc::SIGPIPE);
        check(libc::posix_spawnattr_setsigdefault(attrs.0.as_mut_ptr(), default_signals.as_ptr()))?;
    }
    if request.new_process_group {
        flags |= libc::POSIX_SPAWN_SETPGROUP;
        // SAFETY: `attrs` is initialised.
        check(unsafe { libc::posix_spawnattr_setpgroup(attrs.0.as_mut_ptr(), 0) })?;
    }
    // The flags are a c_short in glibc's interface; these fit.
    #[allow(clippy::cast_possible_truncation)]
    // SAFETY: `attrs` is initialised.
    check(unsafe { libc::posix_spawnattr_setflags(attrs.0.as_mut_ptr(), flags as libc::c_short) })?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: the path, the NUL-terminated argv and envp
    // arrays (whose strings outlive them), and the initialised actions and attributes.
    check(unsafe {
        libc::posix_spawn(
            &mut pid,
            request.path.as_ptr(),
            actions.0.as_ptr(),
            attrs.0.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    })?;
    Ok(pid)
}

/// A pidfd for `pid`, registered with the runtime: it turns readable when the process exits.
pub fn watch_exit(pid: rustix::process::Pid) -> io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK)?;
    // SAFETY: the `AsyncFd` owns the `OwnedFd`: the descriptor stays open, and names the same
    // process, until the `AsyncFd` is dropped.
    unsafe { tokio::io::unix::AsyncFd::register(pidfd) }.map_err(|err| err.into_parts().1)
}
