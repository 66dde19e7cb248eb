//! Lexical path helpers with Go's `filepath` semantics: responses echo paths the way the
//! reference daemon built them (`Join` cleans, `Base` strips trailing slashes), and
//! [`EntryPath`], the checked form of a path an operation is about to change.
//!
//! Cleaning is for echoing only: `Clean("sub/.")` is `sub`, which would turn a request about
//! `.` into one about `sub`. Checks read the path exactly as the client sent it.

use std::path::{Path, PathBuf};

use crate::fs::error::{FsError, FsResult};

/// A path that names one entry an operation may change (delete, move, chmod, write, mkdir).
///
/// Its last component is a real name: not `.` or `..` (which name a directory by one of its
/// links, so `DELETE sub/.` would empty `sub`) and not the filesystem root. Trailing slashes
/// are removed from `path` and remembered in `dir_only`, because with them the kernel follows
/// a symlink that the bare name would address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPath {
    /// Resolved against the work dir, trailing slashes removed.
    pub path: PathBuf,
    /// The client wrote a trailing slash: the entry must be a real directory.
    pub dir_only: bool,
}

impl EntryPath {
    /// Checks `requested` (as the client sent it) and resolves it with `resolve`.
    pub fn new(requested: &str, resolve: impl FnOnce(&str) -> PathBuf) -> FsResult<Self> {
        let trimmed = requested.trim_end_matches('/');
        if requested.is_empty() {
            return Err(FsError::InvalidPath("path is empty".to_owned()));
        }
        if trimmed.is_empty() {
            return Err(FsError::InvalidPath(format!("{requested}: refusing to change the filesystem root")));
        }
        let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
        if last == "." || last == ".." {
            return Err(FsError::InvalidPath(format!(
                "{requested}: the last path component must name an entry, not {last:?}"
            )));
        }
        Ok(EntryPath { path: resolve(trimmed), dir_only: trimmed.len() != requested.len() })
    }

    pub fn as_path(&self) -> &Path {
        &self.path
    }
}

/// Go's `filepath.Clean`: collapses `//`, `.` and `..` lexically; `""` becomes `.`.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join(root, rel)`.
pub fn join(root: &str, rel: &str) -> String {
    match (root.is_empty(), rel.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(rel),
        (false, true) => clean(root),
        (false, false) => clean(&format!("{root}/{rel}")),
    }
}

/// Go's `filepath.Base`: the last element, ignoring trailing slashes; `/` for the root.
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_join_and_base_match_go() {
        assert_eq!(clean(""), ".");
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../../a"), "../../a");
        assert_eq!(join("/a/", "b"), "/a/b");
        assert_eq!(join(".", "b/c"), "b/c");
        assert_eq!(join("src", "x.rs"), "src/x.rs");
        assert_eq!(base("/tmp/"), "tmp");
        assert_eq!(base("/"), "/");
        assert_eq!(base("a/b c.txt"), "b c.txt");
        assert_eq!(base("."), ".");
    }

    #[test]
    fn entry_paths_name_a_real_entry() {
        let resolve = |p: &str| Path::new("/w").join(p);
        for bad in [".", "..", "./", "sub/.", "sub/..", "sub/./", "link/.", "/", "//", ""] {
            assert!(EntryPath::new(bad, resolve).is_err(), "{bad:?} must be refused");
        }
        let entry = EntryPath::new("link//", resolve).unwrap();
        assert_eq!(entry, EntryPath { path: "/w/link".into(), dir_only: true });
        let entry = EntryPath::new("a/./b", resolve).unwrap();
        assert_eq!(entry, EntryPath { path: "/w/a/./b".into(), dir_only: false });
        assert_eq!(EntryPath::new("/abs/x", resolve).unwrap().path, Path::new("/abs/x"));
        assert!(EntryPath::new("..x", resolve).is_ok());
    }
}
