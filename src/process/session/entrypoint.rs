//! Where session logs live on disk, and `toolboxd entrypoint logs`: prints the entrypoint's log
//! of a running daemon (found through the same data dir), stdout to stdout, stderr to stderr,
//! following it until the entrypoint has exited.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::process::session::log::{STDERR_MARKER, STDOUT_MARKER, Stream};
use crate::process::session::{ENTRYPOINT_COMMAND, ENTRYPOINT_SESSION};

/// `<data>/sessions`: one directory per session, one per command inside it.
pub fn sessions_root(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

/// The entrypoint command's directory (holds `output.log` and, once it exited, `exit_code`).
pub fn entrypoint_dir(data_dir: &Path) -> PathBuf {
    sessions_root(data_dir).join(ENTRYPOINT_SESSION).join(ENTRYPOINT_COMMAND)
}

/// Splits a marker-framed byte stream as it arrives.
#[derive(Debug, Default)]
struct Demuxer {
    current: Option<Stream>,
    carry: Vec<u8>,
}

impl Demuxer {
    fn push(&mut self, chunk: &[u8], out: &mut impl FnMut(Stream, &[u8])) {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            let marker = if rest.starts_with(&STDOUT_MARKER) {
                Some(Stream::Stdout)
            } else if rest.starts_with(&STDERR_MARKER) {
                Some(Stream::Stderr)
            } else {
                None
            };
            if let Some(stream) = marker {
                self.emit(&bytes[start..i], out);
                self.current = Some(stream);
                i += 3;
                start = i;
                continue;
            }
            if rest.len() < 3 && (rest[0] == 1 || rest[0] == 2) && rest.iter().all(|&b| b == rest[0]) {
                self.emit(&bytes[start..i], out);
                self.carry = rest.to_vec();
                return;
            }
            i += 1;
        }
        self.emit(&bytes[start..], out);
    }

    fn emit(&self, bytes: &[u8], out: &mut impl FnMut(Stream, &[u8])) {
        if let (Some(stream), false) = (self.current, bytes.is_empty()) {
            out(stream, bytes);
        }
    }
}

/// Prints the entrypoint log under `data_dir`; exit status 1 when there is none.
pub fn print_logs(data_dir: &Path) -> ExitCode {
    let dir = entrypoint_dir(data_dir);
    let mut file = match std::fs::File::open(dir.join("output.log")) {
        Ok(file) => file,
        Err(err) => {
            let mut stderr = std::io::stderr();
            let _ =
                writeln!(stderr, "entrypoint log not found at {}: {err}", dir.join("output.log").display());
            return ExitCode::from(1);
        }
    };
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let mut demux = Demuxer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let closed = std::cell::Cell::new(false);
    let mut write = |stream: Stream, bytes: &[u8]| {
        let result = match stream {
            Stream::Stdout => stdout.write_all(bytes).and_then(|()| stdout.flush()),
            Stream::Stderr => stderr.write_all(bytes),
        };
        closed.set(closed.get() || result.is_err());
    };
    loop {
        let finished = dir.join("exit_code").exists();
        match file.read(&mut buf) {
            Ok(0) if finished => return ExitCode::SUCCESS,
            Ok(0) => std::thread::sleep(Duration::from_millis(100)),
            Ok(n) => demux.push(&buf[..n], &mut write),
            Err(_) => return ExitCode::from(1),
        }
        if closed.get() {
            // A closed stdout (e.g. piped into `head`) ends the listing.
            return ExitCode::SUCCESS;
        }
        if !dir.exists() {
            // The daemon removed the session (shutdown): nothing more will come.
            return ExitCode::SUCCESS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxer_handles_split_markers() {
        let mut got: Vec<(Stream, Vec<u8>)> = Vec::new();
        let mut d = Demuxer::default();
        let mut sink = |s: Stream, b: &[u8]| got.push((s, b.to_vec()));
        d.push(b"pre\x01\x01\x01out\n\x02", &mut sink);
        d.push(b"\x02\x02err\n", &mut sink);
        let out: Vec<u8> =
            got.iter().filter(|(s, _)| *s == Stream::Stdout).flat_map(|(_, b)| b.clone()).collect();
        let err: Vec<u8> =
            got.iter().filter(|(s, _)| *s == Stream::Stderr).flat_map(|(_, b)| b.clone()).collect();
        assert_eq!((out.as_slice(), err.as_slice()), (b"out\n".as_slice(), b"err\n".as_slice()));
    }
}
