//! The SSH server driven by OpenSSH's own clients (`ssh`, `scp`, `sftp`, `sshpass`, `tmux`):
//! commands and exit codes, an interactive terminal, forwards both ways, 100 MB transfers with
//! checksums, and refused credentials. Effects are checked on disk and in /proc.

#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Options, have};
use sha2::{Digest, Sha256};

const TOKEN: &str = "ssh-test-token";

/// A daemon with SSH on a free port, the token, and one authorized client key.
struct Ssh {
    daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts on `port`.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

impl Ssh {
    fn start() -> Ssh {
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("id"));
        keygen(&dir.path().join("stranger"));
        std::fs::copy(dir.path().join("id.pub"), dir.path().join("authorized_keys")).unwrap();
        let port = free_port();
        let port_arg = port.to_string();
        let keys = dir.path().join("authorized_keys");
        // A home of its own, so login shells read no profile of this machine's user.
        let home = dir.path().to_str().unwrap().to_owned();
        let daemon = Daemon::spawn_with(Options {
            token: Some(TOKEN),
            args: vec!["--ssh-port", &port_arg, "--ssh-authorized-keys", keys.to_str().unwrap()],
            env: vec![("HOME", &home)],
        });
        wait_for_port(port);
        Ssh { daemon, port, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Options every client gets: no user config, a throwaway known_hosts, no prompts.
    fn options(&self, tool_port_flag: &str) -> Vec<String> {
        let known = self.path("known_hosts");
        vec![
            "-F".into(),
            "/dev/null".into(),
            tool_port_flag.into(),
            self.port.to_string(),
            "-o".into(),
            "StrictHostKeyChecking=accept-new".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known.display()),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    fn key_options(&self, key: &str) -> Vec<String> {
        vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "PasswordAuthentication=no".into(),
            "-i".into(),
            self.path(key).display().to_string(),
        ]
    }

    fn ssh(&self) -> Command {
        self.ssh_with_key("id")
    }

    fn ssh_with_key(&self, key: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.options("-p")).args(self.key_options(key));
        cmd
    }

    fn run(&self, script: &str) -> Output {
        self.ssh().arg("root@127.0.0.1").arg(script).stdin(Stdio::null()).output().expect("ssh")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    format!("{:x}", hasher.finalize())
}

fn random_file(path: &Path, megabytes: usize) {
    let mut out = std::fs::File::create(path).unwrap();
    let mut urandom = std::fs::File::open("/dev/urandom").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..megabytes {
        urandom.read_exact(&mut buf).unwrap();
        out.write_all(&buf).unwrap();
    }
}

macro_rules! need_ssh {
    () => {
        skip_unless!(have("ssh") && have("ssh-keygen"), "OpenSSH client (openssh-client) is not installed");
    };
}

#[test]
fn commands_return_their_exit_status_output_and_environment() {
    need_ssh!();
    let ssh = Ssh::start();
    let out = ssh.run("echo out; echo err >&2; exit 3");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // Commands start in the work dir.
    let out = ssh.run("pwd");
    let work = std::fs::canonicalize(ssh.daemon.work()).unwrap();
    assert_eq!(stdout(&out).trim(), work.to_str().unwrap());

    // The daemon's environment (`POST /env`) reaches new sessions, as do the client's variables.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let body = serde_json::json!({"set": {"FROM_ENV_API": "via-post-env"}});
        ssh.daemon.post("/env").json(&body).send().await.unwrap().status()
    });
    assert!(status.is_success(), "{status}");
    let out = ssh
        .ssh()
        .args(["-o", "SetEnv=CLIENT_VAR=from-client", "root@127.0.0.1", "echo $FROM_ENV_API $CLIENT_VAR"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "via-post-env from-client\n", "{out:?}");

    // Input reaches the command and its end is the command's EOF.
    let mut child = ssh
        .ssh()
        .arg("root@127.0.0.1")
        .arg("wc -c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&[b'x'; 100_000]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out).trim(), "100000");

    // A command killed by a signal is reported as such (OpenSSH's client exits 255 then).
    let out = ssh.run("kill -TERM $$");
    assert_eq!(out.status.code(), Some(255), "{out:?}");
}

#[test]
fn a_command_and_what_it_started_die_with_the_connection() {
    need_ssh!();
    let ssh = Ssh::start();
    let marker = ssh.daemon.work().join("pid");
    let mut client = ssh
        .ssh()
        .arg("root@127.0.0.1")
        .arg(format!("sleep 1000 & echo $! > {}; wait", marker.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&marker) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    client.kill().unwrap();
    let _ = client.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(Instant::now() < deadline, "sleep {pid} outlived its SSH connection");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next().map(|s| s == "Z"))
            .unwrap_or(false)
    })
}

