//! The filesystem area against the real binary over real HTTP and websockets; every effect is
//! checked on disk with the OS (std::fs, stat, the `tar` CLI), not through the daemon.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::{Daemon, assert_envelope, have};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Deterministic pseudo-random bytes (NULs included), so binary paths are exercised.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

const BOUNDARY: &str = "test-boundary-7d1f";

/// A multipart body from `(field name, filename, bytes)` parts, in the given order.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn bulk_upload(daemon: &Daemon, body: Vec<u8>) -> reqwest::Response {
    daemon
        .post("/files/bulk-upload")
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// A bulk-download part: its headers (lower-cased names) and body.
#[derive(Debug)]
struct Part {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Part {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// The boundary a bulk-download response announces (a fresh one per response).
fn boundary_of(r: &reqwest::Response) -> String {
    let content_type = r.headers()["content-type"].to_str().unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect(content_type);
    assert!(boundary.len() >= 32, "{boundary}");
    boundary.to_owned()
}

/// Splits a bulk-download body strictly: it must end with the closing delimiter.
fn parse_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let open = format!("--{boundary}\r\n");
    let between = format!("\r\n--{boundary}");
    assert!(body.starts_with(open.as_bytes()), "starts with the boundary");
    assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()), "closing delimiter present");
    let mut parts = Vec::new();
    let mut at = open.len();
    loop {
        let head_end = find(body, b"\r\n\r\n", at).expect("part headers end");
        let headers = String::from_utf8(body[at..head_end].to_vec())
            .unwrap()
            .split("\r\n")
            .map(|line| {
                let (n, v) = line.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_owned())
            })
            .collect();
        let data_start = head_end + 4;
        let data_end = find(body, between.as_bytes(), data_start).expect("part end");
        parts.push(Part { headers, body: body[data_start..data_end].to_vec() });
        let next = data_end + between.len();
        if body[next..].starts_with(b"--") {
            return parts;
        }
        at = next + 2;
    }
}

