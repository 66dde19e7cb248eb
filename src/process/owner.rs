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

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::environment::Environment;
use crate::sys::tree::{self, OWNER_TAG, TreeId};
use crate::sys::{child, reaper, spawn};

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

/// What one of a child's standard descriptors is connected to.
#[derive(Debug)]
pub enum ChildIo {
    /// `/dev/null` (the default).
    Null,
    /// A new pipe whose other end is in [`Child`].
    Piped,
    /// The daemon's own descriptor.
    Inherit,
    /// This descriptor (a pipe end, a file, a terminal's slave side); closed in the daemon
    /// once the child has it.
    Fd(OwnedFd),
}

impl From<OwnedFd> for ChildIo {
    fn from(fd: OwnedFd) -> Self {
        ChildIo::Fd(fd)
    }
}

impl From<std::fs::File> for ChildIo {
    fn from(file: std::fs::File) -> Self {
        ChildIo::Fd(file.into())
    }
}

impl From<ChildIo> for Stdio {
    fn from(io: ChildIo) -> Self {
        match io {
            ChildIo::Null => Stdio::null(),
            ChildIo::Piped => Stdio::piped(),
            ChildIo::Inherit => Stdio::inherit(),
            ChildIo::Fd(fd) => Stdio::from(fd),
        }
    }
}

/// A child to start; see the module documentation.
#[derive(Debug)]
pub struct Spawn {
    program: OsString,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: BTreeMap<OsString, OsString>,
    stdio: [ChildIo; 3],
    session: Option<bool>,
}

impl Spawn {
    /// `program` (looked up in the environment's `PATH`) in `cwd` with `env`'s variables and
    /// stdio connected to `/dev/null`.
    pub fn new(program: impl AsRef<OsStr>, cwd: &Path, env: &Environment) -> Spawn {
        let mut vars = BTreeMap::new();
        env.for_each(|name, value| {
            vars.insert(name.to_owned(), value.to_owned());
        });
        Spawn {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: cwd.to_owned(),
            env: vars,
            stdio: [ChildIo::Null, ChildIo::Null, ChildIo::Null],
            session: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Spawn {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Spawn {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Adds or replaces one variable.
    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Spawn {
        self.env.insert(name.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Spawn
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (name, value) in vars {
            self.env(name, value);
        }
        self
    }

    pub fn stdin(&mut self, io: impl Into<ChildIo>) -> &mut Spawn {
        self.stdio[0] = io.into();
        self
    }

    pub fn stdout(&mut self, io: impl Into<ChildIo>) -> &mut Spawn {
        self.stdio[1] = io.into();
        self
    }

    pub fn stderr(&mut self, io: impl Into<ChildIo>) -> &mut Spawn {
        self.stdio[2] = io.into();
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
        self.env.insert(OWNER_TAG.into(), tag.clone().into());
        // A new session needs a fork-to-exec hook (`sys::child`), and so std's fork; every
        // other child is started with posix_spawn, which needs a pidfd to be waited for.
        let (pid, pipes, exit) = match self.session {
            None if pidfd_supported() => self.spawn_direct()?,
            _ => self.spawn_with_std()?,
        };
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let exit = exit.await;
            reaper::release(pid);
            exit_tx.send_replace(Some(exit));
        });
        let tree = Tree(Arc::new(TreeInner { pid, tag, exit: exit_rx, disowned: AtomicBool::new(false) }));
        let Pipes { stdin, stdout, stderr } = pipes;
        Ok(Child { stdin, stdout, stderr, tree })
    }

    fn spawn_with_std(self) -> std::io::Result<(i32, Pipes, BoxFuture<'static, Exit>)> {
        #[allow(clippy::disallowed_methods)]
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.env_clear().envs(&self.env).args(&self.args).current_dir(&self.cwd).kill_on_drop(false);
        let [stdin, stdout, stderr] = self.stdio;
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        match self.session {
            Some(controlling_tty) => child::lead_new_session(cmd.as_std_mut(), controlling_tty),
            None => {
                cmd.process_group(0);
            }
        }
        // The one place (with `spawn_direct`) a child is actually started.
        #[allow(clippy::disallowed_methods)]
        let mut spawned = reaper::spawn_owned(|| cmd.spawn(), tokio::process::Child::id)?;
        drop(cmd);
        let pid = spawned.id().and_then(|pid| i32::try_from(pid).ok()).unwrap_or(0);
        let pipes = Pipes {
            stdin: spawned.stdin.take(),
            stdout: spawned.stdout.take(),
            stderr: spawned.stderr.take(),
        };
        let exit = async move {
            match spawned.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(err) => {
                    tracing::warn!("cannot reap child {pid}: {err}");
                    Exit::Code(-1)
                }
            }
        };
        Ok((pid, pipes, Box::pin(exit)))
    }

    fn spawn_direct(self) -> std::io::Result<(i32, Pipes, BoxFuture<'static, Exit>)> {
        let path = find_program(
            &self.program,
            self.env.get(OsStr::new("PATH")).map(OsString::as_os_str),
            &self.cwd,
        )?;
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "nul byte in a spawn argument")
            })
        };
        let path = c_string(path.as_os_str().as_bytes())?;
        let argv = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|arg| c_string(arg.as_bytes()))
            .collect::<std::io::Result<Vec<_>>>()?;
        let envp = self
            .env
            .iter()
            .map(|(name, value)| c_string(&[name.as_bytes(), b"=", value.as_bytes()].concat()))
            .collect::<std::io::Result<Vec<_>>>()?;
        let cwd = c_string(self.cwd.as_os_str().as_bytes())?;

        // The child's ends live until the spawn has returned; the daemon keeps the others.
        let mut child_ends: [Option<OwnedFd>; 3] = [None, None, None];
        let mut ours: [Option<OwnedFd>; 3] = [None, None, None];
        let mut inherit = [false; 3];
        for (index, io) in self.stdio.into_iter().enumerate() {
            match io {
                ChildIo::Piped => {
                    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                    let (child_end, our_end) = if index == 0 { (read, write) } else { (write, read) };
                    child_ends[index] = Some(above_stdio(child_end)?);
                    ours[index] = Some(our_end);
                }
                ChildIo::Fd(fd) => child_ends[index] = Some(above_stdio(fd)?),
                ChildIo::Inherit => inherit[index] = true,
                ChildIo::Null => {}
            }
        }
        let slot = |index: usize| match &child_ends[index] {
            Some(fd) => spawn::Slot::Dup(fd.as_fd()),
            None if inherit[index] => spawn::Slot::Inherit,
            None => spawn::Slot::DevNull,
        };
        let request = spawn::Request {
            path: &path,
            argv: &argv,
            envp: &envp,
            cwd: &cwd,
            stdio: [slot(0), slot(1), slot(2)],
            new_process_group: true,
        };
        // The one place (with `spawn_with_std`) a child is actually started.
        let pid = reaper::spawn_owned(|| spawn::spawn(&request), |&pid| u32::try_from(pid).ok())?;
        drop(child_ends);
        let [stdin, stdout, stderr] = ours;
        let pipes = Pipes {
            stdin: stdin.map(|fd| ChildStdin::from_std(std::process::ChildStdin::from(fd))).transpose()?,
            stdout: stdout
                .map(|fd| ChildStdout::from_std(std::process::ChildStdout::from(fd)))
                .transpose()?,
            stderr: stderr
                .map(|fd| ChildStderr::from_std(std::process::ChildStderr::from(fd)))
                .transpose()?,
        };
        Ok((pid, pipes, Box::pin(wait_pidfd(pid))))
    }
}

