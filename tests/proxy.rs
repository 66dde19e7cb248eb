//! Ports and previews: `/port` and the `/proxy/{port}/{path...}` reverse proxy, driven against
//! the real binary with real servers started here (a hyper app, a websocket echo server, a
//! Python `http.server`, listeners on `[::]` and `[::1]`). Effects are checked where they land:
//! what the app received, the kernel's socket tables, the daemon's RSS in `/proc`.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Daemon, Options, assert_envelope, have};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Guards against hangs only; no test asserts on elapsed time.
const HANG_GUARD: Duration = Duration::from_secs(30);

type AppBody = BoxBody<Bytes, std::io::Error>;

/// A small app behind the proxy, in this process so the test can see what it received and
/// hold its responses open.
struct App {
    addr: SocketAddr,
    /// Connections the app accepted (the proxy pools its upstream connections).
    connections: Arc<AtomicUsize>,
    /// Opened by the test to let `/sse` and `/chunked` finish.
    gate: Arc<Notify>,
    /// Sizes of request-body frames as `/upload` receives them.
    frames: mpsc::UnboundedReceiver<usize>,
}

#[derive(Clone)]
struct AppState {
    connections: Arc<AtomicUsize>,
    gate: Arc<Notify>,
    frames: mpsc::UnboundedSender<usize>,
}

impl App {
    async fn start(bind: &str) -> App {
        let listener = TcpListener::bind(bind).await.expect("bind the app");
        let addr = listener.local_addr().unwrap();
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let state = AppState {
            connections: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(Notify::new()),
            frames: frames_tx,
        };
        let app = App { addr, connections: state.connections.clone(), gate: state.gate.clone(), frames };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| serve(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        app
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn full(bytes: impl Into<Bytes>) -> AppBody {
    http_body_util::Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

fn channel_body() -> (mpsc::Sender<Bytes>, AppBody) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(Frame::data(chunk)), rx))
    });
    (tx, BodyExt::boxed(StreamBody::new(stream)))
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| pair.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

async fn serve(state: AppState, req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let response = match path.as_str() {
        "/sse" | "/chunked" => {
            let (tx, body) = channel_body();
            let gate = state.gate.clone();
            let sse = path == "/sse";
            tokio::spawn(async move {
                let event = |n: u32| {
                    if sse { format!("id: {n}\ndata: event {n}\n\n") } else { format!("chunk {n};") }
                };
                let _ = tx.send(Bytes::from(event(1))).await;
                // Everything else waits until the client has seen the first event.
                gate.notified().await;
                for n in 2..=4 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let _ = tx.send(Bytes::from(event(n))).await;
                }
            });
            let content_type = if sse { "text/event-stream" } else { "text/plain" };
            Response::builder()
                .header("content-type", content_type)
                .header("cache-control", "no-cache")
                .body(body)
        }
        "/bytes" => {
            let total: u64 = query_param(&req, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_util::stream::unfold(0u64, move |sent| {
                let chunk = chunk.clone();
                async move {
                    (sent < total).then(|| {
                        let n = (total - sent).min(chunk.len() as u64);
                        (Ok::<_, std::io::Error>(Frame::data(chunk.slice(..n as usize))), sent + n)
                    })
                }
            });
            let mut builder = Response::builder().header("content-type", "application/octet-stream");
            if query_param(&req, "length").as_deref() != Some("unknown") {
                builder = builder.header("content-length", total);
            }
            builder.body(BodyExt::boxed(StreamBody::new(stream)))
        }
        "/upload" => {
            let mut body = req.into_body();
            let (mut length, mut hasher) = (0u64, Sha256::new());
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Ok(data) = frame.into_data() {
                    length += data.len() as u64;
                    hasher.update(&data);
                    let _ = state.frames.send(data.len());
                }
            }
            let reply = json!({ "length": length, "sha256": format!("{:x}", hasher.finalize()) });
            Response::builder().header("content-type", "application/json").body(full(reply.to_string()))
        }
        "/truncated" => {
            // Promises more than it sends, then drops the connection once the test says so.
            let (tx, body) = channel_body();
            let gate = state.gate.clone();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"partial")).await;
                gate.notified().await;
            });
            Response::builder().header("content-length", "1000").body(body)
        }
        _ => {
            let mut headers = Vec::new();
            for (name, value) in req.headers() {
                headers.push(json!([name.as_str(), value.to_str().unwrap_or("<binary>")]));
            }
            let method = req.method().to_string();
            let target = req.uri().to_string();
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let reply = json!({
                "method": method,
                "target": target,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            Response::builder()
                .status(if path == "/teapot" { 418 } else { 200 })
                .header("content-type", "application/json")
                .header("x-app", "yes")
                .header("set-cookie", "a=1; Path=/")
                .header("location", "/elsewhere")
                .body(full(reply.to_string()))
        }
    };
    Ok(response.unwrap())
}

