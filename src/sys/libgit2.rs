//! Process-wide libgit2 options, set once before the first repository is touched.
//!
//! - Network timeouts: without them a server that stalls mid-transfer holds a blocking thread
//!   until the daemon stops, because progress callbacks (which watch the shutdown token) only
//!   run while bytes arrive.
//! - No owner check on repositories: in a sandbox the daemon often runs as root on a user's
//!   checkout (or as the user on a root-created one); git's `safe.directory` guard is for shared
//!   multi-user machines and would make every such repository unusable. The reference daemon
//!   (go-git) performs no such check either.

#![allow(unsafe_code)]

use std::sync::Once;

pub const CONNECT_TIMEOUT_MS: i32 = 15_000;
pub const IO_TIMEOUT_MS: i32 = 120_000;

pub fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: libgit2's global options are plain process-wide settings that must not change
        // while other threads run libgit2 operations. Every libgit2 call runs inside
        // `GitService::blocking`, which calls this first; `Once` makes concurrent first callers
        // wait until it has finished, so no libgit2 operation is in flight on any thread.
        let results = unsafe {
            [
                git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS),
                git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS),
                git2::opts::set_verify_owner_validation(false),
            ]
        };
        for result in results {
            if let Err(err) = result {
                tracing::warn!("cannot set a libgit2 option: {err}");
            }
        }
    });
}
