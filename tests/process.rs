//! Processes against the real binary: `/process/execute`, `/process/code-run`, sessions (sync and
//! async commands, logs over HTTP and the follow websocket, input, signal and wait extensions,
//! delete), the entrypoint session with `toolboxd entrypoint logs`, and PID 1 duty in a fresh PID
//! namespace. Effects are checked with files and `/proc`.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Options, assert_envelope, have};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SDK: (&str, &str) = ("X-Daytona-SDK-Version", "0.226.1");

/// The state letter of a live process, `None` once it is gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

fn alive(pid: i32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

async fn eventually(mut check: impl FnMut() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

fn pids_in(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect()
}

async fn execute(daemon: &Daemon, body: Value) -> reqwest::Response {
    daemon.post("/process/execute").json(&body).send().await.unwrap()
}

async fn exec_ok(daemon: &Daemon, body: Value) -> Value {
    let resp = execute(daemon, body).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn session_exec(daemon: &Daemon, session: &str, body: Value) -> reqwest::Response {
    daemon
        .post(&format!("/process/session/{session}/exec"))
        .header(SDK.0, SDK.1)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn create_session(daemon: &Daemon, id: &str) {
    let resp = daemon.post("/process/session").json(&json!({"sessionId": id})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.bytes().await.unwrap().is_empty(), "201 with an empty body");
}

// ---- execute ----

#[tokio::test]
async fn execute_reports_exit_codes_output_and_signal_deaths() {
    let daemon = Daemon::spawn();
    let body = exec_ok(&daemon, json!({"command": "echo out; echo err >&2; exit 42"})).await;
    assert_eq!(body["exitCode"], 42);
    assert_eq!(body["result"], "out\nerr\n");
    let body = exec_ok(&daemon, json!({"command": "kill -TERM $$"})).await;
    assert_eq!(body["exitCode"], -1, "signal death is -1");
    let body = exec_ok(&daemon, json!({"command": "cat > /dev/null; echo reads stdin"})).await;
    assert_eq!(body["result"], "reads stdin\n", "the script is the shell's stdin");
}

#[tokio::test]
async fn execute_bad_cwd_is_200_with_minus_one_and_a_clear_message() {
    let daemon = Daemon::spawn();
    let body = exec_ok(&daemon, json!({"command": "true", "cwd": "/no/such/dir"})).await;
    assert_eq!(body["exitCode"], -1);
    let message = body["result"].as_str().unwrap();
    assert!(message.contains("/no/such/dir") && message.contains("does not exist"), "{message}");
    std::fs::write(daemon.work().join("file"), "x").unwrap();
    let body = exec_ok(&daemon, json!({"command": "true", "cwd": "file"})).await;
    assert!(body["result"].as_str().unwrap().contains("is not a directory"));
}

#[tokio::test]
async fn execute_timeout_kills_group_and_escaped_descendants() {
    let daemon = Daemon::spawn();
    let pids = daemon.work().join("pids");
    let script = format!(
        "sleep 200 & echo $! > {p}; setsid sh -c 'sleep 201 & echo $! >> {p}; wait' & sleep 0.2; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let started = Instant::now();
    let resp = execute(&daemon, json!({"command": script, "timeout": 1})).await;
    let body = assert_envelope(resp, 408, "PROCESS_EXECUTION_TIMEOUT").await;
    assert_eq!(body["message"], "command execution timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pids = pids_in(&pids);
    assert_eq!(pids.len(), 3, "two sleeps and the shell");
    assert!(
        eventually(|| !pids.iter().any(|&p| alive(p)), Duration::from_secs(5)).await,
        "survivors: {pids:?}"
    );
}

#[tokio::test]
async fn execute_abandoned_by_its_client_leaves_no_process() {
    let daemon = Daemon::spawn();
    let pidfile = daemon.work().join("abandoned.pid");
    let command = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let sent = daemon
        .post("/process/execute")
        .json(&json!({"command": command}))
        .timeout(Duration::from_secs(1))
        .send();
    assert!(sent.await.is_err(), "the client gave up");
    assert!(eventually(|| pidfile.exists(), Duration::from_secs(5)).await);
    let pid = pids_in(&pidfile)[0];
    assert!(eventually(|| !alive(pid), Duration::from_secs(5)).await, "sleep {pid} survived its request");
}

#[tokio::test]
async fn execute_zero_timeout_means_none_and_envs_apply() {
    let daemon = Daemon::spawn();
    let body = exec_ok(
        &daemon,
        json!({"command": "sleep 1.2; echo $A$B", "timeout": 0, "envs": {"A": "x", "B": "y"}}),
    )
    .await;
    assert_eq!(body["result"], "xy\n");
    let resp = daemon.post("/env").json(&json!({"set": {"VIA_ENV": "from-env"}})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = exec_ok(&daemon, json!({"command": "echo $VIA_ENV"})).await;
    assert_eq!(body["result"], "from-env\n");
}

#[tokio::test]
async fn execute_output_is_capped_keeping_head_and_tail() {
    let daemon = Daemon::spawn_with(Options {
        env: vec![("TOOLBOXD_EXEC_OUTPUT_LIMIT", "4096")],
        ..Default::default()
    });
    let body = exec_ok(&daemon, json!({"command": "echo FIRST; yes line | head -n 200000; echo LAST"})).await;
    let result = body["result"].as_str().unwrap();
    assert!(result.starts_with("FIRST\nline\n") && result.ends_with("line\nLAST\n"));
    assert!(result.contains("output truncated"));
    assert!(result.len() < 4200, "{} bytes", result.len());
}

#[tokio::test]
async fn execute_bad_inputs_are_400s() {
    let daemon = Daemon::spawn();
    assert_envelope(execute(&daemon, json!({"command": " \n\t"})).await, 400, "BAD_REQUEST").await;
    assert_envelope(execute(&daemon, json!({"command": ""})).await, 400, "INVALID_REQUEST_BODY").await;
    assert_envelope(
        execute(&daemon, json!({"command": "x", "timeout": -5})).await,
        400,
        "INVALID_REQUEST_BODY",
    )
    .await;
    let body = assert_envelope(
        execute(&daemon, json!({"command": "x", "envs": {"A=B": "1"}})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_eq!(body["message"], "bad request: invalid environment variable name: 'A=B'");
    // A NUL in a value is refused like one in a name, before anything runs.
    assert_envelope(
        execute(&daemon, json!({"command": "x", "envs": {"A\0": "1"}})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        execute(&daemon, json!({"command": "x", "envs": {"A": "1\0 2"}})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    let resp = daemon.post("/process/execute").body("not json").send().await.unwrap();
    assert_envelope(resp, 400, "INVALID_REQUEST_BODY").await;
}

#[tokio::test]
async fn code_run_argv_elements_are_one_argument_each() {
    let daemon = Daemon::spawn();
    skip_unless!(have("python3"), "python3 is not on PATH");
    let marker = daemon.work().join("injected");
    let argv = json!(["two words", format!("a;touch {}", marker.display()), "-x", "$HOME"]);
    let resp = daemon
        .post("/process/code-run")
        .json(&json!({"language": "python", "code": "import sys, json\nprint(json.dumps(sys.argv[1:]))", "argv": argv}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let printed: Value = serde_json::from_str(body["result"].as_str().unwrap().trim()).unwrap();
    assert_eq!(printed, argv, "{body}");
    assert!(!marker.exists(), "an argument ran as a command");
}

#[tokio::test]
async fn typescript_without_ts_node_says_what_is_missing() {
    let daemon = Daemon::spawn();
    let probe = Command::new("sh")
        .args(["-c", "command -v ts-node || (command -v npx && npx --no ts-node --version)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    skip_unless!(!probe.is_ok_and(|s| s.success()), "ts-node is installed here, so it cannot be missing");
    let body: Value = daemon
        .post("/process/code-run")
        .json(&json!({"language": "typescript", "code": "console.log(1)"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["exitCode"], 127, "{body}");
    let result = body["result"].as_str().unwrap();
    assert!(
        result.contains("needs ts-node") && result.contains("npm install -g ts-node typescript"),
        "{result}"
    );
}

#[tokio::test]
async fn session_ids_that_cannot_name_a_directory_are_400s() {
    let daemon = Daemon::spawn();
    for id in ["a".repeat(256), "..".to_owned(), "a/b".to_owned()] {
        let resp = daemon.post("/process/session").json(&json!({"sessionId": id})).send().await.unwrap();
        assert_envelope(resp, 400, "BAD_REQUEST").await;
    }
    let longest = "a".repeat(255);
    let resp = daemon.post("/process/session").json(&json!({"sessionId": longest})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn async_exec_answers_only_the_command_id() {
    let daemon = Daemon::spawn();
    let created = daemon.post("/process/session").json(&json!({"sessionId": "a"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let resp = session_exec(&daemon, "a", json!({"command": "sleep 0.1", "runAsync": true})).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["cmdId"], "no null fields: {body}");
}

#[tokio::test]
async fn code_run_python_charts_including_bar_values_as_strings() {
    let daemon = Daemon::spawn();
    skip_unless!(
        Command::new("python3").args(["-c", "import matplotlib"]).status().is_ok_and(|s| s.success()),
        "python3 with matplotlib is not on PATH (run via tests/run.sh)"
    );
    let code = "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2.5], label='g')\nplt.title('B')\nplt.show()\nprint('ok')\n";
    let resp = daemon
        .post("/process/code-run")
        .json(&json!({"code": code, "language": "python"}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["exitCode"], 0, "{body}");
    assert_eq!(body["result"], "ok\n");
    let chart = &body["artifacts"]["charts"][0];
    assert_eq!(chart["type"], "bar");
    assert_eq!(chart["title"], "B");
    let elements = chart["elements"].as_array().unwrap();
    assert_eq!(elements[0]["value"], "1.0");
    assert_eq!(elements[1]["value"], "2.5");
    assert_eq!(elements[1]["label"], "b");
    let plain = daemon
        .post("/process/code-run")
        .json(&json!({"code": "print(1)", "language": "python"}))
        .send()
        .await;
    let plain: Value = plain.unwrap().json().await.unwrap();
    assert!(plain.get("artifacts").is_none(), "no artifacts without charts: {plain}");
}

// ---- sessions ----

async fn ws_log_frames(daemon: &Daemon, path: &str) -> (Vec<u8>, Option<u16>) {
    let mut request = format!("ws://{}{path}", daemon.addr).into_client_request().unwrap();
    request.headers_mut().insert(SDK.0, SDK.1.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket upgrade");
    let mut bytes = Vec::new();
    let mut close = None;
    while let Some(message) =
        tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("stream ends")
    {
        match message.unwrap() {
            Message::Binary(data) => bytes.extend_from_slice(&data),
            Message::Close(frame) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    (bytes, close)
}

#[tokio::test]
async fn follow_websocket_streams_marked_lines_and_closes_1000_after_exit() {
    let daemon = Daemon::spawn();
    create_session(&daemon, "w").await;
    let resp = session_exec(
        &daemon,
        "w",
        json!({"command": "echo one; sleep 0.3; echo two >&2; sleep 0.3; printf partial", "runAsync": true}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert!(body["exitCode"].is_null() && body["output"].is_null());
    let id = body["cmdId"].as_str().unwrap().to_owned();
    let (bytes, close) =
        ws_log_frames(&daemon, &format!("/process/session/w/command/{id}/logs?follow=true")).await;
    assert_eq!(close, Some(1000));
    assert_eq!(bytes, b"\x01\x01\x01one\n\x02\x02\x02two\n\x01\x01\x01partial\x01\x01\x01\n");
    let on_disk = std::fs::read(daemon.data_dir.path().join(format!("sessions/w/{id}/output.log"))).unwrap();
    assert_eq!(on_disk, bytes, "the stream is the log on disk");
    let exit_code =
        std::fs::read_to_string(daemon.data_dir.path().join(format!("sessions/w/{id}/exit_code"))).unwrap();
    assert_eq!(exit_code.trim(), "0");
    // Read again from the start, without follow.
    let (again, close) = ws_log_frames(&daemon, &format!("/process/session/w/command/{id}/logs")).await;
    assert_eq!((again, close), (bytes, Some(1000)));
}

#[tokio::test]
async fn sync_exec_returns_when_the_shell_exits_and_the_session_is_then_gone() {
    let daemon = Daemon::spawn();
    create_session(&daemon, "x").await;
    let resp = session_exec(&daemon, "x", json!({"command": "echo last words; exit 9"})).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["exitCode"], 9);
    assert_eq!(body["stdout"], "last words\n");
    let resp = session_exec(&daemon, "x", json!({"command": "true"})).await;
    assert_envelope(resp, 410, "SESSION_ENDED").await;
}

#[tokio::test]
async fn delete_kills_the_tree_and_a_waiting_sync_exec_is_cancelled() {
    let daemon = Daemon::spawn();
    create_session(&daemon, "d").await;
    let pidfile = daemon.work().join("d.pids");
    let cmd = format!(
        "trap '' TERM; sleep 300 & echo $! > {0}; setsid sleep 301 & echo $! >> {0}",
        pidfile.display()
    );
    let body: Value = session_exec(&daemon, "d", json!({"command": cmd})).await.json().await.unwrap();
    assert_eq!(body["exitCode"], 0);
    let pids = pids_in(&pidfile);
    let waiting = {
        let url = daemon.url("/process/session/d/exec");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header(SDK.0, SDK.1)
                .json(&json!({"command": "sleep 400"}))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = daemon.delete("/process/session/d").send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let waited = waiting.await.unwrap().unwrap();
    assert_envelope(waited, 400, "BAD_REQUEST").await;
    assert!(
        eventually(|| !pids.iter().any(|&p| alive(p)), Duration::from_secs(10)).await,
        "survivors {pids:?}"
    );
    assert!(!daemon.data_dir.path().join("sessions/d").exists(), "logs removed");
    assert_envelope(daemon.get("/process/session/d").send().await.unwrap(), 404, "PROCESS_NOT_FOUND").await;
    assert_envelope(daemon.delete("/process/session/d").send().await.unwrap(), 404, "PROCESS_NOT_FOUND")
        .await;
}

#[tokio::test]
async fn signal_and_wait_extensions() {
    let daemon = Daemon::spawn();
    create_session(&daemon, "sig").await;
    let body: Value = session_exec(&daemon, "sig", json!({"command": "sleep 60", "runAsync": true}))
        .await
        .json()
        .await
        .unwrap();
    let id = body["cmdId"].as_str().unwrap().to_owned();
    let base = format!("/process/session/sig/command/{id}");
    let polled: Value =
        daemon.get(&format!("{base}/wait?timeout=1")).send().await.unwrap().json().await.unwrap();
    assert!(polled.get("exitCode").is_none(), "still running after the wait timeout: {polled}");
    let resp = daemon.post(&format!("{base}/signal")).json(&json!({"signal": "NOPE"})).send().await.unwrap();
    assert_envelope(resp, 400, "BAD_REQUEST").await;
    let resp =
        daemon.post(&format!("{base}/signal")).json(&json!({"signal": "SIGKILL"})).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let done: Value = daemon.get(&format!("{base}/wait")).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["exitCode"], 137, "128 + SIGKILL, as the shell reports it");
    let resp = daemon.post(&format!("{base}/signal")).json(&json!({"signal": "TERM"})).send().await.unwrap();
    assert_envelope(resp, 410, "COMMAND_ALREADY_COMPLETED").await;
    let body: Value =
        session_exec(&daemon, "sig", json!({"command": "echo alive"})).await.json().await.unwrap();
    assert_eq!(body["stdout"], "alive\n", "the session survives a signal to its command");
}

#[tokio::test]
async fn input_errors_and_unknown_ids() {
    let daemon = Daemon::spawn();
    create_session(&daemon, "i").await;
    let body: Value = session_exec(&daemon, "i", json!({"command": "echo hi"})).await.json().await.unwrap();
    let id = body["cmdId"].as_str().unwrap();
    let input = |cmd: &str| daemon.post(&format!("/process/session/i/command/{cmd}/input"));
    let body = assert_envelope(
        input(id).json(&json!({"data": "x"})).send().await.unwrap(),
        410,
        "COMMAND_ALREADY_COMPLETED",
    )
    .await;
    assert_eq!(body["message"], "command has already completed with exit code 0");
    assert_envelope(input(id).json(&json!({"data": ""})).send().await.unwrap(), 400, "INVALID_REQUEST_BODY")
        .await;
    assert_envelope(
        input("nope").json(&json!({"data": "x"})).send().await.unwrap(),
        404,
        "PROCESS_NOT_FOUND",
    )
    .await;
    assert_envelope(
        daemon.get("/process/session/i/command/nope/logs").send().await.unwrap(),
        404,
        "PROCESS_NOT_FOUND",
    )
    .await;
    assert_envelope(
        daemon.get("/process/session/zz/command/x").send().await.unwrap(),
        404,
        "PROCESS_NOT_FOUND",
    )
    .await;
    let resp = daemon.post("/process/session").json(&json!({"sessionId": "i"})).send().await.unwrap();
    assert_envelope(resp, 409, "CONFLICT").await;
    let resp = daemon.post("/process/session").json(&json!({"sessionId": "a/b"})).send().await.unwrap();
    assert_envelope(resp, 400, "BAD_REQUEST").await;
    let resp = daemon.delete("/process/session/entrypoint").send().await.unwrap();
    assert_envelope(resp, 400, "BAD_REQUEST").await;
}

// ---- entrypoint ----

#[tokio::test]
async fn entrypoint_runs_as_a_session_and_the_logs_subcommand_prints_it() {
    let daemon = Daemon::spawn_with(Options {
        args: vec!["--", "sh", "-c", "echo from-entrypoint; echo to-stderr >&2; exit 4"],
        ..Default::default()
    });
    let mut session = Value::Null;
    for _ in 0..100 {
        session = daemon.get("/process/session/entrypoint").send().await.unwrap().json().await.unwrap();
        if !session["commands"][0]["exitCode"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(session["commands"][0]["id"], "entrypoint_command");
    assert_eq!(session["commands"][0]["exitCode"], 4);
    let logs: Value = daemon
        .get("/process/session/entrypoint/logs")
        .header(SDK.0, SDK.1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs["stdout"], "from-entrypoint\n");
    assert_eq!(logs["stderr"], "to-stderr\n");
    let list: Value = daemon.get("/process/session").send().await.unwrap().json().await.unwrap();
    assert_eq!(list, json!([]), "the entrypoint session is not listed");
    let output = Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["entrypoint", "logs"])
        .env("TOOLBOXD_DATA_DIR", daemon.data_dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from-entrypoint\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "to-stderr\n");
    let body = exec_ok(&daemon, json!({"command": "echo still serving"})).await;
    assert_eq!(body["result"], "still serving\n");
    let missing = Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["entrypoint", "logs", "--data-dir"])
        .arg(daemon.work())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "no entrypoint log there");
}

// ---- PID 1 ----

/// A toolboxd that is PID 1 of a fresh PID namespace (and mount namespace with its own /proc).
struct Pid1 {
    unshare: std::process::Child,
    addr: String,
    _work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn namespace_members(root: i32) -> Vec<(i32, char)> {
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        procs.push((pid, fields[0].chars().next().unwrap(), fields[1].parse::<i32>().unwrap()));
    }
    let mut members = vec![];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, state, ppid) in &procs {
            if ppid == parent {
                members.push((pid, state));
                frontier.push(pid);
            }
        }
    }
    members
}

#[tokio::test]
async fn as_pid1_orphans_are_reaped_and_exit_codes_stay_right() {
    skip_unless!(have("unshare"), "unshare is not installed");
    skip_unless!(rustix::process::geteuid().is_root(), "creating a PID namespace needs root");
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--log-level", "warn", "--work-dir"])
        .arg(work.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = unshare.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let ns = Pid1 { addr, unshare, _work: work, _data: data };
    let client = reqwest::Client::new();
    let url = format!("http://{}/process/execute", ns.addr);

    let body: Value = client
        .post(&url)
        .json(&json!({"command": "echo $$; cat /proc/1/comm"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["result"].as_str().unwrap().lines().nth(1),
        Some("toolboxd"),
        "PID 1 is toolboxd: {body}"
    );

    // 100 orphans (their parent subshell exits at once), while execute keeps reporting codes.
    let orphans = "for i in $(seq 100); do (sleep 0.3 >/dev/null 2>&1 &); done; exit 3";
    let mut runs = Vec::new();
    for n in 0..20 {
        let command = if n % 2 == 0 { orphans.to_owned() } else { format!("exit {n}") };
        let (client, url) = (client.clone(), url.clone());
        runs.push(tokio::spawn(async move {
            let body: Value = client
                .post(url)
                .json(&json!({"command": command}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (n, body["exitCode"].as_i64().unwrap())
        }));
    }
    for run in runs {
        let (n, code) = run.await.unwrap();
        assert_eq!(code, if n % 2 == 0 { 3 } else { n }, "exit code of run {n}");
    }
    let init = ns.unshare.id() as i32;
    let settled = eventually(
        || {
            let members = namespace_members(init);
            members.iter().all(|&(_, state)| state != 'Z') && members.len() <= 3
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(settled, "zombies or leftovers in the namespace: {:?}", namespace_members(init));
    let body: Value =
        client.post(&url).json(&json!({"command": "exit 7"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["exitCode"], 7);
}

#[tokio::test]
async fn as_pid1_sigterm_reaches_the_daemon_and_its_status_is_kept() {
    skip_unless!(have("unshare"), "unshare is not installed");
    skip_unless!(rustix::process::geteuid().is_root(), "creating a PID namespace needs root");
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--log-level", "warn", "--work-dir"])
        .arg(work.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(unshare.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let addr = line.strip_prefix("listening on ").expect("listening line");
    // A served request means the daemon is past start-up and watches its signals.
    let probe = reqwest::get(format!("http://{addr}/version")).await.unwrap();
    assert_eq!(probe.status(), 200, "daemon answers as PID 1's child");
    let init = namespace_members(unshare.id() as i32)[0].0;
    assert!(Command::new("kill").args(["-TERM", &init.to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = unshare.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "PID 1 did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the daemon shut down cleanly and PID 1 kept its status: {status:?}");
}