/// The headers the app saw, as `(lowercase name, value)` pairs.
fn seen_headers(echo: &Value) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].as_str().unwrap().to_owned()))
        .collect()
}

fn seen_header(echo: &Value, name: &str) -> Option<String> {
    seen_headers(echo).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// A port nothing listens on right now (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends raw bytes to the daemon and returns the raw response (the request asks to close).
async fn raw_exchange(daemon: &Daemon, request: &str) -> String {
    let mut stream = TcpStream::connect(&daemon.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut response)).await.expect("response").unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn body_of(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Samples the daemon's RSS every 10 ms until `stop` is set; returns the peak in KiB.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::SeqCst) {
            peak = peak.max(vm_rss_kib(pid));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}

// ---------------------------------------------------------------------------------------------
// /port

async fn ports(daemon: &Daemon) -> Vec<u16> {
    let response = daemon.get("/port").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    body["ports"].as_array().expect("ports is an array").iter().map(|p| p.as_u64().unwrap() as u16).collect()
}

async fn in_use(daemon: &Daemon, port: u16) -> bool {
    let body: Value = daemon.get(&format!("/port/{port}/in-use")).send().await.unwrap().json().await.unwrap();
    body["isInUse"].as_bool().expect("isInUse is a bool")
}

/// The kernel's own view, from `ss`, when it is installed.
fn ss_listening(port: u16) -> Option<bool> {
    let out = Command::new("ss").args(["-Hltn", &format!("sport = :{port}")]).output().ok()?;
    out.status.success().then(|| !String::from_utf8_lossy(&out.stdout).trim().is_empty())
}

#[tokio::test]
async fn ports_lists_ipv4_and_ipv6_listeners_and_forgets_closed_ones() {
    let daemon = Daemon::spawn();
    let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Dual-stack `[::]`, Node's default: it appears only in /proc/net/tcp6.
    let dual = TcpListener::bind("[::]:0").await.unwrap();
    let v6_loopback = TcpListener::bind("[::1]:0").await.unwrap();
    let (p4, pdual, p6) = (
        v4.local_addr().unwrap().port(),
        dual.local_addr().unwrap().port(),
        v6_loopback.local_addr().unwrap().port(),
    );

    let listed = ports(&daemon).await;
    for port in [p4, pdual, p6] {
        assert!(listed.contains(&port), "{port} missing from {listed:?}");
        assert!(in_use(&daemon, port).await, "{port}");
        if let Some(kernel) = ss_listening(port) {
            assert!(kernel, "ss agrees {port} listens");
        }
    }
    let daemon_port: u16 = daemon.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert!(listed.contains(&daemon_port), "the daemon's own port is listed too");
    let mut deduplicated = listed.clone();
    deduplicated.sort_unstable();
    deduplicated.dedup();
    assert_eq!(deduplicated.len(), listed.len(), "no duplicates in {listed:?}");

    // An established (non-listening) connection's local port is not a listening port.
    let client = TcpStream::connect(v4.local_addr().unwrap()).await.unwrap();
    let ephemeral = client.local_addr().unwrap().port();

    drop((v4, dual, v6_loopback));
    let listed = ports(&daemon).await;
    for port in [p4, pdual, p6, ephemeral] {
        assert!(!listed.contains(&port), "{port} still listed in {listed:?}");
        assert!(!in_use(&daemon, port).await, "{port}");
    }
}

#[tokio::test]
async fn in_use_accepts_any_tcp_port_and_rejects_the_rest() {
    let daemon = Daemon::spawn();
    // Outside the reference daemon's 3000-9999 window, both answers are possible.
    let low = TcpListener::bind("127.0.0.1:0").await.unwrap();
    assert!(in_use(&daemon, low.local_addr().unwrap().port()).await);
    assert!(!in_use(&daemon, free_port()).await);
    assert!(!in_use(&daemon, 1).await || ss_listening(1) == Some(true));

    for (raw, wording) in [
        ("abc", "invalid port"),
        ("3000.5", "invalid port"),
        ("0", "out of range"),
        ("65536", "out of range"),
        ("-80", "out of range"),
        ("99999999999999999999", "invalid port"),
    ] {
        let response = daemon.get(&format!("/port/{raw}/in-use")).send().await.unwrap();
        let body = assert_envelope(response, 400, "BAD_REQUEST").await;
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("bad request: ") && message.contains(wording), "{raw}: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// /proxy: plain HTTP

#[tokio::test]
async fn path_encoding_query_and_headers_reach_the_app_as_the_contract_says() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    let port = app.port();
    let raw = raw_exchange(
        &daemon,
        &format!(
            "GET /proxy/{port}/files/a%2Fb/%40me/caf%C3%A9?q=a%20b&x=%2F&empty=&flag HTTP/1.1\r\n\
             Host: 10.0.0.2:2280\r\n\
             Connection: close, X-Drop-Me\r\n\
             X-Drop-Me: gone\r\n\
             Keep-Alive: timeout=5\r\n\
             Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
             TE: trailers\r\n\
             X-Forwarded-For: 203.0.113.7\r\n\
             X-Forwarded-Host: 3000-sandbox.proxy.example\r\n\
             X-Custom: kept\r\n\
             \r\n"
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let echo: Value = serde_json::from_str(body_of(&raw)).unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["target"], "/files/a%2Fb/%40me/caf%C3%A9?q=a%20b&x=%2F&empty=&flag");
    assert_eq!(seen_header(&echo, "host").as_deref(), Some(format!("localhost:{port}").as_str()));
    assert_eq!(seen_header(&echo, "x-forwarded-for").as_deref(), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(seen_header(&echo, "x-forwarded-host").as_deref(), Some("3000-sandbox.proxy.example"));
    assert_eq!(seen_header(&echo, "x-custom").as_deref(), Some("kept"));
    for dropped in ["x-drop-me", "keep-alive", "proxy-authorization", "te", "x-forwarded-proto", "user-agent"]
    {
        assert_eq!(seen_header(&echo, dropped), None, "{dropped} reached the app: {echo}");
    }

    // The app's status and headers come back untouched (no Location or cookie rewriting).
    let response = no_redirects().get(daemon.url(&format!("/proxy/{port}/teapot"))).send().await.unwrap();
    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["x-app"], "yes");
    assert_eq!(response.headers()["location"], "/elsewhere");
    assert_eq!(response.headers()["set-cookie"], "a=1; Path=/");
}

#[tokio::test]
async fn every_method_and_its_body_is_forwarded() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    let url = daemon.url(&format!("/proxy/{}/things/7", app.port()));
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
        let mut request = daemon.client.request(method.parse().unwrap(), &url);
        if method != "GET" && method != "TRACE" {
            request = request.body(format!("body of {method}"));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{method}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(echo["method"], method);
        assert_eq!(echo["target"], "/things/7");
        if method != "GET" && method != "TRACE" {
            assert_eq!(echo["body"], format!("body of {method}"));
        }
    }
    let head = daemon.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-app"], "yes");
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_bare_port_redirects_to_the_slash_form() {
    let daemon = Daemon::spawn();
    let client = no_redirects();
    for (method, status) in [("GET", 301), ("HEAD", 301), ("POST", 307), ("PUT", 307), ("DELETE", 307)] {
        let response =
            client.request(method.parse().unwrap(), daemon.url("/proxy/3000?tab=2")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method}");
        assert_eq!(response.headers()["location"], "/proxy/3000/?tab=2", "{method}");
    }
    // Followed, the redirect reaches the app's root.
    let app = App::start("127.0.0.1:0").await;
    let echo: Value =
        daemon.get(&format!("/proxy/{}", app.port())).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["target"], "/");
}

#[tokio::test]
async fn nothing_listening_is_a_502_envelope_and_a_bad_port_a_400() {
    let daemon = Daemon::spawn();
    let port = free_port();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = daemon.request(method.clone(), &format!("/proxy/{port}/x?y=1")).send().await.unwrap();
        assert_eq!(response.status(), 502, "{method}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["statusCode"], 502);
        assert_eq!(body["source"], "DAYTONA_DAEMON");
        assert_eq!(body["path"], format!("/proxy/{port}/x"));
        assert_eq!(body["method"], method.as_str());
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("proxy upstream error: "), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
    }
    for path in ["/proxy/abc/", "/proxy/abc", "/proxy/70000/x", "/proxy/-1/"] {
        let response = daemon.get(path).send().await.unwrap();
        let body = assert_envelope(response, 400, "BAD_REQUEST").await;
        assert!(
            body["message"].as_str().unwrap().starts_with("bad request: failed to parse target URL: "),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn apps_on_ipv6_only_and_dual_stack_are_reachable() {
    let daemon = Daemon::spawn();
    let app = App::start("[::1]:0").await;
    let echo: Value =
        daemon.get(&format!("/proxy/{}/v6?only=1", app.port())).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["target"], "/v6?only=1");
    let dual = App::start("[::]:0").await;
    let echo: Value =
        daemon.get(&format!("/proxy/{}/dual", dual.port())).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["target"], "/dual");
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Polls until the daemon holds at most `fds` descriptors and `rss_kib` of RSS; returns the last
/// figures seen (the caller asserts on them).
async fn settle(pid: u32, fds: usize, rss_kib: u64) -> (usize, u64) {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        let now = (fd_count(pid), vm_rss_kib(pid));
        if (now.0 <= fds && now.1 <= rss_kib) || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_daemons_own_port_is_refused_even_deeply_chained() {
    let daemon = Daemon::spawn();
    let own_port = daemon.addr.rsplit(':').next().unwrap();
    let response = daemon.get(&format!("/proxy/{own_port}/version")).send().await.unwrap();
    let envelope = assert_envelope(response, 403, "FORBIDDEN").await;
    assert!(envelope["message"].as_str().unwrap().contains("own API port"), "{envelope}");

    let pid = daemon.pid();
    let (fds, rss) = (fd_count(pid), vm_rss_kib(pid));
    let chained = format!("/proxy/{own_port}").repeat(2000) + "/version";
    for _ in 0..3 {
        let response = daemon.get(&chained).send().await.unwrap();
        assert_envelope(response, 403, "FORBIDDEN").await;
    }
    let (fds_after, rss_after) = settle(pid, fds, rss + 16 * 1024).await;
    eprintln!(
        "after 3 chained requests to the own port: fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB"
    );
    assert!(fds_after <= fds, "fds {fds} -> {fds_after}");
    assert!(rss_after <= rss + 16 * 1024, "RSS {rss} KiB -> {rss_after} KiB");
}

#[tokio::test]
async fn a_loop_through_another_proxy_ends_after_a_few_hops_and_leaks_nothing() {
    // Two daemons previewing each other: every hop looks legitimate to the daemon it reaches.
    let a = Daemon::spawn();
    let b = Daemon::spawn();
    let port = |d: &Daemon| d.addr.rsplit(':').next().unwrap().to_owned();
    let (port_a, port_b) = (port(&a), port(&b));
    let chained = format!("/proxy/{port_b}/proxy/{port_a}").repeat(500) + "/version";
    let attempt = || async {
        let response = a.get(&chained).timeout(HANG_GUARD).send().await.unwrap();
        let envelope = assert_envelope(response, 400, "BAD_REQUEST").await;
        assert!(envelope["message"].as_str().unwrap().contains("proxy loop"), "{envelope}");
    };
    // A legitimate two-hop preview still works.
    let echo: Value = a.get(&format!("/proxy/{port_b}/version")).send().await.unwrap().json().await.unwrap();
    assert!(echo["version"].as_str().unwrap().starts_with('v'), "{echo}");

    // Warm the upstream pools with as many parallel chains as the test will run, then measure.
    futures_util::future::join_all((0..3).map(|_| attempt())).await;
    let (pid_a, pid_b) = (a.pid(), b.pid());
    let baseline = [(fd_count(pid_a), vm_rss_kib(pid_a)), (fd_count(pid_b), vm_rss_kib(pid_b))];
    for _ in 0..5 {
        futures_util::future::join_all((0..3).map(|_| attempt())).await;
    }
    for (pid, (fds, rss)) in [pid_a, pid_b].into_iter().zip(baseline) {
        // Pooled upstream connections may be paired differently from one round to the next.
        let (fds_after, rss_after) = settle(pid, fds + 4, rss + 16 * 1024).await;
        eprintln!(
            "daemon {pid} after 15 looping requests: fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB"
        );
        assert!(fds_after <= fds + 4, "fds of {pid}: {fds} -> {fds_after}");
        assert!(rss_after <= rss + 16 * 1024, "RSS of {pid}: {rss} KiB -> {rss_after} KiB");
    }
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    for i in 0..20 {
        let response = daemon.get(&format!("/proxy/{}/n/{i}", app.port())).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let connections = app.connections.load(Ordering::SeqCst);
    assert!(connections < 20, "20 sequential requests used {connections} upstream connections");
}

#[tokio::test]
async fn the_central_token_guards_the_proxy_and_is_not_handed_to_apps() {
    let daemon = Daemon::spawn_with(Options { token: Some("s3cret"), ..Default::default() });
    let app = App::start("127.0.0.1:0").await;
    let path = format!("/proxy/{}/private", app.port());
    let anonymous = daemon.client.get(daemon.url(&path)).send().await.unwrap();
    assert_envelope(anonymous, 401, "UNAUTHORIZED").await;
    let echo: Value = daemon.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["target"], "/private");
    assert_eq!(seen_header(&echo, "authorization"), None, "the daemon token leaked: {echo}");
}

#[tokio::test]
async fn a_python_http_server_serves_files_through_the_proxy() {
    skip_unless!(have("python3"), "python3 is not installed");
    let daemon = Daemon::spawn();
    let root = tempfile::tempdir().unwrap();
    let payload: Vec<u8> =
        (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &payload).unwrap();
    std::fs::write(root.path().join("a@b.txt"), "at sign").unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/file.txt"), "in sub").unwrap();

    let mut server = PythonServer::start(root.path());
    let port = server.port;
    let big = daemon.get(&format!("/proxy/{port}/big.bin")).send().await.unwrap();
    assert_eq!(big.status(), 200);
    assert_eq!(big.headers()["content-length"], payload.len().to_string().as_str());
    assert_eq!(big.bytes().await.unwrap().as_ref(), payload.as_slice());
    let at = daemon.get(&format!("/proxy/{port}/a%40b.txt")).send().await.unwrap();
    assert_eq!(at.text().await.unwrap(), "at sign");
    let sub = daemon.get(&format!("/proxy/{port}/sub%2Ffile.txt?v=%2F")).send().await.unwrap();
    assert_eq!(sub.text().await.unwrap(), "in sub");

    // Python's access log records the request line it received: still encoded.
    let log = server.log_until("/sub%2Ffile.txt");
    assert!(log.contains("\"GET /a%40b.txt HTTP/1.1\""), "{log}");
    assert!(log.contains("\"GET /sub%2Ffile.txt?v=%2F HTTP/1.1\""), "{log}");
}

/// `python3 -m http.server` on an ephemeral loopback port, killed on drop.
struct PythonServer {
    child: Child,
    port: u16,
    log: std::sync::mpsc::Receiver<String>,
}

impl PythonServer {
    fn start(root: &std::path::Path) -> PythonServer {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 -m http.server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 43117 (http://127.0.0.1:43117/) ..."
        let port = line.split_whitespace().skip_while(|w| *w != "port").nth(1).unwrap().parse().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        PythonServer { child, port, log }
    }

    /// The access log up to the first line containing `needle`.
    fn log_until(&mut self, needle: &str) -> String {
        let mut seen = String::new();
        while let Ok(line) = self.log.recv_timeout(HANG_GUARD) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(needle) {
                break;
            }
        }
        seen
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// /proxy: streaming

/// Reads from `stream` until `needle` has arrived; returns everything read so far.
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    needle: &str,
) -> String {
    let mut seen = String::new();
    tokio::time::timeout(HANG_GUARD, async {
        while !seen.contains(needle) {
            let chunk = stream.next().await.expect("stream ended early").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{needle:?} never arrived; got {seen:?}"));
    seen
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_produced() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    let response = daemon
        .get(&format!("/proxy/{}/sse", app.port()))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    // The app sends nothing more until the first event is here; a buffering proxy hangs here.
    let first = read_until(&mut stream, "data: event 1\n\n").await;
    assert!(!first.contains("event 2"), "{first}");
    app.gate.notify_one();
    let rest = read_until(&mut stream, "data: event 4\n\n").await;
    assert!(rest.contains("id: 2\ndata: event 2\n\nid: 3\ndata: event 3\n\n"), "{rest}");
    assert!(tokio::time::timeout(HANG_GUARD, stream.next()).await.unwrap().is_none(), "stream ends");
}

#[tokio::test]
async fn chunked_responses_arrive_chunk_by_chunk() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    let response = daemon.get(&format!("/proxy/{}/chunked", app.port())).send().await.unwrap();
    assert!(response.headers().get("content-length").is_none());
    let mut stream = response.bytes_stream();
    assert_eq!(read_until(&mut stream, "chunk 1;").await, "chunk 1;");
    app.gate.notify_one();
    read_until(&mut stream, "chunk 4;").await;
}

#[tokio::test]
async fn request_bodies_stream_to_the_app() {
    let daemon = Daemon::spawn();
    let mut app = App::start("127.0.0.1:0").await;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let request = daemon.post(&format!("/proxy/{}/upload", app.port())).body(body).send();
    let pending = tokio::spawn(request);

    tx.send(Ok(Bytes::from(vec![1u8; 1000]))).await.unwrap();
    // The app sees the first bytes while the client is still sending.
    let mut received = 0;
    while received < 1000 {
        received += tokio::time::timeout(HANG_GUARD, app.frames.recv()).await.expect("first bytes").unwrap();
    }
    tx.send(Ok(Bytes::from(vec![2u8; 500]))).await.unwrap();
    drop(tx);
    let reply: Value = pending.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(reply["length"], 1500);
    let mut expected = Sha256::new();
    expected.update(vec![1u8; 1000]);
    expected.update(vec![2u8; 500]);
    assert_eq!(reply["sha256"], format!("{:x}", expected.finalize()));
}

#[tokio::test]
async fn a_truncated_upstream_body_fails_the_download_not_the_daemon() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    let response = daemon.get(&format!("/proxy/{}/truncated", app.port())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "1000");
    let mut stream = response.bytes_stream();
    assert_eq!(read_until(&mut stream, "partial").await, "partial");
    app.gate.notify_one();
    let rest = tokio::time::timeout(HANG_GUARD, stream.next()).await.expect("the failure arrives");
    assert!(matches!(rest, Some(Err(_))), "a short body is an error, not a silent success: {rest:?}");
    let echo: Value =
        daemon.get(&format!("/proxy/{}/after", app.port())).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["target"], "/after");
}

#[tokio::test]
async fn large_transfers_keep_the_daemon_rss_flat() {
    let daemon = Daemon::spawn();
    let app = App::start("127.0.0.1:0").await;
    const SIZE: u64 = 512 * 1024 * 1024;
    // Warm up the allocator and the pool, then take the baseline.
    daemon
        .get(&format!("/proxy/{}/bytes?n=1048576", app.port()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let baseline = vm_rss_kib(daemon.pid());

    for length in ["known", "unknown"] {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = sample_rss(daemon.pid(), stop.clone());
        let response = daemon
            .get(&format!("/proxy/{}/bytes?n={SIZE}&length={length}", app.port()))
            .send()
            .await
            .unwrap();
        let mut stream = response.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) =
            tokio::time::timeout(HANG_GUARD, stream.next()).await.expect("download stalled")
        {
            total += chunk.unwrap().len() as u64;
        }
        stop.store(true, Ordering::SeqCst);
        let peak = sampler.join().unwrap();
        assert_eq!(total, SIZE, "{length}");
        let growth_mib = peak.saturating_sub(baseline) / 1024;
        println!("download ({length} length) of {} MiB: RSS {baseline} KiB -> peak {peak} KiB", SIZE >> 20);
        assert!(growth_mib < 32, "RSS grew {growth_mib} MiB during a {} MiB download", SIZE >> 20);
    }

    // Upload the same way: the body is produced lazily here and counted by the app.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(daemon.pid(), stop.clone());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let chunk = Bytes::from(vec![7u8; 256 * 1024]);
    let body = futures_util::stream::unfold(0u64, move |done| {
        let (chunk, counter) = (chunk.clone(), counter.clone());
        async move {
            (done < SIZE / 2).then(|| {
                counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                (Ok::<_, std::io::Error>(chunk.clone()), done + chunk.len() as u64)
            })
        }
    });
    let reply: Value = daemon
        .post(&format!("/proxy/{}/upload", app.port()))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    assert_eq!(reply["length"], SIZE / 2);
    assert_eq!(sent.load(Ordering::SeqCst), SIZE / 2);
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    println!("upload of {} MiB: RSS {baseline} KiB -> peak {peak} KiB", SIZE >> 21);
    assert!(growth_mib < 32, "RSS grew {growth_mib} MiB during a {} MiB upload", SIZE >> 21);
}

// ---------------------------------------------------------------------------------------------
// /proxy: websockets

/// A websocket echo server; its first message to each client is the request target it saw.
async fn websocket_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut target = String::new();
                let mut host = String::new();
                #[allow(clippy::result_large_err)] // tungstenite's callback signature
                let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                                response| {
                    target = req.uri().to_string();
                    host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
                    Ok(response)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
                let hello = json!({ "target": target, "host": host }).to_string();
                if ws.send(Message::text(hello)).await.is_err() {
                    return;
                }
                while let Some(Ok(message)) = ws.next().await {
                    let echo = matches!(message, Message::Text(_) | Message::Binary(_));
                    if message.is_close() || (echo && ws.send(message).await.is_err()) {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn websockets_round_trip_through_the_proxy() {
    let daemon = Daemon::spawn();
    let upstream = websocket_echo_server().await;
    let url = format!("ws://{}/proxy/{}/socket%2Fio/?EIO=4&t=x%20y", daemon.addr, upstream.port());
    let (mut ws, response) =
        tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap();
    assert_eq!(response.status(), 101);

    let hello = ws.next().await.unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["target"], "/socket%2Fio/?EIO=4&t=x%20y");
    assert_eq!(hello["host"], format!("localhost:{}", upstream.port()));

    for i in 0..50 {
        ws.send(Message::text(format!("message {i}"))).await.unwrap();
        let echo = tokio::time::timeout(HANG_GUARD, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(echo.to_text().unwrap(), format!("message {i}"));
    }
    let blob: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    let echo = tokio::time::timeout(HANG_GUARD, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo.into_data().as_ref(), blob.as_slice());
    ws.close(None).await.unwrap();

    // Plain requests keep working next to tunnels.
    let version = daemon.get("/version").send().await.unwrap();
    assert_eq!(version.status(), 200);
}

#[tokio::test]
async fn a_refused_upgrade_is_passed_back_unchanged() {
    let daemon = Daemon::spawn();
    // The hyper app does not speak websocket: it answers the handshake with a plain 200.
    let app = App::start("127.0.0.1:0").await;
    let raw = raw_exchange(
        &daemon,
        &format!(
            "GET /proxy/{}/not-ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            app.port()
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let echo: Value = serde_json::from_str(body_of(&raw)).unwrap();
    assert_eq!(seen_header(&echo, "upgrade").as_deref(), Some("websocket"));
    assert_eq!(seen_header(&echo, "connection").as_deref(), Some("upgrade"));
    assert_eq!(seen_header(&echo, "sec-websocket-key").as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
}

#[tokio::test]
async fn shutdown_closes_open_tunnels() {
    let mut daemon = Daemon::spawn();
    let upstream = websocket_echo_server().await;
    let url = format!("ws://{}/proxy/{}/", daemon.addr, upstream.port());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().to_text().unwrap(), "still here");

    let status = tokio::task::spawn_blocking(move || {
        let status = daemon.terminate(HANG_GUARD);
        (daemon, status)
    });
    let (_daemon, status) = status.await.unwrap();
    assert!(status.is_some_and(|s| s.success()), "the daemon exits cleanly with a tunnel open: {status:?}");
    let after = tokio::time::timeout(HANG_GUARD, ws.next()).await.expect("the tunnel closes");
    assert!(!matches!(after, Some(Ok(Message::Text(_)))), "{after:?}");
}