#[test]
fn wrong_passwords_and_unknown_keys_are_refused_and_the_token_logs_in() {
    need_ssh!();
    let ssh = Ssh::start();
    let out =
        ssh.ssh_with_key("stranger").args(["root@127.0.0.1", "true"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(255), "an unknown key logged in: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{out:?}");

    skip_unless!(have("sshpass"), "sshpass is not installed");
    let password = |password: &str| {
        Command::new("sshpass")
            .args(["-p", password, "ssh"])
            .args(ssh.options("-p"))
            .args(["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"])
            .args(["-o", "NumberOfPasswordPrompts=1", "root@127.0.0.1", "echo in"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = password("wrong");
    assert_ne!(out.status.code(), Some(0), "a wrong password logged in: {out:?}");
    assert!(!stdout(&out).contains("in"));
    let out = password("sandbox-ssh");
    assert_ne!(out.status.code(), Some(0), "the reference's password works without --ssh-accept-any");
    let out = password(TOKEN);
    assert_eq!(stdout(&out), "in\n", "{out:?}");
}

#[test]
fn the_host_key_is_kept_in_the_data_dir() {
    need_ssh!();
    let ssh = Ssh::start();
    let saved = std::fs::read_to_string(ssh.daemon.data_dir.path().join("ssh_host_ed25519_key")).unwrap();
    assert!(saved.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let scan = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &ssh.port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let offered = stdout(&scan);
    let derived = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(ssh.daemon.data_dir.path().join("ssh_host_ed25519_key"))
        .output()
        .unwrap();
    let public = stdout(&derived);
    let key_b64 = public.split_whitespace().nth(1).unwrap();
    assert!(offered.contains(key_b64), "served {offered} but saved {public}");
}

/// A tiny HTTP server (Python's http.server) serving `dir` on a free port.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        wait_for_port(port);
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Fetches `path` through `port` until the forward is up (bounded), returning the response.
fn fetch_through(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let response = http_get(port, path);
            if response.starts_with("HTTP/1.0 200") {
                return response;
            }
        }
        assert!(Instant::now() < deadline, "nothing answered through port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn local_and_remote_tcp_forwards_carry_http() {
    need_ssh!();
    skip_unless!(have("python3"), "python3 is needed for the HTTP server");
    let ssh = Ssh::start();
    let site = tempfile::tempdir().unwrap();
    let secret = uuid::Uuid::new_v4().to_string();
    std::fs::write(site.path().join("page.txt"), &secret).unwrap();
    let http = HttpServer::start(site.path());

    // -L: a client-side port reaches the server's HTTP server through the daemon.
    let local = free_port();
    let _tunnel = Background(
        ssh.ssh()
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-L",
                &format!("{local}:127.0.0.1:{}", http.port),
                "root@127.0.0.1",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(fetch_through(local, "/page.txt").ends_with(&secret));

    // -R: a port the daemon opens reaches the client side's HTTP server.
    let remote = free_port();
    let _reverse = Background(
        ssh.ssh()
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                &format!("{remote}:127.0.0.1:{}", http.port),
                "root@127.0.0.1",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(fetch_through(remote, "/page.txt").ends_with(&secret));
    // The daemon is the one listening on the remote port.
    let ss = Command::new("ss").args(["-Hltnp", &format!("sport = :{remote}")]).output();
    if let Ok(ss) = ss {
        let listing = stdout(&ss);
        assert!(listing.contains(&format!("pid={}", ssh.daemon.pid())), "{listing}");
    }
}

#[test]
fn unix_socket_forward_reaches_a_socket_in_the_sandbox() {
    need_ssh!();
    let ssh = Ssh::start();
    let socket_path = ssh.daemon.work().join("echo.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    // Every connection is answered (the readiness probe below makes one too).
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap_or(0);
            let _ = conn.write_all(&[b"echo:", &buf[..n]].concat());
        }
    });
    let local = free_port();
    let _tunnel = Background(
        ssh.ssh()
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-L",
                &format!("{local}:{}", socket_path.display()),
                "root@127.0.0.1",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(local);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    stream.write_all(b"ping").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"echo:ping");
}

#[test]
fn scp_and_sftp_move_100_megabytes_each_way_intact() {
    need_ssh!();
    let ssh = Ssh::start();
    let source = ssh.path("source.bin");
    random_file(&source, 100);
    let want = sha256_file(&source);
    let work = ssh.daemon.work().to_owned();
    let scp = |args: &[&str]| {
        let status = Command::new("scp")
            .args(ssh.options("-P"))
            .args(ssh.key_options("id"))
            .args(["-q"])
            .args(args)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "scp {args:?}");
    };

    // scp (SFTP protocol, OpenSSH's default), relative paths land in the work dir.
    scp(&[source.to_str().unwrap(), "root@127.0.0.1:up-scp.bin"]);
    assert_eq!(sha256_file(&work.join("up-scp.bin")), want);
    let back = ssh.path("down-scp.bin");
    scp(&["root@127.0.0.1:up-scp.bin", back.to_str().unwrap()]);
    assert_eq!(sha256_file(&back), want);

    // The legacy scp protocol runs `scp -t` through exec.
    scp(&["-O", source.to_str().unwrap(), "root@127.0.0.1:up-legacy.bin"]);
    assert_eq!(sha256_file(&work.join("up-legacy.bin")), want);

    // sftp in batch mode.
    let down = ssh.path("down-sftp.bin");
    let batch = ssh.path("batch");
    std::fs::write(
        &batch,
        format!("put {} up-sftp.bin\nget up-sftp.bin {}\nmkdir made\nrename up-sftp.bin made/moved.bin\nls made\n", source.display(), down.display()),
    )
    .unwrap();
    let out = Command::new("sftp")
        .args(ssh.options("-P"))
        .args(ssh.key_options("id"))
        .arg("-b")
        .arg(&batch)
        .arg("root@127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256_file(&down), want);
    assert_eq!(sha256_file(&work.join("made/moved.bin")), want);
    assert!(stdout(&out).contains("moved.bin"), "{out:?}");
}

/// A tmux server of its own, killed at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    fn capture(&self) -> String {
        stdout(&self.cmd().args(["capture-pane", "-p", "-t", "t"]).output().unwrap())
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.capture();
            if screen.contains(needle) {
                return screen;
            }
            assert!(Instant::now() < deadline, "never saw {needle:?} on the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &str) {
        assert!(self.cmd().args(["send-keys", "-t", "t", keys, "Enter"]).status().unwrap().success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

#[test]
fn an_interactive_terminal_follows_window_changes() {
    need_ssh!();
    skip_unless!(have("tmux"), "tmux is not installed");
    let ssh = Ssh::start();
    let tmux = Tmux { socket: format!("toolboxd-ssh-{}", std::process::id()) };
    let mut client: Vec<String> = vec!["ssh".into(), "-tt".into()];
    client.extend(ssh.options("-p"));
    client.extend(ssh.key_options("id"));
    client.push("root@127.0.0.1".into());
    let status = tmux
        .cmd()
        .args(["new-session", "-d", "-s", "t", "-x", "100", "-y", "30"])
        .arg(client.join(" "))
        .env("TERM", "xterm-256color")
        .status()
        .unwrap();
    assert!(status.success());
    // Quotes split the marker in what is typed, so only the output contains it whole.
    tmux.keys("echo TERM=$TERM; tty; echo SIZE=$(stty size)E''ND");
    let screen = tmux.wait_for("END");
    assert!(screen.contains("SIZE=30 100END"), "{screen}");
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert!(!screen.contains("TERM=\n"), "{screen}");

    assert!(
        tmux.cmd().args(["resize-window", "-t", "t", "-x", "120", "-y", "40"]).status().unwrap().success()
    );
    tmux.keys("clear; echo NEW=$(stty size)E''ND");
    let screen = tmux.wait_for("NEW=40 120END");
    assert!(screen.contains("NEW=40 120END"));

    tmux.keys("exit 7");
    // The shell's end ends the session; the pane's ssh reports the code.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux.cmd().args(["has-session", "-t", "t"]).stderr(Stdio::null()).status().unwrap().success() {
        assert!(Instant::now() < deadline, "the ssh session did not end after exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
