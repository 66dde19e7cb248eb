//! The recordings page (its own port): the JSON it runs on, its video files and the token rule
//! over real HTTP, then the page itself in headless Chromium (Debian's `chromium`,
//! `playwright-core` from npm) listing a recording made on an Xvfb display and playing it.

#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Options, have, playwright_dir};
use serde_json::{Value, json};

const TOKEN: &str = "recordings-test-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An Xvfb on a free display (it picks the number itself and writes it on stdout).
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "320x240x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
        let number = line.trim();
        if number.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(Xvfb { display: format!(":{number}"), child })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the tests need; `None` (after printing why) when this machine cannot record.
fn recording_machine() -> Option<Xvfb> {
    for tool in ["Xvfb", "xsetroot", "ffmpeg"] {
        if !have(tool) {
            common::skip(&format!("{tool} is not installed (tests/run.sh installs it)"));
            return None;
        }
    }
    let xvfb = Xvfb::start();
    if xvfb.is_none() {
        common::skip("Xvfb could not start");
    }
    xvfb
}

fn start(xvfb: &Xvfb, token: Option<&str>) -> (Daemon, u16) {
    let port = free_port();
    let port_arg = port.to_string();
    let daemon = Daemon::spawn_with(Options {
        token,
        args: vec!["--recordings-port", &port_arg],
        env: vec![("DISPLAY", &xvfb.display)],
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the recordings page never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (daemon, port)
}

/// Records about two seconds of the display through the API; returns the finished recording.
async fn record(daemon: &Daemon, xvfb: &Xvfb) -> Value {
    let started: Value = daemon
        .post("/computeruse/recordings/start")
        .json(&json!({"label": "page"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for colour in ["red", "yellow"] {
        Command::new("xsetroot").args(["-display", &xvfb.display, "-solid", colour]).status().unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let stopped: Value = daemon
        .post("/computeruse/recordings/stop")
        .json(&json!({"id": started["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["status"], "completed", "{stopped}");
    stopped
}

#[tokio::test]
async fn the_page_lists_serves_and_deletes_recordings_behind_the_token() {
    let Some(xvfb) = recording_machine() else { return };
    let (daemon, port) = start(&xvfb, Some(TOKEN));
    let recording = record(&daemon, &xvfb).await;
    let (id, file) = (recording["id"].as_str().unwrap(), recording["fileName"].as_str().unwrap());
    let path = PathBuf::from(recording["filePath"].as_str().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Without the token: the login form, and 401 envelopes for the data.
    let page = client.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    for route in ["/api/recordings".to_owned(), format!("/videos/{file}")] {
        let response = client.get(format!("{base}{route}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "{route}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
    assert_eq!(
        client.post(format!("{base}/login")).form(&[("token", "nope")]).send().await.unwrap().status(),
        401
    );

    // With it: the list, the video (whole and ranged), and nothing outside the recordings.
    let listed: Value = client
        .get(format!("{base}/api/recordings"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["recordings"][0]["id"], id, "{listed}");
    assert_eq!(listed["recordings"][0]["status"], "completed");
    let video = client.get(format!("{base}/videos/{file}")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(video.status(), 200);
    assert_eq!(video.headers()["content-type"], "video/mp4");
    assert_eq!(video.bytes().await.unwrap(), std::fs::read(&path).unwrap());
    let ranged = client
        .get(format!("{base}/videos/{file}"))
        .bearer_auth(TOKEN)
        .header("Range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap(), std::fs::read(&path).unwrap()[4..12]);
    for (route, status) in [
        ("/videos/..%2F..%2F..%2Fetc%2Fpasswd", 400),
        ("/videos/..%5Cboot", 400),
        ("/videos/.hidden.mp4", 400),
        ("/videos/%2Fetc%2Fpasswd", 400),
        ("/videos/unknown.mp4", 404),
    ] {
        let response = client.get(format!("{base}{route}")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), status, "{route}");
    }

    // A delete from another site is refused and changes nothing; from the page it deletes.
    let refused = client
        .delete(format!("{base}/api/recordings"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://evil.example")
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(path.is_file());
    let deleted: Value = client
        .delete(format!("{base}/api/recordings"))
        .bearer_auth(TOKEN)
        .header("Origin", &base)
        .json(&json!({"ids": [id, "nope"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, json!({"deleted": [id], "failed": ["nope"]}));
    assert!(!path.exists(), "the file is gone from disk");
    let listed: Value = client
        .get(format!("{base}/api/recordings"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!({"recordings": []}));
    let gone = daemon.get(&format!("/computeruse/recordings/{id}")).send().await.unwrap();
    assert_eq!(gone.status(), 404, "the API no longer knows it either");
}

#[tokio::test]
async fn a_browser_logs_in_plays_a_recording_and_deletes_it() {
    skip_unless!(have("node"), "node is not installed");
    skip_unless!(std::path::Path::new("/usr/bin/chromium").exists(), "Debian's chromium is not installed");
    let Some(playwright) = playwright_dir() else {
        common::skip("playwright-core is not installed in .tools/playwright (tests/run.sh installs it)");
        return;
    };
    let Some(xvfb) = recording_machine() else { return };
    let (daemon, port) = start(&xvfb, Some(TOKEN));
    let recording = record(&daemon, &xvfb).await;
    let path = PathBuf::from(recording["filePath"].as_str().unwrap());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/recordings_page.js");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(TOKEN)
        .arg(recording["id"].as_str().unwrap())
        .env("NODE_PATH", playwright.join("node_modules"))
        .output()
        .await
        .expect("node");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!("driver printed no JSON: {text}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    println!("browser saw: {result}");
    assert!(result.get("error").is_none(), "{}", result["error"].as_str().unwrap_or_default());
    assert_eq!(result["loginForm"], true);
    assert_eq!(result["listed"], true, "the page lists the recording");
    let duration = result["duration"].as_f64().expect("the video reports a duration");
    let expected = recording["durationSeconds"].as_f64().unwrap();
    assert!(duration > 0.5 && duration < expected + 1.0, "video {duration}s, recording {expected}s");
    assert_eq!(result["rowsAfterDelete"], 0);
    assert!(!path.exists(), "deleting in the page removed the file");
}
