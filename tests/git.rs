//! The git area against the real binary: local repositories, `file://` and bare remotes, and a
//! real smart-HTTP remote (`git http-backend` behind a small CGI server in this file) that
//! demands HTTP Basic auth. Every effect is checked with the `git` CLI, not through the daemon.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use bytes::Bytes;
use common::{Daemon, Options, assert_envelope, have};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

// ---------------------------------------------------------------------------------------------
// Fixtures: an isolated HOME, the git CLI, and a smart-HTTP server.

/// A HOME of its own, so neither the daemon nor the CLI touches the real global git config.
struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".gitconfig"),
            "[user]\n\tname = Cli User\n\temail = cli@example.com\n[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n",
        )
        .unwrap();
        Env { home }
    }

    fn daemon(&self) -> Daemon {
        Daemon::spawn_with(Options {
            env: vec![("HOME", self.home.path().to_str().unwrap())],
            ..Default::default()
        })
    }

    /// Runs `git` in `dir`, panicking with its stderr on failure; returns trimmed stdout.
    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output(dir, args);
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn git_output(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .output()
            .unwrap()
    }

    /// A bare repository `name` under `root` with one commit on `main` (README) and one on `dev`.
    fn seed_bare(&self, root: &Path, name: &str) -> PathBuf {
        let bare = root.join(name);
        self.git(root, &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()]);
        let seed = tempfile::tempdir().unwrap();
        let s = seed.path();
        self.git(s, &["init", "-q", "-b", "main"]);
        std::fs::write(s.join("README.md"), "hello\n").unwrap();
        self.git(s, &["add", "."]);
        self.git(s, &["commit", "-q", "-m", "initial"]);
        self.git(s, &["checkout", "-q", "-b", "dev"]);
        std::fs::write(s.join("dev.txt"), "dev\n").unwrap();
        self.git(s, &["add", "."]);
        self.git(s, &["commit", "-q", "-m", "dev work"]);
        self.git(s, &["push", "-q", bare.to_str().unwrap(), "main", "dev"]);
        bare
    }

    /// Clones `url` with the CLI, commits `file` with `content`, and pushes `branch`.
    fn push_commit(&self, url: &str, branch: &str, file: &str, content: &str) {
        let tmp = tempfile::tempdir().unwrap();
        self.git(tmp.path(), &["clone", "-q", "-b", branch, url, "c"]);
        let c = tmp.path().join("c");
        std::fs::write(c.join(file), content).unwrap();
        self.git(&c, &["add", "."]);
        self.git(&c, &["commit", "-q", "-m", &format!("update {file}")]);
        self.git(&c, &["push", "-q", "origin", branch]);
    }
}

/// `git http-backend` as CGI behind hyper on 127.0.0.1, requiring Basic auth for everything.
struct GitServer {
    addr: SocketAddr,
    root: tempfile::TempDir,
    /// How many requests arrived without valid credentials.
    unauthorized: Arc<AtomicUsize>,
    /// When set, an upload-pack POST signals `entered` and waits for `release`.
    gate: Option<Arc<Gate>>,
}

struct Gate {
    entered: Notify,
    release: Semaphore,
}

impl GitServer {
    async fn start(gated: bool) -> GitServer {
        let root = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let unauthorized = Arc::new(AtomicUsize::new(0));
        let gate = gated.then(|| Arc::new(Gate { entered: Notify::new(), release: Semaphore::new(0) }));
        let project_root = root.path().to_owned();
        let (count, server_gate) = (unauthorized.clone(), gate.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (project_root, count, gate) = (project_root.clone(), count.clone(), server_gate.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(req, project_root.clone(), count.clone(), gate.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        GitServer { addr, root, unauthorized, gate }
    }

    fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
    }

    fn url_with_auth(&self, repo: &str) -> String {
        format!("http://{USER}:{PASSWORD}@{}/{repo}", self.addr)
    }
}

async fn handle(
    req: Request<Incoming>,
    root: PathBuf,
    unauthorized: Arc<AtomicUsize>,
    gate: Option<Arc<Gate>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")));
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if !authorized {
        unauthorized.fetch_add(1, Ordering::SeqCst);
        return Ok(Response::builder()
            .status(401)
            .header("WWW-Authenticate", "Basic realm=\"git\"")
            .body(Full::new(Bytes::from_static(b"unauthorized")))
            .unwrap());
    }
    let path = req.uri().path().to_owned();
    if let Some(gate) = gate.filter(|_| req.method() == "POST" && path.ends_with("git-upload-pack")) {
        gate.entered.notify_one();
        let _permit = gate.release.acquire().await.unwrap();
    }
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().to_string();
    let header =
        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, encoding, protocol) =
        (header("content-type"), header("content-encoding"), header("git-protocol"));
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", &root)
        .env("REMOTE_USER", USER)
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("GIT_PROTOCOL", protocol)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    Ok(cgi_response(&output.stdout))
}

/// Turns CGI output (headers, blank line, body) into a response.
fn cgi_response(out: &[u8]) -> Response<Full<Bytes>> {
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, p + 4));
    let split = split.or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, p + 2)));
    let (head_end, body_start) = split.unwrap_or((out.len(), out.len()));
    let mut builder = Response::builder().status(200);
    for line in String::from_utf8_lossy(&out[..head_end]).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder.body(Full::new(Bytes::copy_from_slice(&out[body_start..]))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers around the daemon.

async fn post(daemon: &Daemon, path: &str, body: Value) -> reqwest::Response {
    daemon.post(path).json(&body).send().await.unwrap()
}

async fn ok(daemon: &Daemon, path: &str, body: Value, status: u16) {
    let response = post(daemon, path, body.clone()).await;
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "POST {path} {body}: {text}");
}

async fn get_json(daemon: &Daemon, path: &str) -> Value {
    let response = daemon.get(path).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    response.json().await.unwrap()
}

