//! Processes: one-shot execution, persistent sessions, terminals and interpreter contexts.
//!
//! `owner` is the single door through which the daemon starts child processes: it applies the
//! daemon's environment (`POST /env`) and hands back a handle that owns the child's whole
//! process tree.

pub mod exec;
pub mod interpreter;
pub mod owner;
pub mod pty;
pub mod session;