#[tokio::test]
async fn list_and_info_report_go_formats_matching_stat() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    fs::create_dir_all(work.join("dir/sub")).unwrap();
    fs::write(work.join("dir/a.txt"), "hello").unwrap();
    fs::write(work.join("dir/sub/deep.txt"), "x").unwrap();
    fs::set_permissions(work.join("dir/a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("a.txt", work.join("dir/link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", work.join("dir/dangling")).unwrap();

    let info: Value =
        daemon.get("/files/info").query(&[("path", "dir/link")]).send().await.unwrap().json().await.unwrap();
    let meta = fs::metadata(work.join("dir/a.txt")).unwrap();
    assert_eq!(info["name"], "link");
    assert_eq!(info["size"], 5);
    assert_eq!(info["mode"], "-rw-r-----");
    assert_eq!(info["permissions"], "0640");
    assert_eq!(info["owner"], meta.uid().to_string());
    assert_eq!(info["group"], meta.gid().to_string());
    assert_eq!(info["isDir"], false);
    assert!(info.get("path").is_none(), "{info}");
    let mod_time = info["modTime"].as_str().unwrap();
    let modified_at = info["modifiedAt"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(modified_at).unwrap();
    assert_eq!(parsed.timestamp(), meta.mtime());
    assert_eq!(parsed.timestamp_subsec_nanos() as i64, meta.mtime_nsec());
    assert!(mod_time.starts_with(&parsed.format("%Y-%m-%d %H:%M:%S").to_string()), "{mod_time}");

    let tmp: Value =
        daemon.get("/files/info").query(&[("path", "/tmp")]).send().await.unwrap().json().await.unwrap();
    assert_eq!(tmp["mode"], "dtrwxrwxrwx");
    let null: Value =
        daemon.get("/files/info").query(&[("path", "/dev/null")]).send().await.unwrap().json().await.unwrap();
    assert_eq!(null["mode"], "Dcrw-rw-rw-");

    for route in ["/files", "/files/"] {
        let list: Vec<Value> =
            daemon.get(route).query(&[("path", "dir")]).send().await.unwrap().json().await.unwrap();
        let names: Vec<_> = list.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a.txt", "link", "sub"], "dangling link dropped, sorted");
        assert_eq!(list[2]["isDir"], true);
        assert_eq!(list[0]["path"], "dir/a.txt");
    }
    let deep: Vec<Value> = daemon
        .get("/files")
        .query(&[("path", "dir"), ("depth", "2")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<_> = deep.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["dir/a.txt", "dir/link", "dir/sub", "dir/sub/deep.txt"]);

    let root: Vec<Value> = daemon.get("/files").send().await.unwrap().json().await.unwrap();
    assert_eq!(root.len(), 1, "default path is the work dir");

    // Old Go SDKs decode strictly: no `path`.
    let old: Vec<Value> = daemon
        .get("/files")
        .query(&[("path", "dir")])
        .header("X-Daytona-Source", "sdk-go")
        .header("X-Daytona-SDK-Version", "0.150.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(old[0].get("path").is_none());
}

#[tokio::test]
async fn list_and_info_errors_are_enveloped() {
    let daemon = Daemon::spawn();
    fs::write(daemon.work().join("file"), "x").unwrap();
    let r = daemon.get("/files").query(&[("path", "missing")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r = daemon.get("/files").query(&[("path", "file")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    for depth in ["0", "-1", "x"] {
        let r = daemon.get("/files").query(&[("depth", depth)]).send().await.unwrap();
        let body = assert_envelope(r, 400, "BAD_REQUEST").await;
        assert!(body["message"].as_str().unwrap().contains("depth must be an integer >= 1"));
    }
    let r = daemon.get("/files/info").send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon.get("/files/info").query(&[("path", "/no/such")]).send().await.unwrap();
    let body = assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    assert!(body["message"].as_str().unwrap().contains("/no/such"), "{body}");
    // A query that is not UTF-8 cannot name a path: 400, not a panic.
    let r = daemon.get("/files/info?path=%FF%FE").send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
}

#[tokio::test]
async fn non_utf8_names_on_disk_are_listed_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let daemon = Daemon::spawn();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    fs::write(daemon.work().join(name), "x").unwrap();
    let list: Vec<Value> = daemon.get("/files").send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "bad-\u{fffd}-name");
}

#[tokio::test]
async fn upload_v2_raw_and_multipart_then_download_with_ranges() {
    let daemon = Daemon::spawn();
    let data = noise(3 * 1024 * 1024 + 17, 1);
    let r = daemon
        .post("/files/upload-v2")
        .query(&[("path", "nested/dir/blob.bin")])
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"name": "blob.bin", "path": "nested/dir/blob.bin", "type": "file"}));
    let on_disk = daemon.work().join("nested/dir/blob.bin");
    assert_eq!(sha(&fs::read(&on_disk).unwrap()), sha(&data));
    assert_eq!(fs::metadata(daemon.work().join("nested/dir")).unwrap().mode() & 0o777, 0o755);

    let form = multipart(&[("other", None, b"ignored"), ("file", Some("x"), b"via form")]);
    let r = daemon
        .post("/files/upload-v2")
        .query(&[("path", "form.txt")])
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fs::read(daemon.work().join("form.txt")).unwrap(), b"via form");

    let r = daemon.get("/files/download").query(&[("path", "nested/dir/blob.bin")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"blob.bin\"; filename*=utf-8''blob.bin"
    );
    let last_modified = r.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(sha(&r.bytes().await.unwrap()), sha(&data));

    let r = daemon
        .get("/files/download")
        .query(&[("path", "nested/dir/blob.bin")])
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 100-199/{}", data.len()));
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[100..200]);

    let r = daemon
        .get("/files/download")
        .query(&[("path", "nested/dir/blob.bin")])
        .header("range", format!("bytes={}-", data.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-range"], format!("bytes */{}", data.len()));
    assert_eq!(r.status(), 416);

    // A malformed Range is ignored (RFC 9110 14.2): the whole file, 200.
    for malformed in ["bytes=abc", "bytes=5-1", "bytes=-x", "bytes=1-2-3"] {
        let r = daemon
            .get("/files/download")
            .query(&[("path", "nested/dir/blob.bin")])
            .header("range", malformed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{malformed}");
        assert!(r.headers().get("content-range").is_none(), "{malformed}");
        assert_eq!(sha(&r.bytes().await.unwrap()), sha(&data), "{malformed}");
    }

    let r = daemon
        .get("/files/download")
        .query(&[("path", "nested/dir/blob.bin")])
        .header("if-modified-since", last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    let r = daemon.get("/files/download").query(&[("path", "nested")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon.get("/files/download").query(&[("path", "nope")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r = daemon.get("/files/download").send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
}

#[tokio::test]
async fn legacy_upload_takes_the_file_field() {
    let daemon = Daemon::spawn();
    let form = multipart(&[("file", Some("a"), b"legacy bytes")]);
    let r = daemon
        .post("/files/upload")
        .query(&[("path", "legacy/dir/a.txt")])
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fs::read(daemon.work().join("legacy/dir/a.txt")).unwrap(), b"legacy bytes");
    assert_eq!(fs::metadata(daemon.work().join("legacy/dir")).unwrap().mode() & 0o777, 0o750);

    let form = multipart(&[("not-file", Some("a"), b"x")]);
    let r = daemon
        .post("/files/upload")
        .query(&[("path", "b.txt")])
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(!daemon.work().join("b.txt").exists());
}

#[tokio::test]
async fn bulk_upload_then_bulk_download_round_trips_byte_exact() {
    let daemon = Daemon::spawn();
    let binary = noise(2 * 1024 * 1024 + 3, 2);
    let abs = daemon.work().join("abs dir/ünï cödé.bin");
    let abs_str = abs.to_str().unwrap().to_owned();
    let body = multipart(&[
        ("files[0].path", None, b"text/hello.txt"),
        ("files[1].path", None, abs_str.as_bytes()),
        ("files[2].path", None, b"empty"),
        ("files[0].file", Some("text/hello.txt"), b"hello\n"),
        ("files[1].file", Some("x"), &binary),
        ("files[2].file", Some("x"), b""),
    ]);
    let r = bulk_upload(&daemon, body).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["files"][1], json!({"path": abs_str, "bytes": binary.len()}));
    assert_eq!(fs::read(daemon.work().join("text/hello.txt")).unwrap(), b"hello\n");
    assert_eq!(sha(&fs::read(&abs).unwrap()), sha(&binary));
    assert_eq!(fs::metadata(daemon.work().join("empty")).unwrap().len(), 0);

    let requested =
        ["text/hello.txt", abs_str.as_str(), "missing.txt", "text", "empty", "", "text/hello.txt"];
    let r = daemon.post("/files/bulk-download").json(&json!({"paths": requested})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let boundary = boundary_of(&r);
    let body = r.bytes().await.unwrap();
    let parts = parse_parts(&body, &boundary);
    assert_eq!(parts.len(), requested.len());
    assert_eq!(
        parts[0].header("content-disposition"),
        "form-data; name=\"file\"; filename=\"text/hello.txt\"; filename*=utf-8''text%2Fhello.txt"
    );
    assert_eq!(parts[0].header("content-length"), "6");
    assert_eq!(parts[0].header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(parts[0].body, b"hello\n");
    assert!(parts[1].header("content-disposition").contains("%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.bin"));
    assert_eq!(sha(&parts[1].body), sha(&binary));
    let expect_error = |part: &Part, status: u64, code: &str, path: &str| {
        assert!(part.header("content-disposition").starts_with("form-data; name=\"error\""), "{part:?}");
        assert_eq!(part.header("content-type"), "application/json; charset=utf-8");
        let error: Value = serde_json::from_slice(&part.body).unwrap();
        assert_eq!(error["statusCode"], status, "{error}");
        assert_eq!(error["code"], code, "{error}");
        assert_eq!(error["path"], path, "{error}");
        assert_eq!(error["source"], "DAYTONA_DAEMON");
        assert_eq!(error["method"], "POST");
    };
    expect_error(&parts[2], 404, "FILE_NOT_FOUND", "missing.txt");
    expect_error(&parts[3], 400, "INVALID_FILE_PATH", "text");
    assert!(parts[4].body.is_empty() && parts[4].header("content-length") == "0");
    expect_error(&parts[5], 400, "INVALID_FILE_PATH", "");
    assert_eq!(parts[6].body, b"hello\n", "duplicates are served twice");

    for bad in [json!({"paths": []}), json!({})] {
        let r = daemon.post("/files/bulk-download").json(&bad).send().await.unwrap();
        assert_envelope(r, 400, "BAD_REQUEST").await;
    }
    let r = daemon.post("/files/bulk-download").body("{not json").send().await.unwrap();
    assert_envelope(r, 400, "INVALID_REQUEST_BODY").await;
}

#[tokio::test]
async fn bulk_upload_reports_per_file_errors_and_lands_the_rest() {
    let daemon = Daemon::spawn();
    fs::write(daemon.work().join("blocker"), "a file, not a dir").unwrap();
    let body = multipart(&[
        ("files[0].file", Some("x"), b"no path yet"),
        ("files[0].path", None, b"late.txt"),
        ("files[1].path", None, b"   "),
        ("files[2].path", None, b"blocker/child.txt"),
        ("files[2].file", Some("x"), b"cannot land"),
        ("files[3].path", None, b"good.txt"),
        ("files[3].file", Some("x"), b"landed"),
    ]);
    let r = bulk_upload(&daemon, body).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    let errors: Vec<_> = answer["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(errors[0], "file[0]: missing .path metadata");
    assert_eq!(errors[1], "path[1]: empty path");
    assert!(errors[2].starts_with("blocker/child.txt: mkdir "), "{errors:?}");
    assert_eq!(answer["files"], json!([{"path": "good.txt", "bytes": 6}]));
    assert_eq!(fs::read(daemon.work().join("good.txt")).unwrap(), b"landed");
    assert!(!daemon.work().join("late.txt").exists());

    // No file parts at all: 200 with `files: null`.
    let r = bulk_upload(&daemon, multipart(&[("files[0].path", None, b"x")])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"files": null}));

    // Not multipart, or broken multipart.
    let r = daemon.post("/files/bulk-upload").body("plain").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["errors"], json!(["invalid multipart form"]));
    assert_eq!(answer["source"], "DAYTONA_DAEMON");
    let r = daemon
        .post("/files/bulk-upload")
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\nx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert!(answer["errors"][0].as_str().unwrap().starts_with("reading part:"), "{answer}");
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".toolboxd-upload-"))
        .collect()
}

/// Sends a request head promising a large body, part of the body, then hangs up.
/// Checks the upload was really under way (its temp file exists) before hanging up.
fn disconnect_mid_upload(addr: &str, dir: &Path, head: &str, partial: &[u8]) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(partial).unwrap();
    stream.flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while leftovers(dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(leftovers(dir).len(), 1, "the upload is in progress");
    drop(stream);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_the_old_file_and_no_temp_file() {
    let daemon = Daemon::spawn();
    let target = daemon.work().join("keep.txt");
    fs::write(&target, "the old contents").unwrap();

    let head = "POST /files/upload-v2?path=keep.txt HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n";
    disconnect_mid_upload(&daemon.addr, daemon.work(), head, &noise(600 * 1024, 3));

    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\nkeep.txt\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"keep.txt\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&noise(600 * 1024, 4));
    let head = format!(
        "POST /files/bulk-upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 10000000\r\n\r\n"
    );
    disconnect_mid_upload(&daemon.addr, daemon.work(), &head, &body);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !leftovers(daemon.work()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(leftovers(daemon.work()), Vec::<String>::new());
    assert_eq!(fs::read(&target).unwrap(), b"the old contents");
    // The daemon is still serving.
    assert_eq!(daemon.get("/files/info").query(&[("path", "keep.txt")]).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn uploads_keep_an_existing_files_mode_and_write_through_symlinks() {
    let daemon = Daemon::spawn();
    let target = daemon.work().join("script.sh");
    fs::write(&target, "old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("script.sh", daemon.work().join("alias")).unwrap();
    let r = daemon.post("/files/upload-v2").query(&[("path", "alias")]).body("new").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(fs::symlink_metadata(daemon.work().join("alias")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(&target).unwrap(), b"new");
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o750);

    let r = daemon.post("/files/upload-v2").query(&[("path", ".")]).body("x").send().await.unwrap();
    assert_envelope(r, 400, "INVALID_FILE_PATH").await;
}

#[tokio::test]
async fn delete_folder_move_and_permissions_act_on_disk() {
    let daemon = Daemon::spawn();
    let work = daemon.work();

    let r = daemon.post("/files/folder").query(&[("path", "a/b/c"), ("mode", "0700")]).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(fs::metadata(work.join("a/b/c")).unwrap().mode() & 0o777, 0o700);
    let r = daemon.post("/files/folder").query(&[("path", "a/b/c"), ("mode", "755")]).send().await.unwrap();
    assert_eq!(r.status(), 201, "idempotent");
    for bad in ["0o755", "rwx"] {
        let r = daemon.post("/files/folder").query(&[("path", "z"), ("mode", bad)]).send().await.unwrap();
        assert_envelope(r, 400, "BAD_REQUEST").await;
    }
    fs::write(work.join("f"), "x").unwrap();
    let r = daemon.post("/files/folder").query(&[("path", "f/sub"), ("mode", "755")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;

    let r = daemon.delete("/files").query(&[("path", "a")]).send().await.unwrap();
    let body = assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("cannot delete directory without recursive flag"));
    let r = daemon.delete("/files").query(&[("path", "a"), ("recursive", "True")]).send().await.unwrap();
    assert_eq!(r.status(), 400, "only the exact `true` is true");
    std::os::unix::fs::symlink(work.join("a"), work.join("dirlink")).unwrap();
    let r =
        daemon.delete("/files/").query(&[("path", "dirlink"), ("recursive", "true")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(work.join("a/b/c").is_dir(), "only the link went");
    assert!(fs::symlink_metadata(work.join("dirlink")).is_err());
    std::os::unix::fs::symlink("/nonexistent", work.join("dangling")).unwrap();
    let r = daemon.delete("/files").query(&[("path", "dangling")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r = daemon.delete("/files").query(&[("path", "a"), ("recursive", "true")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!work.join("a").exists());
    let r = daemon.delete("/files").send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;

    fs::write(work.join("src.txt"), "move me").unwrap();
    fs::write(work.join("taken.txt"), "keep").unwrap();
    let r = daemon
        .post("/files/move")
        .query(&[("source", "src.txt"), ("destination", "taken.txt")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 409, "CONFLICT").await;
    assert_eq!(fs::read(work.join("taken.txt")).unwrap(), b"keep");
    let r = daemon
        .post("/files/move")
        .query(&[("source", "src.txt"), ("destination", "no/dir/x")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r =
        daemon.post("/files/move").query(&[("source", "gone"), ("destination", "x")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r = daemon.post("/files/move").query(&[("source", "src.txt")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon
        .post("/files/move")
        .query(&[("source", "src.txt"), ("destination", "moved.txt")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer, json!({"message": "file moved successfully"}));
    assert_eq!(fs::read(work.join("moved.txt")).unwrap(), b"move me");
    assert!(!work.join("src.txt").exists());

    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "moved.txt"), ("mode", "4755")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fs::metadata(work.join("moved.txt")).unwrap().mode() & 0o7777, 0o755, "special bits dropped");
    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "moved.txt"), ("mode", "0o7")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r =
        daemon.post("/files/permissions").query(&[("path", "nope"), ("mode", "644")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "moved.txt"), ("owner", "no-such-user-x")])
        .send()
        .await
        .unwrap();
    let body = assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("user not found"));
    if rustix::process::geteuid().is_root() {
        let r = daemon
            .post("/files/permissions")
            .query(&[("path", "moved.txt"), ("owner", "nobody"), ("group", "1234")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let meta = fs::metadata(work.join("moved.txt")).unwrap();
        let nobody = fs::read_to_string("/etc/passwd")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("nobody:x:").and_then(|r| r.split(':').next()?.parse::<u32>().ok()))
            .unwrap();
        assert_eq!((meta.uid(), meta.gid()), (nobody, 1234));
    }
}

#[tokio::test]
async fn find_search_and_replace_follow_the_contract() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    fs::create_dir_all(work.join("proj/src")).unwrap();
    fs::write(work.join("proj/src/main.rs"), "fn main() {\n    println!(\"a.b\");\r\n}\n").unwrap();
    fs::write(work.join("proj/README.md"), "A.B is not a.b\n").unwrap();
    fs::write(work.join("proj/data.bin"), b"a.b\0binary").unwrap();
    let long = format!("{}a.b\nafter a.b\n", "x".repeat(70 * 1024));
    fs::write(work.join("proj/long.txt"), long).unwrap();
    std::os::unix::fs::symlink(work.join("proj"), work.join("projlink")).unwrap();

    let found: Vec<Value> = daemon
        .get("/files/find")
        .query(&[("path", "proj"), ("pattern", "a.b")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        found,
        json!([
            {"file": "proj/README.md", "line": 1, "content": "A.B is not a.b"},
            {"file": "proj/src/main.rs", "line": 2, "content": "    println!(\"a.b\");"},
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let none: Vec<Value> = daemon
        .get("/files/find")
        .query(&[("path", "projlink"), ("pattern", "a.b")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty(), "symlinked root yields nothing");
    let none: Vec<Value> = daemon
        .get("/files/find")
        .query(&[("path", "missing"), ("pattern", "x")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let r = daemon.get("/files/find").query(&[("path", "proj")]).send().await.unwrap();
    let body = assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("path and pattern are required"));

    let searched: Value = daemon
        .get("/files/search")
        .query(&[("path", "proj"), ("pattern", "*.rs")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(searched, json!({"files": ["proj/src/main.rs"]}));
    let searched: Value = daemon
        .get("/files/search")
        .query(&[("path", "proj/"), ("pattern", "[ps]r*")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(searched, json!({"files": ["proj/", "proj/src"]}));
    let searched: Value = daemon
        .get("/files/search")
        .query(&[("path", "nowhere"), ("pattern", "*")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(searched, json!({"files": []}));

    let r = daemon
        .post("/files/replace")
        .json(&json!({"files": ["proj/README.md", "proj/nope.txt", "proj/data.bin"], "pattern": "a.b", "newValue": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.unwrap();
    assert_eq!(results[0], json!({"file": "proj/README.md", "success": true}));
    assert_eq!(results[1]["success"], false);
    assert_eq!(results[1]["error"], "open proj/nope.txt: no such file or directory");
    assert_eq!(fs::read_to_string(work.join("proj/README.md")).unwrap(), "A.B is not X\n");
    assert_eq!(fs::read(work.join("proj/data.bin")).unwrap(), b"X\0binary");
    for bad in [
        json!({"files": ["x"], "pattern": "", "newValue": "y"}),
        json!({"files": ["x"], "pattern": "a"}),
        json!({"pattern": "a", "newValue": ""}),
    ] {
        let r = daemon.post("/files/replace").json(&bad).send().await.unwrap();
        assert_envelope(r, 400, "INVALID_REQUEST_BODY").await;
    }
}

#[tokio::test]
async fn watch_streams_real_changes_and_stops_when_the_client_goes() {
    let daemon = Daemon::spawn();
    let dir = daemon.work().join("watched");
    fs::create_dir(&dir).unwrap();
    let inotify_fds = || {
        fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
            .unwrap()
            .filter(|fd| {
                fd.as_ref().is_ok_and(|fd| {
                    fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify"))
                })
            })
            .count()
    };
    let baseline = inotify_fds();
    let url = format!("ws://{}/files/watch?path=watched&recursive=true", daemon.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(inotify_fds(), baseline + 1, "the watch holds one inotify instance");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let file = dir.join("new.txt").to_str().unwrap().to_owned();
    let sub = dir.join("sub").to_str().unwrap().to_owned();
    let moved = dir.join("sub/renamed.txt").to_str().unwrap().to_owned();
    let mut events: Vec<Value> = Vec::new();
    // Each step waits for its event, so a new subdirectory is watched before it is used.
    type Step<'a> = (Box<dyn Fn() + 'a>, &'a str, &'a str, bool);
    let steps: Vec<Step<'_>> = vec![
        (Box::new(|| fs::write(dir.join("new.txt"), "1").unwrap()), "create", file.as_str(), false),
        (Box::new(|| fs::create_dir(dir.join("sub")).unwrap()), "create", sub.as_str(), true),
        (
            Box::new(|| fs::set_permissions(dir.join("new.txt"), fs::Permissions::from_mode(0o600)).unwrap()),
            "chmod",
            file.as_str(),
            false,
        ),
        (
            Box::new(|| fs::rename(dir.join("new.txt"), dir.join("sub/renamed.txt")).unwrap()),
            "rename",
            moved.as_str(),
            false,
        ),
        (Box::new(|| fs::remove_file(dir.join("sub/renamed.txt")).unwrap()), "remove", moved.as_str(), false),
    ];
    for (act, kind, path, is_dir) in steps {
        act();
        let seen = |events: &Vec<Value>| {
            events.iter().any(|e| e["type"] == kind && e["path"] == path && e["isDir"] == is_dir)
        };
        while !seen(&events) {
            let next = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
            let message =
                next.unwrap_or_else(|_| panic!("no {kind} {path} event; got {events:?}")).unwrap().unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                events.push(serde_json::from_str::<Value>(&text).unwrap());
            }
        }
    }

    socket.close(None).await.unwrap();
    drop(socket);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while inotify_fds() != baseline && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(inotify_fds(), baseline, "the watcher stopped when the client went");

    let r = daemon.get("/files/watch").query(&[("path", "watched")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let url = format!("ws://{}/files/watch?path=nope", daemon.addr);
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn archive_streams_a_tar_that_tar_extracts() {
    skip_unless!(have("tar"), "the tar CLI is not installed");
    let daemon = Daemon::spawn();
    let work = daemon.work();
    fs::create_dir_all(work.join("pack/inner")).unwrap();
    let blob = noise(1024 * 1024 + 5, 9);
    fs::write(work.join("pack/inner/blob.bin"), &blob).unwrap();
    fs::write(work.join("pack/a b.txt"), "spaces").unwrap();
    std::os::unix::fs::symlink("a b.txt", work.join("pack/link")).unwrap();

    let r = daemon.get("/files/archive").query(&[("path", "pack")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    let tarball = r.bytes().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(out.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tarball).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(sha(&fs::read(out.path().join("pack/inner/blob.bin")).unwrap()), sha(&blob));
    assert_eq!(fs::read_to_string(out.path().join("pack/a b.txt")).unwrap(), "spaces");
    assert_eq!(fs::read_link(out.path().join("pack/link")).unwrap(), Path::new("a b.txt"));

    let r = daemon.get("/files/archive").query(&[("path", "pack/a b.txt")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon.get("/files/archive").query(&[("path", "nope")]).send().await.unwrap();
    assert_envelope(r, 404, "FILE_NOT_FOUND").await;
}

#[tokio::test]
async fn fifty_megabytes_round_trip_through_the_bulk_endpoints() {
    let daemon = Daemon::spawn();
    let data = noise(50 * 1024 * 1024, 5);
    let body =
        multipart(&[("files[0].path", None, b"big/50mb.bin"), ("files[0].file", Some("50mb.bin"), &data)]);
    let r = bulk_upload(&daemon, body).await;
    assert_eq!(r.status(), 200);
    let mut on_disk = Vec::new();
    fs::File::open(daemon.work().join("big/50mb.bin")).unwrap().read_to_end(&mut on_disk).unwrap();
    assert_eq!(sha(&on_disk), sha(&data));

    let r =
        daemon.post("/files/bulk-download").json(&json!({"paths": ["big/50mb.bin"]})).send().await.unwrap();
    let boundary = boundary_of(&r);
    let mut received = Vec::new();
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    let parts = parse_parts(&received, &boundary);
    assert_eq!(parts[0].header("content-length"), data.len().to_string());
    assert_eq!(sha(&parts[0].body), sha(&data));
}

#[tokio::test]
async fn openapi_documents_the_extensions() {
    let daemon = Daemon::spawn();
    let doc: Value = daemon.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["paths"]["/files/watch"]["get"]["tags"], json!(["toolboxd"]));
    assert_eq!(doc["paths"]["/files/archive"]["get"]["tags"], json!(["toolboxd"]));
    assert_eq!(doc["paths"]["/files/bulk-upload"]["post"]["operationId"], "UploadFiles");
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_leaves_the_old_file_and_names_the_reason() {
    let disk = SmallDisk::mount();
    skip_unless!(disk.is_some(), "cannot mount a tmpfs here (needs root)");
    let disk = disk.unwrap();
    let daemon = Daemon::spawn();
    let target = disk.dir.path().join("full.txt");
    fs::write(&target, "old contents").unwrap();
    let target_str = target.to_str().unwrap();

    let r = daemon
        .post("/files/upload-v2")
        .query(&[("path", target_str)])
        .body(noise(2 * 1024 * 1024, 6))
        .send()
        .await
        .unwrap();
    let body = assert_envelope_status(r, 507).await;
    assert!(body["message"].as_str().unwrap().contains("no space left on device"), "{body}");
    assert_eq!(fs::read(&target).unwrap(), b"old contents");
    assert_eq!(leftovers(disk.dir.path()), Vec::<String>::new());

    let big = noise(2 * 1024 * 1024, 7);
    let body = multipart(&[
        ("files[0].path", None, target_str.as_bytes()),
        ("files[0].file", Some("x"), &big),
        ("files[1].path", None, b"fine.txt"),
        ("files[1].file", Some("x"), b"landed"),
    ]);
    let r = bulk_upload(&daemon, body).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    let error = answer["errors"][0].as_str().unwrap();
    assert!(error.starts_with(&format!("{target_str}: write: no space left on device")), "{answer}");
    assert_eq!(answer["files"], json!([{"path": "fine.txt", "bytes": 6}]));
    assert_eq!(fs::read(&target).unwrap(), b"old contents");
    assert_eq!(leftovers(disk.dir.path()), Vec::<String>::new());
    assert_eq!(fs::read(daemon.work().join("fine.txt")).unwrap(), b"landed");
}

/// An envelope with a status the shared helper's code table does not cover (no `code`).
async fn assert_envelope_status(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["source"], "DAYTONA_DAEMON", "{body}");
    body
}

#[tokio::test]
async fn fifos_are_refused_instead_of_hanging() {
    skip_unless!(have("mkfifo"), "mkfifo is not installed");
    let daemon = Daemon::spawn();
    let status = std::process::Command::new("mkfifo").arg(daemon.work().join("pipe")).status().unwrap();
    assert!(status.success());
    let r = daemon.get("/files/download").query(&[("path", "pipe")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon.post("/files/bulk-download").json(&json!({"paths": ["pipe"]})).send().await.unwrap();
    let boundary = boundary_of(&r);
    let body = r.bytes().await.unwrap();
    let parts = parse_parts(&body, &boundary);
    let error: Value = serde_json::from_slice(&parts[0].body).unwrap();
    assert_eq!(error["code"], "INVALID_FILE_PATH");
    let r = daemon
        .post("/files/replace")
        .json(&json!({"files": ["pipe"], "pattern": "a", "newValue": "b"}))
        .send()
        .await
        .unwrap();
    let results: Value = r.json().await.unwrap();
    assert_eq!(results[0]["success"], false);
    let found: Vec<Value> = daemon
        .get("/files/find")
        .query(&[("path", "."), ("pattern", "a")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(found.is_empty());
}

/// Every `path` query a mutation is addressed by, sent with each mutating route.
async fn try_every_mutation(daemon: &Daemon, path: &str) -> Vec<reqwest::Response> {
    let q = |extra: &[(&'static str, &'static str)]| {
        let mut query = vec![("path", path.to_owned())];
        query.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        query
    };
    vec![
        daemon.delete("/files").query(&q(&[("recursive", "true")])).send().await.unwrap(),
        daemon.delete("/files/").query(&q(&[("recursive", "false")])).send().await.unwrap(),
        daemon.post("/files/folder").query(&q(&[("mode", "0700")])).send().await.unwrap(),
        daemon.post("/files/permissions").query(&q(&[("mode", "0700")])).send().await.unwrap(),
        daemon.post("/files/upload-v2").query(&q(&[])).body("clobbered").send().await.unwrap(),
        daemon
            .post("/files/move")
            .query(&[("source", path), ("destination", "moved-away")])
            .send()
            .await
            .unwrap(),
        daemon
            .post("/files/move")
            .query(&[("source", "spare.txt"), ("destination", path)])
            .send()
            .await
            .unwrap(),
    ]
}

/// Each file under `dir` with its contents and mode, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        let meta = fs::symlink_metadata(&at).unwrap();
        let contents = if meta.is_file() { fs::read(&at).unwrap() } else { Vec::new() };
        out.push((at.display().to_string(), contents, meta.mode()));
        if meta.is_dir() {
            pending.extend(fs::read_dir(&at).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_path_ending_in_dot_or_dot_dot_is_refused_and_nothing_is_touched() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    fs::create_dir_all(work.join("sub/deeper")).unwrap();
    fs::write(work.join("sub/deeper/keep.txt"), "keep").unwrap();
    fs::write(work.join("top.txt"), "top").unwrap();
    fs::write(work.join("spare.txt"), "spare").unwrap();
    let before = snapshot(work);
    let absolute = format!("{}/sub/.", work.display());
    for path in
        [".", "./", "..", "sub/.", "sub/./", "sub/..", "sub/deeper/..", "sub//.", absolute.as_str(), "/"]
    {
        for r in try_every_mutation(&daemon, path).await {
            let url = r.url().to_string();
            let body = assert_envelope(r, 400, "INVALID_FILE_PATH").await;
            assert!(body["message"].as_str().unwrap().starts_with("invalid file path: "), "{url}: {body}");
        }
        assert_eq!(snapshot(work), before, "{path:?} changed the work dir");
    }
    // Reads still take `.`: it is the default of a listing.
    let r = daemon.get("/files").query(&[("path", "sub/.")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn delete_never_follows_a_symlink_to_a_directory_outside_the_work_dir() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir(outside.path().join("inner")).unwrap();
    fs::write(outside.path().join("inner/precious.txt"), "precious").unwrap();
    fs::write(outside.path().join("top.txt"), "top").unwrap();
    let before = snapshot(outside.path());
    std::os::unix::fs::symlink(outside.path(), work.join("link")).unwrap();
    fs::create_dir(work.join("tree")).unwrap();
    std::os::unix::fs::symlink(outside.path(), work.join("tree/link-inside")).unwrap();

    for path in ["link/", "link//", "link/.", "link/inner/.."] {
        for recursive in ["true", "false"] {
            let r = daemon
                .delete("/files")
                .query(&[("path", path), ("recursive", recursive)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{path} recursive={recursive}");
            assert_envelope(r, 400, if path.ends_with('.') { "INVALID_FILE_PATH" } else { "BAD_REQUEST" })
                .await;
            assert_eq!(snapshot(outside.path()), before, "{path} touched the link's target");
            assert!(fs::symlink_metadata(work.join("link")).unwrap().file_type().is_symlink());
        }
    }
    // Without the slash, recursive removes the link itself (without it, a link to a directory
    // is refused like the directory).
    let r = daemon.delete("/files").query(&[("path", "link"), ("recursive", "false")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon.delete("/files").query(&[("path", "link"), ("recursive", "true")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(fs::symlink_metadata(work.join("link")).is_err(), "the link is gone");
    // A tree holding a link to the outside directory: the link is unlinked, not followed.
    let r = daemon.delete("/files").query(&[("path", "tree/"), ("recursive", "true")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!work.join("tree").exists());
    assert_eq!(snapshot(outside.path()), before, "the outside directory survived");
    // A link to a file is removed as a link.
    std::os::unix::fs::symlink(outside.path().join("top.txt"), work.join("file-link")).unwrap();
    let r =
        daemon.delete("/files").query(&[("path", "file-link"), ("recursive", "false")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(fs::read(outside.path().join("top.txt")).unwrap(), b"top");
}

/// A tmpfs mounted on an existing directory, unmounted on drop.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn at(dir: &Path) -> Option<Mounted> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_recursive_delete_that_would_stop_half_way_removes_nothing() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    fs::create_dir_all(work.join("tree/a")).unwrap();
    fs::write(work.join("tree/a/file.txt"), "x").unwrap();
    fs::create_dir_all(work.join("tree/z/mnt")).unwrap();
    let mounted = Mounted::at(&work.join("tree/z/mnt"));
    skip_unless!(mounted.is_some(), "cannot mount a tmpfs here (needs root)");
    fs::write(work.join("tree/z/mnt/on-another-fs.txt"), "x").unwrap();
    let before = snapshot(work);
    // `rm -rf` would empty `a` and the mount, then fail on the mount point: checked first.
    let r = daemon.delete("/files").query(&[("path", "tree"), ("recursive", "true")]).send().await.unwrap();
    let body = assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("mount point"), "{body}");
    assert_eq!(snapshot(work), before);
    drop(mounted);
    let r = daemon.delete("/files").query(&[("path", "tree"), ("recursive", "true")]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!work.join("tree").exists());
}

#[tokio::test]
async fn move_and_permissions_treat_links_by_the_documented_rules() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("data.txt"), "data").unwrap();
    fs::set_permissions(outside.path().join("data.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(outside.path());
    std::os::unix::fs::symlink(outside.path(), work.join("link")).unwrap();
    fs::write(work.join("plain.txt"), "plain").unwrap();

    // A trailing slash on a link source would move the target's contents: refused.
    let r =
        daemon.post("/files/move").query(&[("source", "link/"), ("destination", "x")]).send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon
        .post("/files/move")
        .query(&[("source", "plain.txt/"), ("destination", "x")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    let r = daemon
        .post("/files/move")
        .query(&[("source", "plain.txt"), ("destination", "x/")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    assert_eq!(fs::read(work.join("plain.txt")).unwrap(), b"plain");
    // Without the slash the link itself moves.
    let r = daemon
        .post("/files/move")
        .query(&[("source", "link"), ("destination", "renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fs::read_link(work.join("renamed")).unwrap(), outside.path());
    assert_eq!(snapshot(outside.path()), before);

    // Permissions act on the link's target, as chmod(1) does; the link stays a link.
    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "renamed/data.txt"), ("mode", "600")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fs::metadata(outside.path().join("data.txt")).unwrap().mode() & 0o777, 0o600);
    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "plain.txt/"), ("mode", "600")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    // A bad owner is found before the mode changes.
    let r = daemon
        .post("/files/permissions")
        .query(&[("path", "plain.txt"), ("mode", "600"), ("owner", "no-such-user-here")])
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    assert_ne!(fs::metadata(work.join("plain.txt")).unwrap().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn uploads_through_dangling_links_land_at_the_target_or_are_refused() {
    let daemon = Daemon::spawn();
    let work = daemon.work();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("created.txt");
    std::os::unix::fs::symlink(&target, work.join("dangling")).unwrap();
    let r =
        daemon.post("/files/upload-v2").query(&[("path", "dangling")]).body("through").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(fs::symlink_metadata(work.join("dangling")).unwrap().file_type().is_symlink(), "still a link");
    assert_eq!(fs::read(&target).unwrap(), b"through");

    // The link's directory does not exist: refused, and nothing is created through the link.
    let missing = outside.path().join("no-such-dir/x.txt");
    std::os::unix::fs::symlink(&missing, work.join("deep")).unwrap();
    let r = daemon.post("/files/upload-v2").query(&[("path", "deep")]).body("x").send().await.unwrap();
    let body = assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("no such file or directory"), "{body}");
    assert!(fs::symlink_metadata(work.join("deep")).unwrap().file_type().is_symlink());
    assert!(!outside.path().join("no-such-dir").exists());
    let body = multipart(&[("files[0].path", None, b"deep"), ("files[0].file", Some("deep"), b"x")]);
    let r = bulk_upload(&daemon, body).await;
    assert_eq!(r.status(), 400);
    assert!(fs::symlink_metadata(work.join("deep")).unwrap().file_type().is_symlink());

    // A trailing slash names a directory, not a file; a failed upload takes back its dirs.
    let r =
        daemon.post("/files/upload-v2").query(&[("path", "new/dir/file/")]).body("x").send().await.unwrap();
    assert_envelope(r, 400, "BAD_REQUEST").await;
    assert!(!work.join("new").exists());
    assert_eq!(leftovers(work), Vec::<String>::new());
}

/// The daemon binary started on existing dirs; killed when dropped.
struct Restarted(std::process::Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the daemon on `work` and `data` and waits until it has answered a request (its
/// areas are built after it announces the address).
async fn start_on(work: &Path, data: &Path) -> Restarted {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_toolboxd"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--log-level", "error", "--work-dir"])
        .arg(work)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TOOLBOXD_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let restarted = Restarted(child);
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut lines, &mut line).unwrap() > 0 && !line.starts_with("listening on")
    {
        line.clear();
    }
    let addr = line.trim().strip_prefix("listening on ").expect("the daemon started").to_owned();
    let r = reqwest::get(format!("http://{addr}/version")).await.unwrap();
    assert_eq!(r.status(), 200);
    restarted
}

#[tokio::test]
async fn a_daemon_killed_mid_upload_leaves_no_temp_file_after_the_next_start() {
    let mut daemon = Daemon::spawn();
    let work = daemon.work().to_owned();
    fs::create_dir(work.join("dir")).unwrap();
    let head = "POST /files/upload-v2?path=dir/big.bin HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 200000000\r\n\r\n";
    let mut stream = std::net::TcpStream::connect(&daemon.addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&noise(3 * 1024 * 1024, 9)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while leftovers(&work.join("dir")).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(leftovers(&work.join("dir")).len(), 1, "the upload is under way");
    daemon.child.kill().unwrap(); // SIGKILL: no destructor runs
    daemon.child.wait().unwrap();
    drop(stream);
    assert_eq!(leftovers(&work.join("dir")).len(), 1, "SIGKILL left the temp file");
    assert_eq!(fs::read_dir(daemon.data_dir.path().join("uploads")).unwrap().count(), 1, "journaled");

    let restarted = start_on(&work, daemon.data_dir.path()).await;
    assert_eq!(leftovers(&work.join("dir")), Vec::<String>::new(), "the start removed it");
    assert_eq!(fs::read_dir(daemon.data_dir.path().join("uploads")).unwrap().count(), 0);
    assert!(!work.join("dir/big.bin").exists());
    drop(restarted);
}

#[tokio::test]
async fn a_file_holding_the_old_fixed_boundary_downloads_intact() {
    let daemon = Daemon::spawn();
    let mut tricky =
        b"before\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
            .to_vec();
    tricky.extend_from_slice(b"after\r\n--DAYTONA-FILE-BOUNDARY--\r\n");
    fs::write(daemon.work().join("tricky.bin"), &tricky).unwrap();
    let paths = ["tricky.bin", "tricky.bin"];
    let r1 = daemon.post("/files/bulk-download").json(&json!({"paths": paths})).send().await.unwrap();
    let r2 = daemon.post("/files/bulk-download").json(&json!({"paths": paths})).send().await.unwrap();
    let (b1, b2) = (boundary_of(&r1), boundary_of(&r2));
    assert_ne!(b1, b2, "a fresh boundary per response");
    let parts = parse_parts(&r1.bytes().await.unwrap(), &b1);
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.body == tricky));
}