fn status_of<'a>(status: &'a Value, name: &str) -> Option<(&'a str, &'a str)> {
    status["fileStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map(|f| (f["staging"].as_str().unwrap(), f["worktree"].as_str().unwrap()))
}

fn skip() -> bool {
    if have("git") {
        return false;
    }
    common::skip("the git CLI is needed to check effects");
    true
}

// ---------------------------------------------------------------------------------------------
// Local repositories.

#[tokio::test]
async fn init_add_commit_history_and_branches() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let work = daemon.work().to_owned();

    // init: 201; the default branch is what `git init` would pick (init.defaultBranch = main here).
    ok(&daemon, "/git/init", json!({"path": "r"}), 201).await;
    let repo = work.join("r");
    assert_eq!(env.git(&repo, &["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_envelope(post(&daemon, "/git/init", json!({"path": "r"})).await, 409, "CONFLICT").await;
    ok(&daemon, "/git/init", json!({"path": "t", "initial_branch": "trunk"}), 201).await;
    assert_eq!(env.git(&work.join("t"), &["symbolic-ref", "HEAD"]), "refs/heads/trunk");
    ok(&daemon, "/git/init", json!({"path": "b.git", "bare": true}), 201).await;
    assert_eq!(env.git(&work.join("b.git"), &["rev-parse", "--is-bare-repository"]), "true");

    // An unborn branch: status and branches work, history is empty.
    let status = get_json(&daemon, "/git/status?path=r").await;
    assert_eq!(status["currentBranch"], "main");
    assert_eq!(status["fileStatus"], json!([]));
    let branches = get_json(&daemon, "/git/branches?path=r").await;
    assert_eq!(branches, json!({"branches": [], "current": "main"}));
    assert_eq!(get_json(&daemon, "/git/history?path=r").await, json!([]));

    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    std::fs::create_dir(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/lib.rs"), "fn x() {}\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "r", "files": ["a.txt", "src"]}), 200).await;
    assert_eq!(env.git(&repo, &["diff", "--cached", "--name-only"]), "a.txt\nsrc/lib.rs");
    let status = get_json(&daemon, "/git/status?path=r").await;
    assert_eq!(status_of(&status, "a.txt"), Some(("Added", "Unmodified")));

    let response = post(
        &daemon,
        "/git/commit",
        json!({"path": "r", "message": "first\n", "author": "Ann", "email": "ann@example.com"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let hash = response.json::<Value>().await.unwrap()["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 40);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), hash);
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B"]),
        "Ann <ann@example.com>|Ann <ann@example.com>|first"
    );

    // Nothing staged: refused unless allow_empty.
    let body = assert_envelope(
        post(
            &daemon,
            "/git/commit",
            json!({"path": "r", "message": "again", "author": "Ann", "email": "ann@example.com"}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("empty commit"), "{body}");
    ok(&daemon, "/git/commit", json!({"path": "r", "message": "empty", "author": "Ann", "email": "ann@example.com", "allow_empty": true}), 200).await;
    assert_eq!(env.git(&repo, &["rev-list", "--count", "HEAD"]), "2");

    let history = get_json(&daemon, "/git/history?path=r").await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["hash"], hash.as_str());
    assert_eq!(history[1]["message"], "first\n");
    assert_eq!(history[1]["author"], "Ann");
    assert_eq!(history[1]["email"], "ann@example.com");
    assert!(chrono::DateTime::parse_from_rfc3339(history[1]["timestamp"].as_str().unwrap()).is_ok());

    // create: 201 and checked out; existing: 409 GIT_BRANCH_EXISTS.
    ok(&daemon, "/git/branches", json!({"path": "r", "name": "feature"}), 201).await;
    assert_eq!(env.git(&repo, &["branch", "--show-current"]), "feature");
    assert_envelope(
        post(&daemon, "/git/branches", json!({"path": "r", "name": "feature"})).await,
        409,
        "GIT_BRANCH_EXISTS",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/branches", json!({"path": "r", "name": "bad..name"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    let branches = get_json(&daemon, "/git/branches?path=r").await;
    assert_eq!(branches["current"], "feature");
    let mut names: Vec<&str> =
        branches["branches"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["feature", "main"]);

    // delete: the checked-out branch is refused, others go (204), a missing one is 204.
    let delete = |name: &str| daemon.delete("/git/branches").json(&json!({"path": "r", "name": name})).send();
    assert_envelope(delete("feature").await.unwrap(), 409, "CONFLICT").await;
    ok(&daemon, "/git/checkout", json!({"path": "r", "branch": "main"}), 200).await;
    assert_eq!(env.git(&repo, &["branch", "--show-current"]), "main");
    assert_eq!(delete("feature").await.unwrap().status(), 204);
    assert_eq!(env.git(&repo, &["branch", "--list", "feature"]), "");
    assert_eq!(delete("feature").await.unwrap().status(), 204);

    // checkout of a commit hash gives a detached HEAD.
    ok(&daemon, "/git/checkout", json!({"path": "r", "branch": hash}), 200).await;
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), hash);
    let status = get_json(&daemon, "/git/status?path=r").await;
    assert_eq!(status["currentBranch"], "HEAD");
    assert_eq!(status["detached"], true);
    let branches = get_json(&daemon, "/git/branches?path=r").await;
    assert!(branches.get("current").is_none(), "{branches}");
}

#[tokio::test]
async fn status_reports_each_kind_of_change() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("r");
    std::fs::create_dir(&repo).unwrap();
    env.git(&repo, &["init", "-q"]);
    for f in ["keep.txt", "modify.txt", "delete.txt", "stage.txt", "old.txt"] {
        std::fs::write(repo.join(f), format!("{f} original content that is long enough to be a rename\n"))
            .unwrap();
    }
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "base"]);
    std::fs::write(repo.join("modify.txt"), "changed\n").unwrap();
    std::fs::remove_file(repo.join("delete.txt")).unwrap();
    std::fs::write(repo.join("stage.txt"), "staged\n").unwrap();
    std::fs::create_dir(repo.join("newdir")).unwrap();
    std::fs::write(repo.join("newdir/untracked.txt"), "u\n").unwrap();
    std::fs::write(repo.join("added.txt"), "a\n").unwrap();
    env.git(&repo, &["add", "stage.txt", "added.txt"]);
    env.git(&repo, &["mv", "old.txt", "new.txt"]);

    let status = get_json(&daemon, &format!("/git/status?path={}", repo.display())).await;
    assert_eq!(status_of(&status, "keep.txt"), None);
    assert_eq!(status_of(&status, "modify.txt"), Some(("Unmodified", "Modified")));
    assert_eq!(status_of(&status, "delete.txt"), Some(("Unmodified", "Deleted")));
    assert_eq!(status_of(&status, "stage.txt"), Some(("Modified", "Unmodified")));
    assert_eq!(status_of(&status, "added.txt"), Some(("Added", "Unmodified")));
    assert_eq!(status_of(&status, "newdir/untracked.txt"), Some(("Untracked", "Untracked")));
    let renamed = status["fileStatus"].as_array().unwrap().iter().find(|f| f["name"] == "new.txt").unwrap();
    assert_eq!(renamed["staging"], "Renamed");
    assert_eq!(renamed["extra"], "old.txt");
    assert_eq!(status["branchPublished"], false);
    assert!(status.get("detached").is_none() && status.get("upstream").is_none(), "{status}");

    // `git add` semantics: a directory or "." stages new, modified and deleted files.
    ok(&daemon, "/git/add", json!({"path": "r", "files": ["."]}), 200).await;
    let staged = env.git(&repo, &["diff", "--cached", "--name-status"]);
    assert!(
        staged.contains("D\tdelete.txt")
            && staged.contains("M\tmodify.txt")
            && staged.contains("A\tnewdir/untracked.txt"),
        "{staged}"
    );
    assert_eq!(
        env.git(&repo, &["status", "--porcelain", "--untracked-files=all"])
            .lines()
            .filter(|l| !l.starts_with(|c: char| c.is_ascii_uppercase()))
            .count(),
        0
    );
    assert_envelope(
        post(&daemon, "/git/add", json!({"path": "r", "files": ["nope.txt"]})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    ok(&daemon, "/git/add", json!({"path": "r", "files": []}), 200).await;

    // Old Go SDKs get no fields added after 0.188.
    env.git(&repo, &["checkout", "-q", "--detach"]);
    let legacy: Value = daemon
        .get("/git/status?path=r")
        .header("X-Daytona-Source", "sdk-go")
        .header("X-Daytona-SDK-Version", "0.150.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(legacy["currentBranch"], "HEAD");
    assert!(legacy.get("detached").is_none(), "{legacy}");
    assert_eq!(get_json(&daemon, "/git/status?path=r").await["detached"], true);
}

#[tokio::test]
async fn checkout_refuses_only_when_local_changes_would_be_overwritten() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("r");
    std::fs::create_dir(&repo).unwrap();
    env.git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("shared.txt"), "base\n").unwrap();
    std::fs::write(repo.join("other.txt"), "base\n").unwrap();
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "base"]);
    env.git(&repo, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(repo.join("shared.txt"), "topic\n").unwrap();
    env.git(&repo, &["commit", "-q", "-am", "topic"]);
    env.git(&repo, &["checkout", "-q", "main"]);

    // A local change to a file the switch does not touch is carried over, as with `git checkout`.
    std::fs::write(repo.join("other.txt"), "local edit\n").unwrap();
    ok(&daemon, "/git/checkout", json!({"path": "r", "branch": "topic"}), 200).await;
    assert_eq!(env.git(&repo, &["branch", "--show-current"]), "topic");
    assert_eq!(std::fs::read_to_string(repo.join("shared.txt")).unwrap(), "topic\n");
    assert_eq!(std::fs::read_to_string(repo.join("other.txt")).unwrap(), "local edit\n");

    // A local change to a file the switch would overwrite: 409 and nothing changes.
    std::fs::write(repo.join("shared.txt"), "precious\n").unwrap();
    let body = assert_envelope(
        post(&daemon, "/git/checkout", json!({"path": "r", "branch": "main"})).await,
        409,
        "GIT_DIRTY_WORKTREE",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("overwritten"), "{body}");
    assert_eq!(env.git(&repo, &["branch", "--show-current"]), "topic");
    assert_eq!(std::fs::read_to_string(repo.join("shared.txt")).unwrap(), "precious\n");

    let body = assert_envelope(
        post(&daemon, "/git/checkout", json!({"path": "r", "branch": "no-such-branch"})).await,
        404,
        "GIT_BRANCH_NOT_FOUND",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("no-such-branch"), "{body}");
}

#[tokio::test]
async fn reset_and_restore() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("r");
    std::fs::create_dir(&repo).unwrap();
    env.git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("f.txt"), "one\n").unwrap();
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "one"]);
    let first = env.git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("f.txt"), "two\n").unwrap();
    env.git(&repo, &["commit", "-q", "-am", "two"]);

    // restore: work tree by default, index with staged, contents from a source revision.
    std::fs::write(repo.join("f.txt"), "dirty\n").unwrap();
    ok(&daemon, "/git/restore", json!({"path": "r", "files": ["f.txt"]}), 200).await;
    assert_eq!(std::fs::read_to_string(repo.join("f.txt")).unwrap(), "two\n");
    std::fs::write(repo.join("f.txt"), "staged\n").unwrap();
    env.git(&repo, &["add", "f.txt"]);
    ok(&daemon, "/git/restore", json!({"path": "r", "files": ["f.txt"], "staged": true}), 200).await;
    assert_eq!(env.git(&repo, &["diff", "--cached", "--name-only"]), "");
    assert_eq!(std::fs::read_to_string(repo.join("f.txt")).unwrap(), "staged\n");
    ok(
        &daemon,
        "/git/restore",
        json!({"path": "r", "files": ["f.txt"], "source": first, "worktree": true}),
        200,
    )
    .await;
    assert_eq!(std::fs::read_to_string(repo.join("f.txt")).unwrap(), "one\n");
    assert_envelope(
        post(&daemon, "/git/restore", json!({"path": "r", "files": []})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(
            &daemon,
            "/git/restore",
            json!({"path": "r", "files": ["f.txt"], "staged": false, "worktree": false}),
        )
        .await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/restore", json!({"path": "r", "files": ["ghost.txt"]})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_envelope(post(&daemon, "/git/restore", json!({"path": "r"})).await, 400, "INVALID_REQUEST_BODY")
        .await;

    // reset: mixed unstages, soft moves HEAD only, hard discards.
    env.git(&repo, &["add", "f.txt"]);
    ok(&daemon, "/git/reset", json!({"path": "r"}), 200).await;
    assert_eq!(env.git(&repo, &["diff", "--cached", "--name-only"]), "");
    ok(&daemon, "/git/reset", json!({"path": "r", "mode": "soft", "target": "HEAD~1"}), 200).await;
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), first);
    assert_eq!(std::fs::read_to_string(repo.join("f.txt")).unwrap(), "one\n");
    ok(&daemon, "/git/reset", json!({"path": "r", "mode": "hard"}), 200).await;
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    std::fs::write(repo.join("f.txt"), "x\n").unwrap();
    env.git(&repo, &["add", "f.txt"]);
    ok(&daemon, "/git/reset", json!({"path": "r", "files": ["f.txt"]}), 200).await;
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "M f.txt");
    assert_envelope(
        post(&daemon, "/git/reset", json!({"path": "r", "mode": "sideways"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/reset", json!({"path": "r", "target": "nope~3"})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    // keep: refuses when a file that differs has local changes.
    env.git(&repo, &["commit", "-q", "-am", "three"]);
    std::fs::write(repo.join("f.txt"), "local\n").unwrap();
    assert_envelope(
        post(&daemon, "/git/reset", json!({"path": "r", "mode": "keep", "target": first})).await,
        409,
        "GIT_DIRTY_WORKTREE",
    )
    .await;
    assert_eq!(std::fs::read_to_string(repo.join("f.txt")).unwrap(), "local\n");
}

#[tokio::test]
async fn config_scopes_and_user() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("r");
    ok(&daemon, "/git/init", json!({"path": "r"}), 201).await;

    ok(&daemon, "/git/config", json!({"key": "core.editor", "value": "vim"}), 200).await;
    assert_eq!(env.git(daemon.work(), &["config", "--global", "core.editor"]), "vim");
    assert_eq!(get_json(&daemon, "/git/config?key=core.editor").await, json!({"value": "vim"}));
    assert_eq!(get_json(&daemon, "/git/config?key=core.missing&scope=global").await, json!({}));

    ok(
        &daemon,
        "/git/config/user",
        json!({"name": "Repo User", "email": "repo@example.com", "scope": "local", "path": "r"}),
        200,
    )
    .await;
    assert_eq!(env.git(&repo, &["config", "--local", "user.name"]), "Repo User");
    assert_eq!(env.git(&repo, &["config", "--local", "user.email"]), "repo@example.com");
    assert_eq!(
        get_json(&daemon, "/git/config?key=user.name&scope=local&path=r").await,
        json!({"value": "Repo User"})
    );
    // The global user is untouched by the local one.
    assert_eq!(env.git(daemon.work(), &["config", "--global", "user.name"]), "Cli User");

    assert_envelope(
        post(&daemon, "/git/config", json!({"key": "a.b", "value": "c", "scope": "local"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(daemon.get("/git/config?key=a.b&scope=local").send().await.unwrap(), 400, "BAD_REQUEST")
        .await;
    assert_envelope(
        post(&daemon, "/git/config", json!({"key": "a.b", "value": "c", "scope": "planet"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/config", json!({"key": "nodot", "value": "c"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/config", json!({"key": "a.b", "value": ""})).await,
        400,
        "INVALID_REQUEST_BODY",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/config", json!({"key": "a.b", "value": "c", "scope": "local", "path": "nope"}))
            .await,
        404,
        "GIT_REPO_NOT_FOUND",
    )
    .await;
    assert_envelope(daemon.get("/git/config").send().await.unwrap(), 400, "BAD_REQUEST").await;
}

#[tokio::test]
async fn bad_inputs_get_the_contract_errors() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    ok(&daemon, "/git/init", json!({"path": "r"}), 201).await;
    std::fs::create_dir(daemon.work().join("r/sub")).unwrap();
    std::fs::create_dir(daemon.work().join("plain")).unwrap();

    for path in [
        "/git/status?path=plain",
        "/git/status?path=r/sub",
        "/git/branches?path=missing",
        "/git/history?path=plain",
        "/git/remotes?path=plain",
    ] {
        let body = assert_envelope(daemon.get(path).send().await.unwrap(), 404, "GIT_REPO_NOT_FOUND").await;
        assert!(body["message"].as_str().unwrap().contains("repository"), "{body}");
    }
    assert_envelope(daemon.get("/git/status").send().await.unwrap(), 400, "BAD_REQUEST").await;

    let body =
        assert_envelope(post(&daemon, "/git/clone", json!({"path": "x"})).await, 400, "INVALID_REQUEST_BODY")
            .await;
    assert_eq!(
        body["message"],
        "invalid body request: invalid request body: Key: 'GitCloneRequest.URL' Error:Field validation for 'URL' failed on the 'required' tag"
    );
    assert_envelope(daemon.post("/git/commit").send().await.unwrap(), 400, "INVALID_REQUEST_BODY").await;
    assert_envelope(post(&daemon, "/git/add", json!({"path": "r"})).await, 400, "INVALID_REQUEST_BODY").await;
    assert_envelope(post(&daemon, "/git/branches", json!({"path": "r"})).await, 400, "INVALID_REQUEST_BODY")
        .await;
    assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "x", "url": "not a url"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "x", "url": "git@github.com:a/b.git"})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "x", "url": "file:///nonexistent/repo", "depth": -1}))
            .await,
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "x", "url": "file:///nonexistent/repo"})).await,
        404,
        "GIT_REPO_NOT_FOUND",
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "x", "url": "/nonexistent/repo"})).await,
        404,
        "GIT_REPO_NOT_FOUND",
    )
    .await;
    assert!(!daemon.work().join("x").exists(), "a failed clone leaves nothing behind");

    // Nothing listens on port 1 of 127.0.0.1: a transport failure, with the password redacted.
    let body = assert_envelope(
        post(
            &daemon,
            "/git/clone",
            json!({"path": "x", "url": format!("http://bob:{PASSWORD}@127.0.0.1:1/r.git")}),
        )
        .await,
        502,
        "GIT_TRANSPORT_FAILED",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains(PASSWORD), "{message}");
    assert!(message.contains("bob@127.0.0.1:1"), "{message}");

    // Clone into an existing repository: 409.
    let bare = env.seed_bare(daemon.work(), "origin.git");
    let url = format!("file://{}", bare.display());
    assert_envelope(post(&daemon, "/git/clone", json!({"path": "r", "url": url})).await, 409, "CONFLICT")
        .await;
    let body = assert_envelope(
        post(&daemon, "/git/clone", json!({"path": "y", "url": url, "branch": "nope"})).await,
        404,
        "GIT_BRANCH_NOT_FOUND",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
    assert!(!daemon.work().join("y").exists());
    // Push with no commits, pull and push without a remote.
    assert_envelope(post(&daemon, "/git/push", json!({"path": "r"})).await, 404, "GIT_BRANCH_NOT_FOUND")
        .await;
    std::fs::write(daemon.work().join("r/f"), "f").unwrap();
    ok(&daemon, "/git/add", json!({"path": "r", "files": ["f"]}), 200).await;
    ok(&daemon, "/git/commit", json!({"path": "r", "message": "m", "author": "a", "email": "a@b"}), 200)
        .await;
    assert_envelope(post(&daemon, "/git/push", json!({"path": "r"})).await, 404, "NOT_FOUND").await;
    assert_envelope(post(&daemon, "/git/pull", json!({"path": "r"})).await, 404, "NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------------
// Remotes.

#[tokio::test]
async fn file_remotes_bare_repos_and_pull_from_the_upstream() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let origin = env.seed_bare(daemon.work(), "origin.git");
    let url = format!("file://{}", origin.display());

    ok(&daemon, "/git/clone", json!({"url": url, "path": "c"}), 200).await;
    let c = daemon.work().join("c");
    assert_eq!(env.git(&c, &["branch", "--show-current"]), "main");
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "hello\n");
    let remotes = get_json(&daemon, "/git/remotes?path=c").await;
    assert_eq!(remotes, json!({"remotes": [{"name": "origin", "url": url}]}));
    let status = get_json(&daemon, "/git/status?path=c").await;
    assert_eq!(
        (status["branchPublished"].clone(), status["upstream"].clone()),
        (json!(true), json!("origin/main"))
    );

    // clone options: branch, depth, commit (detached), and a plain local path as URL.
    // libgit2's local transport cannot fetch shallow: depth is ignored there (see README).
    ok(&daemon, "/git/clone", json!({"url": url, "path": "d", "branch": "dev", "depth": 1}), 200).await;
    let d = daemon.work().join("d");
    assert_eq!(env.git(&d, &["branch", "--show-current"]), "dev");
    assert_eq!(env.git(&d, &["rev-parse", "HEAD"]), env.git(&origin, &["rev-parse", "dev"]));
    let main_hash = env.git(&origin, &["rev-parse", "main"]);
    ok(
        &daemon,
        "/git/clone",
        json!({"url": origin.to_str().unwrap(), "path": "e", "commit_id": main_hash}),
        200,
    )
    .await;
    let e = daemon.work().join("e");
    assert_eq!(env.git(&e, &["rev-parse", "HEAD"]), main_hash);
    assert_eq!(env.git(&e, &["branch", "--show-current"]), "");

    // checkout of a branch that exists only on the remote creates a tracking branch (as git).
    ok(&daemon, "/git/checkout", json!({"path": "c", "branch": "dev"}), 200).await;
    assert_eq!(env.git(&c, &["rev-parse", "--abbrev-ref", "dev@{upstream}"]), "origin/dev");

    // pull with no branch fast-forwards the upstream (origin/dev), not the remote default.
    env.push_commit(&url, "dev", "dev.txt", "dev v2\n");
    env.push_commit(&url, "main", "README.md", "main v2\n");
    ok(&daemon, "/git/pull", json!({"path": "c"}), 200).await;
    assert_eq!(std::fs::read_to_string(c.join("dev.txt")).unwrap(), "dev v2\n");
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "hello\n");
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]), env.git(&origin, &["rev-parse", "dev"]));
    ok(&daemon, "/git/pull", json!({"path": "c"}), 200).await; // already up to date

    // push to the file remote, with set_upstream for a new branch.
    ok(&daemon, "/git/branches", json!({"path": "c", "name": "topic"}), 201).await;
    std::fs::write(c.join("topic.txt"), "t\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "c", "files": ["topic.txt"]}), 200).await;
    ok(&daemon, "/git/commit", json!({"path": "c", "message": "topic", "author": "T", "email": "t@x"}), 200)
        .await;
    ok(&daemon, "/git/push", json!({"path": "c", "set_upstream": true}), 200).await;
    assert_eq!(env.git(&origin, &["rev-parse", "topic"]), env.git(&c, &["rev-parse", "HEAD"]));
    assert_eq!(env.git(&c, &["rev-parse", "--abbrev-ref", "topic@{upstream}"]), "origin/topic");
    let status = get_json(&daemon, "/git/status?path=c").await;
    assert_eq!((status["ahead"].clone(), status["behind"].clone()), (json!(0), json!(0)));

    // Divergence: pull and push are both refused with 409 and change nothing.
    env.push_commit(&url, "topic", "topic.txt", "theirs\n");
    std::fs::write(c.join("topic.txt"), "ours\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "c", "files": ["."]}), 200).await;
    ok(&daemon, "/git/commit", json!({"path": "c", "message": "ours", "author": "T", "email": "t@x"}), 200)
        .await;
    let before = env.git(&c, &["rev-parse", "HEAD"]);
    assert_envelope(post(&daemon, "/git/push", json!({"path": "c"})).await, 409, "GIT_PUSH_REJECTED").await;
    assert_envelope(post(&daemon, "/git/pull", json!({"path": "c"})).await, 409, "GIT_PUSH_REJECTED").await;
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]), before);
    let status = get_json(&daemon, "/git/status?path=c").await;
    assert_eq!((status["ahead"].clone(), status["behind"].clone()), (json!(1), json!(1)));

    // pull of a named branch from a named remote; a missing one is GIT_BRANCH_NOT_FOUND.
    ok(&daemon, "/git/checkout", json!({"path": "c", "branch": "main"}), 200).await;
    ok(&daemon, "/git/pull", json!({"path": "c", "remote": "origin", "branch": "main"}), 200).await;
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "main v2\n");
    assert_envelope(
        post(&daemon, "/git/pull", json!({"path": "c", "branch": "ghost"})).await,
        404,
        "GIT_BRANCH_NOT_FOUND",
    )
    .await;

    // Pull refuses to overwrite a local change (git's rule), and applies when it would not.
    env.push_commit(&url, "main", "README.md", "main v3\n");
    std::fs::write(c.join("README.md"), "local\n").unwrap();
    assert_envelope(post(&daemon, "/git/pull", json!({"path": "c"})).await, 409, "GIT_DIRTY_WORKTREE").await;
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "local\n");

    // remotes: add (201), duplicate (409), overwrite, fetch, passwords redacted in the listing.
    ok(&daemon, "/git/remotes", json!({"path": "c", "name": "mirror", "url": url, "fetch": true}), 201).await;
    assert_eq!(env.git(&c, &["rev-parse", "mirror/dev"]), env.git(&origin, &["rev-parse", "dev"]));
    assert_envelope(
        post(&daemon, "/git/remotes", json!({"path": "c", "name": "mirror", "url": "https://x/y.git"})).await,
        409,
        "CONFLICT",
    )
    .await;
    let secret_url = format!("https://bob:{PASSWORD}@example.com/r.git");
    ok(
        &daemon,
        "/git/remotes",
        json!({"path": "c", "name": "mirror", "url": secret_url, "overwrite": true}),
        201,
    )
    .await;
    assert_eq!(env.git(&c, &["remote", "get-url", "mirror"]), secret_url);
    let remotes = get_json(&daemon, "/git/remotes?path=c").await;
    assert!(
        remotes["remotes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "mirror", "url": "https://bob@example.com/r.git"})),
        "{remotes}"
    );
    assert_envelope(
        post(&daemon, "/git/remotes", json!({"path": "c", "name": "bad name", "url": url})).await,
        400,
        "BAD_REQUEST",
    )
    .await;
}

