//! `/lsp` against real language servers (pylsp, typescript-language-server) through the real
//! binary: completions, symbols, did-open content, errors, crashes, and that stop and daemon
//! shutdown leave no language-server process behind (checked in `/proc`).

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Daemon, Options, assert_envelope, have};
use serde_json::{Value, json};

const SHAPES_PY: &str = "\
class Circle:
    \"\"\"A round shape.\"\"\"

    def __init__(self, radius):
        self.radius = radius

    def area(self):
        \"\"\"Area of the circle.\"\"\"
        return 3.14159 * self.radius ** 2

    def perimeter(self):
        return 2 * 3.14159 * self.radius


def make_circle():
    return Circle(1)


c = Circle(2)
c.
";

const GREETER_TS: &str = "\
export class Greeter {
  greeting: string;
  constructor(message: string) { this.greeting = message; }
  greet(): string { return 'Hello, ' + this.greeting; }
  farewell(): string { return 'Bye'; }
}
const g = new Greeter('x');
g.
";

fn project(daemon: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = daemon.work().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn server(language: &str, project: &Path) -> Value {
    json!({ "languageId": language, "pathToProject": project })
}

fn document(language: &str, project: &Path, file: &str) -> Value {
    json!({ "languageId": language, "pathToProject": project, "uri": format!("file://{}", project.join(file).display()) })
}

async fn post(daemon: &Daemon, path: &str, body: &Value) -> reqwest::Response {
    daemon.post(path).json(body).send().await.unwrap()
}

async fn post_ok(daemon: &Daemon, path: &str, body: &Value) {
    let response = post(daemon, path, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    assert!(text.is_empty(), "{path} answers an empty body, got {text}");
}

async fn completions(
    daemon: &Daemon,
    language: &str,
    project: &Path,
    file: &str,
    line: u32,
    character: u32,
) -> Value {
    let mut body = document(language, project, file);
    body["position"] = json!({ "line": line, "character": character });
    let response = post(daemon, "/lsp/completions", &body).await;
    let status = response.status();
    let list: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}: {list}");
    assert!(list["isIncomplete"].is_boolean(), "{list}");
    assert!(list["items"].is_array(), "items is always an array: {list}");
    for item in list["items"].as_array().unwrap() {
        assert!(item["label"].is_string(), "{item}");
        if let Some(doc) = item.get("documentation") {
            assert!(doc.is_object() && doc["value"].is_string(), "documentation is an object: {item}");
        }
    }
    list
}

fn labels(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap().to_owned()).collect()
}

fn has_label(list: &Value, prefix: &str) -> bool {
    labels(list).iter().any(|l| l.starts_with(prefix))
}

async fn get_json(daemon: &Daemon, path: &str, query: &[(&str, &str)]) -> Value {
    let response = daemon.get(path).query(query).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn names(symbols: &Value) -> Vec<&str> {
    symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect()
}

fn symbol<'a>(symbols: &'a Value, name: &str) -> &'a Value {
    symbols
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {symbols}"))
}

/// Every process descended from `pid`, as (pid, command line).
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The command name may contain spaces; the fields after its closing parenthesis do not.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if let Some(ppid) = fields.get(1).and_then(|p| p.parse().ok()) {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for &child in parents.get(&parent).into_iter().flatten() {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((child, cmdline));
            queue.push(child);
        }
    }
    found
}

