//! glibc allocator settings for a small, long-lived daemon.
//!
//! By default glibc gives threads their own arenas (up to 8 per core) as soon as two of them
//! allocate at once, and keeps what each arena once held: after a transfer whose buffers were
//! filled on a runtime worker and freed on a blocking-pool thread, megabytes stay resident in
//! arenas nobody uses any more. The daemon's threads mostly wait on I/O and the per-thread
//! cache (tcache) serves the small allocations without the arena lock, so few arenas cost no
//! measurable throughput and keep the resident set close to what is live.

#![allow(unsafe_code)]

/// Arenas shared by all threads (the main heap plus one).
const ARENA_MAX: i32 = 2;

/// Applies the settings; call before the runtime starts its threads.
pub fn tune() {
    // SAFETY: `mallopt` only changes allocator parameters, takes plain integers and is safe to
    // call at any time (glibc serialises it against allocations); it is called on the main
    // thread before any other thread exists.
    let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX) };
    if set != 1 {
        tracing::debug!("the allocator did not take M_ARENA_MAX={ARENA_MAX}");
    }
}
