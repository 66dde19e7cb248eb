//! One-shot commands (`/process/execute`) and code runs (`/process/code-run`).
//!
//! Owns: choosing the shell, feeding it the script on stdin, collecting stdout+stderr into one
//! bounded buffer (`output::CappedOutput`: head and tail kept, middle counted), the deadline
//! (on expiry the whole tree dies, see `process::owner`),
//! and code-run's script generation and chart extraction (`code`).
//!
//! Invariants: every child is started through `process::owner` (own process group, the
//! daemon's environment); an abandoned run (timeout or a dropped request) leaves no process
//! behind; memory per call is bounded by `exec_output_limit`. This module knows no HTTP:
//! `routes.rs` translates requests and `ExecError` into the contract's shapes.

pub mod code;
pub mod output;
pub mod routes;
pub mod runner;
pub mod shell;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Dirs;
use crate::environment::Environment;
use crate::error::{ApiError, ErrorCode};
use crate::process::exec::code::{Chart, Language};
use crate::process::exec::runner::{RunError, Script};
use crate::state::Context;

/// What can go wrong before or while running a one-shot command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("command cannot be empty or whitespace-only")]
    EmptyCommand,
    #[error("invalid environment variable name: '{0}'")]
    InvalidEnvName(String),
    #[error("invalid value for environment variable '{0}': values must not contain NUL")]
    InvalidEnvValue(String),
    #[error("unsupported language: {0}")]
    UnsupportedLanguage(String),
    #[error("command execution timeout")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ExecError> for ApiError {
    fn from(err: ExecError) -> Self {
        match err {
            ExecError::EmptyCommand
            | ExecError::InvalidEnvName(_)
            | ExecError::InvalidEnvValue(_)
            | ExecError::UnsupportedLanguage(_) => ApiError::bad_request(err.to_string()),
            ExecError::Timeout => ApiError::new(ErrorCode::ProcessExecutionTimeout, err.to_string()),
            ExecError::Io(io) => ApiError::internal(io.to_string()),
        }
    }
}

impl From<RunError> for ExecError {
    fn from(err: RunError) -> Self {
        match err {
            RunError::Timeout => ExecError::Timeout,
            RunError::Io(io) => ExecError::Io(io),
        }
    }
}

/// A finished one-shot command.
#[derive(Debug)]
pub struct ExecOutcome {
    pub exit_code: i32,
    pub output: String,
    pub charts: Vec<Chart>,
}

/// Whether `name` is a portable environment variable name (`^[A-Za-z_][A-Za-z0-9_]*$`).
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A bad name and a value no process can receive (NUL) are both refused before anything runs.
fn check_envs(envs: &BTreeMap<String, String>) -> Result<(), ExecError> {
    if let Some(bad) = envs.keys().find(|name| !valid_env_name(name)) {
        return Err(ExecError::InvalidEnvName(bad.clone()));
    }
    match envs.iter().find(|(_, value)| value.contains('\0')) {
        Some((name, _)) => Err(ExecError::InvalidEnvValue(name.clone())),
        None => Ok(()),
    }
}

/// A zero timeout means none, as in the reference daemon.
fn deadline(seconds: Option<u32>) -> Option<Duration> {
    seconds.filter(|&s| s > 0).map(|s| Duration::from_secs(u64::from(s)))
}

#[derive(Debug, Clone)]
pub struct ExecService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    dirs: Arc<Dirs>,
    output_limit: usize,
}

impl ExecService {
    pub fn new(ctx: &Context) -> Self {
        ExecService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                dirs: ctx.dirs.clone(),
                output_limit: ctx.config.exec_output_limit.max(2),
            }),
        }
    }

    pub async fn shutdown(&self) {}

    /// Runs `command` in the shell; `cwd` resolves against the work dir.
    pub async fn execute(
        &self,
        command: &str,
        cwd: Option<&str>,
        envs: &BTreeMap<String, String>,
        timeout: Option<u32>,
    ) -> Result<ExecOutcome, ExecError> {
        if command.trim().is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        check_envs(envs)?;
        let cwd = match cwd.filter(|c| !c.is_empty()) {
            Some(dir) => self.inner.dirs.resolve_path(dir),
            None => self.inner.dirs.work.clone(),
        };
        let mut text = command.to_owned();
        text.push('\n');
        self.run(text, &[], &cwd, envs, timeout).await
    }

    /// Runs `code` in `language` from the work dir, with chart artifacts for matplotlib.
    pub async fn code_run(
        &self,
        language: &str,
        code: &str,
        argv: &[String],
        envs: &BTreeMap<String, String>,
        timeout: Option<u32>,
    ) -> Result<ExecOutcome, ExecError> {
        let lang =
            Language::parse(language).ok_or_else(|| ExecError::UnsupportedLanguage(language.to_owned()))?;
        check_envs(envs)?;
        let text = code::script(lang, code);
        let work = self.inner.dirs.work.clone();
        let mut outcome = self.run(text, argv, &work, envs, timeout).await?;
        if lang == Language::Python {
            let (result, charts) = code::extract_charts(&outcome.output);
            outcome.output = result;
            outcome.charts = charts;
        }
        Ok(outcome)
    }

    async fn run(
        &self,
        text: String,
        args: &[String],
        cwd: &std::path::Path,
        envs: &BTreeMap<String, String>,
        timeout: Option<u32>,
    ) -> Result<ExecOutcome, ExecError> {
        let shell = shell::current(&self.inner.env);
        let script = Script {
            shell: &shell,
            args,
            text,
            cwd,
            envs,
            timeout: deadline(timeout),
            output_limit: self.inner.output_limit,
        };
        let finished = runner::run(&self.inner.env, script).await?;
        Ok(ExecOutcome { exit_code: finished.exit_code, output: finished.output, charts: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_portable_rule() {
        assert!(valid_env_name("_A1"));
        assert!(valid_env_name("path"));
        assert!(!valid_env_name("1A"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name(""));
    }
}
