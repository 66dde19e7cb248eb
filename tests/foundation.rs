//! The daemon itself: startup, the system endpoints, auth, the error envelope everywhere and
//! graceful shutdown, driven over real HTTP against the real binary.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{Daemon, Options, assert_envelope};
use serde_json::{Value, json};

#[tokio::test]
async fn version_is_a_version_string() {
    let daemon = Daemon::spawn();
    let response = daemon.get("/version").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    let version = body["version"].as_str().unwrap();
    assert_eq!(version, concat!("v", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn dirs_report_home_and_work_dir() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let daemon = Daemon::spawn_with(Options { env: vec![("HOME", home_str)], ..Default::default() });
    for path in ["/user-home-dir", "/project-dir"] {
        let body: Value = daemon.get(path).send().await.unwrap().json().await.unwrap();
        assert_eq!(body, json!({ "dir": home_str }), "{path}");
    }
    let body: Value = daemon.get("/work-dir").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["dir"].as_str().unwrap(), daemon.work().to_str().unwrap());
}

#[tokio::test]
async fn home_as_work_dir_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    // Without --work-dir, DAYTONA_USER_HOME_AS_WORKDIR=true makes $HOME the work dir.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .env("HOME", home_str)
        .env("DAYTONA_USER_HOME_AS_WORKDIR", "true")
        .env_remove("TOOLBOXD_WORK_DIR")
        .env_remove("TOOLBOXD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let body: Value = reqwest::get(format!("http://{addr}/work-dir")).await.unwrap().json().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(body["dir"], home_str);
}

#[tokio::test]
async fn init_accepts_a_token_or_nothing() {
    let daemon = Daemon::spawn();
    for body in [json!({ "token": "telemetry-token" }), json!({})] {
        let response = daemon.post("/init").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "Auth token set and telemetry initialized successfully");
    }
}

#[tokio::test]
async fn init_and_env_reject_malformed_bodies() {
    let daemon = Daemon::spawn();
    for path in ["/init", "/env"] {
        let cases: [(&str, &str); 4] = [
            ("not json", "malformed JSON"),
            ("", "empty body"),
            ("[1,2]", "wrong top-level type"),
            ("{\"token\": 5, \"set\": 5, \"unset\": \"x\"}", "wrong field types"),
        ];
        for (body, what) in cases {
            let response =
                daemon.post(path).header("content-type", "application/json").body(body).send().await.unwrap();
            let envelope = assert_envelope(response, 400, "INVALID_REQUEST_BODY").await;
            assert_eq!(envelope["path"], path, "{what}");
            assert_eq!(envelope["method"], "POST", "{what}");
            assert!(
                envelope["message"].as_str().unwrap().starts_with("invalid body request: "),
                "{what}: {envelope}"
            );
        }
    }
}