// The test's own git server runs on this runtime while the test blocks on the git CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_remote_with_basic_auth() {
    if skip() {
        return;
    }
    let env = Env::new();
    let server = GitServer::start(false).await;
    env.seed_bare(server.root.path(), "repo.git");
    let daemon = env.daemon();
    let url = server.url("repo.git");

    // No credentials and wrong credentials: 401 GIT_AUTH_FAILED, without looping on the server.
    let body = assert_envelope(
        post(&daemon, "/git/clone", json!({"url": url, "path": "anon"})).await,
        401,
        "GIT_AUTH_FAILED",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("authentication"), "{body}");
    let before = server.unauthorized.load(Ordering::SeqCst);
    let body = assert_envelope(
        post(
            &daemon,
            "/git/clone",
            json!({"url": url, "path": "wrong", "username": USER, "password": "wrong-pw"}),
        )
        .await,
        401,
        "GIT_AUTH_FAILED",
    )
    .await;
    assert!(!body["message"].as_str().unwrap().contains("wrong-pw"));
    let tries = server.unauthorized.load(Ordering::SeqCst) - before;
    assert!(tries <= 3, "a wrong password was tried {tries} times");
    assert!(!daemon.work().join("wrong").exists() && !daemon.work().join("anon").exists());
    // A username alone means anonymous (the contract): still 401.
    assert_envelope(
        post(&daemon, "/git/clone", json!({"url": url, "path": "anon", "username": USER})).await,
        401,
        "GIT_AUTH_FAILED",
    )
    .await;
    // A missing repository behind valid credentials: 404.
    assert_envelope(
        post(
            &daemon,
            "/git/clone",
            json!({"url": server.url("missing.git"), "path": "m", "username": USER, "password": PASSWORD}),
        )
        .await,
        404,
        "GIT_REPO_NOT_FOUND",
    )
    .await;

    // The right password: clone, push, pull.
    ok(&daemon, "/git/clone", json!({"url": url, "path": "c", "username": USER, "password": PASSWORD}), 200)
        .await;
    let c = daemon.work().join("c");
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "hello\n");
    let body = json!({"url": url, "path": "shallow", "username": USER, "password": PASSWORD, "branch": "dev", "depth": 1});
    ok(&daemon, "/git/clone", body, 200).await;
    let shallow = daemon.work().join("shallow");
    assert_eq!(env.git(&shallow, &["rev-parse", "--is-shallow-repository"]), "true");
    assert_eq!(env.git(&shallow, &["rev-list", "--count", "HEAD"]), "1");
    assert_eq!(env.git(&shallow, &["branch", "--show-current"]), "dev");
    std::fs::write(c.join("new.txt"), "pushed over http\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "c", "files": ["new.txt"]}), 200).await;
    ok(
        &daemon,
        "/git/commit",
        json!({"path": "c", "message": "over http", "author": "H", "email": "h@x"}),
        200,
    )
    .await;
    assert_envelope(
        post(&daemon, "/git/push", json!({"path": "c", "username": USER, "password": "nope"})).await,
        401,
        "GIT_AUTH_FAILED",
    )
    .await;
    let bare = server.root.path().join("repo.git");
    assert_ne!(env.git(&bare, &["rev-parse", "main"]), env.git(&c, &["rev-parse", "HEAD"]));
    ok(&daemon, "/git/push", json!({"path": "c", "username": USER, "password": PASSWORD}), 200).await;
    assert_eq!(env.git(&bare, &["rev-parse", "main"]), env.git(&c, &["rev-parse", "HEAD"]));
    assert_eq!(env.git(&bare, &["show", "main:new.txt"]), "pushed over http");

    env.push_commit(&format!("file://{}", bare.display()), "main", "README.md", "v2\n");
    assert_envelope(
        post(&daemon, "/git/pull", json!({"path": "c", "username": USER, "password": "nope"})).await,
        401,
        "GIT_AUTH_FAILED",
    )
    .await;
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "hello\n");
    ok(&daemon, "/git/pull", json!({"path": "c", "username": USER, "password": PASSWORD}), 200).await;
    assert_eq!(std::fs::read_to_string(c.join("README.md")).unwrap(), "v2\n");

    // A server-side refusal (a pre-receive hook) is 422 GIT_REMOTE_REJECTED, the ref unchanged.
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'locked by policy' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(c.join("more.txt"), "more\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "c", "files": ["more.txt"]}), 200).await;
    ok(&daemon, "/git/commit", json!({"path": "c", "message": "more", "author": "H", "email": "h@x"}), 200)
        .await;
    let body = assert_envelope(
        post(&daemon, "/git/push", json!({"path": "c", "username": USER, "password": PASSWORD})).await,
        422,
        "GIT_REMOTE_REJECTED",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("refs/heads/main"), "{body}");
    assert_ne!(env.git(&bare, &["rev-parse", "main"]), env.git(&c, &["rev-parse", "HEAD"]));
    std::fs::remove_file(&hook).unwrap();

    // A URL with embedded credentials works, and the listing hides the password.
    ok(&daemon, "/git/clone", json!({"url": server.url_with_auth("repo.git"), "path": "embedded"}), 200)
        .await;
    let remotes = get_json(&daemon, "/git/remotes?path=embedded").await;
    assert_eq!(remotes["remotes"][0]["url"], format!("http://{USER}@{}/repo.git", server.addr));
}

