//! Conformance with the pinned contract: the daemon's own OpenAPI document against the
//! published Toolbox API operations (103 in the document plus the 4 the 0.226.1 client adds).
//!
//! A route counts as served when a request to it does not fall through to the route table's
//! 404/405 fallback. The test fails when a served contract route is missing from the document,
//! or when the document lists a route the daemon does not serve, and prints `implemented N/107`.

// Tests observe the daemon from outside and start processes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::Daemon;
use serde_json::Value;

const CLIENT_ONLY_OPERATIONS: [(&str, &str); 4] = [
    ("POST", "/computeruse/mouse/down"),
    ("POST", "/computeruse/mouse/up"),
    ("POST", "/computeruse/keyboard/down"),
    ("POST", "/computeruse/keyboard/up"),
];

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// The pinned contract document: `$TOOLBOXD_CONTRACT_DIR/toolbox-openapi.json`, else
/// `shared/contract/toolbox-openapi.json` beside the repository or one of its parents. A
/// missing or unreadable contract fails the test: a comparison that cannot run must not pass.
fn contract_document() -> Value {
    const FILE: &str = "toolbox-openapi.json";
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = match std::env::var_os("TOOLBOXD_CONTRACT_DIR") {
        Some(dir) => PathBuf::from(dir).join(FILE),
        None => manifest
            .ancestors()
            .skip(1)
            .map(|dir| dir.join("shared/contract").join(FILE))
            .find(|path| path.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "the pinned contract is missing: no shared/contract/{FILE} beside {} or a parent; \
                     set TOOLBOXD_CONTRACT_DIR to the directory that holds it",
                    manifest.display()
                )
            }),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("the pinned contract {} cannot be read: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("the pinned contract {} is not JSON: {err}", path.display()))
}

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A concrete URL for a templated path; parameters get values that parse (ports are numbers).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{port}" => "3999",
            s if s.starts_with('{') => "contract-probe",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn served(daemon: &Daemon, method: &str, path: &str) -> bool {
    let response =
        daemon.request(method.parse().unwrap(), &concrete(path)).send().await.expect("daemon answers");
    let status = response.status().as_u16();
    if status != 404 && status != 405 {
        return true;
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or_default();
    // The fallbacks say "no route for" / "is not served on"; a handler's own 404 says otherwise.
    !(message.contains("no route for") || message.contains("is not served on"))
}

#[tokio::test]
async fn openapi_document_matches_the_served_routes_and_the_contract() {
    // Probing `POST /computeruse/start` must not bring a desktop up on this machine's display.
    let daemon = Daemon::spawn_with(common::Options {
        env: vec![("TOOLBOXD_XVFB_COMMAND", "/nonexistent/toolboxd-contract-probe")],
        ..Default::default()
    });
    let ours: Value = daemon.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    assert!(ours["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "OpenAPI 3 document");
    let documented = operations(&ours);

    for (method, path) in &documented {
        assert!(served(&daemon, method, path).await, "documented but not served: {method} {path}");
    }

    let contract = contract_document();
    let mut contract_ops = operations(&contract);
    contract_ops.extend(CLIENT_ONLY_OPERATIONS.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())));
    assert_eq!(contract_ops.len(), 107, "the pinned contract has 107 operations");

    let mut implemented = Vec::new();
    let mut missing = Vec::new();
    for (method, path) in &contract_ops {
        if served(&daemon, method, path).await {
            assert!(
                documented.contains(&(method.clone(), path.clone())),
                "served but not documented: {method} {path}"
            );
            implemented.push(format!("{method} {path}"));
        } else {
            missing.push(format!("{method} {path}"));
        }
    }
    let extensions: Vec<_> = documented.iter().filter(|op| !contract_ops.contains(*op)).collect();
    println!("implemented {}/{}", implemented.len(), contract_ops.len());
    println!("not yet served: {}", missing.join(", "));
    println!("extensions beyond the contract: {extensions:?}");
}

#[tokio::test]
async fn contract_operation_ids_are_kept() {
    let contract = contract_document();
    let daemon = Daemon::spawn();
    let ours: Value = daemon.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    for (path, item) in ours["paths"].as_object().unwrap() {
        for method in METHODS {
            let (Some(op), Some(theirs)) = (item.get(method), contract["paths"][path].get(method)) else {
                continue;
            };
            assert_eq!(op["operationId"], theirs["operationId"], "{method} {path}");
        }
    }
}
