//! The command log format: every line of output prefixed with a 3-byte stream marker
//! (`01 01 01` stdout, `02 02 02` stderr), and the ways to read it back (raw, demultiplexed,
//! markers stripped), always within a byte budget.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const STDOUT_MARKER: [u8; 3] = [1, 1, 1];
pub const STDERR_MARKER: [u8; 3] = [2, 2, 2];

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn marker(self) -> [u8; 3] {
        match self {
            Stream::Stdout => STDOUT_MARKER,
            Stream::Stderr => STDERR_MARKER,
        }
    }
}

/// How a client wants log bytes (chosen from its SDK version, see `routes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Raw bytes plus server-side demultiplexed `stdout`/`stderr` (current SDKs).
    Demux,
    /// Raw bytes with markers; the client demultiplexes.
    Raw,
    /// Markers stripped: one combined text (clients that predate split output).
    Combined,
}

/// Frames one chunk of a stream for the log: a marker at the start of the chunk and after every
/// newline inside it, so every line carries its stream even when streams interleave mid-line.
pub fn frame(stream: Stream, chunk: &[u8], out: &mut Vec<u8>) {
    let marker = stream.marker();
    let mut rest = chunk;
    while !rest.is_empty() {
        out.extend_from_slice(&marker);
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
}

fn marker_at(bytes: &[u8], i: usize) -> Option<Stream> {
    match bytes.get(i..i + 3) {
        Some(m) if m == STDOUT_MARKER => Some(Stream::Stdout),
        Some(m) if m == STDERR_MARKER => Some(Stream::Stderr),
        _ => None,
    }
}

/// Splits a log into stdout and stderr; bytes before the first marker belong to neither.
pub fn demux(log: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut current: Option<Stream> = None;
    let mut i = 0;
    while i < log.len() {
        if let Some(stream) = marker_at(log, i) {
            current = Some(stream);
            i += 3;
            continue;
        }
        match current {
            Some(Stream::Stdout) => out.push(log[i]),
            Some(Stream::Stderr) => err.push(log[i]),
            None => {}
        }
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

/// Removes markers, streaming: a marker split across chunks is held back until it completes.
#[derive(Debug, Default)]
pub struct Stripper {
    carry: Vec<u8>,
}

impl Stripper {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if marker_at(&bytes, i).is_some() {
                i += 3;
                continue;
            }
            let tail = &bytes[i..];
            if tail.len() < 3 && tail.iter().all(|&b| b == tail[0]) && (tail[0] == 1 || tail[0] == 2) {
                self.carry = tail.to_vec();
                break;
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.carry)
    }
}

/// Strips every marker from a whole log.
pub fn strip(log: &[u8]) -> Vec<u8> {
    let mut stripper = Stripper::default();
    let mut out = stripper.push(log);
    out.extend(stripper.finish());
    out
}

/// Reads a log file, keeping at most `limit` bytes: past it the head and the tail, with a
/// stdout line in between that says how much was left out.
pub fn read_capped(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let len = file.metadata()?.len();
    let limit64 = limit as u64;
    if len <= limit64 {
        let mut all = Vec::with_capacity(len as usize);
        file.read_to_end(&mut all)?;
        return Ok(all);
    }
    let half = limit / 2;
    let mut head = vec![0u8; half];
    file.read_exact(&mut head)?;
    file.seek(SeekFrom::Start(len - half as u64))?;
    let mut tail = Vec::with_capacity(half);
    file.read_to_end(&mut tail)?;
    let omitted = len - 2 * half as u64;
    let mut out = head;
    out.extend_from_slice(&STDOUT_MARKER);
    out.extend_from_slice(format!("\n[toolboxd: log truncated, {omitted} bytes omitted]\n").as_bytes());
    out.extend_from_slice(&STDOUT_MARKER);
    out.extend(tail);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_gets_a_marker() {
        let mut out = Vec::new();
        frame(Stream::Stdout, b"a\nb\nc", &mut out);
        frame(Stream::Stderr, b"e\n", &mut out);
        assert_eq!(out, b"\x01\x01\x01a\n\x01\x01\x01b\n\x01\x01\x01c\x02\x02\x02e\n");
        let (stdout, stderr) = demux(&out);
        assert_eq!((stdout.as_str(), stderr.as_str()), ("a\nb\nc", "e\n"));
    }

    #[test]
    fn demux_drops_bytes_before_the_first_marker() {
        assert_eq!(demux(b"junk\x02\x02\x02err\n"), (String::new(), "err\n".to_owned()));
    }

    #[test]
    fn stripping_survives_markers_split_across_chunks() {
        let mut s = Stripper::default();
        let mut out = s.push(b"\x01\x01\x01hi\n\x02");
        out.extend(s.push(b"\x02"));
        out.extend(s.push(b"\x02oops\n"));
        out.extend(s.finish());
        assert_eq!(out, b"hi\noops\n");
        assert_eq!(strip(b"\x01\x01\x01x\x01"), b"x\x01");
    }
}
