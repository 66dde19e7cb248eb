//! Git tools: status, diff, log and commit; thin calls into `git`.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use super::McpServer;
use super::reply::{OUTPUT_LIMIT, ToolResult, done, reply};
use crate::git::config::ConfigScope;
use crate::git::diff::DiffTarget;
use crate::git::{GitError, GitService};

/// Commits `git_log` returns when the caller names no count, and the most it returns.
const DEFAULT_LOG: usize = 20;
const MAX_LOG: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Repo {
    /// Repository root (the directory holding .git); relative paths resolve against the work
    /// dir. Default: the work dir.
    repo: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct GitDiff {
    /// Repository root; default: the work dir.
    repo: Option<String>,
    /// Show staged changes (index against HEAD) instead of unstaged ones. Default false.
    #[serde(default)]
    staged: bool,
    /// Compare the work tree against this revision (branch, tag, commit, HEAD~2) instead.
    revision: Option<String>,
    /// Only these paths (relative to the repository root).
    #[serde(default)]
    paths: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct GitLog {
    /// Repository root; default: the work dir.
    repo: Option<String>,
    /// Number of commits, newest first. Default 20, at most 500.
    max_count: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct GitCommit {
    /// Repository root; default: the work dir.
    repo: Option<String>,
    /// The commit message.
    message: String,
    /// Paths to stage before committing (relative to the repository root). Default ["."]:
    /// every change, deletions and new files included. Pass [] to commit only what is staged.
    files: Option<Vec<String>>,
    /// Author name; default: user.name from the repository or global config.
    author: Option<String>,
    /// Author email; default: user.email from the repository or global config.
    email: Option<String>,
}

fn repo(path: Option<String>) -> String {
    path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".to_owned())
}

/// `key` from the repository's config, else the global one, else `fallback`.
async fn identity(git: &GitService, repo: &str, key: &str, fallback: &str) -> String {
    for scope in [ConfigScope::Local, ConfigScope::Global] {
        if let Ok(Some(value)) = git.get_config(key.to_owned(), scope, Some(repo.to_owned())).await {
            return value;
        }
    }
    fallback.to_owned()
}

#[tool_router(router = git_tools, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "Show the current branch, how far it is ahead of or behind its upstream, \
        and each changed file with its staged and unstaged state.")]
    async fn git_status(&self, Parameters(p): Parameters<Repo>) -> ToolResult {
        reply(self.state.git.status(&repo(p.repo)).await, |status| {
            let mut lines = vec![format!(
                "branch {}{} (ahead {}, behind {})",
                status.current_branch,
                if status.upstream.is_empty() { String::new() } else { format!(" → {}", status.upstream) },
                status.ahead,
                status.behind
            )];
            for file in &status.file_status {
                lines.push(format!("{:?}/{:?}\t{}", file.staging, file.worktree, file.name));
            }
            if status.file_status.is_empty() {
                lines.push("nothing to commit, working tree clean".to_owned());
            }
            done(lines.join("\n"), serde_json::to_value(&status).unwrap_or_default())
        })
    }

    #[tool(description = "Show changes as a unified diff: unstaged changes by default (untracked \
        files included), staged ones with staged=true, or everything since a revision. Past \
        64 KiB the patch is cut.")]
    async fn git_diff(&self, Parameters(p): Parameters<GitDiff>) -> ToolResult {
        let target = match (p.revision.filter(|r| !r.is_empty()), p.staged) {
            (Some(rev), _) => DiffTarget::Revision(rev),
            (None, true) => DiffTarget::Staged,
            (None, false) => DiffTarget::Unstaged,
        };
        let outcome = self.state.git.diff(&repo(p.repo), target, p.paths, OUTPUT_LIMIT).await;
        reply(outcome, |patch| {
            let mut text = patch.text.clone();
            if patch.truncated {
                text.push_str("\n[diff cut at 64 KiB; pass paths to see the rest]");
            }
            if patch.files_changed == 0 {
                text = "no changes".to_owned();
            }
            done(
                text,
                json!({"filesChanged": patch.files_changed, "truncated": patch.truncated, "patch": patch.text}),
            )
        })
    }

    #[tool(description = "List recent commits reachable from HEAD, newest first: hash, author, date \
        and message.")]
    async fn git_log(&self, Parameters(p): Parameters<GitLog>) -> ToolResult {
        let max = p.max_count.unwrap_or(DEFAULT_LOG).clamp(1, MAX_LOG);
        reply(self.state.git.history(&repo(p.repo), Some(max)).await, |commits| {
            let mut lines: Vec<String> = commits
                .iter()
                .map(|c| {
                    let subject = c.message.lines().next().unwrap_or_default();
                    format!(
                        "{} {} <{}> {}\n    {subject}",
                        &c.hash[..c.hash.len().min(12)],
                        c.author,
                        c.email,
                        c.timestamp
                    )
                })
                .collect();
            if lines.is_empty() {
                lines.push("no commits yet".to_owned());
            }
            done(lines.join("\n"), json!({"commits": commits}))
        })
    }

    #[tool(description = "Stage files (default: every change) and commit them; returns the new \
        commit's hash. Fails with CONFLICT when there is nothing to commit.")]
    async fn git_commit(&self, Parameters(p): Parameters<GitCommit>) -> ToolResult {
        let repo = repo(p.repo);
        let git = &self.state.git;
        let files = p.files.unwrap_or_else(|| vec![".".to_owned()]);
        let outcome = async {
            if !files.is_empty() {
                git.add(&repo, files).await?;
            }
            let author = match p.author {
                Some(author) => author,
                None => identity(git, &repo, "user.name", "toolboxd").await,
            };
            let email = match p.email {
                Some(email) => email,
                None => identity(git, &repo, "user.email", "toolboxd@localhost").await,
            };
            let hash = git.commit(&repo, p.message, author, email, false).await?;
            Ok::<_, GitError>(hash)
        }
        .await;
        reply(outcome, |hash: String| done(format!("committed {hash}"), json!({"hash": hash})))
    }
}
