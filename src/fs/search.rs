//! `find` (content) and `search` (names) on ripgrep's crates: `ignore` walks (hidden files
//! included, no ignore-file filtering, symlinks never followed), `grep-searcher` reads with
//! binary detection and a bounded line buffer, `globset` tests base names.
//!
//! Results are capped so a huge tree cannot exhaust memory; the caps are far beyond what a
//! client can usefully show.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use globset::{GlobBuilder, GlobMatcher};
use grep_regex::RegexMatcherBuilder;
use grep_searcher::sinks::Bytes as BytesSink;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder};
use ignore::{WalkBuilder, WalkState};
use serde::Serialize;
use utoipa::ToSchema;

use super::paths;

/// Most matches one `find` returns.
pub const MAX_MATCHES: usize = 100_000;
/// Most bytes of matched lines one `find` returns.
pub const MAX_MATCH_BYTES: usize = 64 * 1024 * 1024;
/// Most paths one `search` returns.
pub const MAX_SEARCH_RESULTS: usize = 100_000;
/// A line longer than this ends the scan of its file, as in the reference daemon.
const MAX_LINE: usize = 64 * 1024;
/// The searcher's line buffer never grows past this, whatever the file holds.
const HEAP_LIMIT: usize = 4 * 1024 * 1024;

/// One matching line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Match {
    pub file: String,
    pub line: u64,
    pub content: String,
}

fn walker(root: &Path, max_depth: Option<usize>) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder.standard_filters(false).follow_links(false).max_depth(max_depth);
    builder
}

/// True when the root cannot be searched: missing, or a symlink (never followed, even at the root).
fn unsearchable(root: &Path) -> bool {
    std::fs::symlink_metadata(root).map(|m| m.file_type().is_symlink()).unwrap_or(true)
}