// The test's own git server runs on this runtime while the test blocks on the git CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_credentials_are_private_and_used() {
    if skip() {
        return;
    }
    let env = Env::new();
    let server = GitServer::start(false).await;
    env.seed_bare(server.root.path(), "repo.git");
    let daemon = env.daemon();
    let host = server.addr.to_string();

    for bad in [
        json!({"username": "a\nb", "password": "p"}),
        json!({"username": "a", "password": "p\r"}),
        json!({"username": "a", "password": "p", "host": "h\0"}),
    ] {
        assert_envelope(post(&daemon, "/git/credentials", bad).await, 400, "BAD_REQUEST").await;
    }
    assert_envelope(
        post(&daemon, "/git/credentials", json!({"username": "a"})).await,
        400,
        "INVALID_REQUEST_BODY",
    )
    .await;
    ok(
        &daemon,
        "/git/credentials",
        json!({"username": USER, "password": PASSWORD, "host": host, "protocol": "http"}),
        200,
    )
    .await;

    let store = daemon.data_dir.path().join("git-credentials");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&store).unwrap().permissions().mode() & 0o777, 0o600);
    // The git CLI finds them too, through the helper the daemon configured.
    let helper = env.git(daemon.work(), &["config", "--global", "credential.helper"]);
    assert!(helper.starts_with("store --file "), "{helper}");
    let tmp = tempfile::tempdir().unwrap();
    env.git(tmp.path(), &["clone", "-q", &server.url("repo.git"), "cli"]);

    // Clone, push and pull with no credentials in the request.
    ok(&daemon, "/git/clone", json!({"url": server.url("repo.git"), "path": "c"}), 200).await;
    let c = daemon.work().join("c");
    std::fs::write(c.join("x.txt"), "x\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "c", "files": ["x.txt"]}), 200).await;
    ok(&daemon, "/git/commit", json!({"path": "c", "message": "x", "author": "X", "email": "x@x"}), 200)
        .await;
    ok(&daemon, "/git/push", json!({"path": "c"}), 200).await;
    ok(&daemon, "/git/pull", json!({"path": "c"}), 200).await;
    assert_eq!(env.git(&server.root.path().join("repo.git"), &["show", "main:x.txt"]), "x");

    // Replaced by a wrong password: 401 again.
    ok(
        &daemon,
        "/git/credentials",
        json!({"username": USER, "password": "stale", "host": host, "protocol": "http"}),
        200,
    )
    .await;
    assert_envelope(post(&daemon, "/git/pull", json!({"path": "c"})).await, 401, "GIT_AUTH_FAILED").await;
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), 1);
}