/// The pipes a spawn made, on the daemon's side.
struct Pipes {
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether this kernel has pidfds (5.3 and later), which [`wait_pidfd`] needs.
fn pidfd_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        rustix::process::pidfd_open(rustix::process::getpid(), rustix::process::PidfdFlags::empty()).is_ok()
    })
}

/// Reaps `pid`, a child of the daemon, once it exits.
async fn wait_pidfd(pid: i32) -> Exit {
    use rustix::process::{WaitIdOptions, WaitIdStatus};
    let status = |status: WaitIdStatus| match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    };
    let pidfd = Pid::from_raw(pid)
        .ok_or_else(|| std::io::Error::from(rustix::io::Errno::SRCH))
        .and_then(spawn::watch_exit);
    let pidfd = match pidfd {
        Ok(pidfd) => pidfd,
        Err(err) => {
            // Out of descriptors: a blocking thread waits instead.
            tracing::warn!("cannot watch child {pid} through a pidfd ({err}); waiting on a thread");
            let waited = tokio::task::spawn_blocking(move || {
                rustix::process::waitid(
                    rustix::process::WaitId::Pid(Pid::from_raw(pid)?),
                    WaitIdOptions::EXITED,
                )
                .ok()
                .flatten()
            });
            return waited.await.ok().flatten().map_or(Exit::Code(-1), status);
        }
    };
    loop {
        let Ok(mut ready) = pidfd.readable().await else { return Exit::Code(-1) };
        match rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.get_ref().as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(exited)) => return status(exited),
            Ok(None) => ready.clear_ready(),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => {
                tracing::warn!("cannot reap child {pid}: {err}");
                return Exit::Code(-1);
            }
        }
    }
}

