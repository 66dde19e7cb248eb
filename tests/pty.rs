//! Terminals and interpreter contexts over real HTTP and websockets against the real binary.

#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{Options, assert_envelope};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A daemon whose `HOME` is an empty temp dir: terminals run login shells, and the host's
/// dotfiles (slow, or taking locks a killed shell would leave behind) must not leak in.
struct Daemon {
    daemon: common::Daemon,
    _home: tempfile::TempDir,
}

impl Daemon {
    fn spawn() -> Daemon {
        let home = tempfile::tempdir().unwrap();
        let daemon = common::Daemon::spawn_with(Options {
            env: vec![("HOME", home.path().to_str().unwrap())],
            ..Options::default()
        });
        Daemon { daemon, _home: home }
    }
}

impl std::ops::Deref for Daemon {
    type Target = common::Daemon;
    fn deref(&self) -> &common::Daemon {
        &self.daemon
    }
}

const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";

async fn open(daemon: &Daemon, path: &str, protocols: &[&str]) -> (Socket, Option<String>) {
    let mut request = format!("ws://{}{}", daemon.addr, path).into_client_request().unwrap();
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols.join(", ")).unwrap());
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    let selected = response.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_owned());
    (socket, selected)
}

/// What a client saw: control frames, output bytes and the close frame.
#[derive(Default, Debug)]
struct Seen {
    controls: Vec<Value>,
    output: Vec<u8>,
    close: Option<(u16, String)>,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

/// Reads until `done(seen)` or the socket closes; panics after `within`.
async fn read_until(socket: &mut Socket, seen: &mut Seen, within: Duration, done: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + within;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; saw {:?} / {:?}", seen.controls, seen.text());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Binary(data)))) => seen.output.extend_from_slice(&data),
            Ok(Some(Ok(Message::Text(text)))) => seen.controls.push(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                seen.close =
                    Some(frame.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string())));
                return;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return,
            Err(_) => {}
        }
    }
}

