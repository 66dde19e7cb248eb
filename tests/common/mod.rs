//! How integration tests run the real daemon: `Daemon::spawn()` starts the `toolboxd` binary on
//! an ephemeral port in a fresh temp work dir, waits for its `listening on` line, and kills it
//! when dropped.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub work_dir: tempfile::TempDir,
    pub data_dir: tempfile::TempDir,
    pub token: Option<String>,
    pub client: reqwest::Client,
}

#[derive(Default)]
pub struct Options<'a> {
    pub token: Option<&'a str>,
    pub args: Vec<&'a str>,
    pub env: Vec<(&'a str, &'a str)>,
}

impl Daemon {
    pub fn spawn() -> Daemon {
        Daemon::spawn_with(Options::default())
    }

    pub fn spawn_with(options: Options<'_>) -> Daemon {
        let work_dir = tempfile::tempdir().expect("temp work dir");
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_toolboxd"));
        // Errors only by default (tests provoke many expected 4xx/5xx); TOOLBOXD_TEST_LOG=debug
        // shows everything when a test needs looking into.
        let log_level = std::env::var("TOOLBOXD_TEST_LOG").unwrap_or_else(|_| "error".to_owned());
        cmd.args(["--port", "0", "--bind", "127.0.0.1", "--log-level", &log_level])
            .arg("--work-dir")
            .arg(work_dir.path())
            .arg("--data-dir")
            .arg(data_dir.path())
            .env_remove("TOOLBOXD_TOKEN")
            // Side servers stay off unless a test asks for them (`--ssh-port`, …): their
            // default ports are fixed and tests run in parallel.
            .env("TOOLBOXD_SSH_PORT", "0")
            .env("TOOLBOXD_WEB_TERMINAL_PORT", "0")
            .env("TOOLBOXD_RECORDINGS_PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(token) = options.token {
            cmd.args(["--token", token]);
        }
        for (key, value) in &options.env {
            cmd.env(key, value);
        }
        cmd.args(&options.args);
        let mut child = cmd.spawn().expect("start toolboxd");
        let stdout = child.stdout.take().expect("stdout");
        let addr = read_listening_line(stdout);
        Daemon {
            child,
            addr,
            work_dir,
            data_dir,
            token: options.token.map(str::to_owned),
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn work(&self) -> &Path {
        self.work_dir.path()
    }

    /// A request with the daemon's token, if it has one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the daemon to exit, returning its exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate(Duration::from_secs(3));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_listening_line(stdout: std::process::ChildStdout) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
                break;
            }
            line.clear();
        }
        // Keep draining so the daemon never blocks on a full stdout pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("toolboxd printed `listening on <addr>`")
}

/// The error envelope every failing response must carry; returns it for further checks.
pub async fn assert_envelope(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["source"], "DAYTONA_DAEMON", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["timestamp"].as_str().is_some(), "{body}");
    assert!(body["path"].as_str().is_some_and(|p| p.starts_with('/')), "{body}");
    assert!(body["method"].as_str().is_some(), "{body}");
    body
}

/// Whether a program is on PATH, for tests that skip with a stated reason.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Reports a skipped test: prints `SKIPPED <test>: <reason>` and, when `TOOLBOXD_SKIP_LOG`
/// names a file (`bash tests/run.sh` sets it), appends the line there so the run's summary
/// lists and counts every skip instead of letting it pass as `ok`.
pub fn skip(reason: &str) {
    // libtest names each test's thread after the test.
    let test = std::thread::current().name().unwrap_or("unnamed test").to_owned();
    let line = format!("SKIPPED {test}: {reason}");
    eprintln!("{line}");
    if let Some(log) = std::env::var_os("TOOLBOXD_SKIP_LOG") {
        use std::io::Write;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Skips the rest of a test, saying why, when a precondition does not hold.
#[macro_export]
macro_rules! skip_unless {
    ($cond:expr, $reason:expr) => {
        if !$cond {
            $crate::common::skip(&$reason.to_string());
            return;
        }
    };
}

/// Where tests/run.sh installs `playwright-core` (it drives Debian's chromium), if it did.
pub fn playwright_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/playwright");
    dir.join("node_modules/playwright-core").is_dir().then_some(dir)
}
