//! The web terminal: its websocket driven directly, then the page driven in headless Chromium
//! (Debian's `chromium`, `playwright-core` from npm) typing into xterm.js like a person.

#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Daemon, Options, have, playwright_dir};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "terminal-test-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(token: Option<&str>) -> (Daemon, u16, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let port_arg = port.to_string();
    let home_path = home.path().to_str().unwrap().to_owned();
    let daemon = Daemon::spawn_with(Options {
        token,
        args: vec!["--web-terminal-port", &port_arg],
        env: vec![("HOME", &home_path)],
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the web terminal never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (daemon, port, home)
}

/// Reads text frames until `needle` shows up (bounded), returning everything read.
async fn read_until<S>(socket: &mut S, needle: &str) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, socket.next()).await;
        match frame {
            Ok(Some(Ok(Message::Text(text)))) => seen.push_str(&text),
            Ok(Some(Ok(Message::Binary(_)))) => panic!("output must come as text frames"),
            Ok(Some(Ok(_))) => {}
            other => panic!("socket ended before {needle:?} ({other:?}); saw {seen:?}"),
        }
    }
    seen
}

#[tokio::test]
async fn the_socket_needs_the_token_then_runs_a_shell_that_follows_resizes() {
    let (daemon, port, _home) = start(Some(TOKEN));
    let url = format!("ws://127.0.0.1:{port}/ws");

    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("a socket without the token was not refused: {other:?}"),
    }

    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrade with the token");
    socket.send(Message::text(r#"{"cols":133,"rows":41}"#)).await.unwrap();
    // Quotes split the marker in the echoed input, so only the output contains it whole.
    socket.send(Message::text("echo SIZE=$(stty size)E''ND; pwd; echo DO''NE\r")).await.unwrap();
    let seen = read_until(&mut socket, "DONE").await;
    assert!(seen.contains("SIZE=41 133END"), "{seen}");
    let work = std::fs::canonicalize(daemon.work()).unwrap();
    assert!(seen.contains(work.to_str().unwrap()), "{seen}");

    // The shell's end closes the socket.
    socket.send(Message::text("exit\r")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(None | Some(Ok(Message::Close(_)) | Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the socket stayed open after the shell exited"),
        }
    }
}

#[tokio::test]
async fn the_page_is_a_login_form_with_a_token_and_wrong_tokens_are_refused() {
    let (_daemon, port, _home) = start(Some(TOKEN));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    let wrong = client
        .post(format!("http://127.0.0.1:{port}/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right =
        client.post(format!("http://127.0.0.1:{port}/login")).form(&[("token", TOKEN)]).send().await.unwrap();
    assert_eq!(right.status(), 303);
    let cookie = right.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie must not carry the token: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();

    // The cookie opens the socket from the page's own origin, not from another site.
    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Cookie", pair.parse().unwrap());
    request.headers_mut().insert("Origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a cross-site socket was not refused: {other:?}"),
    }
    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Cookie", pair.parse().unwrap());
    request.headers_mut().insert("Origin", format!("http://127.0.0.1:{port}").parse().unwrap());
    let (mut socket, _) =
        tokio_tungstenite::connect_async(request).await.expect("the cookie opens the terminal");
    socket.send(Message::text("echo $((6*7))\r")).await.unwrap();
    read_until(&mut socket, "42").await;
}

#[test]
fn a_browser_types_into_the_terminal_and_resizes_it() {
    skip_unless!(have("node"), "node is not installed");
    skip_unless!(std::path::Path::new("/usr/bin/chromium").exists(), "Debian's chromium is not installed");
    skip_unless!(
        std::path::Path::new("/usr/share/nodejs/xterm/lib/public/Terminal.js").exists(),
        "xterm.js (libjs-xterm, node-xterm) is not installed"
    );
    let Some(playwright) = playwright_dir() else {
        common::skip("playwright-core is not installed in .tools/playwright (tests/run.sh installs it)");
        return;
    };
    let (_daemon, port, _home) = start(Some(TOKEN));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/web_terminal.js");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(TOKEN)
        .env("NODE_PATH", playwright.join("node_modules"))
        .output()
        .expect("node");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!("driver printed no JSON: {text}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    println!("browser saw: {result}");
    assert!(result.get("error").is_none(), "{}", result["error"].as_str().unwrap_or_default());
    assert_eq!(result["loginForm"], true);
    assert_eq!(result["wrongTokenRefused"], true);
    assert_eq!(result["cookieHttpOnly"], true);
    assert_eq!(result["answer"].as_str().unwrap().trim(), "42");
    let (rows, cols) = (result["size"]["rows"].as_u64().unwrap(), result["size"]["cols"].as_u64().unwrap());
    assert!(cols < 80, "the window shrank but the terminal did not: {result}");
    assert_eq!(result["stty"].as_str().unwrap().trim(), format!("SIZE={rows} {cols}END"));
    assert_ne!(result["pid1"], result["pid2"], "two tabs shared one shell");
}