async fn input(socket: &mut Socket, text: &str) {
    socket.send(Message::Binary(Bytes::from(text.as_bytes().to_vec()))).await.unwrap();
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// The `PIDS=<shell>:<job>:END` line (not the terminal's echo of the command that prints it).
fn pids(text: &str) -> Option<(u32, u32)> {
    text.split("PIDS=").skip(1).find_map(|rest| {
        let mut parts = rest.split(':');
        let shell = parts.next()?.parse().ok()?;
        let job = parts.next()?.parse().ok()?;
        (parts.next()?.starts_with("END")).then_some((shell, job))
    })
}

async fn create(daemon: &Daemon, body: Value) -> reqwest::Response {
    daemon.post("/process/pty").json(&body).send().await.unwrap()
}

#[tokio::test]
async fn connect_speaks_the_sdk_protocol_from_connected_to_exit() {
    let daemon = Daemon::spawn();
    let response =
        create(&daemon, json!({"id": "a", "envs": {"FOO": "bar baz"}, "cols": 90, "rows": 20})).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"sessionId": "a"}));

    let info: Value = daemon.get("/process/pty/a").send().await.unwrap().json().await.unwrap();
    assert_eq!(info["id"], "a");
    assert_eq!((info["cols"].as_u64(), info["rows"].as_u64()), (Some(90), Some(20)));
    assert_eq!(info["envs"]["TERM"], "xterm-256color");
    assert_eq!(info["active"], true);
    assert_eq!(info["lazyStart"], false);
    assert_eq!(info["cwd"], daemon.work().to_str().unwrap());
    assert!(info["createdAt"].as_str().unwrap().contains('T'));

    let (mut socket, selected) = open(&daemon, "/process/pty/a/connect", &[EXIT_CONTROL]).await;
    assert_eq!(selected.as_deref(), Some(EXIT_CONTROL), "the first offered subprotocol is selected");
    let mut seen = Seen::default();
    read_until(&mut socket, &mut seen, Duration::from_secs(5), |s| !s.controls.is_empty()).await;
    assert_eq!(seen.controls[0], json!({"type": "control", "status": "connected"}));

    input(&mut socket, "echo \"<$FOO>\" $((40+2)); stty size\n").await;
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| s.text().contains("<bar baz> 42")).await;
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| s.text().contains("20 90")).await;

    input(&mut socket, "exit 7\n").await;
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| s.close.is_some()).await;
    assert_eq!(
        seen.controls.last().unwrap(),
        &json!({"type": "control", "status": "exited", "exitCode": 7, "exitReason": "non-zero exit"})
    );
    let (code, reason) = seen.close.unwrap();
    assert_eq!(code, 1011);
    assert_eq!(
        serde_json::from_str::<Value>(&reason).unwrap(),
        json!({"exitCode": 7, "exitReason": "non-zero exit"})
    );

    // An exited terminal leaves the registry.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = daemon.get("/process/pty/a").send().await.unwrap().status();
        if status == 404 || Instant::now() > deadline {
            assert_eq!(status, 404);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn create_connect_takes_envs_from_the_subprotocol_and_closes_1000_on_clean_exit() {
    let daemon = Daemon::spawn();
    let envs = json!({"SECRET_VALUE": "s3cr=t value", "OTHER": "x"}).to_string();
    let token =
        format!("X-Daytona-Pty-Envs~{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(envs));
    let (mut socket, selected) =
        open(&daemon, "/process/pty/create-connect?id=cc&cols=100&rows=30", &[EXIT_CONTROL, &token]).await;
    assert_eq!(selected.as_deref(), Some(EXIT_CONTROL));
    let mut seen = Seen::default();
    read_until(&mut socket, &mut seen, Duration::from_secs(5), |s| !s.controls.is_empty()).await;
    assert_eq!(seen.controls[0]["status"], "connected");
    input(&mut socket, "echo \"[$SECRET_VALUE]\"; stty size; exit\n").await;
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| s.close.is_some()).await;
    assert!(seen.text().contains("[s3cr=t value]"), "{}", seen.text());
    assert!(seen.text().contains("30 100"), "{}", seen.text());
    assert_eq!(seen.controls.last().unwrap(), &json!({"type": "control", "status": "exited", "exitCode": 0}));
    let (code, reason) = seen.close.unwrap();
    assert_eq!(code, 1000);
    assert_eq!(serde_json::from_str::<Value>(&reason).unwrap(), json!({"exitCode": 0}));
}

#[tokio::test]
async fn an_instantly_exiting_shell_still_reaches_its_client_without_exit_control() {
    let daemon = Daemon::spawn();
    // Without the exit-control subprotocol only the close frame carries the exit.
    let (mut socket, selected) = open(&daemon, "/process/pty/create-connect?id=quick", &[]).await;
    assert_eq!(selected, None);
    input(&mut socket, "exit 130\n").await;
    let mut seen = Seen::default();
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| s.close.is_some()).await;
    assert!(seen.controls.iter().all(|c| c["status"] != "exited"), "{:?}", seen.controls);
    let (code, reason) = seen.close.unwrap();
    assert_eq!(code, 1011);
    assert_eq!(
        serde_json::from_str::<Value>(&reason).unwrap(),
        json!({"exitCode": 130, "exitReason": "Ctrl+C"})
    );
}