/// `fd`, or a duplicate of it numbered above 2: the child's stdio is set up by dup2s in order,
/// so a source that is itself 0, 1 or 2 (in a daemon started with one of them closed) could be
/// overwritten before it is copied.
fn above_stdio(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// `program` as exec in the child would find it with the child's `PATH`: a name with a `/`
/// is used as it is, and relative entries are taken from the child's working directory `cwd`.
/// NotFound when no directory has it.
fn find_program(program: &OsStr, path: Option<&OsStr>, cwd: &Path) -> std::io::Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
    if program.is_empty() {
        return Err(not_found());
    }
    let dirs = path.map_or(b"/usr/local/bin:/usr/bin:/bin".as_slice(), OsStr::as_bytes);
    for dir in dirs.split(|&b| b == b':') {
        // An empty entry is the working directory, as exec takes it.
        let candidate = cwd.join(OsStr::from_bytes(dir)).join(program);
        let executable = rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok();
        if executable && candidate.metadata().is_ok_and(|meta| meta.is_file()) {
            return Ok(candidate);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} not found in PATH", program.to_string_lossy()),
    ))
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
        spawn.stdout(ChildIo::Piped);
        let mut child = spawn.spawn().unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut out).await.unwrap();
        assert_eq!(child.tree.wait().await, Exit::Code(0));
        assert!(out.starts_with(&format!("{}-", rustix::process::getpid().as_raw_nonzero())), "{out}");
    }

    async fn output_of(mut spawn: Spawn) -> (Exit, String) {
        spawn.stdout(ChildIo::Piped);
        let mut child = spawn.spawn().unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut out).await.unwrap();
        (child.tree.wait().await, out)
    }

    #[tokio::test]
    async fn a_child_starts_in_its_directory_in_its_own_group_with_exactly_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        let mut spawn = Spawn::new("sh", &dir, &Environment::from_process());
        spawn.env("TOOLBOXD_TEST_VALUE", "a b=c").args([
            "-c",
            r#"pwd; printf '%s\n' "$TOOLBOXD_TEST_VALUE"; [ "$(cut -d' ' -f5 /proc/$$/stat)" = "$$" ] && echo leader; readlink /proc/$$/fd/0 /proc/$$/fd/2"#,
        ]);
        let (exit, out) = output_of(spawn).await;
        assert_eq!(exit, Exit::Code(0));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, [dir.to_str().unwrap(), "a b=c", "leader", "/dev/null", "/dev/null"], "{out}");
    }

    #[tokio::test]
    async fn the_program_is_looked_up_in_the_childs_path_not_the_daemons() {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().unwrap();
        let program = bin.path().join("toolboxd-test-program");
        std::fs::write(&program, "#!/bin/sh\necho found \"$0\"\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = Environment::from_process();
        let mut spawn = Spawn::new("toolboxd-test-program", Path::new("/"), &env);
        spawn.env("PATH", format!("/nonexistent:{}", bin.path().display()));
        let (exit, out) = output_of(spawn).await;
        assert_eq!((exit, out.trim()), (Exit::Code(0), format!("found {}", program.display()).as_str()));

        // A relative entry is taken from the child's working directory, not the daemon's.
        let dir_name = bin.path().file_name().unwrap();
        let mut relative = Spawn::new("toolboxd-test-program", bin.path().parent().unwrap(), &env);
        relative.env("PATH", dir_name);
        let (exit, out) = output_of(relative).await;
        assert_eq!(exit, Exit::Code(0), "{out}");
        assert!(out.trim().ends_with("/toolboxd-test-program"), "{out}");

        // Not on the child's PATH: NotFound, and nothing was started.
        let mut missing = Spawn::new("toolboxd-test-program", Path::new("/"), &env);
        missing.env("PATH", "/nonexistent");
        assert_eq!(missing.spawn().err().map(|err| err.kind()), Some(std::io::ErrorKind::NotFound));
        let not_executable = Spawn::new(bin.path(), Path::new("/"), &env).spawn();
        assert_eq!(not_executable.err().map(|err| err.kind()), Some(std::io::ErrorKind::PermissionDenied));
    }

    #[tokio::test]
    async fn the_child_gets_sigpipe_back_though_the_daemon_ignores_it() {
        // The test harness, like the daemon (std's runtime), ignores SIGPIPE.
        let mut spawn = sh("sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status");
        spawn.stdin(ChildIo::Inherit);
        let (exit, out) = output_of(spawn).await;
        assert_eq!(exit, Exit::Code(0));
        let ignored = u64::from_str_radix(out.trim(), 16).unwrap();
        assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "SigIgn {out}");
    }

    #[tokio::test]
    async fn killing_a_tree_takes_double_forked_orphans_too() {
        reaper::become_subreaper().unwrap();
        let mut spawn = sh("(setsid sleep 300.987 &); sleep 300.987 & echo started; wait");
        spawn.stdout(ChildIo::Piped);
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
