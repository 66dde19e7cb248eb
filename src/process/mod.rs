//! Processes: one-shot execution, persistent sessions, terminals and interpreter contexts.
//!
//! `command` is the single door through which the daemon starts child processes: it applies the
//! daemon's environment (`POST /env`), the work dir and a process group of its own.

pub mod command;
pub mod exec;
pub mod interpreter;
pub mod pty;
pub mod session;