#[tokio::test]
async fn create_connect_rejects_bad_input_before_the_upgrade() {
    let daemon = Daemon::spawn();
    let ws_get = |path: &str| {
        daemon
            .get(path)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    };
    for path in [
        "/process/pty/create-connect",
        "/process/pty/create-connect?id=x&cols=abc",
        "/process/pty/create-connect?id=x&cols=-1",
        "/process/pty/create-connect?id=x&rows=1001",
    ] {
        assert_envelope(ws_get(path).send().await.unwrap(), 400, "BAD_REQUEST").await;
    }
    let bad_envs = ws_get("/process/pty/create-connect?id=x")
        .header("Sec-WebSocket-Protocol", "X-Daytona-Pty-Envs~!!!notbase64")
        .send()
        .await
        .unwrap();
    assert_envelope(bad_envs, 400, "BAD_REQUEST").await;
    let bad_name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"A=B":"c"}"#);
    let bad_name = ws_get("/process/pty/create-connect?id=x")
        .header("Sec-WebSocket-Protocol", format!("X-Daytona-Pty-Envs~{bad_name}"))
        .send()
        .await
        .unwrap();
    assert_envelope(bad_name, 400, "BAD_REQUEST").await;

    assert_eq!(create(&daemon, json!({"id": "dup"})).await.status(), 201);
    assert_envelope(ws_get("/process/pty/create-connect?id=dup").send().await.unwrap(), 409, "CONFLICT")
        .await;
    assert_envelope(create(&daemon, json!({"id": "dup"})).await, 409, "CONFLICT").await;
    // A plain GET (no upgrade) is a 400 too, and nothing was created by the failures.
    assert_envelope(daemon.get("/process/pty/create-connect?id=y").send().await.unwrap(), 400, "BAD_REQUEST")
        .await;
    let list: Value = daemon.get("/process/pty").send().await.unwrap().json().await.unwrap();
    let ids: Vec<_> = list["sessions"].as_array().unwrap().iter().map(|s| s["id"].clone()).collect();
    assert_eq!(ids, vec![json!("dup")]);
}

#[tokio::test]
async fn rest_errors_use_the_contract_codes() {
    let daemon = Daemon::spawn();
    assert_envelope(daemon.get("/process/pty/nope").send().await.unwrap(), 404, "PROCESS_NOT_FOUND").await;
    assert_envelope(daemon.delete("/process/pty/nope").send().await.unwrap(), 404, "PROCESS_NOT_FOUND").await;
    let resize = |id: &str, body: Value| daemon.post(&format!("/process/pty/{id}/resize")).json(&body).send();
    assert_envelope(resize("nope", json!({"cols": 10, "rows": 10})).await.unwrap(), 404, "PROCESS_NOT_FOUND")
        .await;
    assert_envelope(create(&daemon, json!({"cols": 10})).await, 400, "INVALID_REQUEST_BODY").await;
    assert_envelope(create(&daemon, json!({"id": ""})).await, 400, "INVALID_REQUEST_BODY").await;
    assert_envelope(create(&daemon, json!({"id": "x", "rows": 1001})).await, 400, "BAD_REQUEST").await;
    assert_envelope(create(&daemon, json!({"id": "x", "cols": 70000})).await, 400, "INVALID_REQUEST_BODY")
        .await;
    assert_envelope(create(&daemon, json!({"id": "x", "cwd": "/does/not/exist"})).await, 400, "BAD_REQUEST")
        .await;
    assert_envelope(create(&daemon, json!({"id": "x", "envs": {"A=B": "c"}})).await, 400, "BAD_REQUEST")
        .await;

    assert_eq!(create(&daemon, json!({"id": "r", "lazyStart": true})).await.status(), 201);
    assert_envelope(resize("r", json!({"cols": 0, "rows": 10})).await.unwrap(), 400, "BAD_REQUEST").await;
    assert_envelope(resize("r", json!({"cols": 10, "rows": 1001})).await.unwrap(), 400, "BAD_REQUEST").await;
    assert_envelope(resize("r", json!({"cols": "wide"})).await.unwrap(), 400, "INVALID_REQUEST_BODY").await;
    let resized: Value = resize("r", json!({"cols": 50, "rows": 10})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (resized["cols"].as_u64(), resized["rows"].as_u64(), resized["active"].as_bool()),
        (Some(50), Some(10), Some(false))
    );

    // Connecting to an unknown terminal is an in-band error, not a 404.
    let (mut socket, _) = open(&daemon, "/process/pty/nope/connect", &[EXIT_CONTROL]).await;
    let mut seen = Seen::default();
    read_until(&mut socket, &mut seen, Duration::from_secs(5), |s| s.close.is_some()).await;
    assert_eq!(seen.controls[0]["status"], "error");
    assert!(seen.controls[0]["error"].as_str().unwrap().starts_with("Failed to connect to PTY session"));
    assert_eq!(seen.close.unwrap().0, 1011);
}

