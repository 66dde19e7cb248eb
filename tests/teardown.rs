//! Nothing outlives its owner: every teardown (execute timeout, client disconnect, session
//! delete, terminal delete, interpreter context delete, daemon shutdown) leaves no descendant,
//! including processes that escaped with `setsid`, a double fork, or both.
//!
//! Each test marks its processes with a unique `sleep` argument (`300.<test><nonce>…`) and
//! counts survivors by scanning `/proc` for it, so tests running side by side never see each
//! other's processes. Zombies are dead and do not count.

#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::Daemon;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// A `sleep` argument no other test (or test run) uses: `<whole>.<test><pid><n>`.
fn marker(whole: u32, test: u32, n: u32) -> String {
    format!("{whole}.{test}{}{n:03}", std::process::id())
}

/// Live (non-zombie) processes whose command line has an argument starting with `prefix`.
fn survivors(prefix: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            if rest.starts_with('Z') {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> =
                cmdline.split(|&b| b == 0).map(|arg| String::from_utf8_lossy(arg).into_owned()).collect();
            args.iter().skip(1).any(|arg| arg.starts_with(prefix)).then(|| (pid, args.join(" ")))
        })
        .collect()
}

/// Waits (boundedly) until the condition holds; returns whether it did.
async fn eventually(mut condition: impl FnMut() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that nothing marked with `prefix` is alive (killing may finish just after the
/// answer, when a dropped request's tree is killed; so this waits a little before failing).
async fn assert_no_survivors(prefix: &str, what: &str) {
    eventually(|| survivors(prefix).is_empty(), Duration::from_secs(10)).await;
    let left = survivors(prefix);
    assert!(left.is_empty(), "{what}: {} survivor(s): {left:?}", left.len());
}

async fn wait_for_processes(prefix: &str, count: usize) {
    let started = eventually(|| survivors(prefix).len() >= count, Duration::from_secs(20)).await;
    assert!(started, "the {count} marked processes started; saw {:?}", survivors(prefix));
}

#[tokio::test]
async fn execute_timeout_kills_double_forked_setsid_orphans() {
    let daemon = Daemon::spawn();
    for n in 0..3 {
        let mark = marker(300, 1, n);
        // The subshell exits at once, so the setsid'd shell and its sleeps are orphans.
        let command = format!("(setsid sh -c 'sleep {mark} & sleep {mark}; wait' &); sleep {mark}");
        let response = daemon
            .post("/process/execute")
            .json(&json!({"command": command, "timeout": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 408, "the command timed out");
        assert_no_survivors(&mark, "execute timeout").await;
    }
}

#[tokio::test]
async fn a_client_that_goes_away_takes_the_executes_tree_with_it() {
    let daemon = Daemon::spawn();
    let mark = marker(300, 2, 0);
    let command = format!("(setsid sleep {mark} &); sleep {mark}");
    let request = daemon.post("/process/execute").json(&json!({"command": command})).send();
    let dropped = async {
        wait_for_processes(&mark, 2).await;
    };
    tokio::select! {
        _ = request => panic!("the command cannot finish by itself"),
        () = dropped => {}
    }
    assert_no_survivors(&mark, "client disconnect").await;
}

#[tokio::test]
async fn a_finished_execute_leaves_its_background_jobs_running_until_shutdown() {
    let mut daemon = Daemon::spawn();
    let mark = marker(300, 3, 0);
    let command =
        format!("nohup sleep {mark} >/dev/null 2>&1 & (setsid sleep {mark} >/dev/null 2>&1 &); echo started");
    let response: Value = daemon
        .post("/process/execute")
        .json(&json!({"command": command}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["exitCode"], 0, "{response}");
    wait_for_processes(&mark, 2).await;
    // Still alive a moment later: clients start servers this way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(survivors(&mark).len(), 2, "background jobs outlive the request");
    assert!(daemon.terminate(Duration::from_secs(20)).is_some(), "the daemon stopped");
    assert_no_survivors(&mark, "daemon shutdown").await;
}

async fn session_exec(daemon: &Daemon, session: &str, command: &str) -> reqwest::Response {
    daemon
        .post(&format!("/process/session/{session}/exec"))
        .json(&json!({"command": command, "runAsync": true}))
        .send()
        .await
        .unwrap()
}

/// One try of the racy shape: async jobs, a second command starting, delete shortly after.
async fn delete_session_mid_start(daemon: &Daemon, n: u32, delay: Duration) -> Vec<(u32, String)> {
    let id = format!("race-{n}");
    let (first, second) = (marker(300, 4, n), marker(301, 4, n));
    let created = daemon.post("/process/session").json(&json!({"sessionId": id})).send().await.unwrap();
    assert_eq!(created.status(), 201, "session {id} created");
    let jobs = format!("sleep {first} & sleep {first} & wait");
    assert_eq!(session_exec(daemon, &id, &jobs).await.status(), 202);
    assert_eq!(session_exec(daemon, &id, &format!("sh -c 'sleep {second}'")).await.status(), 202);
    tokio::time::sleep(delay).await;
    let deleted = daemon.delete(&format!("/process/session/{id}")).send().await.unwrap();
    assert_eq!(deleted.status(), 204, "session {id} deleted");
    // The delete answers once the tree is gone: nothing may be left right now.
    let mut left = survivors(&first);
    left.extend(survivors(&second));
    left
}

#[tokio::test]
async fn deleting_a_session_while_its_commands_start_leaves_nothing_200_times() {
    let daemon = Daemon::spawn();
    const TRIES: u32 = 200;
    const PARALLEL: u32 = 8;
    let mut failures = Vec::new();
    for batch in 0..TRIES / PARALLEL {
        let tries = (0..PARALLEL).map(|k| {
            let n = batch * PARALLEL + k;
            // Spread the delete over the window in which the shell forks its commands; every
            // 25th try waits as long as the original report did.
            let delay = if n % 25 == 0 {
                Duration::from_millis(900)
            } else {
                Duration::from_millis(u64::from(n % 40) * 2)
            };
            delete_session_mid_start(&daemon, n, delay)
        });
        for left in futures_util::future::join_all(tries).await {
            if !left.is_empty() {
                failures.push(left);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {TRIES} deletes left processes: {failures:?}", failures.len());
    assert_no_survivors(&format!("300.4{}", std::process::id()), "session deletes").await;
}

#[tokio::test]
async fn deleting_a_terminal_kills_a_setsid_job_typed_in_it() {
    let home = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn_with(common::Options {
        env: vec![("HOME", home.path().to_str().unwrap())],
        ..common::Options::default()
    });
    for n in 0..5 {
        let mark = marker(300, 5, n);
        let id = format!("t{n}");
        let created = daemon.post("/process/pty").json(&json!({"id": id})).send().await.unwrap();
        assert_eq!(created.status(), 201);
        let url = format!("ws://{}/process/pty/{id}/connect", daemon.addr);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
        let typed = format!("setsid sleep {mark} & (setsid sleep {mark} &)\n");
        socket.send(Message::Binary(Bytes::from(typed.into_bytes()))).await.unwrap();
        wait_for_processes(&mark, 2).await;
        let deleted = daemon.delete(&format!("/process/pty/{id}")).send().await.unwrap();
        assert_eq!(deleted.status(), 200);
        assert_no_survivors(&mark, "terminal delete").await;
        let _ = socket.next().await;
    }
}

#[tokio::test]
async fn deleting_an_interpreter_context_kills_what_its_code_started() {
    skip_unless!(common::have("python3"), "python3 is not on PATH");
    let daemon = Daemon::spawn();
    let mark = marker(300, 6, 0);
    let context: Value = daemon
        .post("/process/interpreter/context")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = context["id"].as_str().expect("context id").to_owned();
    let code = format!(
        "import subprocess\nsubprocess.Popen(['setsid', 'sleep', '{mark}'])\nsubprocess.Popen(['sh', '-c', '(setsid sleep {mark} &)'])\nprint('ok')\n"
    );
    let url = format!("ws://{}/process/interpreter/execute", daemon.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    let request = json!({"code": code, "contextId": id}).to_string();
    socket.send(Message::Text(request.into())).await.unwrap();
    wait_for_processes(&mark, 2).await;
    let deleted = daemon.delete(&format!("/process/interpreter/context/{id}")).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert_no_survivors(&mark, "interpreter context delete").await;
}

#[tokio::test]
async fn stopping_the_daemon_kills_every_session_and_terminal_tree() {
    let mut daemon = Daemon::spawn();
    let mark = marker(300, 7, 0);
    let created = daemon.post("/process/session").json(&json!({"sessionId": "s"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let jobs = format!("(setsid sleep {mark} &); sleep {mark}");
    assert_eq!(session_exec(&daemon, "s", &jobs).await.status(), 202);
    wait_for_processes(&mark, 2).await;
    assert!(daemon.terminate(Duration::from_secs(20)).is_some(), "the daemon stopped");
    assert_no_survivors(&mark, "daemon shutdown").await;
}

#[tokio::test]
async fn children_never_see_the_daemons_own_variables() {
    let daemon = Daemon::spawn_with(common::Options {
        token: Some("s3cret-token"),
        env: vec![
            ("TOOLBOXD_TOKEN", "s3cret-token"),
            ("TOOLBOXD_EXEC_OUTPUT_LIMIT", "1000000"),
            ("TOOLBOXD_CUSTOM", "x"),
        ],
        ..common::Options::default()
    });
    let response: Value = daemon
        .post("/process/execute")
        .json(&json!({"command": "env"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let output = response["result"].as_str().unwrap();
    assert!(!output.contains("s3cret-token"), "the token reached a child: {output}");
    let names: Vec<&str> = output.lines().filter_map(|line| line.split_once('=')).map(|(n, _)| n).collect();
    let ours: Vec<&&str> = names.iter().filter(|name| name.starts_with("TOOLBOXD_")).collect();
    // Only the owner tag that marks the child's tree.
    assert_eq!(ours, vec![&"TOOLBOXD_OWNER"], "{names:?}");
}

#[tokio::test]
async fn stopping_a_language_server_kills_what_it_started() {
    skip_unless!(common::have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let mark = marker(300, 8, 0);
    // A pylsp that first double-forks a marked process away from itself.
    let bin = tempfile::tempdir().unwrap();
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("pylsp"))
        .find(|path| path.is_file())
        .unwrap();
    let wrapper = bin.path().join("pylsp");
    let script =
        format!("#!/bin/sh\n(setsid sleep {mark} >/dev/null 2>&1 &)\nexec {} \"$@\"\n", real.display());
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let daemon =
        Daemon::spawn_with(common::Options { env: vec![("PATH", &path)], ..common::Options::default() });
    let project = daemon.work().join("proj");
    std::fs::create_dir(&project).unwrap();
    let server = json!({"languageId": "python", "pathToProject": project});
    let started = daemon.post("/lsp/start").json(&server).send().await.unwrap();
    assert_eq!(started.status(), 200, "{:?}", started.text().await);
    wait_for_processes(&mark, 1).await;
    let stopped = daemon.post("/lsp/stop").json(&server).send().await.unwrap();
    assert_eq!(stopped.status(), 200);
    assert_no_survivors(&mark, "language server stop").await;
}

#[tokio::test]
async fn adopted_orphans_are_reaped() {
    let daemon = Daemon::spawn();
    let command = "for i in $(seq 20); do (sleep 0.05 &); done; sleep 0.3";
    let body: Value = daemon
        .post("/process/execute")
        .json(&json!({"command": command}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["exitCode"], 0, "{body}");
    let daemon_pid = daemon.pid().to_string();
    let zombies = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .filter(|stat| {
                stat.rsplit_once(") ").is_some_and(|(_, rest)| {
                    let mut fields = rest.split(' ');
                    fields.next() == Some("Z") && fields.next() == Some(daemon_pid.as_str())
                })
            })
            .count()
    };
    let reaped = eventually(|| zombies() == 0, Duration::from_secs(10)).await;
    assert!(reaped, "{} zombie children of the daemon are left", zombies());
}
