//! The recent output of one terminal: a bounded byte ring addressed by absolute stream offsets.
//!
//! Offset 0 is the first byte the terminal ever produced. The ring keeps the last `capacity`
//! bytes; a reader that asks for an offset older than that learns how many bytes it lost, which
//! is how a slow or late client resynchronises without ever blocking the writer.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug)]
pub struct Ring {
    buf: VecDeque<u8>,
    capacity: usize,
    end: u64,
}

/// What a reader gets back for a requested offset.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Bytes between the requested offset and the oldest byte still kept (overwritten).
    pub skipped: u64,
    pub data: Bytes,
    /// The offset to ask for next.
    pub next: u64,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Ring { buf: VecDeque::with_capacity(capacity.min(64 * 1024)), capacity, end: 0 }
    }

    /// Offset one past the newest byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Offset of the oldest byte still kept.
    pub fn start(&self) -> u64 {
        self.end - self.buf.len() as u64
    }

    pub fn push(&mut self, data: &[u8]) {
        self.end += data.len() as u64;
        let data = if data.len() > self.capacity { &data[data.len() - self.capacity..] } else { data };
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.capacity);
        self.buf.drain(..overflow);
        self.buf.extend(data);
    }

    /// Up to `max` bytes from `from` (clamped into the kept window).
    pub fn read(&self, from: u64, max: usize) -> Chunk {
        let start = self.start();
        let from = from.min(self.end);
        let skipped = start.saturating_sub(from);
        let from = from.max(start);
        let index = usize::try_from(from - start).unwrap_or(usize::MAX).min(self.buf.len());
        let len = (self.buf.len() - index).min(max);
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(len);
        if index < a.len() {
            let take = (a.len() - index).min(len);
            out.extend_from_slice(&a[index..index + take]);
            out.extend_from_slice(&b[..len - take]);
        } else {
            let at = index - a.len();
            out.extend_from_slice(&b[at..at + len]);
        }
        Chunk { skipped, data: Bytes::from(out), next: from + len as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_follow_offsets_and_report_overwritten_bytes() {
        let mut ring = Ring::new(8);
        ring.push(b"hello");
        assert_eq!(ring.read(0, 100).data, Bytes::from_static(b"hello"));
        assert_eq!(ring.read(2, 2).data, Bytes::from_static(b"ll"));
        ring.push(b" world");
        assert_eq!((ring.start(), ring.end()), (3, 11));
        let chunk = ring.read(0, 100);
        assert_eq!(chunk.skipped, 3);
        assert_eq!(chunk.data, Bytes::from_static(b"lo world"));
        assert_eq!(chunk.next, 11);
        assert!(ring.read(11, 10).data.is_empty());
        assert_eq!(ring.read(99, 10).next, 11, "an offset past the end is clamped");
    }

    #[test]
    fn a_push_bigger_than_the_ring_keeps_its_tail() {
        let mut ring = Ring::new(4);
        ring.push(b"abcdefgh");
        assert_eq!(ring.read(0, 10), Chunk { skipped: 4, data: Bytes::from_static(b"efgh"), next: 8 });
    }

    #[test]
    fn wrapped_storage_reads_across_both_halves() {
        let mut ring = Ring::new(6);
        ring.push(b"abcdef");
        ring.push(b"gh");
        assert_eq!(ring.read(3, 4).data, Bytes::from_static(b"defg"));
        assert_eq!(ring.read(6, 10).data, Bytes::from_static(b"gh"));
    }
}