// The test's own git server runs on this runtime while the test blocks on the git CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_answers_while_a_clone_is_in_flight() {
    if skip() {
        return;
    }
    let env = Env::new();
    let server = GitServer::start(true).await;
    env.seed_bare(server.root.path(), "repo.git");
    let daemon = Arc::new(env.daemon());
    let gate = server.gate.clone().unwrap();

    let clone = {
        let daemon = daemon.clone();
        let url = server.url("repo.git");
        tokio::spawn(async move {
            post(
                &daemon,
                "/git/clone",
                json!({"url": url, "path": "c", "username": USER, "password": PASSWORD}),
            )
            .await
            .status()
        })
    };
    // The server now holds the clone's pack request until released.
    gate.entered.notified().await;
    for _ in 0..5 {
        let response = daemon.get("/version").send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(!clone.is_finished(), "the clone is still waiting on the server");
    gate.release.add_permits(10);
    assert_eq!(clone.await.unwrap(), 200);
    assert_eq!(std::fs::read_to_string(daemon.work().join("c/README.md")).unwrap(), "hello\n");
}

/// Starts the daemon at debug level with its log going to a file, so the log can be searched.
fn daemon_logging_to(
    env: &Env,
    log: &Path,
) -> (std::process::Child, String, tempfile::TempDir, tempfile::TempDir) {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--log-level", "debug", "--work-dir"])
        .arg(work.path())
        .arg("--data-dir")
        .arg(data.path())
        .env("HOME", env.home.path())
        .env_remove("TOOLBOXD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .find_map(|line| line.ok().and_then(|l| l.strip_prefix("listening on ").map(str::to_owned)))
        .expect("listening line");
    (child, addr, work, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_the_log_or_responses() {
    if skip() {
        return;
    }
    let env = Env::new();
    let server = GitServer::start(false).await;
    env.seed_bare(server.root.path(), "repo.git");
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("daemon.log");
    let (mut child, addr, _work, data) = daemon_logging_to(&env, &log);
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("http://{addr}{path}")).json(&body).send();

    let attempts = [
        json!({"path": "a", "url": format!("http://bob:{PASSWORD}@127.0.0.1:1/r.git")}),
        json!({"path": "b", "url": server.url("repo.git"), "username": USER, "password": "Wr0ngPassw0rd"}),
        json!({"path": "c", "url": format!("http://{USER}:Wr0ngPassw0rd@{}/repo.git", server.addr)}),
        json!({"path": "d", "url": format!("https://bob:{PASSWORD}@127.0.0.1:1/r.git"), "insecure_skip_tls": true}),
    ];
    for body in attempts {
        let response = post("/git/clone", body).await.unwrap();
        assert!(response.status().is_client_error() || response.status().is_server_error());
        let text = response.text().await.unwrap();
        assert!(!text.contains(PASSWORD) && !text.contains("Wr0ngPassw0rd"), "{text}");
    }
    let response =
        post("/git/credentials", json!({"username": USER, "password": PASSWORD, "host": "example.com"}))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let stored = std::fs::read_to_string(data.path().join("git-credentials")).unwrap();
    assert!(stored.contains(PASSWORD), "the store holds the secret");

    let _ = child.kill();
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("/git/clone"), "the log records the failures: {log_text}");
    assert!(!log_text.contains(PASSWORD) && !log_text.contains("Wr0ngPassw0rd"), "{log_text}");
}

#[tokio::test]
async fn repositories_owned_by_another_user_are_usable() {
    if skip() {
        return;
    }
    skip_unless!(rustix::process::geteuid().is_root(), "chown to another user needs root");
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("theirs");
    std::fs::create_dir(&repo).unwrap();
    env.git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "theirs"]);
    let status = Command::new("chown").args(["-R", "4321:4321"]).arg(&repo).status().unwrap();
    assert!(status.success());

    // A sandbox user's checkout, read and changed by a daemon running as root (git's
    // safe.directory guard would refuse it; the daemon does not apply it).
    let status = get_json(&daemon, "/git/status?path=theirs").await;
    assert_eq!(status["currentBranch"], "main");
    std::fs::write(repo.join("b.txt"), "b\n").unwrap();
    ok(&daemon, "/git/add", json!({"path": "theirs", "files": ["b.txt"]}), 200).await;
    let staged = env.git_output(&repo, &["-c", "safe.directory=*", "diff", "--cached", "--name-only"]);
    assert_eq!(String::from_utf8_lossy(&staged.stdout).trim(), "b.txt");
}