#[tokio::test]
async fn delete_kills_the_tree_and_closes_every_client_with_sigkill() {
    let daemon = Daemon::spawn();
    assert_eq!(create(&daemon, json!({"id": "k"})).await.status(), 201);
    let (mut one, _) = open(&daemon, "/process/pty/k/connect", &[EXIT_CONTROL]).await;
    let (mut two, _) = open(&daemon, "/process/pty/k/connect", &[]).await;
    let mut seen_one = Seen::default();
    // A job in its own process group, and a grandchild of it, must both die.
    input(&mut one, "sh -c 'sleep 1000 & sleep 1001; wait' & echo PIDS=$$:$!:END\n").await;
    read_until(&mut one, &mut seen_one, Duration::from_secs(10), |s| pids(&s.text()).is_some()).await;
    let (shell, job) = pids(&seen_one.text()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let grandchildren = loop {
        let children =
            std::fs::read_to_string(format!("/proc/{job}/task/{job}/children")).unwrap_or_default();
        let pids: Vec<u32> = children.split_whitespace().map(|p| p.parse().unwrap()).collect();
        if !pids.is_empty() || Instant::now() > deadline {
            break pids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!grandchildren.is_empty(), "the job started its sleep");
    assert!(alive(shell) && alive(job));

    let response = daemon.delete("/process/pty/k").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "PTY session deleted"}));

    for socket in [&mut one, &mut two] {
        let mut seen = Seen::default();
        read_until(socket, &mut seen, Duration::from_secs(5), |s| s.close.is_some()).await;
        let (code, reason) = seen.close.unwrap();
        assert_eq!(code, 1011);
        assert_eq!(
            serde_json::from_str::<Value>(&reason).unwrap(),
            json!({"exitCode": 137, "exitReason": "SIGKILL"})
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let everyone: Vec<u32> = [shell, job].into_iter().chain(grandchildren).collect();
    while everyone.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pid in everyone {
        assert!(!alive(pid), "pid {pid} survived the delete");
    }
    assert_envelope(daemon.get("/process/pty/k").send().await.unwrap(), 404, "PROCESS_NOT_FOUND").await;
}

#[tokio::test]
async fn reconnecting_replays_recent_output_and_since_resumes_at_an_offset() {
    let daemon = Daemon::spawn();
    assert_eq!(create(&daemon, json!({"id": "r"})).await.status(), 201);
    let (mut first, _) = open(&daemon, "/process/pty/r/connect", &[]).await;
    let mut seen = Seen::default();
    input(&mut first, "echo first-$((1+1))\n").await;
    read_until(&mut first, &mut seen, Duration::from_secs(10), |s| s.text().contains("first-2\r")).await;
    first.close(None).await.unwrap();
    let offset = seen.output.len();

    // A new client sees what the first one saw, after its `connected` frame.
    let (mut again, _) = open(&daemon, "/process/pty/r/connect", &[]).await;
    let mut replay = Seen::default();
    read_until(&mut again, &mut replay, Duration::from_secs(10), |s| s.text().contains("first-2\r")).await;
    assert_eq!(replay.controls[0]["status"], "connected");
    input(&mut again, "echo second-$((2+2))\n").await;
    read_until(&mut again, &mut replay, Duration::from_secs(10), |s| s.text().contains("second-4\r")).await;

    // `since` skips everything before the offset.
    let (mut resumed, _) = open(&daemon, &format!("/process/pty/r/connect?since={offset}"), &[]).await;
    let mut tail = Seen::default();
    read_until(&mut resumed, &mut tail, Duration::from_secs(10), |s| s.text().contains("second-4\r")).await;
    assert!(!tail.text().contains("first-2"), "{}", tail.text());
    let common = tail.output.len().min(replay.output.len() - offset);
    assert!(common > 0);
    assert_eq!(tail.output[..common], replay.output[offset..offset + common]);

    // An offset past the end means "from now on".
    let (mut future, _) = open(&daemon, "/process/pty/r/connect?since=999999999999", &[]).await;
    let mut live = Seen::default();
    read_until(&mut future, &mut live, Duration::from_secs(5), |s| !s.controls.is_empty()).await;
    input(&mut future, "echo third-$((3+3))\n").await;
    read_until(&mut future, &mut live, Duration::from_secs(10), |s| s.text().contains("third-6\r")).await;
    assert!(!live.text().contains("second-4"), "{}", live.text());
}

#[tokio::test]
async fn a_stalled_client_never_blocks_the_terminal_or_other_clients() {
    let daemon = Daemon::spawn();
    assert_eq!(create(&daemon, json!({"id": "flood"})).await.status(), 201);
    let (mut stalled, _) = open(&daemon, "/process/pty/flood/connect", &[]).await;
    let (mut fast, _) = open(&daemon, "/process/pty/flood/connect", &[]).await;
    let mut seen = Seen::default();
    read_until(&mut fast, &mut seen, Duration::from_secs(5), |s| !s.controls.is_empty()).await;
    // ~24 MiB of output: far more than the ring plus every socket buffer on the way.
    input(&mut fast, "stty -echo; head -c 18000000 /dev/zero | base64 -w 100; echo FLOOD-$((6*7))-DONE\n")
        .await;
    let started = Instant::now();
    read_until(&mut fast, &mut seen, Duration::from_secs(120), |s| {
        s.output.len() > 1000
            && s.output[s.output.len().saturating_sub(4096)..].windows(13).any(|w| w == b"FLOOD-42-DONE")
    })
    .await;
    // A client slower than the terminal (this debug-built test may be) skips ahead too, so
    // only what reached it is checked: the end, promptly, whatever the stalled client does.
    println!("reading client got {} bytes in {:?}", seen.output.len(), started.elapsed());
    assert!(seen.output.len() > 2 * 1024 * 1024);

    // The stalled client catches up with a marker for what it missed, then the live end.
    let mut late = Seen::default();
    read_until(&mut stalled, &mut late, Duration::from_secs(120), |s| {
        s.output[s.output.len().saturating_sub(4096)..].windows(13).any(|w| w == b"FLOOD-42-DONE")
    })
    .await;
    assert!(late.text().contains("bytes of output dropped]"), "no drop marker");
    assert!(late.output.len() < seen.output.len());
}

#[tokio::test]
async fn pings_are_answered_while_output_streams() {
    let daemon = Daemon::spawn();
    let (mut socket, _) = open(&daemon, "/process/pty/create-connect?id=ping", &[EXIT_CONTROL]).await;
    input(&mut socket, "yes | head -c 3000000\n").await;
    socket.send(Message::Ping(Bytes::from_static(b"are-you-there"))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Pong(data)))) => {
                assert_eq!(&data[..], b"are-you-there");
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    socket.close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() })).await.unwrap();
}

