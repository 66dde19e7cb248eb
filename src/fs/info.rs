//! `FileInfo` with the reference daemon's Go-specific string formats, stat and list.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::{DateTime, Local, Offset, TimeZone};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{FsError, FsResult};
use super::paths;

/// One file or directory as the 0.226.1 client's `FileInfo` model reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Base name of the path as requested (a symlink's own name).
    pub name: String,
    /// Size of the target (stat follows symlinks).
    pub size: u64,
    /// Go `FileMode.String()`, e.g. `drwxr-xr-x`, `dtrwxrwxrwx`, `Dcrw-rw-rw-`.
    pub mode: String,
    /// Deprecated: Go `Time.String()` in the local zone.
    pub mod_time: String,
    /// RFC 3339 with nanoseconds, trailing zeros trimmed.
    pub modified_at: String,
    pub is_dir: bool,
    /// Numeric UID as a decimal string.
    pub owner: String,
    /// Numeric GID as a decimal string.
    pub group: String,
    /// `%04o` of the nine permission bits.
    pub permissions: String,
    /// List responses only: the root joined with the entry's relative path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl FileInfo {
    pub fn from_metadata(name: String, meta: &Metadata, path: Option<String>) -> Self {
        let modified = local_time(meta.mtime(), meta.mtime_nsec());
        FileInfo {
            name,
            size: meta.size(),
            mode: go_mode_string(meta.mode()),
            mod_time: go_time_string(&modified),
            modified_at: rfc3339_nano(&modified),
            is_dir: meta.is_dir(),
            owner: meta.uid().to_string(),
            group: meta.gid().to_string(),
            permissions: format!("{:04o}", meta.mode() & 0o777),
            path,
        }
    }
}

fn local_time(secs: i64, nsec: i64) -> DateTime<Local> {
    let nsec = u32::try_from(nsec.clamp(0, 999_999_999)).unwrap_or(0);
    Local
        .timestamp_opt(secs, nsec)
        .earliest()
        .unwrap_or_else(|| DateTime::<Local>::from(DateTime::UNIX_EPOCH))
}

/// Go's `FileMode.String()` for a unix `st_mode` (as `os.Stat` fills it in).
pub fn go_mode_string(st_mode: u32) -> String {
    const S_IFMT: u32 = 0o170_000;
    let kind = st_mode & S_IFMT;
    // Go's letters in its bit order: d a l T L D p S u g c t ?
    let letters = [
        ('d', kind == 0o040_000),
        ('a', false),
        ('l', false),
        ('T', false),
        ('L', kind == 0o120_000),
        ('D', kind == 0o060_000 || kind == 0o020_000),
        ('p', kind == 0o010_000),
        ('S', kind == 0o140_000),
        ('u', st_mode & 0o4000 != 0),
        ('g', st_mode & 0o2000 != 0),
        ('c', kind == 0o020_000),
        ('t', st_mode & 0o1000 != 0),
        ('?', false),
    ];
    let mut out: String = letters.iter().filter(|(_, set)| *set).map(|(c, _)| *c).collect();
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if st_mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    out
}

fn trimmed_fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    let digits = format!("{nanos:09}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`. chrono has no zone
/// abbreviation, so a non-UTC zone prints its offset where Go would print e.g. `CEST`.
pub fn go_time_string<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let offset = time.offset().fix().local_minus_utc();
    let zone = if offset == 0 { "UTC".to_owned() } else { time.format("%z").to_string() };
    format!(
        "{}{} {} {zone}",
        time.format("%Y-%m-%d %H:%M:%S"),
        trimmed_fraction(time.timestamp_subsec_nanos()),
        time.format("%z"),
    )
}

/// Go's `time.RFC3339Nano`: fraction trimmed, `Z` for UTC.
pub fn rfc3339_nano<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let offset = time.offset().fix().local_minus_utc();
    let zone = if offset == 0 { "Z".to_owned() } else { time.format("%:z").to_string() };
    format!("{}{}{zone}", time.format("%Y-%m-%dT%H:%M:%S"), trimmed_fraction(time.timestamp_subsec_nanos()))
}

/// `GET /files/info`: stat (following links), named after the path as requested.
pub fn stat(requested: &str, resolved: &Path) -> FsResult<FileInfo> {
    let meta = std::fs::metadata(resolved).map_err(|err| FsError::io("stat", resolved, &err))?;
    Ok(FileInfo::from_metadata(paths::base(requested), &meta, None))
}