fn servers_of(daemon: &Daemon, needle: &str) -> Vec<u32> {
    descendants(daemon.pid())
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(needle))
        .map(|(pid, _)| pid)
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn python_completions_symbols_and_stop() {
    skip_unless!(have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let daemon = Daemon::spawn();
    let dir = project(
        &daemon,
        "shapes",
        &[("shapes.py", SHAPES_PY), ("util.py", "def helper_area():\n    pass\n")],
    );

    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    post_ok(&daemon, "/lsp/did-open", &document("python", &dir, "shapes.py")).await;

    // Members of a class defined in the project, after `c.` on line 19.
    let list = completions(&daemon, "python", &dir, "shapes.py", 19, 2).await;
    for member in ["area", "perimeter", "radius"] {
        assert!(has_label(&list, member), "{member} in {:?}", labels(&list));
    }

    // Line 0, character 0: the reference rejected it; here it completes like any position.
    let list = completions(&daemon, "python", &dir, "shapes.py", 0, 0).await;
    assert!(!list["items"].as_array().unwrap().is_empty(), "{list}");

    let symbols = get_json(
        &daemon,
        "/lsp/document-symbols",
        &[
            ("languageId", "python"),
            ("pathToProject", dir.to_str().unwrap()),
            ("uri", &format!("file://{}/shapes.py", dir.display())),
        ],
    )
    .await;
    let circle = symbol(&symbols, "Circle");
    assert_eq!(circle["kind"], 5, "a class");
    assert_eq!(circle["location"]["uri"], format!("file://{}/shapes.py", dir.display()));
    assert_eq!(circle["location"]["range"]["start"], json!({ "line": 0, "character": 0 }));
    assert_eq!(symbol(&symbols, "area")["location"]["range"]["start"]["line"], 6);
    assert!(names(&symbols).contains(&"make_circle"));

    // pylsp has no workspace/symbol: the daemon searches the project's files itself.
    let found = get_json(
        &daemon,
        "/lsp/workspacesymbols",
        &[("query", "area"), ("languageId", "python"), ("pathToProject", dir.to_str().unwrap())],
    )
    .await;
    let mut found_names = names(&found);
    found_names.sort();
    assert_eq!(found_names, ["area", "helper_area"], "{found}");

    post_ok(&daemon, "/lsp/did-close", &document("python", &dir, "shapes.py")).await;
    let pids = servers_of(&daemon, "pylsp");
    assert!(!pids.is_empty(), "pylsp runs as a child of the daemon");
    post_ok(&daemon, "/lsp/stop", &server("python", &dir)).await;
    // Stop returns once the server is reaped: nothing of it is left, not even jedi's helper.
    assert_eq!(descendants(daemon.pid()), vec![], "no language-server process after stop");
    for pid in pids {
        assert!(!alive(pid), "{pid} is gone");
    }
    let response = post(&daemon, "/lsp/completions", &{
        let mut body = document("python", &dir, "shapes.py");
        body["position"] = json!({ "line": 19, "character": 2 });
        body
    })
    .await;
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
}

#[tokio::test]
async fn typescript_and_javascript_completions_and_symbols() {
    skip_unless!(
        have("typescript-language-server"),
        "typescript-language-server is not installed (npm install -g typescript-language-server typescript)"
    );
    let daemon = Daemon::spawn();
    let dir = project(
        &daemon,
        "web",
        &[("greeter.ts", GREETER_TS), ("lib.js", "function addNumbers(a, b) { return a + b; }\nadd\n")],
    );

    post_ok(&daemon, "/lsp/start", &server("typescript", &dir)).await;
    // tsserver has no project before a file is open; the daemon lends it one for the search.
    let found = get_json(
        &daemon,
        "/lsp/workspacesymbols",
        &[("query", "Greeter"), ("languageId", "typescript"), ("pathToProject", dir.to_str().unwrap())],
    )
    .await;
    assert!(names(&found).contains(&"Greeter"), "{found}");
    post_ok(&daemon, "/lsp/did-open", &document("typescript", &dir, "greeter.ts")).await;
    let list = completions(&daemon, "typescript", &dir, "greeter.ts", 7, 2).await;
    for member in ["greet", "greeting", "farewell"] {
        assert!(labels(&list).iter().any(|l| l == member), "{member} in {:?}", labels(&list));
    }
    let list = completions(&daemon, "typescript", &dir, "greeter.ts", 0, 0).await;
    assert!(has_label(&list, "Greeter"), "line 0 / character 0 completes: {:?}", labels(&list));

    let symbols = get_json(
        &daemon,
        "/lsp/document-symbols",
        &[
            ("languageId", "typescript"),
            ("pathToProject", dir.to_str().unwrap()),
            ("uri", &format!("file://{}/greeter.ts", dir.display())),
        ],
    )
    .await;
    // tsserver answers hierarchically; the daemon flattens class members into the list.
    assert_eq!(symbol(&symbols, "Greeter")["kind"], 5);
    assert_eq!(symbol(&symbols, "greet")["kind"], 6, "a method");
    assert_eq!(symbol(&symbols, "greet")["location"]["uri"], format!("file://{}/greeter.ts", dir.display()));

    let found = get_json(
        &daemon,
        "/lsp/workspacesymbols",
        &[("query", "Greet"), ("languageId", "typescript"), ("pathToProject", dir.to_str().unwrap())],
    )
    .await;
    assert!(names(&found).contains(&"Greeter"), "{found}");

    // javascript is a server of its own for the same project, and a document need not be
    // opened first: the daemon opens it for the request.
    post_ok(&daemon, "/lsp/start", &server("javascript", &dir)).await;
    let list = completions(&daemon, "javascript", &dir, "lib.js", 1, 3).await;
    assert!(has_label(&list, "addNumbers"), "{:?}", labels(&list));
    assert_eq!(
        servers_of(&daemon, "typescript-language-server").len(),
        2,
        "one server per (language, project)"
    );

    post_ok(&daemon, "/lsp/stop", &server("typescript", &dir)).await;
    post_ok(&daemon, "/lsp/stop", &server("javascript", &dir)).await;
    assert_eq!(descendants(daemon.pid()), vec![], "tsserver children are gone too");
}

#[tokio::test]
async fn did_open_content_is_what_completion_sees() {
    skip_unless!(have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let daemon = Daemon::spawn();
    let first = "class Box:\n    def first_method(self):\n        pass\n\n\nb = Box()\nb.\n";
    let dir = project(&daemon, "box", &[("box.py", first)]);
    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    post_ok(&daemon, "/lsp/did-open", &document("python", &dir, "box.py")).await;
    // A cold pylsp (fresh venv, empty jedi cache) once answered the first request after start
    // without the class's members; later requests in the same state did not. Ask a few times so
    // that warm-up is not mistaken for the daemon sending the wrong text, and show the answer.
    let mut list = Value::Null;
    for _ in 0..5 {
        list = completions(&daemon, "python", &dir, "box.py", 6, 2).await;
        if has_label(&list, "first_method") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(has_label(&list, "first_method"), "{list}");

    // Changed on disk but not re-opened: the server keeps working on the opened text.
    let second = first.replace("class Box:\n", "class Box:\n    def second_method(self):\n        pass\n\n");
    std::fs::write(dir.join("box.py"), &second).unwrap();
    let list = completions(&daemon, "python", &dir, "box.py", 6, 2).await;
    assert!(has_label(&list, "first_method") && !has_label(&list, "second_method"), "{:?}", labels(&list));

    // Opening again sends the new text; completion sees it at its new position.
    post_ok(&daemon, "/lsp/did-open", &document("python", &dir, "box.py")).await;
    let list = completions(&daemon, "python", &dir, "box.py", 9, 2).await;
    assert!(has_label(&list, "second_method"), "{:?}", labels(&list));

    // Once closed, a request reads the file from disk again.
    post_ok(&daemon, "/lsp/did-close", &document("python", &dir, "box.py")).await;
    std::fs::write(dir.join("box.py"), second.replace("second_method", "third_method")).unwrap();
    let list = completions(&daemon, "python", &dir, "box.py", 9, 2).await;
    assert!(has_label(&list, "third_method"), "{:?}", labels(&list));
    post_ok(&daemon, "/lsp/stop", &server("python", &dir)).await;
}

#[tokio::test]
async fn several_projects_get_a_server_each_and_concurrent_starts_make_one() {
    skip_unless!(have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let daemon = Daemon::spawn();
    let one = project(&daemon, "one", &[("alpha.py", "def alpha_function():\n    pass\n")]);
    let two = project(&daemon, "two", &[("beta.py", "def beta_function():\n    pass\n")]);

    let start = server("python", &one);
    let starts = (0..3).map(|_| post(&daemon, "/lsp/start", &start));
    for response in futures_util::future::join_all(starts).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(servers_of(&daemon, "pylsp").len(), 1, "concurrent starts share one server");
    // Relative paths resolve against the work dir and name the same server.
    post_ok(&daemon, "/lsp/start", &json!({ "languageId": "python", "pathToProject": "one/" })).await;
    assert_eq!(servers_of(&daemon, "pylsp").len(), 1);

    post_ok(&daemon, "/lsp/start", &server("python", &two)).await;
    assert_eq!(servers_of(&daemon, "pylsp").len(), 2);
    for (dir, wanted, other) in
        [(&one, "alpha_function", "beta_function"), (&two, "beta_function", "alpha_function")]
    {
        let found = get_json(
            &daemon,
            "/lsp/workspacesymbols",
            &[("query", "function"), ("languageId", "python"), ("pathToProject", dir.to_str().unwrap())],
        )
        .await;
        assert_eq!(names(&found), [wanted], "{other} belongs to the other project");
    }
}

#[tokio::test]
async fn bad_requests_are_contract_errors() {
    let daemon = Daemon::spawn();
    let dir = project(&daemon, "p", &[("a.py", "x = 1\n")]);

    let response = post(&daemon, "/lsp/start", &server("rust", &dir)).await;
    let body = assert_envelope(response, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("unsupported language"), "{body}");

    let response = post(&daemon, "/lsp/start", &server("python", &dir.join("missing"))).await;
    let body = assert_envelope(response, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("does not exist"), "{body}");
    let response = post(&daemon, "/lsp/start", &server("python", &dir.join("a.py"))).await;
    assert_envelope(response, 400, "BAD_REQUEST").await;

    for path in ["/lsp/did-open", "/lsp/did-close"] {
        let response = post(&daemon, path, &document("python", &dir, "a.py")).await;
        assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
    }
    let response = post(&daemon, "/lsp/stop", &server("python", &dir)).await;
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
    let mut completion = document("python", &dir, "a.py");
    completion["position"] = json!({ "line": 0, "character": 0 });
    let response = post(&daemon, "/lsp/completions", &completion).await;
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
    let project = dir.to_str().unwrap();
    let response = daemon
        .get("/lsp/document-symbols")
        .query(&[("languageId", "python"), ("pathToProject", project), ("uri", "file:///x.py")])
        .send()
        .await
        .unwrap();
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
    let response = daemon
        .get("/lsp/workspacesymbols")
        .query(&[("query", "x"), ("languageId", "python"), ("pathToProject", project)])
        .send()
        .await
        .unwrap();
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;

    // Missing and empty fields, in bodies and in queries.
    for (path, body) in [
        ("/lsp/start", json!({ "languageId": "python" })),
        ("/lsp/start", json!({ "languageId": "", "pathToProject": project })),
        ("/lsp/did-open", json!({ "languageId": "python", "pathToProject": project, "uri": "" })),
        (
            "/lsp/completions",
            json!({ "languageId": "python", "pathToProject": project, "uri": "file:///a.py" }),
        ),
        (
            "/lsp/completions",
            json!({ "languageId": "python", "pathToProject": project, "uri": "file:///a.py",
                    "position": { "line": -1, "character": 0 } }),
        ),
        (
            "/lsp/completions",
            json!({ "languageId": "python", "pathToProject": project, "uri": "file:///a.py",
                    "position": { "line": 0, "character": 0 }, "context": { "triggerKind": 9 } }),
        ),
    ] {
        let response = post(&daemon, path, &body).await;
        assert_envelope(response, 400, "INVALID_REQUEST_BODY").await;
    }
    let response = daemon.post("/lsp/start").body("").send().await.unwrap();
    assert_envelope(response, 400, "INVALID_REQUEST_BODY").await;
    let response = daemon
        .get("/lsp/workspacesymbols")
        .query(&[("languageId", "python"), ("pathToProject", project)])
        .send()
        .await
        .unwrap();
    let body = assert_envelope(response, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("query is required"), "{body}");
    let response = daemon
        .get("/lsp/document-symbols")
        .query(&[("languageId", "python"), ("uri", "file:///a.py")])
        .send()
        .await
        .unwrap();
    let body = assert_envelope(response, 400, "BAD_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("pathToProject is required"), "{body}");
}

#[tokio::test]
async fn documents_that_cannot_be_read_are_bad_requests() {
    skip_unless!(have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let daemon = Daemon::spawn();
    let dir = project(&daemon, "p", &[("a.py", "x = 1\n")]);
    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    for uri in [
        format!("file://{}/missing.py", dir.display()),
        format!("file://{}", dir.display()),
        "https://x/a.py".into(),
    ] {
        let body = json!({ "languageId": "python", "pathToProject": dir, "uri": uri });
        let response = post(&daemon, "/lsp/did-open", &body).await;
        assert_envelope(response, 400, "BAD_REQUEST").await;
    }
    // A relative path (the SDK sends `file://` + the path as given) resolves in the project.
    post_ok(
        &daemon,
        "/lsp/did-open",
        &json!({ "languageId": "python", "pathToProject": dir, "uri": "file://a.py" }),
    )
    .await;
}

#[tokio::test]
async fn a_missing_server_is_a_clear_error_naming_how_to_install_it() {
    let daemon = Daemon::spawn_with(Options { env: vec![("PATH", "/nonexistent")], ..Default::default() });
    let dir = project(&daemon, "p", &[]);
    for (language, install) in [
        ("python", "pip install python-lsp-server"),
        ("typescript", "npm install -g typescript-language-server typescript"),
    ] {
        let started = Instant::now();
        let response = post(&daemon, "/lsp/start", &server(language, &dir)).await;
        let body = assert_envelope(response, 500, "INTERNAL_SERVER_ERROR").await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(install) && message.contains("not installed"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(10), "no hang");
        let response = post(&daemon, "/lsp/did-open", &document(language, &dir, "a.py")).await;
        assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
    }
}

#[tokio::test]
async fn a_server_that_dies_while_starting_is_reported_with_its_output() {
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("pylsp");
    std::fs::write(&fake, "#!/bin/sh\necho 'ModuleNotFoundError: No module named pylsp' >&2\nexit 3\n")
        .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let daemon = Daemon::spawn_with(Options { env: vec![("PATH", &path)], ..Default::default() });
    let dir = project(&daemon, "p", &[]);

    let started = Instant::now();
    let response = post(&daemon, "/lsp/start", &server("python", &dir)).await;
    let body = assert_envelope(response, 500, "INTERNAL_SERVER_ERROR").await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("error starting LSP server"), "{message}");
    assert!(message.contains("exit status: 3") && message.contains("No module named pylsp"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    assert_eq!(descendants(daemon.pid()), vec![]);
    let response = post(&daemon, "/lsp/did-open", &document("python", &dir, "a.py")).await;
    assert_envelope(response, 400, "LSP_SERVER_NOT_INITIALIZED").await;
}

#[tokio::test]
async fn a_crashed_server_fails_fast_and_can_be_started_again() {
    skip_unless!(have("pylsp"), "pylsp is not installed (pip install python-lsp-server)");
    let daemon = Daemon::spawn();
    let dir = project(&daemon, "p", &[("shapes.py", SHAPES_PY)]);
    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    let pids = servers_of(&daemon, "pylsp");
    assert_eq!(pids.len(), 1);
    std::process::Command::new("kill").args(["-KILL", &pids[0].to_string()]).status().unwrap();
    // Reaped, not merely a zombie: a zombie leader's other threads may still hold its stdin
    // open for a moment, so a write could still land. The daemon reaps only once it noticed.
    eventually("the daemon reaps the crashed server", || !Path::new(&format!("/proc/{}", pids[0])).exists())
        .await;

    let started = Instant::now();
    let response = post(&daemon, "/lsp/did-open", &document("python", &dir, "shapes.py")).await;
    let body = assert_envelope(response, 503, "SERVICE_UNAVAILABLE").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("pylsp") && message.contains("exited") && message.contains("start it again"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");

    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    let restarted = servers_of(&daemon, "pylsp");
    assert_eq!(restarted.len(), 1);
    assert_ne!(restarted, pids);
    post_ok(&daemon, "/lsp/did-open", &document("python", &dir, "shapes.py")).await;
    assert!(has_label(&completions(&daemon, "python", &dir, "shapes.py", 19, 2).await, "area"));
}

#[tokio::test]
async fn daemon_shutdown_stops_every_language_server() {
    skip_unless!(
        have("pylsp") && have("typescript-language-server"),
        "pylsp and typescript-language-server are needed"
    );
    let mut daemon = Daemon::spawn();
    let dir = project(&daemon, "p", &[("a.py", "x = 1\n"), ("a.ts", "let x = 1;\n")]);
    post_ok(&daemon, "/lsp/start", &server("python", &dir)).await;
    post_ok(&daemon, "/lsp/start", &server("typescript", &dir)).await;
    post_ok(&daemon, "/lsp/did-open", &document("typescript", &dir, "a.ts")).await;
    let children: Vec<u32> = descendants(daemon.pid()).into_iter().map(|(pid, _)| pid).collect();
    assert!(children.len() >= 2, "pylsp, typescript-language-server and tsserver run");

    let status = daemon.terminate(Duration::from_secs(20)).expect("the daemon exits");
    assert!(status.success(), "{status:?}");
    for pid in children {
        assert!(!alive(pid), "language-server process {pid} outlived the daemon");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_lsp() {
    let daemon = Daemon::spawn();
    let document: Value = daemon.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    for (path, method, operation) in [
        ("/lsp/start", "post", "Start"),
        ("/lsp/stop", "post", "Stop"),
        ("/lsp/did-open", "post", "DidOpen"),
        ("/lsp/did-close", "post", "DidClose"),
        ("/lsp/completions", "post", "Completions"),
        ("/lsp/document-symbols", "get", "DocumentSymbols"),
        ("/lsp/workspacesymbols", "get", "WorkspaceSymbols"),
    ] {
        let op = &document["paths"][path][method];
        assert_eq!(op["operationId"], operation, "{path}");
        assert_eq!(op["tags"], json!(["lsp"]), "{path}");
    }
}