// ---------------------------------------------------------------------------------- interpreter

async fn execute(daemon: &Daemon, request: Value) -> (Vec<Value>, (u16, String)) {
    let (mut socket, _) = open(daemon, "/process/interpreter/execute", &[]).await;
    socket.send(Message::Text(request.to_string().into())).await.unwrap();
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("frame") {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return (
                    frames,
                    frame.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string())),
                );
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn execute_frames_carry_all_five_keys_and_state_persists() {
    let daemon = Daemon::spawn();
    let (frames, close) =
        execute(&daemon, json!({"code": "x = 5\nprint(x * 2)\nimport sys; sys.stderr.write('warn\\n')"}))
            .await;
    assert_eq!(close.0, 1000);
    for frame in &frames {
        for key in ["type", "text", "name", "value", "traceback"] {
            assert!(frame.get(key).is_some_and(Value::is_string), "{key} missing in {frame}");
        }
    }
    assert!(
        frames.contains(&json!({"type": "stdout", "text": "10\n", "name": "", "value": "", "traceback": ""}))
    );
    assert!(frames.iter().any(|f| f["type"] == "stderr" && f["text"] == "warn\n"));
    assert_eq!(frames.last().unwrap()["type"], "control");
    assert_eq!(frames.last().unwrap()["text"], "completed");

    let (frames, close) = execute(&daemon, json!({"code": "print(x + 1)\n1/0"})).await;
    assert_eq!(close.0, 1000, "an error is still a normal completion");
    assert!(frames.iter().any(|f| f["type"] == "stdout" && f["text"] == "6\n"));
    let error = frames.iter().find(|f| f["type"] == "error").expect("error frame");
    assert_eq!(error["name"], "ZeroDivisionError");
    assert_eq!(error["value"], "division by zero");
    assert!(error["traceback"].as_str().unwrap().contains("File \"<stdin>\", line 2"), "{error}");

    // Output of child processes is captured too, in order with the run.
    let (frames, _) =
        execute(&daemon, json!({"code": "import subprocess\nsubprocess.run(['echo', 'from-child'])"})).await;
    assert!(frames.iter().any(|f| f["type"] == "stdout" && f["text"] == "from-child\n"), "{frames:?}");
}