/// `GET /files/find`: case-sensitive literal substring per line, lexical file order.
pub fn find(shown_root: &str, root: &Path, pattern: &str) -> Vec<Match> {
    if unsearchable(root) {
        return Vec::new();
    }
    // A pattern spanning lines can never match one line; the matcher refuses it, so: no results.
    let Ok(matcher) =
        RegexMatcherBuilder::new().fixed_strings(true).line_terminator(Some(b'\n')).build(pattern)
    else {
        return Vec::new();
    };
    let found: Mutex<Vec<(PathBuf, Vec<Match>)>> = Mutex::new(Vec::new());
    let count = AtomicUsize::new(0);
    let bytes = AtomicUsize::new(0);
    let full = AtomicBool::new(false);
    walker(root, None).threads(2).build_parallel().run(|| {
        let mut searcher = SearcherBuilder::new()
            .binary_detection(BinaryDetection::quit(0))
            .line_number(true)
            .heap_limit(Some(HEAP_LIMIT))
            .build();
        let matcher = matcher.clone();
        let (found, count, bytes, full) = (&found, &count, &bytes, &full);
        Box::new(move |entry| {
            if full.load(Ordering::Relaxed) {
                return WalkState::Quit;
            }
            let Ok(entry) = entry else { return WalkState::Continue };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let shown = match entry.path().strip_prefix(root) {
                Ok(rel) if !rel.as_os_str().is_empty() => paths::join(shown_root, &rel.to_string_lossy()),
                _ => shown_root.to_owned(),
            };
            let matches = search_file(&mut searcher, &matcher, entry.path(), &shown, count, bytes, full);
            if !matches.is_empty() {
                let rel = entry.path().strip_prefix(root).unwrap_or(entry.path()).to_owned();
                if let Ok(mut found) = found.lock() {
                    found.push((rel, matches));
                }
            }
            WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap_or_default();
    // Component-wise order is the pre-order a sorted sequential walk would give.
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.into_iter().flat_map(|(_, matches)| matches).take(MAX_MATCHES).collect()
}

fn search_file(
    searcher: &mut Searcher,
    matcher: &grep_regex::RegexMatcher,
    path: &Path,
    shown: &str,
    count: &AtomicUsize,
    bytes: &AtomicUsize,
    full: &AtomicBool,
) -> Vec<Match> {
    let mut matches = Vec::new();
    // An I/O error or a line beyond the heap limit ends this file; what was found stays.
    let _ = searcher.search_path(
        matcher,
        path,
        BytesSink(|line_number, line| {
            if line.len() > MAX_LINE {
                return Ok(false);
            }
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if count.fetch_add(1, Ordering::Relaxed) >= MAX_MATCHES
                || bytes.fetch_add(line.len(), Ordering::Relaxed) >= MAX_MATCH_BYTES
            {
                full.store(true, Ordering::Relaxed);
                return Ok(false);
            }
            matches.push(Match {
                file: shown.to_owned(),
                line: line_number,
                content: String::from_utf8_lossy(line).into_owned(),
            });
            Ok(true)
        }),
    );
    matches
}

/// Translates a Go `filepath.Match` pattern into globset syntax: `[^…]` negation becomes
/// `[!…]`, a literal `!`, `]` or `-` in a class is placed where globset reads it literally,
/// braces are literal, and runs of `*` collapse (Go has no `**`). `None` for a malformed
/// pattern, which (as in Go) matches nothing.
fn go_glob(pattern: &str) -> Option<GlobMatcher> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next()?;
                out.push_str(&globset::escape(&escaped.to_string()));
            }
            '[' => {
                let negated = chars.peek() == Some(&'^');
                if negated {
                    chars.next();
                }
                let mut singles: Vec<char> = Vec::new();
                let mut ranges: Vec<(char, char)> = Vec::new();
                // Go reads `-` and `]` inside a class only when escaped; bare, they are errors
                // (except `]` closing a non-empty class).
                let escaped_char = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<char> {
                    match chars.next()? {
                        '\\' => chars.next(),
                        '-' | ']' => None,
                        c => Some(c),
                    }
                };
                loop {
                    if chars.peek() == Some(&']') && !(singles.is_empty() && ranges.is_empty()) {
                        chars.next();
                        break;
                    }
                    let lo = escaped_char(&mut chars)?;
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        let hi = escaped_char(&mut chars)?;
                        if hi < lo {
                            return None;
                        }
                        ranges.push((lo, hi));
                    } else {
                        singles.push(lo);
                    }
                }
                if singles.iter().all(|c| *c == '!') && ranges.is_empty() {
                    // `[!]` would read as an unterminated negation: spell the one character.
                    out.push_str(if negated { "[!!]" } else { "\\!" });
                    continue;
                }
                out.push('[');
                if negated {
                    out.push('!');
                }
                // globset reads `]` literally only first, `-` only last, `!` anywhere but first.
                let first_close = singles.contains(&']');
                if first_close {
                    out.push(']');
                }
                for (lo, hi) in &ranges {
                    out.push(*lo);
                    out.push('-');
                    out.push(*hi);
                }
                let bang = singles.contains(&'!');
                for c in singles.iter().filter(|c| !matches!(c, ']' | '-' | '!')) {
                    out.push(*c);
                }
                let dash = singles.contains(&'-');
                if bang {
                    out.push('!');
                }
                if dash {
                    out.push('-');
                }
                out.push(']');
            }
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push('*');
            }
            '{' | '}' | ',' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    GlobBuilder::new(&out)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

/// `GET /files/search`: every entry (directories and the root included) whose base name
/// matches the glob, in lexical pre-order.
pub fn search(shown_root: &str, root: &Path, pattern: &str) -> Vec<String> {
    let Some(glob) = go_glob(pattern) else { return Vec::new() };
    if std::fs::symlink_metadata(root).is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut builder = walker(root, None);
    builder.sort_by_file_name(|a, b| a.cmp(b));
    for entry in builder.build().filter_map(Result::ok) {
        let is_root = entry.depth() == 0;
        let name =
            if is_root { paths::base(shown_root) } else { entry.file_name().to_string_lossy().into_owned() };
        if !glob.is_match(&name) {
            continue;
        }
        let shown = match entry.path().strip_prefix(root) {
            Ok(rel) if !is_root => paths::join(shown_root, &rel.to_string_lossy()),
            _ => shown_root.to_owned(),
        };
        out.push(shown);
        if out.len() >= MAX_SEARCH_RESULTS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        go_glob(pattern).is_some_and(|g| g.is_match(name))
    }

    #[test]
    fn go_glob_semantics() {
        assert!(matches("*.rs", "main.rs"));
        assert!(!matches("*.rs", "main.RS"));
        assert!(matches("?.txt", "a.txt"));
        assert!(matches("[^a]*", "bcd"));
        assert!(!matches("[^a]*", "abc"));
        assert!(matches("[a-c]x", "bx"));
        assert!(matches("\\*", "*"));
        assert!(matches("{a,b}", "{a,b}"));
        assert!(!matches("{a,b}", "a"));
        assert!(matches("**.md", "x.md"));
        assert!(go_glob("[abc").is_none());
        assert!(matches("[!x]*", "!bang"));
        assert!(matches("[!x]*", "xray"));
        assert!(!matches("[!x]*", "abc"));
        assert!(go_glob("[]a]").is_none());
        assert!(go_glob("[a-]").is_none());
        assert!(matches("[\\-a]", "-"));
        assert!(matches("[\\]a]", "a"));
        assert!(matches("[!]", "!"));
        assert!(matches("[^!]", "a"));
        assert!(!matches("[^!]", "!"));
        assert!(matches("[\\]]", "]"));
        assert!(matches("a\\?", "a?"));
        assert!(!matches("a\\?", "ab"));
    }

    #[test]
    fn find_is_literal_sorted_and_skips_binary_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a.txt"), "x.y\nnope\r\nx.y again\r\n").unwrap();
        std::fs::write(root.join("a/b.txt"), "xay\nx.y\n").unwrap();
        std::fs::write(root.join("bin"), b"x.y\0\n").unwrap();
        std::fs::write(root.join(".hidden"), "x.y\n").unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link")).unwrap();
        let shown = root.to_str().unwrap();
        let found = find(shown, root, "x.y");
        let got: Vec<_> = found
            .iter()
            .map(|m| (m.file.strip_prefix(shown).unwrap().to_owned(), m.line, m.content.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("/.hidden".to_owned(), 1, "x.y".to_owned()),
                ("/a/b.txt".to_owned(), 2, "x.y".to_owned()),
                ("/a.txt".to_owned(), 1, "x.y".to_owned()),
                ("/a.txt".to_owned(), 3, "x.y again".to_owned()),
            ]
        );
        assert!(find(shown, &root.join("link"), "x.y").is_empty());
        assert!(find(shown, &root.join("missing"), "x.y").is_empty());
        let single = find("f", &root.join("a.txt"), "again");
        assert_eq!(single[0].file, "f");
    }

    #[test]
    fn search_includes_dirs_and_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("logs");
        std::fs::create_dir_all(root.join("old-logs")).unwrap();
        std::fs::write(root.join("old-logs/x.log"), "").unwrap();
        let shown = root.to_str().unwrap().to_owned() + "/";
        let got = search(&shown, &root, "*logs");
        assert_eq!(got, [shown.clone(), format!("{}/old-logs", root.display())]);
    }
}
