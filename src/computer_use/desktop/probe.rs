//! Readiness probes: is an X server answering on a display, is something accepting connections
//! on a port. Each probe is bounded by a short timeout so a wedged server cannot hang a start.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// An X11 connection setup request: little-endian, protocol 11.0, no authorisation.
const X_SETUP: [u8; 12] = [b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Whether an X server answers a connection setup on `socket`. Any answer counts (success,
/// failure or "authenticate"): the server is up and speaking X.
pub async fn x_server_answers(socket: &Path) -> bool {
    let attempt = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream.write_all(&X_SETUP).await?;
        let mut first = [0u8; 1];
        let n = stream.read(&mut first).await?;
        Ok::<bool, std::io::Error>(n == 1 && first[0] <= 2)
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, attempt).await, Ok(Ok(true)))
}

/// Whether something accepts TCP connections on `port` of 127.0.0.1.
pub async fn port_answers(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(tokio::time::timeout(PROBE_TIMEOUT, connect).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_port_answers_and_a_closed_one_does_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(port_answers(port).await);
        drop(listener);
        assert!(!port_answers(port).await);
    }

    #[tokio::test]
    async fn a_socket_that_is_not_an_x_server_does_not_answer() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!x_server_answers(&dir.path().join("X99")).await);
        let path = dir.path().join("X98");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut setup = [0u8; 12];
            stream.read_exact(&mut setup).await.unwrap();
            stream.write_all(b"HTTP/1.1 400").await.unwrap();
        });
        assert!(!x_server_answers(&path).await);
        server.await.unwrap();
    }
}
