//! The one way the daemon builds a child process.

use std::ffi::OsStr;
use std::path::Path;

use crate::environment::Environment;

/// A command that starts in `cwd` with exactly the daemon's environment, in a process group of
/// its own (so a timeout or a delete can kill the whole tree), and is killed if its handle is
/// dropped.
pub fn command(env: &Environment, program: impl AsRef<OsStr>, cwd: &Path) -> tokio::process::Command {
    #[allow(clippy::disallowed_methods)]
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear().envs(env.snapshot()).current_dir(cwd).process_group(0).kill_on_drop(true);
    cmd
}
