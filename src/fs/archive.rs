//! `GET /files/archive`: a directory as a tar stream. A blocking thread walks and writes the
//! tar into a bounded queue of chunks; the response body drains it. Memory is bounded by the
//! queue, whatever the tree's size; the thread stops when the client goes (the queue closes).

use std::io::{self, Write};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// Bytes per chunk handed to the socket.
const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the tar writer and the socket.
const QUEUE: usize = 4;

struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Streams `dir` as a tar whose entries live under `name/`. Symlinks are stored as links.
/// An error mid-way ends the stream with that error, so the client sees a truncated body
/// rather than a tar that looks complete.
pub fn tar_stream(dir: PathBuf, name: String) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        let mut builder = tar::Builder::new(ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) });
        builder.follow_symlinks(false);
        let result = builder
            .append_dir_all(&name, &dir)
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(err) = result {
            let _ = errors.blocking_send(Err(err));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