#[tokio::test]
async fn execute_rejects_bad_requests_with_close_codes() {
    let daemon = Daemon::spawn();
    let (mut socket, _) = open(&daemon, "/process/interpreter/execute", &[]).await;
    socket.send(Message::Text("{not json".into())).await.unwrap();
    let mut seen = Seen::default();
    read_until(&mut socket, &mut seen, Duration::from_secs(5), |s| s.close.is_some()).await;
    assert_eq!(seen.close.unwrap(), (1002, "invalid JSON payload".to_owned()));

    assert_eq!(execute(&daemon, json!({"code": ""})).await.1, (1008, "code is required".to_owned()));
    assert_eq!(
        execute(&daemon, json!({"code": "1", "timeout": -1})).await.1,
        (1008, "timeout must be greater than or equal to 0".to_owned())
    );
    assert_eq!(
        execute(&daemon, json!({"code": "1", "contextId": "ghost"})).await.1,
        (1008, "context not found: ghost".to_owned())
    );
    assert_envelope(daemon.get("/process/interpreter/execute").send().await.unwrap(), 400, "BAD_REQUEST")
        .await;
}

#[tokio::test]
async fn a_timeout_closes_4008_and_the_context_keeps_its_state() {
    let daemon = Daemon::spawn();
    let context: Value = daemon
        .post("/process/interpreter/context")
        .json(&json!({"language": "python"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = context["id"].as_str().unwrap();
    assert_eq!(context["language"], "python");
    assert_eq!(context["active"], true);
    assert_eq!(execute(&daemon, json!({"code": "kept = 'yes'", "contextId": id})).await.1.0, 1000);
    let started = Instant::now();
    let (frames, close) = execute(
        &daemon,
        json!({"code": "import time\nprint('going')\ntime.sleep(60)", "contextId": id, "timeout": 1}),
    )
    .await;
    assert_eq!(close.0, 4008);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(frames.iter().any(|f| f["text"] == "going\n"));
    let (frames, close) = execute(&daemon, json!({"code": "print(kept)", "contextId": id})).await;
    assert_eq!(close.0, 1000);
    assert!(frames.iter().any(|f| f["text"] == "yes\n"), "{frames:?}");

    let response = daemon.delete(&format!("/process/interpreter/context/{id}")).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "Context deleted successfully"}));
    assert_envelope(
        daemon.delete(&format!("/process/interpreter/context/{id}")).send().await.unwrap(),
        404,
        "PROCESS_NOT_FOUND",
    )
    .await;
    assert_envelope(
        daemon.delete("/process/interpreter/context/default").send().await.unwrap(),
        400,
        "BAD_REQUEST",
    )
    .await;
}

#[tokio::test]
async fn context_requests_are_validated() {
    let daemon = Daemon::spawn();
    let post = |body: Value| daemon.post("/process/interpreter/context").json(&body).send();
    assert_envelope(post(json!({"language": "ruby"})).await.unwrap(), 400, "BAD_REQUEST").await;
    assert_envelope(post(json!({"cwd": "/no/such/dir"})).await.unwrap(), 400, "BAD_REQUEST").await;
    assert_envelope(post(json!({"cwd": 5})).await.unwrap(), 400, "INVALID_REQUEST_BODY").await;
    std::fs::create_dir(daemon.work().join("rel")).unwrap();
    let created: Value = post(json!({"cwd": "rel"})).await.unwrap().json().await.unwrap();
    assert_eq!(created["cwd"], daemon.work().join("rel").to_str().unwrap());
    let list: Value = daemon.get("/process/interpreter/context").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["contexts"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["contexts"][0]["id"], created["id"]);
}

