//! File tools: read, write, edit, list, find by name, search contents; thin calls into `fs`.

use base64::Engine;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use super::McpServer;
use super::reply::{ToolResult, done, reply};
use crate::fs::text;

/// Bytes of file content one `read_file` call returns.
const READ_LIMIT: usize = 256 * 1024;
/// Lines `read_file` returns when the caller names no count.
const DEFAULT_LINES: u64 = 2000;
/// Entries, paths and matching lines one listing or search returns.
const LIST_LIMIT: usize = 1000;
const MATCH_LIMIT: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadFile {
    /// File to read; relative paths resolve against the work dir.
    path: String,
    /// First line to return (1-based). Default 1.
    start_line: Option<u64>,
    /// Number of lines to return. Default 2000.
    line_count: Option<u64>,
    /// Read bytes instead of lines, from this byte offset (use for binary files). Content that
    /// is not UTF-8 comes back base64-encoded.
    byte_offset: Option<u64>,
    /// With byte_offset: how many bytes to read (at most 262144). Default 65536.
    byte_count: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct WriteFile {
    /// File to write; relative paths resolve against the work dir. Parent directories are
    /// created. An existing file is replaced and keeps its permissions.
    path: String,
    /// The complete new content of the file.
    content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct EditFile {
    /// File to edit; relative paths resolve against the work dir.
    path: String,
    /// The exact text to replace, whitespace and indentation included. It must occur exactly
    /// once unless replace_all is true; include surrounding lines to make it unique.
    old_text: String,
    /// The text to put in its place.
    new_text: String,
    /// Replace every occurrence instead of requiring exactly one. Default false.
    #[serde(default)]
    replace_all: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListDirectory {
    /// Directory to list; relative paths resolve against the work dir. Default: the work dir.
    path: Option<String>,
    /// Levels to descend (1 = only the directory's entries). Default 1.
    depth: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct FindFiles {
    /// Glob matched against each file or directory's base name, e.g. `*.rs` or `Cargo.toml`
    /// (`*`, `?`, `[a-z]`; `/` never matches).
    pattern: String,
    /// Directory to search below. Default: the work dir.
    path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SearchFiles {
    /// Literal, case-sensitive text to look for in each line (not a regular expression).
    text: String,
    /// File or directory to search. Default: the work dir.
    path: Option<String>,
}

fn shown(path: Option<String>) -> String {
    path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".to_owned())
}

#[tool_router(router = file_tools, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "Read a text file, by default its first 2000 lines (at most 256 KiB per \
        call); start_line and line_count select other lines. For binary files or exact byte \
        positions use byte_offset and byte_count. The result says whether the file goes on.")]
    async fn read_file(&self, Parameters(p): Parameters<ReadFile>) -> ToolResult {
        let range = match p.byte_offset {
            Some(start) => text::Range::Bytes { start, len: p.byte_count.unwrap_or(64 * 1024) },
            None => text::Range::Lines {
                first: p.start_line.unwrap_or(1),
                count: p.line_count.unwrap_or(DEFAULT_LINES),
            },
        };
        let by_lines = matches!(range, text::Range::Lines { .. });
        let outcome = self.state.fs.read_range(&p.path, range, READ_LIMIT).await;
        reply(outcome, |slice| {
            let unit = if by_lines { "lines" } else { "bytes" };
            let (content, encoding) = match String::from_utf8(slice.bytes) {
                Ok(text) if !by_lines || !text.contains('\0') => (text, "utf-8"),
                Ok(text) => (base64::engine::general_purpose::STANDARD.encode(text), "base64"),
                Err(err) => (base64::engine::general_purpose::STANDARD.encode(err.into_bytes()), "base64"),
            };
            let end = (slice.start + slice.count).saturating_sub(1);
            let mut note = match slice.count {
                0 => format!("[no {unit} at {} of {} ({} bytes)", slice.start, p.path, slice.file_size),
                _ => format!("[{unit} {}-{end} of {} ({} bytes)", slice.start, p.path, slice.file_size),
            };
            if slice.truncated {
                note.push_str("; cut at 256 KiB");
            }
            note.push_str(if slice.more { "; the file continues]" } else { "; end of file]" });
            if encoding == "base64" {
                note.push_str(" [content is binary, base64-encoded]");
            }
            done(
                format!("{note}\n{content}"),
                json!({
                    "path": p.path, "unit": unit, "start": slice.start, "count": slice.count,
                    "fileSize": slice.file_size, "more": slice.more, "truncated": slice.truncated,
                    "encoding": encoding, "content": content,
                }),
            )
        })
    }

    #[tool(description = "Create or overwrite a file with the given content (written atomically; \
        parent directories are created). To change part of an existing file prefer edit_file.")]
    async fn write_file(&self, Parameters(p): Parameters<WriteFile>) -> ToolResult {
        reply(self.state.fs.write_all(&p.path, p.content.as_bytes()).await, |bytes| {
            done(format!("wrote {bytes} bytes to {}", p.path), json!({"path": p.path, "bytes": bytes}))
        })
    }

    #[tool(description = "Replace an exact piece of text in a file. old_text must match the file \
        exactly (copy it from read_file output, whitespace included) and occur once, unless \
        replace_all is true. Fails without changing the file when the text is absent or not \
        unique.")]
    async fn edit_file(&self, Parameters(p): Parameters<EditFile>) -> ToolResult {
        reply(self.state.fs.edit(&p.path, &p.old_text, &p.new_text, p.replace_all).await, |count| {
            done(
                format!("replaced {count} occurrence(s) in {}", p.path),
                json!({"path": p.path, "replacements": count}),
            )
        })
    }

    #[tool(description = "List a directory: one entry per line, directories with a trailing '/', \
        files with their size. depth > 1 also lists subdirectories' entries (at most 1000 \
        entries).")]
    async fn list_directory(&self, Parameters(p): Parameters<ListDirectory>) -> ToolResult {
        let shown = shown(p.path);
        let depth = p.depth.unwrap_or(1).max(1);
        let outcome = self.state.fs.list(shown.clone(), depth).await;
        reply(outcome, |entries| {
            let total = entries.len();
            let mut lines = Vec::new();
            let mut items = Vec::new();
            for entry in entries.into_iter().take(LIST_LIMIT) {
                let path = entry.path.unwrap_or(entry.name);
                match entry.is_dir {
                    true => lines.push(format!("{path}/")),
                    false => lines.push(format!("{path}\t{} bytes", entry.size)),
                }
                items.push(json!({"path": path, "isDir": entry.is_dir, "size": entry.size}));
            }
            if total > LIST_LIMIT {
                lines.push(format!("[{} more entries not shown]", total - LIST_LIMIT));
            }
            if total == 0 {
                lines.push(format!("{shown} is empty"));
            }
            done(lines.join("\n"), json!({"path": shown, "entries": items, "total": total}))
        })
    }

    #[tool(description = "Find files and directories below a directory whose base name matches a \
        glob such as '*.py' or 'test_*'. Hidden files are included; nothing is skipped for \
        .gitignore. At most 1000 paths.")]
    async fn find_files(&self, Parameters(p): Parameters<FindFiles>) -> ToolResult {
        let shown = shown(p.path);
        let outcome = self.state.fs.search(shown.clone(), p.pattern.clone()).await;
        reply(outcome, |paths| {
            let total = paths.len();
            let mut text = paths.iter().take(LIST_LIMIT).cloned().collect::<Vec<_>>().join("\n");
            if total == 0 {
                text = format!("no names match {} below {shown}", p.pattern);
            } else if total > LIST_LIMIT {
                text.push_str(&format!("\n[{} more not shown]", total - LIST_LIMIT));
            }
            let shown_paths: Vec<_> = paths.into_iter().take(LIST_LIMIT).collect();
            done(text, json!({"paths": shown_paths, "total": total}))
        })
    }

    #[tool(description = "Search file contents for a literal, case-sensitive string and return \
        matching lines as 'path:line: text' (binary files skipped, at most 500 matches).")]
    async fn search_files(&self, Parameters(p): Parameters<SearchFiles>) -> ToolResult {
        let shown = shown(p.path);
        let outcome = self.state.fs.find(shown.clone(), p.text.clone()).await;
        reply(outcome, |matches| {
            let total = matches.len();
            let mut lines = Vec::new();
            let mut items = Vec::new();
            for m in matches.into_iter().take(MATCH_LIMIT) {
                let content: String = m.content.trim_end().chars().take(500).collect();
                lines.push(format!("{}:{}: {content}", m.file, m.line));
                items.push(json!({"file": m.file, "line": m.line, "content": content}));
            }
            if total == 0 {
                lines.push(format!("no lines contain {:?} below {shown}", p.text));
            } else if total > MATCH_LIMIT {
                lines.push(format!("[{} more matches not shown]", total - MATCH_LIMIT));
            }
            done(lines.join("\n"), json!({"matches": items, "total": total}))
        })
    }
}
