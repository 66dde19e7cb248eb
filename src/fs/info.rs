//! `FileInfo` with the reference daemon's Go-specific string formats, stat and list.

use std::ffi::{CStr, CString};
use std::fs::Metadata;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::{DateTime, Datelike, Local, Offset, TimeZone, Timelike};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};
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

/// The stat fields a `FileInfo` shows, from std's metadata or a directory-relative `statx`.
#[derive(Debug, Clone, Copy)]
struct Attrs {
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: i64,
}

impl Attrs {
    fn of_metadata(meta: &Metadata) -> Self {
        Attrs {
            size: meta.size(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }

    fn of_statx(stx: &rustix::fs::Statx) -> Self {
        Attrs {
            size: stx.stx_size,
            mode: u32::from(stx.stx_mode),
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            mtime: stx.stx_mtime.tv_sec,
            mtime_nsec: i64::from(stx.stx_mtime.tv_nsec),
        }
    }

    fn is_dir(&self) -> bool {
        self.mode & 0o170_000 == 0o040_000
    }
}

impl FileInfo {
    pub fn from_metadata(name: String, meta: &Metadata, path: Option<String>) -> Self {
        FileInfo::from_attrs(name, &Attrs::of_metadata(meta), path)
    }

    fn from_attrs(name: String, attrs: &Attrs, path: Option<String>) -> Self {
        let modified = local_time(attrs.mtime, attrs.mtime_nsec);
        FileInfo {
            name,
            size: attrs.size,
            mode: go_mode_string(attrs.mode),
            mod_time: go_time_string(&modified),
            modified_at: rfc3339_nano(&modified),
            is_dir: attrs.is_dir(),
            owner: attrs.uid.to_string(),
            group: attrs.gid.to_string(),
            permissions: octal_permissions(attrs.mode),
            path,
        }
    }
}

/// `%04o` of the nine permission bits.
fn octal_permissions(mode: u32) -> String {
    let mut out = String::with_capacity(4);
    out.push('0');
    for shift in [6, 3, 0] {
        out.push(char::from(b'0' + ((mode >> shift) & 0o7) as u8));
    }
    out
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
    let mut out = String::with_capacity(12);
    out.extend(letters.iter().filter(|(_, set)| *set).map(|(c, _)| *c));
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if st_mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    out
}

/// Writes `n` as exactly `width` decimal digits (zero-padded, high digits cut).
fn push_digits(out: &mut String, n: u32, width: u32) {
    let mut div = 10u32.pow(width.saturating_sub(1));
    while div > 0 {
        out.push(char::from(b'0' + (n / div % 10) as u8));
        div /= 10;
    }
}

/// `.` and the nanoseconds with trailing zeros trimmed; nothing for a whole second.
fn push_fraction(out: &mut String, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let (mut digits, mut width) = (nanos, 9);
    while digits % 10 == 0 {
        digits /= 10;
        width -= 1;
    }
    out.push('.');
    push_digits(out, digits, width);
}

/// `+hhmm` (or `+hh:mm`), as chrono's `%z` (`%:z`) prints a whole-minute offset.
fn push_offset(out: &mut String, seconds: i32, colon: bool) {
    out.push(if seconds < 0 { '-' } else { '+' });
    let minutes = seconds.unsigned_abs() / 60;
    push_digits(out, minutes / 60, 2);
    if colon {
        out.push(':');
    }
    push_digits(out, minutes % 60, 2);
}

/// `YYYY-MM-DD`, `separator`, `hh:mm:ss` and the trimmed fraction, written directly (a listing
/// formats two times per entry); `None` for what the fast path does not cover (years outside
/// 0..=9999, offsets with seconds), which keep chrono's formatting.
fn push_date_time<Tz: TimeZone>(out: &mut String, time: &DateTime<Tz>, separator: char) -> Option<i32> {
    let offset = time.offset().fix().local_minus_utc();
    let local = time.naive_local();
    let year = u32::try_from(local.year()).ok().filter(|&y| y <= 9999)?;
    if offset % 60 != 0 {
        return None;
    }
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, local.month(), 2);
    out.push('-');
    push_digits(out, local.day(), 2);
    out.push(separator);
    push_digits(out, local.hour(), 2);
    out.push(':');
    push_digits(out, local.minute(), 2);
    out.push(':');
    push_digits(out, local.second(), 2);
    push_fraction(out, time.timestamp_subsec_nanos());
    Some(offset)
}

fn trimmed_fraction(nanos: u32) -> String {
    let mut out = String::new();
    push_fraction(&mut out, nanos);
    out
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`. chrono has no zone
/// abbreviation, so a non-UTC zone prints its offset where Go would print e.g. `CEST`.
pub fn go_time_string<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut out = String::with_capacity(48);
    if let Some(offset) = push_date_time(&mut out, time, ' ') {
        out.push(' ');
        push_offset(&mut out, offset, false);
        out.push(' ');
        if offset == 0 {
            out.push_str("UTC");
        } else {
            push_offset(&mut out, offset, false);
        }
        return out;
    }
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
    let mut out = String::with_capacity(36);
    if let Some(offset) = push_date_time(&mut out, time, 'T') {
        if offset == 0 {
            out.push('Z');
        } else {
            push_offset(&mut out, offset, true);
        }
        return out;
    }
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
    let dir = open_dir(rustix::fs::CWD, resolved).map_err(|err| FsError::io("open", resolved, &err))?;
    let mut out = Vec::new();
    walk_dir(dir, &paths::clean(requested), depth, &mut out);
    Ok(out)
}

fn open_dir<P: rustix::path::Arg>(at: impl AsFd, path: P) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(at, path, flags, Mode::empty())?)
}

/// `parent` (already clean) joined with one plain entry name, as `paths::join` would.
fn child_path(parent: &str, name: &str) -> String {
    match parent {
        "." => name.to_owned(),
        "/" => format!("/{name}"),
        _ => {
            let mut path = String::with_capacity(parent.len() + 1 + name.len());
            path.push_str(parent);
            path.push('/');
            path.push_str(name);
            path
        }
    }
}

/// Lists the open directory `dir`: names sorted as bytes, each entry stat'ed relative to
/// `dir` (no path walk per entry). Unreadable subtrees are skipped silently.
fn walk_dir(dir: OwnedFd, shown: &str, depth: usize, out: &mut Vec<FileInfo>) {
    let Ok(mut reader) = rustix::fs::Dir::read_from(&dir) else { return };
    let mut entries: Vec<(CString, FileType)> = Vec::new();
    while let Some(Ok(entry)) = reader.read() {
        let name = entry.file_name();
        if name != c"." && name != c".." {
            entries.push((name.to_owned(), entry.file_type()));
        }
    }
    drop(reader);
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let wanted = StatxFlags::TYPE
        | StatxFlags::MODE
        | StatxFlags::UID
        | StatxFlags::GID
        | StatxFlags::SIZE
        | StatxFlags::MTIME;
    for (c_name, kind) in entries {
        let Ok(stx) = rustix::fs::statx(&dir, c_name.as_c_str(), AtFlags::empty(), wanted) else { continue };
        let name = String::from_utf8_lossy(c_name.as_bytes()).into_owned();
        let shown_path = child_path(shown, &name);
        let descend = depth > 1 && is_real_dir(&dir, &c_name, kind);
        let attrs = Attrs::of_statx(&stx);
        if !descend {
            out.push(FileInfo::from_attrs(name, &attrs, Some(shown_path)));
            continue;
        }
        out.push(FileInfo::from_attrs(name, &attrs, Some(shown_path.clone())));
        // Never descend through a symlinked subdirectory.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if let Ok(sub) = rustix::fs::openat(&dir, c_name.as_c_str(), flags, Mode::empty()) {
            walk_dir(sub, &shown_path, depth - 1, out);
        }
    }
}

/// Whether the entry itself (not a link's target) is a directory; `lstat` when the directory
/// listing does not say.
fn is_real_dir(dir: &OwnedFd, name: &CStr, kind: FileType) -> bool {
    match kind {
        FileType::Unknown => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
        kind => kind == FileType::Directory,
    }
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
        let india_west = FixedOffset::west_opt(5 * 3600 + 1800).unwrap();
        let t = india_west.timestamp_opt(1_779_294_449, 100).unwrap();
        assert_eq!(rfc3339_nano(&t), "2026-05-20T10:57:29.0000001-05:30");
        assert_eq!(go_time_string(&t), "2026-05-20 10:57:29.0000001 -0530 -0530");
        // Outside the direct writer's range: chrono's formatting, same shape.
        let t = Utc.timestamp_opt(-62_135_596_800 - 86_400, 0).unwrap();
        assert_eq!(rfc3339_nano(&t), format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")));
    }

    #[test]
    fn child_paths_join_like_go() {
        for parent in [".", "/", "big", "/tmp/x", "..", "a/b"] {
            assert_eq!(child_path(parent, "f.txt"), paths::join(parent, "f.txt"), "{parent}");
        }
        assert_eq!(octal_permissions(0o104_755), "0755");
        assert_eq!(octal_permissions(0o100_640), "0640");
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
