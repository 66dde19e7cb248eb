//! Command tools: one-shot commands (`process::exec`) and background commands, each a session
//! of its own (`process::session`), so signals and output never mix between commands.

use std::collections::BTreeMap;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use super::McpServer;
use super::reply::{OUTPUT_LIMIT, ToolResult, done, failed, head_tail, reply};
use crate::process::session::SessionError;
use crate::process::session::log;

/// Background commands started here get session ids with this prefix, so listing them skips
/// sessions that HTTP clients opened.
const SESSION_PREFIX: &str = "mcp-";

/// Seconds a one-shot command may run when the caller names no timeout.
const DEFAULT_TIMEOUT_SECS: u32 = 120;

/// Longest wait `read_command_output` accepts, so one call cannot hold a request for long.
const MAX_WAIT_SECS: u64 = 300;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct RunCommand {
    /// Shell script to run, e.g. `cargo test 2>&1 | tail -n 50`. Runs in bash (or the
    /// system shell) with stdout and stderr merged.
    command: String,
    /// Working directory; relative paths resolve against the work dir. Default: the work dir.
    cwd: Option<String>,
    /// Extra environment variables for this command only.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Seconds before the command and everything it started are killed. Default 120; 0 means
    /// no limit (use a background command for servers and watchers instead).
    timeout_secs: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct StartCommand {
    /// Shell script to run in the background, e.g. `npm run dev`.
    command: String,
    /// Working directory; relative paths resolve against the work dir. Default: the work dir.
    cwd: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CommandId {
    /// The id `start_command` returned.
    id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadOutput {
    /// The id `start_command` returned.
    id: String,
    /// Wait up to this many seconds (at most 300) for the command to finish before reading.
    /// Default 0: read at once.
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SignalCommand {
    /// The id `start_command` returned.
    id: String,
    /// Signal name or number: INT (like Ctrl-C), TERM, KILL, HUP, USR1… Default TERM.
    signal: Option<String>,
}

/// POSIX single quotes: the text reaches the shell as one word, whatever it holds.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[tool_router(router = process_tools, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "Run a shell command to completion and return its exit code and output \
        (stdout and stderr merged, in order). Output longer than 64 KiB keeps its first and last \
        32 KiB. The command is killed with everything it started when the timeout passes \
        (default 120 s). For servers, watchers or anything long-running use start_command.")]
    async fn run_command(&self, Parameters(p): Parameters<RunCommand>) -> ToolResult {
        let timeout = Some(p.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS));
        let outcome = self.state.exec.execute(&p.command, p.cwd.as_deref(), &p.env, timeout).await;
        reply(outcome, |outcome| {
            let (output, truncated) = head_tail(&outcome.output, OUTPUT_LIMIT);
            let text = format!("{output}\n[exit code {}]", outcome.exit_code);
            done(text, json!({"exitCode": outcome.exit_code, "output": output, "truncated": truncated}))
        })
    }

    #[tool(description = "Start a shell command in the background and return its id at once. Use \
        it for dev servers, watchers and long builds; read its output with read_command_output, \
        interrupt it with signal_command, and remove it with stop_command when done.")]
    async fn start_command(&self, Parameters(p): Parameters<StartCommand>) -> ToolResult {
        let id = format!("{SESSION_PREFIX}{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let script = match p.cwd.as_deref().filter(|c| !c.is_empty()) {
            Some(cwd) => {
                let dir = self.state.dirs.resolve_path(cwd);
                format!("cd -- {} && {}", shell_quote(&dir.to_string_lossy()), p.command)
            }
            None => p.command,
        };
        if let Err(err) = self.state.sessions.create(&id, false) {
            return failed(err);
        }
        match self.state.sessions.exec(&id, &script, true, true).await {
            Ok(_) => done(format!("started background command {id}"), json!({"id": id, "command": script})),
            Err(err) => {
                let _ = self.state.sessions.delete(&id).await;
                failed(err)
            }
        }
    }

    #[tool(description = "Read the output of a background command so far (stdout and stderr \
        merged; past 64 KiB the first and last 32 KiB) and whether it is still running. \
        wait_secs waits for it to finish first, up to that many seconds.")]
    async fn read_command_output(&self, Parameters(p): Parameters<ReadOutput>) -> ToolResult {
        let outcome = async {
            let cmd = self.background_command(&p.id)?;
            let wait = Duration::from_secs(p.wait_secs.min(MAX_WAIT_SECS));
            let info = match wait.is_zero() {
                true => self.state.sessions.get_command(&p.id, &cmd)?,
                false => self.state.sessions.wait(&p.id, &cmd, Some(wait)).await?,
            };
            let log = self.state.sessions.logs(&p.id, &cmd).await?;
            Ok::<_, SessionError>((info, log))
        }
        .await;
        reply(outcome, |(info, log)| {
            let text = String::from_utf8_lossy(&log::strip(&log)).into_owned();
            let (output, truncated) = head_tail(&text, OUTPUT_LIMIT);
            let state = match info.exit_code {
                Some(code) => format!("[exited with code {code}]"),
                None => "[still running]".to_owned(),
            };
            done(
                format!("{output}\n{state}"),
                json!({
                    "id": p.id,
                    "running": info.exit_code.is_none(),
                    "exitCode": info.exit_code,
                    "output": output,
                    "truncated": truncated,
                }),
            )
        })
    }

    #[tool(description = "Send a signal to a background command and every process it started \
        (INT to interrupt like Ctrl-C, TERM to ask it to exit, KILL to force it). Its output \
        stays readable.")]
    async fn signal_command(&self, Parameters(p): Parameters<SignalCommand>) -> ToolResult {
        let signal = p.signal.unwrap_or_else(|| "TERM".to_owned());
        let outcome = async {
            let cmd = self.background_command(&p.id)?;
            self.state.sessions.signal(&p.id, &cmd, &signal).await
        }
        .await;
        reply(outcome, |()| done(format!("sent {signal} to {}", p.id), json!({"id": p.id, "signal": signal})))
    }

    #[tool(description = "Stop a background command: kill it and everything it started, and \
        forget it and its output.")]
    async fn stop_command(&self, Parameters(p): Parameters<CommandId>) -> ToolResult {
        let outcome = match p.id.starts_with(SESSION_PREFIX) {
            true => self.state.sessions.delete(&p.id).await,
            false => Err(SessionError::NotFound),
        };
        reply(outcome, |()| done(format!("stopped {}", p.id), json!({"id": p.id, "stopped": true})))
    }

    #[tool(description = "List the background commands started with start_command: id, command \
        and whether each is still running.")]
    async fn list_commands(&self) -> ToolResult {
        let mut lines = Vec::new();
        let mut entries = Vec::new();
        for session in self.state.sessions.list() {
            if !session.id.starts_with(SESSION_PREFIX) {
                continue;
            }
            for cmd in session.commands {
                let state = cmd.exit_code.map_or("running".to_owned(), |code| format!("exited {code}"));
                lines.push(format!("{}\t{state}\t{}", session.id, cmd.command));
                entries.push(json!({"id": session.id, "command": cmd.command, "exitCode": cmd.exit_code}));
            }
        }
        let text = if lines.is_empty() { "no background commands".to_owned() } else { lines.join("\n") };
        done(text, json!({"commands": entries}))
    }
}

impl McpServer {
    /// The one command of a background session started here.
    fn background_command(&self, id: &str) -> Result<String, SessionError> {
        if !id.starts_with(SESSION_PREFIX) {
            return Err(SessionError::NotFound);
        }
        let session = self.state.sessions.get(id)?;
        session.commands.into_iter().next().map(|c| c.id).ok_or(SessionError::CommandNotFound)
    }
}