#[tokio::test]
async fn a_nul_byte_in_any_field_is_a_400_and_changes_nothing() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    ok(&daemon, "/git/init", json!({"path": "r"}), 201).await;
    std::fs::write(daemon.work().join("r/a.txt"), "a").unwrap();
    let before = env.git(&daemon.work().join("r"), &["status", "--porcelain"]);

    for query in ["/git/status", "/git/branches", "/git/history", "/git/remotes"] {
        let path = format!("{query}?path=r%00x");
        assert_envelope(daemon.get(&path).send().await.unwrap(), 400, "BAD_REQUEST").await;
    }
    let bodies = [
        ("/git/init", json!({"path": "n\u{0}ew"})),
        ("/git/add", json!({"path": "r\u{0}", "files": ["a.txt"]})),
        ("/git/add", json!({"path": "r", "files": ["a\u{0}.txt"]})),
        ("/git/branches", json!({"path": "r", "name": "b\u{0}x"})),
        ("/git/checkout", json!({"path": "r\u{0}", "branch": "main"})),
        ("/git/commit", json!({"path": "r\u{0}", "message": "m", "author": "a", "email": "a@b"})),
        ("/git/clone", json!({"url": "file:///nowhere", "path": "c\u{0}lone"})),
        ("/git/clone", json!({"url": "file:///now\u{0}here", "path": "clone"})),
        ("/git/remotes", json!({"path": "r\u{0}", "name": "origin", "url": "file:///x"})),
        ("/git/reset", json!({"path": "r\u{0}"})),
        ("/git/restore", json!({"path": "r\u{0}", "files": ["a.txt"]})),
        ("/git/restore", json!({"path": "r", "files": ["a\u{0}.txt"]})),
        ("/git/reset", json!({"path": "r", "files": ["a\u{0}.txt"]})),
        ("/git/pull", json!({"path": "r\u{0}"})),
        ("/git/push", json!({"path": "r\u{0}"})),
    ];
    for (route, body) in bodies {
        let response = post(&daemon, route, body.clone()).await;
        assert_eq!(response.status(), 400, "POST {route} {body}: {}", response.text().await.unwrap());
    }
    let response =
        daemon.delete("/git/branches").json(&json!({"path": "r\u{0}", "name": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 400);

    assert_eq!(env.git(&daemon.work().join("r"), &["status", "--porcelain"]), before, "the index changed");
    let mut entries: Vec<_> = std::fs::read_dir(daemon.work())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["r"], "something was created");
}

#[tokio::test]
async fn history_of_commits_made_in_the_same_second_is_in_git_log_order() {
    if skip() {
        return;
    }
    let env = Env::new();
    let daemon = env.daemon();
    let repo = daemon.work().join("same-second");
    env.git(daemon.work(), &["init", "-q", "same-second"]);
    for i in 0..6 {
        let out = Command::new("git")
            .args(["commit", "-q", "--allow-empty", "-m", &format!("c{i}")])
            .current_dir(&repo)
            .env("HOME", env.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let expected: Vec<String> = env.git(&repo, &["log", "--format=%H"]).lines().map(str::to_owned).collect();
    let history = get_json(&daemon, "/git/history?path=same-second").await;
    let got: Vec<String> =
        history.as_array().unwrap().iter().map(|c| c["hash"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, expected);
    assert_eq!(history[0]["message"].as_str().unwrap().trim(), "c5");
}
