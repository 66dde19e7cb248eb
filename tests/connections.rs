//! Connection timeouts, driven over raw TCP against the real binary: stalled request heads, idle
//! keep-alive connections and request bodies that stop are closed, while slow-but-moving
//! uploads, long requests and idle websockets live on.
//!
//! The daemons here run with 1–2 s timeouts; the tests wait past them and check what the socket
//! or the disk shows. Waits are bounded only to keep a broken build from hanging the suite.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{Daemon, Options};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Guards against hangs only; no test asserts on elapsed time.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn short_timeouts() -> Daemon {
    Daemon::spawn_with(Options {
        args: vec!["--header-read-timeout-secs", "1", "--idle-timeout-secs", "2", "--body-timeout-secs", "1"],
        ..Default::default()
    })
}

/// Reads until the daemon closes the connection; returns what arrived. Panics if it stays open.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(HANG_GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the daemon kept the connection open; received {:?}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads one response whose body has a `Content-Length`, leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(HANG_GUARD, stream.read(&mut buf)).await.expect("a response").unwrap();
        assert!(n > 0, "closed before the response was complete: {:?}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .expect("content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_request_head_that_stops_arriving_is_closed() {
    let daemon = short_timeouts();
    let mut stream = TcpStream::connect(&daemon.addr).await.unwrap();
    stream.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let received = read_until_closed(&mut stream).await;
    assert!(!received.contains("200 OK"), "a half-sent head was served: {received}");
}

#[tokio::test]
async fn a_connection_that_never_sends_and_an_idle_keep_alive_are_closed() {
    let daemon = short_timeouts();
    let mut silent = TcpStream::connect(&daemon.addr).await.unwrap();
    let mut kept = TcpStream::connect(&daemon.addr).await.unwrap();
    kept.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let first = read_response(&mut kept).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // The same connection serves a second request while it is not idle for too long...
    kept.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let second = read_response(&mut kept).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    // ...and is closed once it is.
    assert_eq!(read_until_closed(&mut kept).await, "");
    assert_eq!(read_until_closed(&mut silent).await, "");
}

#[tokio::test]
async fn a_request_body_that_stops_fails_and_the_connection_closes() {
    let daemon = short_timeouts();
    let mut stream = TcpStream::connect(&daemon.addr).await.unwrap();
    let head = "POST /files/upload-v2?path=stalled.bin HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'a'; 100]).await.unwrap();
    let received = read_until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 4"), "a stalled body is a client error: {received}");
    assert!(received.contains("stalled"), "the answer says why: {received}");
    assert!(!daemon.work().join("stalled.bin").exists(), "a stalled upload left a file");
    let leftovers: Vec<_> = std::fs::read_dir(daemon.work()).unwrap().collect();
    assert!(leftovers.is_empty(), "temp files left behind: {leftovers:?}");
}

#[tokio::test]
async fn a_slow_upload_that_keeps_moving_completes() {
    let daemon = short_timeouts();
    let mut stream = TcpStream::connect(&daemon.addr).await.unwrap();
    let chunks = 12usize;
    let chunk = [b'z'; 1000];
    let head = format!(
        "POST /files/upload-v2?path=slow.bin HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        chunks * chunk.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // 12 chunks 400 ms apart: the upload takes longer than every timeout, but never stops.
    for _ in 0..chunks {
        tokio::time::sleep(Duration::from_millis(400)).await;
        stream.write_all(&chunk).await.unwrap();
    }
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let written = std::fs::read(daemon.work().join("slow.bin")).unwrap();
    assert_eq!(written.len(), chunks * chunk.len());
}

#[tokio::test]
async fn a_request_in_flight_longer_than_every_timeout_is_answered() {
    let daemon = short_timeouts();
    let response = daemon
        .post("/process/execute")
        .json(&serde_json::json!({"command": "sleep 3; echo finished"}))
        .timeout(HANG_GUARD)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"].as_str().unwrap().trim(), "finished", "{body}");
}

#[tokio::test]
async fn an_idle_websocket_outlives_the_idle_timeout() {
    let daemon = short_timeouts();
    let url = format!("ws://{}/files/watch?path=.&recursive=true", daemon.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    // Idle for longer than the idle and header timeouts together.
    tokio::time::sleep(Duration::from_secs(4)).await;
    std::fs::write(daemon.work().join("after-the-wait.txt"), "x").unwrap();
    let message = tokio::time::timeout(HANG_GUARD, socket.next()).await.expect("an event").expect("open");
    let text = message.expect("a message").into_text().unwrap();
    assert!(text.contains("after-the-wait.txt"), "{text}");
}