#[tokio::test]
async fn pings_are_answered_while_the_terminal_is_not_reading_its_input() {
    let daemon = Daemon::spawn();
    let (mut socket, _) = open(&daemon, "/process/pty/create-connect?id=stuck", &[EXIT_CONTROL]).await;
    // The shell runs `sleep` in the foreground, so nobody reads the terminal's input: ~600 KiB
    // of typing fills the terminal's buffer and the daemon's input queue.
    input(&mut socket, "stty -echo; sleep 30\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..150 {
        socket.send(Message::Binary(Bytes::from(vec![b'z'; 4096]))).await.unwrap();
    }
    socket.send(Message::Ping(Bytes::from_static(b"still-there"))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Pong(data)))) => {
                assert_eq!(&data[..], b"still-there");
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    assert_eq!(daemon.delete("/process/pty/stuck").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn deleting_a_context_mid_run_closes_1001_and_keyboard_interrupt_is_4008() {
    let daemon = Daemon::spawn();
    let (frames, close) = execute(&daemon, json!({"code": "print('a')\nraise KeyboardInterrupt"})).await;
    assert_eq!(close.0, 4008);
    assert_eq!(frames.last().unwrap()["text"], "interrupted");
    // The default context survives it.
    let (frames, close) = execute(&daemon, json!({"code": "print('b')"})).await;
    assert_eq!((close.0, frames[0]["text"].as_str()), (1000, Some("b\n")));

    let context: Value = daemon
        .post("/process/interpreter/context")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = context["id"].as_str().unwrap().to_owned();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let run = tokio::spawn({
        let addr = daemon.addr.clone();
        let id = id.clone();
        async move {
            let (mut socket, _) =
                tokio_tungstenite::connect_async(format!("ws://{addr}/process/interpreter/execute"))
                    .await
                    .unwrap();
            let request =
                json!({"code": "import time\nprint('started', flush=True)\ntime.sleep(60)", "contextId": id});
            socket.send(Message::Text(request.to_string().into())).await.unwrap();
            let mut texts = Vec::new();
            let mut started_tx = Some(started_tx);
            while let Some(Ok(message)) = socket.next().await {
                match message {
                    Message::Text(text) => {
                        if text.contains("started") {
                            started_tx.take().map(|tx| tx.send(()));
                        }
                        texts.push(text.to_string());
                    }
                    Message::Close(frame) => {
                        return (texts, frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                    }
                    _ => {}
                }
            }
            (texts, None)
        }
    });
    tokio::time::timeout(Duration::from_secs(30), started_rx).await.expect("the run started").unwrap();
    assert_eq!(
        daemon.delete(&format!("/process/interpreter/context/{id}")).send().await.unwrap().status(),
        200
    );
    let (texts, close) = tokio::time::timeout(Duration::from_secs(10), run).await.unwrap().unwrap();
    assert!(texts.iter().any(|t| t.contains("started")), "{texts:?}");
    assert_eq!(close, Some((1001, "context shutdown".to_owned())));
}

#[tokio::test]
async fn daemon_shutdown_leaves_no_terminal_or_worker_behind() {
    let mut daemon = Daemon::spawn();
    let (mut socket, _) = open(&daemon, "/process/pty/create-connect?id=bye", &[]).await;
    let mut seen = Seen::default();
    input(&mut socket, "sleep 1000 & echo PIDS=$$:$!:END\n").await;
    read_until(&mut socket, &mut seen, Duration::from_secs(10), |s| pids(&s.text()).is_some()).await;
    let (shell, job) = pids(&seen.text()).unwrap();
    let (frames, _) = execute(&daemon, json!({"code": "import os\nprint(os.getpid())"})).await;
    let worker: u32 = frames[0]["text"].as_str().unwrap().trim().parse().unwrap();
    assert!(alive(shell) && alive(job) && alive(worker));

    let status = daemon.daemon.terminate(Duration::from_secs(10)).expect("daemon exits");
    assert!(status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while [shell, job, worker].iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pid in [shell, job, worker] {
        assert!(!alive(pid), "pid {pid} survived the daemon");
    }
}
