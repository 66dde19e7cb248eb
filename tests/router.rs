//! Fast tier: the whole router driven in-process (`routes::app(state).oneshot`), no socket and
//! no child process. Checks what every area shares: the error envelope, the fallbacks, bearer
//! auth and body decoding.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use clap::Parser;
use serde_json::Value;
use tower::ServiceExt;

use toolboxd::config::{Config, Dirs};
use toolboxd::environment::Environment;
use toolboxd::state::{AppState, Context};

fn state(work: &Path, token: Option<&str>) -> AppState {
    let mut config = Config::parse_from(["toolboxd"]);
    config.token = token.map(str::to_owned);
    let dirs = Dirs { work: work.to_owned(), home: None, data: work.join(".toolboxd") };
    AppState::new(Context {
        config: Arc::new(config),
        dirs: Arc::new(dirs),
        env: Environment::default(),
        shutdown: tokio_util::sync::CancellationToken::new(),
    })
}

/// Sends one request through the full middleware stack; returns the status and the JSON body
/// (`Value::Null` when the body is not JSON).
async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = toolboxd::routes::app(state.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from(body)).unwrap()
}

/// The contract's envelope: every field present, `statusCode` equal to the status.
fn assert_envelope(
    status: StatusCode,
    content_type: Option<&str>,
    body: &Value,
    code: &str,
    path: &str,
    method: &str,
) {
    assert!(content_type.is_some_and(|t| t.starts_with("application/json")), "{content_type:?}");
    assert_eq!(body["statusCode"], status.as_u16(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["source"], "DAYTONA_DAEMON", "{body}");
    assert_eq!(body["path"], path, "{body}");
    assert_eq!(body["method"], method, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "RFC 3339 timestamp: {body}");
}

#[tokio::test]
async fn an_unknown_path_is_a_404_envelope() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), None);
    let (status, content_type, body) = send(&state, get("/no/such/route")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_envelope(status, content_type.as_deref(), &body, "NOT_FOUND", "/no/such/route", "GET");
    assert_eq!(body["message"], "not found: no route for GET /no/such/route");
}

#[tokio::test]
async fn a_known_path_with_another_method_is_a_405_envelope() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), None);
    let request = Request::builder().method(Method::PUT).uri("/version").body(Body::empty()).unwrap();
    let (status, content_type, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_envelope(status, content_type.as_deref(), &body, "METHOD_NOT_ALLOWED", "/version", "PUT");
}

#[tokio::test]
async fn with_a_token_only_the_right_bearer_gets_through() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), Some("s3cret"));

    let (status, content_type, body) = send(&state, get("/version")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_envelope(status, content_type.as_deref(), &body, "UNAUTHORIZED", "/version", "GET");

    let wrong =
        Request::get("/version").header(header::AUTHORIZATION, "Bearer s3cre").body(Body::empty()).unwrap();
    assert_eq!(send(&state, wrong).await.0, StatusCode::UNAUTHORIZED);

    let right =
        Request::get("/version").header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap();
    let (status, _, body) = send(&state, right).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()), "{body}");

    // Unknown routes are behind the same check: nothing about the route table leaks.
    assert_eq!(send(&state, get("/no/such/route")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_invalid_request_body() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), None);

    let (status, content_type, body) = send(&state, post_json("/process/execute", "{\"command\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_envelope(
        status,
        content_type.as_deref(),
        &body,
        "INVALID_REQUEST_BODY",
        "/process/execute",
        "POST",
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("invalid body request: invalid request body: "), "{message}");

    let (status, _, body) = send(&state, post_json("/process/execute", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "invalid body request: invalid request body: EOF", "{body}");

    // A well-formed body that breaks a rule is the generic class, not a decode failure.
    let (status, _, body) = send(&state, post_json("/process/execute", "{\"command\":\"   \"}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "BAD_REQUEST", "{body}");
    assert_eq!(body["message"], "bad request: command cannot be empty or whitespace-only", "{body}");
}

#[tokio::test]
async fn domain_errors_carry_their_own_code_and_no_class_prefix() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), None);

    let (status, content_type, body) = send(&state, get("/process/session/no-such-session")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_envelope(
        status,
        content_type.as_deref(),
        &body,
        "PROCESS_NOT_FOUND",
        "/process/session/no-such-session",
        "GET",
    );
    assert_eq!(body["message"], "session not found");

    let missing = work.path().join("missing.txt");
    let uri = format!("/files/info?path={}", missing.display());
    let (status, _, body) = send(&state, get(&uri)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "FILE_NOT_FOUND", "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("file not found: "), "{body}");
    assert!(!missing.exists(), "a failed lookup creates nothing");
}

#[tokio::test]
async fn a_successful_request_carries_no_envelope() {
    let work = tempfile::tempdir().unwrap();
    let state = state(work.path(), None);
    let (status, content_type, body) = send(&state, get("/work-dir")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(body["dir"], work.path().display().to_string(), "{body}");
    assert!(body.get("statusCode").is_none(), "{body}");
}
