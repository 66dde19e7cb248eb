//! Output kept within a byte budget: the head and the tail survive, the middle is counted.

/// Collects a stream of bytes, keeping at most `limit` of them (half head, half tail).
#[derive(Debug)]
pub struct CappedOutput {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    half: usize,
    dropped: u64,
}

impl CappedOutput {
    pub fn new(limit: usize) -> Self {
        let half = (limit / 2).max(1);
        CappedOutput { head: Vec::new(), tail: std::collections::VecDeque::new(), half, dropped: 0 }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.head.len() < self.half {
            let take = bytes.len().min(self.half - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= self.half {
            self.dropped += (self.tail.len() + bytes.len() - self.half) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.half..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.half);
        self.tail.drain(..overflow);
        self.dropped += overflow as u64;
        self.tail.extend(bytes);
    }

    /// Bytes that were dropped from the middle.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The kept text; a notice marks where bytes were dropped.
    pub fn into_string(self) -> String {
        let mut out = self.head;
        if self.dropped > 0 {
            let notice = format!("\n[toolboxd: output truncated, {} bytes omitted]\n", self.dropped);
            out.extend_from_slice(notice.as_bytes());
        }
        out.extend(self.tail);
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut out = CappedOutput::new(100);
        out.push(b"hello ");
        out.push(b"world");
        assert_eq!(out.into_string(), "hello world");
    }

    #[test]
    fn large_output_keeps_head_and_tail() {
        let mut out = CappedOutput::new(10);
        for chunk in [b"abc".as_slice(), b"defgh", b"ijklmnop", b"qr"] {
            out.push(chunk);
        }
        assert_eq!(out.dropped(), 8);
        assert_eq!(out.into_string(), "abcde\n[toolboxd: output truncated, 8 bytes omitted]\nnopqr");
    }

    #[test]
    fn one_huge_chunk_keeps_its_ends() {
        let mut out = CappedOutput::new(4);
        out.push(b"0123456789");
        assert_eq!(out.dropped(), 6);
        assert!(out.into_string().ends_with("\n89"));
    }
}
