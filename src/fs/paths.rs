//! Lexical path helpers with Go's `filepath` semantics: responses echo paths the way the
//! reference daemon built them (`Join` cleans, `Base` strips trailing slashes).

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
}
