//! The one way the daemon starts a child process, and the handle that owns its whole tree.
//!
//! [`Spawn`] builds a child: program, arguments, cwd, exactly the daemon's environment (see
//! `environment`) plus extra variables, stdio (null unless asked; pipes, files or a terminal's
//! slave side), and either a process group of its own (the default) or a new session with
//! the terminal as controlling tty. [`Spawn::spawn`] returns a [`Child`]: its stdio pipes and a
//! [`Tree`], a cheap-to-clone handle that can
//! - wait for the child's exact [`Exit`] (code or signal number), any number of times;
//! - signal the child, its process group, or every member of its tree;
//! - terminate the tree (SIGTERM, a grace period, then SIGKILL) or kill it at once;
//! - and kills the tree when its last clone is dropped, unless [`Tree::disown`] said otherwise.
//!
//! Every child is reaped by a task of its own as soon as it exits, whether or not anyone
//! waits, and its pid is registered with `sys::reaper` so the daemon's orphan reaping never
//! takes its status. Tree membership (parent chain, process group, owner tag) lives in
//! `sys::tree`. Spawning needs a tokio runtime.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::environment::Environment;
use crate::sys::tree::{self, OWNER_TAG, TreeId};
use crate::sys::{child, reaper};

/// How often a terminating tree is checked for members that are still alive.
const TERMINATE_POLL: Duration = Duration::from_millis(50);
/// How long a kill waits for the killed child to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code (0..=255).
    Code(i32),
    /// A signal (its number) killed it.
    Signal(i32),
}

impl Exit {
    fn from_status(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            // Neither is only possible for a stopped child, which `wait` does not report.
            (None, None) => Exit::Code(-1),
        }
    }

    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) => None,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Exit::Signal(signal) => Some(signal),
            Exit::Code(_) => None,
        }
    }

    /// As a shell reports it in `$?`: the code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// A child to start; see the module documentation.
#[derive(Debug)]
pub struct Spawn {
    cmd: tokio::process::Command,
    session: Option<bool>,
}

impl Spawn {
    /// `program` (looked up in the environment's `PATH`) in `cwd` with `env`'s variables and
    /// stdio connected to `/dev/null`.
    pub fn new(program: impl AsRef<OsStr>, cwd: &Path, env: &Environment) -> Spawn {
        #[allow(clippy::disallowed_methods)]
        let mut cmd = tokio::process::Command::new(program);
        cmd.env_clear();
        env.for_each(|name, value| {
            cmd.env(name, value);
        });
        cmd.current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        Spawn { cmd, session: None }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Spawn {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Spawn {
        self.cmd.args(args);
        self
    }

    /// Adds or replaces one variable.
    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Spawn {
        self.cmd.env(name, value);
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Spawn
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.cmd.stdin(stdio);
        self
    }

    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.cmd.stdout(stdio);
        self
    }

    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.cmd.stderr(stdio);
        self
    }

    /// Starts the child as the leader of a new session instead of a new process group; with
    /// `controlling_tty`, its stdin (a terminal's slave side) becomes its controlling
    /// terminal.
    pub fn new_session(&mut self, controlling_tty: bool) -> &mut Spawn {
        self.session = Some(controlling_tty);
        self
    }

    /// Starts the child. Descriptors handed over as stdio are closed in the daemon when this
    /// returns.
    pub fn spawn(mut self) -> std::io::Result<Child> {
        let tag = next_tag();
        self.cmd.env(OWNER_TAG, &tag).kill_on_drop(false);
        match self.session {
            Some(controlling_tty) => child::lead_new_session(self.cmd.as_std_mut(), controlling_tty),
            None => {
                self.cmd.process_group(0);
            }
        }
        let mut cmd = self.cmd;
        // The one place a child is actually started.
        #[allow(clippy::disallowed_methods)]
        let mut spawned = reaper::spawn_owned(|| cmd.spawn(), tokio::process::Child::id)?;
        drop(cmd);
        let pid = spawned.id().and_then(|pid| i32::try_from(pid).ok()).unwrap_or(0);
        let (stdin, stdout, stderr) = (spawned.stdin.take(), spawned.stdout.take(), spawned.stderr.take());
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let exit = match spawned.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(err) => {
                    tracing::warn!("cannot reap child {pid}: {err}");
                    Exit::Code(-1)
                }
            };
            reaper::release(pid);
            exit_tx.send_replace(Some(exit));
        });
        let tree = Tree(Arc::new(TreeInner { pid, tag, exit: exit_rx, disowned: AtomicBool::new(false) }));
        Ok(Child { stdin, stdout, stderr, tree })
    }
}

fn next_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}-{}", rustix::process::getpid().as_raw_nonzero(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A started child: the pipes asked for, and the tree handle.
#[derive(Debug)]
pub struct Child {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    pub tree: Tree,
}

/// The handle that owns a child's whole tree; clones share it, and the last one dropped
/// kills the tree (unless disowned).
#[derive(Debug, Clone)]
pub struct Tree(Arc<TreeInner>);

#[derive(Debug)]
struct TreeInner {
    pid: i32,
    tag: String,
    exit: watch::Receiver<Option<Exit>>,
    disowned: AtomicBool,
}

impl TreeInner {
    /// The root counts only while it is not reaped: after that its pid may be reused.
    fn id(&self) -> TreeId<'_> {
        TreeId { root: self.exit.borrow().is_none().then_some(self.pid), tag: &self.tag }
    }
}

