//! Command-line flags and their environment variables; the one place defaults are decided.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

const SUBCOMMANDS: &str = "Other forms:\n  toolboxd mcp [FLAGS]              serve the tools over MCP on stdin/stdout (no listener)\n  toolboxd entrypoint logs [FLAGS]  print the entrypoint session's log";

/// toolboxd: the daemon inside every sandbox. Serves files, git, processes, terminals, language
/// servers and previews over HTTP and websockets, wire-compatible with the Daytona Toolbox API.
#[derive(Clone, Parser)]
#[command(name = "toolboxd", version, about, long_about = None, after_help = SUBCOMMANDS)]
pub struct Config {
    /// TCP port to listen on; 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "TOOLBOXD_PORT", default_value_t = 22221)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "TOOLBOXD_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Directory that relative paths resolve against and commands start in. Defaults to the
    /// current directory, or $HOME when DAYTONA_USER_HOME_AS_WORKDIR=true.
    #[arg(long, env = "TOOLBOXD_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Directory for the daemon's own state (session logs, recordings). Defaults to
    /// $HOME/.toolboxd.
    #[arg(long, env = "TOOLBOXD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Require `Authorization: Bearer <TOKEN>` on every request. Without it the daemon is open
    /// (as behind the sandbox proxy) and says so in a warning at start.
    #[arg(long, env = "TOOLBOXD_TOKEN", hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,

    /// Read the bearer token from this file once at start (surrounding whitespace is trimmed),
    /// so it never appears in the process's command line or environment.
    #[arg(long, env = "TOOLBOXD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Log filter: error, warn, info, debug, trace, or a tracing filter directive.
    #[arg(long, env = "TOOLBOXD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Seconds that in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "TOOLBOXD_SHUTDOWN_TIMEOUT", default_value_t = 5)]
    pub shutdown_timeout_secs: u64,

    /// Seconds a client gets to send a complete request head once its first byte arrived.
    #[arg(long, env = "TOOLBOXD_HEADER_READ_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,

    /// Seconds a connection may wait for its next request (keep-alive) before it is closed.
    #[arg(long, env = "TOOLBOXD_IDLE_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,

    /// Seconds a request body may go without a single byte arriving while the daemon waits for
    /// it; a slow body that keeps moving is never cut off.
    #[arg(long, env = "TOOLBOXD_BODY_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,

    /// Bytes of output `/process/execute` and `/process/code-run` keep per call; past it the
    /// head and the tail are kept and the middle is replaced by a truncation notice.
    #[arg(long, env = "TOOLBOXD_EXEC_OUTPUT_LIMIT", default_value_t = 10 * 1024 * 1024)]
    pub exec_output_limit: usize,

    /// SSH and SFTP port; 0 turns the SSH server off.
    #[arg(long, env = "TOOLBOXD_SSH_PORT", default_value_t = 22220)]
    pub ssh_port: u16,

    /// authorized_keys file whose keys may log in over SSH, read at every login. Defaults to
    /// $HOME/.ssh/authorized_keys.
    #[arg(long, env = "TOOLBOXD_SSH_AUTHORIZED_KEYS")]
    pub ssh_authorized_keys: Option<PathBuf>,

    /// Accept every SSH public key and the password `sandbox-ssh`, as the reference daemon
    /// does. Only for sandboxes whose SSH port is reachable solely through an authenticating
    /// gateway.
    #[arg(long, env = "TOOLBOXD_SSH_ACCEPT_ANY")]
    pub ssh_accept_any: bool,

    /// Web terminal port; 0 turns the web terminal off.
    #[arg(long, env = "TOOLBOXD_WEB_TERMINAL_PORT", default_value_t = 22222)]
    pub web_terminal_port: u16,

    /// Recordings page port (list, play, download and delete screen recordings); 0 turns it off.
    #[arg(long, env = "TOOLBOXD_RECORDINGS_PORT", default_value_t = 33333)]
    pub recordings_port: u16,

    /// The image's entrypoint: run as the `entrypoint` session.
    #[arg(last = true, value_name = "ENTRYPOINT ARGS")]
    pub entrypoint: Vec<String>,
}

impl std::fmt::Debug for Config {
    // The token stays out of every log line, including debug dumps of the configuration.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("work_dir", &self.work_dir)
            .field("data_dir", &self.data_dir)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("log_level", &self.log_level)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("exec_output_limit", &self.exec_output_limit)
            .field("ssh_port", &self.ssh_port)
            .field("ssh_authorized_keys", &self.ssh_authorized_keys)
            .field("ssh_accept_any", &self.ssh_accept_any)
            .field("web_terminal_port", &self.web_terminal_port)
            .field("recordings_port", &self.recordings_port)
            .field("entrypoint", &self.entrypoint)
            .finish()
    }
}

impl Config {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// Reads `--token-file` into `token` (once, at start). An empty or unreadable file is an
    /// error: starting without the token the operator asked for would open the API to everyone.
    pub fn load_token_file(&mut self) -> std::io::Result<()> {
        let Some(file) = &self.token_file else { return Ok(()) };
        let text = std::fs::read_to_string(file).map_err(|err| {
            std::io::Error::new(err.kind(), format!("cannot read token file {}: {err}", file.display()))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("token file {} is empty", file.display()),
            ));
        }
        self.token = Some(token.to_owned());
        Ok(())
    }
}

/// Directories the daemon settled on at start; every area reads them from here.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Where relative paths resolve and commands start (`GET /work-dir`).
    pub work: PathBuf,
    /// `$HOME` at start (`GET /user-home-dir`); `None` when it cannot be determined.
    pub home: Option<PathBuf>,
    /// The daemon's own state.
    pub data: PathBuf,
}

impl Dirs {
    pub fn resolve(config: &Config) -> std::io::Result<Self> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let home_as_work = std::env::var("DAYTONA_USER_HOME_AS_WORKDIR").as_deref() == Ok("true");
        let work = match (&config.work_dir, &home) {
            (Some(dir), _) => dir.clone(),
            (None, Some(home)) if home_as_work => home.clone(),
            _ => std::env::current_dir()?,
        };
        let work = std::path::absolute(&work)?;
        if !work.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("work dir {} is not a directory", work.display()),
            ));
        }
        let data = match (&config.data_dir, &home) {
            (Some(dir), _) => std::path::absolute(dir)?,
            (None, Some(home)) => home.join(".toolboxd"),
            (None, None) => std::env::temp_dir().join("toolboxd"),
        };
        std::fs::create_dir_all(&data)?;
        Ok(Dirs { work, home, data })
    }

    /// Resolves a user path against the work dir; `~` is not expanded, as in the reference.
    pub fn resolve_path(&self, path: impl AsRef<std::path::Path>) -> PathBuf {
        self.work.join(path)
    }
}