/// `GET /files`: the entries of `resolved` down to `depth` levels, in lexical pre-order.
/// Entries whose stat fails (dangling links, races) are dropped, as the reference does.
pub fn list(requested: &str, resolved: &Path, depth: usize) -> FsResult<Vec<FileInfo>> {
    let meta = std::fs::metadata(resolved).map_err(|err| FsError::io("stat", resolved, &err))?;
    if !meta.is_dir() {
        return Err(FsError::Os(format!("open {}: not a directory", resolved.display())));
    }
    let mut out = Vec::new();
    walk_dir(resolved, requested, depth, true, &mut out)?;
    Ok(out)
}

fn walk_dir(dir: &Path, shown: &str, depth: usize, top: bool, out: &mut Vec<FileInfo>) -> FsResult<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if top => return Err(FsError::io("open", dir, &err)),
        // Unreadable subtrees are skipped silently.
        Err(_) => return Ok(()),
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let shown_path = paths::join(shown, &name);
        out.push(FileInfo::from_metadata(name, &meta, Some(shown_path.clone())));
        // Never descend through a symlinked subdirectory.
        let is_real_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if depth > 1 && is_real_dir {
            walk_dir(&path, &shown_path, depth - 1, false, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, Utc};

    use super::*;

    #[test]
    fn mode_strings_match_go() {
        assert_eq!(go_mode_string(0o100_644), "-rw-r--r--");
        assert_eq!(go_mode_string(0o040_755), "drwxr-xr-x");
        assert_eq!(go_mode_string(0o041_777), "dtrwxrwxrwx");
        assert_eq!(go_mode_string(0o104_755), "urwxr-xr-x");
        assert_eq!(go_mode_string(0o020_666), "Dcrw-rw-rw-");
        assert_eq!(go_mode_string(0o060_660), "Drw-rw----");
        assert_eq!(go_mode_string(0o010_644), "prw-r--r--");
        assert_eq!(go_mode_string(0o140_755), "Srwxr-xr-x");
        assert_eq!(go_mode_string(0o102_755), "grwxr-xr-x");
        assert_eq!(go_mode_string(0o120_777), "Lrwxrwxrwx");
    }

    #[test]
    fn times_match_go() {
        let t = Utc.timestamp_opt(1_779_294_449, 0).unwrap();
        assert_eq!(go_time_string(&t), "2026-05-20 16:27:29 +0000 UTC");
        assert_eq!(rfc3339_nano(&t), "2026-05-20T16:27:29Z");
        let t = Utc.timestamp_opt(1_795_383_807, 371_901_693).unwrap();
        assert_eq!(go_time_string(&t), "2026-11-22 21:43:27.371901693 +0000 UTC");
        assert_eq!(rfc3339_nano(&t), "2026-11-22T21:43:27.371901693Z");
        let t = Utc.timestamp_opt(1_795_383_807, 370_000_000).unwrap();
        assert_eq!(rfc3339_nano(&t), "2026-11-22T21:43:27.37Z");
        let cest = FixedOffset::east_opt(2 * 3600).unwrap();
        let t = cest.timestamp_opt(1_779_294_449, 5_000).unwrap();
        assert_eq!(rfc3339_nano(&t), "2026-05-20T18:27:29.000005+02:00");
        assert_eq!(go_time_string(&t), "2026-05-20 18:27:29.000005 +0200 +0200");
    }

    #[test]
    fn list_with_depth_is_lexical_preorder_and_skips_dangling_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        std::fs::write(dir.path().join("b/c/d.txt"), "x").unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("dangling")).unwrap();
        let root = dir.path().to_str().unwrap();
        let names: Vec<_> = list(root, dir.path(), 3).unwrap().into_iter().map(|f| f.path.unwrap()).collect();
        assert_eq!(
            names,
            [
                format!("{root}/a.txt"),
                format!("{root}/b"),
                format!("{root}/b/c"),
                format!("{root}/b/c/d.txt")
            ]
        );
        let one = list(root, dir.path(), 1).unwrap();
        assert_eq!(one.len(), 2);
        assert_eq!(one[0].size, 5);
        assert_eq!(one[0].permissions.len(), 4);
    }
}