#[tokio::test]
async fn json_bodies_are_read_whatever_the_content_type() {
    let daemon = Daemon::spawn();
    let response = daemon.post("/init").header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn env_update_accepts_the_sdk_shape_and_rejects_bad_names() {
    let daemon = Daemon::spawn();
    let response = daemon
        .post("/env")
        .json(&json!({ "set": { "TOOLBOXD_TEST_VAR": "1" }, "unset": ["NOT_SET_ANYWAY"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Environment updated successfully");

    for bad in [json!({ "set": { "A=B": "1" } }), json!({ "set": { "": "1" } }), json!({ "unset": ["X=Y"] })]
    {
        let response = daemon.post("/env").json(&bad).send().await.unwrap();
        let envelope = assert_envelope(response, 400, "BAD_REQUEST").await;
        assert!(envelope["message"].as_str().unwrap().contains("invalid environment variable name"));
    }
}

#[tokio::test]
async fn metrics_are_plausible() {
    let daemon = Daemon::spawn();
    let body: Value = daemon.get("/system/metrics").send().await.unwrap().json().await.unwrap();
    for field in [
        "timestamp",
        "timestampUnix",
        "cpuCount",
        "cpuUsedPct",
        "memUsed",
        "memCache",
        "memTotal",
        "diskTotal",
        "diskUsed",
        "diskFree",
    ] {
        assert!(body.get(field).is_some(), "{field} missing from {body}");
    }
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    let cpu_count = body["cpuCount"].as_u64().unwrap();
    assert!(cpu_count >= 1 && cpu_count <= cpus, "cpuCount {cpu_count} vs {cpus} CPUs");
    let pct = body["cpuUsedPct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct));
    assert!(body["memUsed"].as_u64().unwrap() > 1 << 20, "{body}");
    let total = body["diskTotal"].as_u64().unwrap();
    let stat = rustix::fs::statvfs("/").unwrap();
    assert_eq!(total, stat.f_blocks * stat.f_frsize, "diskTotal is statvfs(/)");
    assert!(body["diskUsed"].as_u64().unwrap() <= total);
    assert!(body["diskFree"].as_u64().unwrap() <= total);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((body["timestampUnix"].as_i64().unwrap() - now).abs() < 30);
    let ts = body["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == "2026-06-23T10:00:00Z".len(), "{ts}");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_use_the_envelope() {
    let daemon = Daemon::spawn();
    let response = daemon.get("/no/such/route").send().await.unwrap();
    let envelope = assert_envelope(response, 404, "NOT_FOUND").await;
    assert_eq!(envelope["path"], "/no/such/route");
    assert_eq!(envelope["method"], "GET");

    let served = [
        ("GET", "/version"),
        ("GET", "/user-home-dir"),
        ("GET", "/project-dir"),
        ("GET", "/work-dir"),
        ("GET", "/system/metrics"),
        ("POST", "/init"),
        ("POST", "/env"),
    ];
    for (served_method, path) in served {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if method == served_method {
                continue;
            }
            let response = daemon.request(method.parse().unwrap(), path).send().await.unwrap();
            let envelope = assert_envelope(response, 405, "METHOD_NOT_ALLOWED").await;
            assert_eq!(envelope["method"], method);
            assert_eq!(envelope["path"], path);
        }
    }
}

#[tokio::test]
async fn a_token_guards_every_route() {
    let daemon = Daemon::spawn_with(Options { token: Some("s3cret-token"), ..Default::default() });
    let anonymous = reqwest::Client::new();
    for path in ["/version", "/work-dir", "/system/metrics", "/openapi.json", "/no/such/route"] {
        let response = anonymous.get(daemon.url(path)).send().await.unwrap();
        assert_envelope(response, 401, "UNAUTHORIZED").await;
        let response = anonymous.get(daemon.url(path)).bearer_auth("wrong-token").send().await.unwrap();
        assert_envelope(response, 401, "UNAUTHORIZED").await;
        let response =
            anonymous.get(daemon.url(path)).header("authorization", "s3cret-token").send().await.unwrap();
        assert_envelope(response, 401, "UNAUTHORIZED").await;
    }
    let response = daemon.get("/version").send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A websocket upgrade without the token is refused before any upgrade happens.
    let request = anonymous
        .get(daemon.url("/version"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    assert_envelope(request.send().await.unwrap(), 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn the_token_never_reaches_the_logs() {
    let work = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking({
        let work = work.path().to_owned();
        move || {
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
                .args([
                    "--port",
                    "0",
                    "--bind",
                    "127.0.0.1",
                    "--log-level",
                    "trace",
                    "--token",
                    "tok-visible-XYZ",
                ])
                .arg("--work-dir")
                .arg(&work)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
            for auth in ["Bearer tok-visible-XYZ", "Bearer wrong"] {
                let _ = std::process::Command::new("curl")
                    .args(["-s", "-H", &format!("authorization: {auth}"), &format!("http://{addr}/version")])
                    .output();
            }
            let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
            child.wait_with_output().unwrap()
        }
    })
    .await
    .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("listening on"), "trace logs were written: {logs}");
    assert!(!logs.contains("tok-visible-XYZ"), "token leaked into logs");
}

#[tokio::test]
async fn an_open_daemon_warns_at_start() {
    let output = tokio::task::spawn_blocking(|| {
        let work = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .arg("--work-dir")
            .arg(work.path())
            .env_remove("TOOLBOXD_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
            .unwrap();
        let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("WARN") && logs.contains("no --token"), "{logs}");
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let mut daemon = Daemon::spawn();
    let response = daemon.get("/version").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let status = daemon.terminate(Duration::from_secs(10)).expect("exited within the deadline");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn port_zero_picks_a_free_port_and_flags_come_from_the_environment() {
    let work = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn_with(Options {
        env: vec![("TOOLBOXD_WORK_DIR", work.path().to_str().unwrap())],
        ..Default::default()
    });
    // The --work-dir flag from spawn_with wins over the environment variable.
    let body: Value = daemon.get("/work-dir").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["dir"], daemon.work().to_str().unwrap());
    let port: u16 = daemon.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    assert_ne!(port, 22221);
}

#[tokio::test]
async fn help_documents_every_option() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd")).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--port",
        "--bind",
        "--work-dir",
        "--token",
        "--token-file",
        "--header-read-timeout-secs",
        "--idle-timeout-secs",
        "--body-timeout-secs",
        "--log-level",
        "TOOLBOXD_PORT",
        "ENTRYPOINT",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
}

#[tokio::test]
async fn a_missing_work_dir_is_a_clear_startup_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--work-dir", "/definitely/not/here"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("/definitely/not/here"), "{logs}");
}

#[tokio::test]
async fn docs_page_is_self_contained() {
    let daemon = Daemon::spawn();
    let response = daemon.get("/docs").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("openapi.json"));
    assert!(!html.contains("http://") && !html.contains("https://"), "docs page must not load remote assets");
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut daemon = Daemon::spawn();
    let request =
        daemon.post("/process/execute").json(&json!({ "command": "sleep 1.0427; echo drained" })).send();
    let in_flight = tokio::spawn(request);
    // In flight means the command runs: on a loaded machine a fixed pause may end before the
    // daemon has even accepted the connection.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sleepers("1.0427") == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = daemon.pid();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let response = in_flight.await.unwrap().expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["exitCode"], 0, "{body}");
    assert!(body["result"].as_str().unwrap().contains("drained"), "{body}");
    let status = daemon.terminate(Duration::from_secs(10)).expect("exited after draining");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_drain_has_a_deadline() {
    let mut daemon =
        Daemon::spawn_with(Options { args: vec!["--shutdown-timeout-secs", "1"], ..Default::default() });
    // A sleep with an unusual duration, so its process can be found in /proc afterwards.
    let in_flight =
        tokio::spawn(daemon.post("/process/execute").json(&json!({ "command": "sleep 30.4242" })).send());
    // Wait (bounded) until the command is running; a loaded machine may take a while to start it.
    for _ in 0..200 {
        if sleepers("30.4242") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sleepers("30.4242") > 0, "the command is running");
    let started = std::time::Instant::now();
    let status = daemon.terminate(Duration::from_secs(10)).expect("exited at the deadline");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(status.success(), "{status:?}");
    assert!(in_flight.await.unwrap().is_err(), "the cut request gets no answer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sleepers("30.4242"), 0, "the command was stopped with the daemon");
}

/// Processes whose command line mentions `needle`.
fn sleepers(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(needle))
        .count()
}

#[tokio::test]
async fn a_token_file_keeps_the_token_off_the_command_line_and_any_bearer_case_works() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("token");
    std::fs::write(&file, "file-token-7Qx\n").unwrap();
    let daemon = Daemon::spawn_with(Options {
        args: vec!["--token-file", file.to_str().unwrap()],
        ..Default::default()
    });
    for exposed in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{}/{exposed}", daemon.pid())).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("file-token-7Qx"),
            "the token is readable in /proc/<pid>/{exposed}"
        );
    }
    let client = reqwest::Client::new();
    let version = daemon.url("/version");
    assert_envelope(client.get(&version).send().await.unwrap(), 401, "UNAUTHORIZED").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = client
            .get(&version)
            .header("authorization", format!("{scheme} file-token-7Qx"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "scheme {scheme}");
    }
    for wrong in
        ["Basic file-token-7Qx", "Bearerfile-token-7Qx", "Bearer file-token-7Qx\u{20}x", "file-token-7Qx"]
    {
        let response = client.get(&version).header("authorization", wrong).send().await.unwrap();
        assert_envelope(response, 401, "UNAUTHORIZED").await;
    }
}

#[tokio::test]
async fn an_empty_or_missing_token_file_or_both_token_flags_refuse_to_start() {
    let secrets = tempfile::tempdir().unwrap();
    let empty = secrets.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let missing = secrets.path().join("missing");
    let cases: [(&[&str], &str); 3] = [
        (&["--token-file", empty.to_str().unwrap()], "empty"),
        (&["--token-file", missing.to_str().unwrap()], "cannot read token file"),
        (&["--token", "t", "--token-file", empty.to_str().unwrap()], "cannot be used with"),
    ];
    for (args, expected) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .arg("--work-dir")
            .arg(secrets.path())
            .args(args)
            .env_remove("TOOLBOXD_TOKEN")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"), "{args:?}");
    }
}

#[tokio::test]
async fn openapi_lists_the_shared_statuses_on_every_operation() {
    let daemon = Daemon::spawn();
    let document: Value = daemon.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else { continue };
            operations += 1;
            for status in ["401", "500"] {
                assert!(responses.contains_key(status), "{method} {path} does not list {status}");
            }
            let takes_input =
                operation.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty())
                    || operation.get("requestBody").is_some();
            if takes_input {
                assert!(responses.contains_key("400"), "{method} {path} takes input but does not list 400");
            }
        }
    }
    assert!(operations > 100, "only {operations} operations");
}