impl Drop for TreeInner {
    fn drop(&mut self) {
        if self.disowned.load(Ordering::SeqCst) {
            return;
        }
        let root = self.id().root;
        let tag = std::mem::take(&mut self.tag);
        let kill = move || tree::kill_tree(TreeId { root, tag: &tag });
        // Reading `/proc` and waiting for the deaths is blocking work; off the reactor when
        // there is one (daemon exit kills whatever a shut-down runtime left behind).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(kill)),
            Err(_) => kill(),
        }
    }
}

impl Tree {
    /// The child's pid (it may have exited; see [`Tree::exit`]).
    pub fn pid(&self) -> i32 {
        self.0.pid
    }

    /// How the child ended, once it has been reaped.
    pub fn exit(&self) -> Option<Exit> {
        *self.0.exit.borrow()
    }

    /// Waits for the child (not its descendants) to exit.
    pub async fn wait(&self) -> Exit {
        self.exited().await
    }

    /// Completes when the child has exited, without holding the tree: a task waiting on this
    /// does not keep the tree from being killed when its handles are dropped.
    pub fn exited(&self) -> impl Future<Output = Exit> + Send + 'static {
        let mut exit = self.0.exit.clone();
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(exit) => exit.unwrap_or(Exit::Code(-1)),
                // The reaping task is gone: only at runtime shutdown.
                Err(_) => Exit::Code(-1),
            }
        }
    }

    fn root(&self) -> Option<Pid> {
        self.0.id().root.and_then(Pid::from_raw)
    }

    /// Sends `signal` to the child alone (nothing once it has been reaped).
    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.root() {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Sends `signal` to the child's process group (nothing once the child has been reaped).
    pub fn signal_group(&self, signal: Signal) {
        if let Some(pid) = self.root() {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    /// Sends `signal` to every live member of the tree, the child itself only when
    /// `include_root`; returns how many processes were signalled.
    pub async fn signal_tree(&self, signal: Signal, include_root: bool) -> usize {
        let handle = self.clone();
        tokio::task::spawn_blocking(move || tree::signal_tree(handle.0.id(), include_root, signal).len())
            .await
            .unwrap_or(0)
    }

    /// Whether the child or any member of its tree is still alive.
    pub fn is_alive(&self) -> bool {
        !tree::live_members(self.0.id()).is_empty()
    }

    /// SIGTERM to the whole tree; whatever is still alive after `grace` is killed.
    pub async fn terminate(&self, grace: Duration) {
        self.terminate_polling(grace, TERMINATE_POLL).await;
    }

    /// [`Tree::terminate`], checking every `poll` whether the tree is gone.
    pub async fn terminate_polling(&self, grace: Duration, poll: Duration) {
        self.signal_tree(Signal::TERM, true).await;
        let until = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < until {
            let handle = self.clone();
            if !tokio::task::spawn_blocking(move || handle.is_alive()).await.unwrap_or(true) {
                break;
            }
            tokio::time::sleep(poll).await;
        }
        self.kill().await;
    }

    /// SIGKILLs every member of the tree now, then waits (briefly) for the child to be reaped.
    pub async fn kill(&self) {
        let handle = self.clone();
        let _ = tokio::task::spawn_blocking(move || handle.kill_now()).await;
        let _ = tokio::time::timeout(REAP_WAIT, self.wait()).await;
    }

    /// SIGKILLs every member of the tree now, on the calling thread (it reads `/proc`).
    pub fn kill_now(&self) {
        tree::kill_tree(self.0.id());
    }

    /// Lets the tree outlive this handle: its processes stay the daemon's (reaped by it,
    /// killed at daemon shutdown) but no longer die with the handle.
    pub fn disown(&self) {
        self.0.disowned.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Spawn {
        let mut spawn = Spawn::new("sh", Path::new("/"), &Environment::from_process());
        spawn.args(["-c", script]);
        spawn
    }

    #[tokio::test]
    async fn exit_codes_and_signals_are_exact() {
        let code = sh("exit 3").spawn().unwrap().tree.wait().await;
        assert_eq!(code, Exit::Code(3));
        let signalled = sh("kill -TERM $$").spawn().unwrap().tree.wait().await;
        assert_eq!(signalled, Exit::Signal(15));
        assert_eq!(signalled.shell_code(), 143);
    }

    #[tokio::test]
    async fn children_carry_their_tag_and_pipes_work() {
        let mut spawn = sh("printf '%s' \"$TOOLBOXD_OWNER\"");
        spawn.stdout(Stdio::piped());
        let mut child = spawn.spawn().unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut out).await.unwrap();
        assert_eq!(child.tree.wait().await, Exit::Code(0));
        assert!(out.starts_with(&format!("{}-", rustix::process::getpid().as_raw_nonzero())), "{out}");
    }

    #[tokio::test]
    async fn killing_a_tree_takes_double_forked_orphans_too() {
        reaper::become_subreaper().unwrap();
        let mut spawn = sh("(setsid sleep 300.987 &); sleep 300.987 & echo started; wait");
        spawn.stdout(Stdio::piped());
        let mut child = spawn.spawn().unwrap();
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line).await.unwrap();
        let tree = child.tree;
        let members = tree::live_members(tree.0.id());
        assert!(members.len() >= 3, "shell, its sleep and the orphan: {members:?}");
        tree.kill().await;
        assert_eq!(tree.exit(), Some(Exit::Signal(9)));
        let left: Vec<i32> =
            members.into_iter().filter(|&pid| tree::stat(pid).is_some_and(|p| p.state != 'Z')).collect();
        let info: Vec<_> = left
            .iter()
            .map(|&pid| {
                (tree::stat(pid), std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default())
            })
            .collect();
        assert!(left.is_empty(), "survivors: {info:?} me {}", rustix::process::getpid().as_raw_nonzero());
    }
}
