//! The recordings page (port 33333, `--recordings-port`; 0 turns it off): a page listing the
//! screen recordings with playback, download and delete, and the JSON it runs on.
//!
//! - `GET /`: the page (or, with `--token`, the login form of `http::login`);
//! - `GET /api/recordings`: `{"recordings": [Recording]}`, as the API's list;
//! - `DELETE /api/recordings {"ids": [..]}`: `{"deleted": [..], "failed": [..]}`;
//! - `GET /videos/{file}`: a recording's MP4 (`Range` honoured, so `<video>` can seek).
//!
//! The same token rule as the API: open without `--token`; with it, every route but the login
//! needs the login cookie or the bearer token. `/videos/` serves only the files of known
//! recordings, found by name, so no name reaches anything else. Everything else is the
//! recordings service's (`computer_use::recording`); this module only translates.

pub mod page;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::computer_use::recording::types::ListRecordingsResponse;
use crate::computer_use::recording::{RecordingError, RecordingService};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::http::extract::{Json, Path};
use crate::http::login::{BrowserLogin, LoginForm, same_origin};
use crate::state::AppState;

/// The cookie a successful login sets.
pub const COOKIE: &str = "toolboxd_recordings";

#[derive(Debug, Clone)]
pub struct RecordingsPage {
    recordings: RecordingService,
    login: BrowserLogin,
}

/// Starts the page unless it is turned off; a port that cannot be bound is logged and the
/// daemon carries on without it.
pub async fn start(state: &AppState) -> Option<JoinHandle<()>> {
    http::side::start("recordings page", state.config.recordings_port, state, || {
        let page = RecordingsPage {
            recordings: state.recordings.clone(),
            login: BrowserLogin::new(state.config.token.as_deref(), COOKIE, "Recordings"),
        };
        let access = if page.login.token_required() { "the token is required" } else { "open (no --token)" };
        (app(page), access)
    })
    .await
}

pub fn app(page: RecordingsPage) -> Router {
    let protected = Router::new()
        .route("/api/recordings", get(list_recordings).delete(delete_recordings))
        .route("/videos/{file}", get(video))
        .layer(axum::middleware::from_fn_with_state(page.clone(), require_login));
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .merge(protected)
        .fallback(crate::http::middleware::route_not_found)
        .layer(axum::middleware::from_fn(crate::http::middleware::render_envelope))
        .with_state(page)
}

/// The bearer token or the login cookie, else a 401; and no cross-site deletes.
async fn require_login(
    State(page): State<RecordingsPage>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !page.login.authorized(request.headers()) {
        return ApiError::unauthorized("log in at / or send Authorization: Bearer <token>").into_response();
    }
    if request.method() == axum::http::Method::DELETE && !same_origin(request.headers()) {
        return ApiError::forbidden("recordings are deleted only from their own page").into_response();
    }
    next.run(request).await
}

async fn index(State(page): State<RecordingsPage>, headers: HeaderMap) -> Html<String> {
    if !page.login.authorized(&headers) {
        return Html(page.login.form(None));
    }
    Html(page::PAGE.to_owned())
}

async fn login(State(page): State<RecordingsPage>, Form(form): Form<LoginForm>) -> Response {
    page.login.login(&form.token)
}

async fn list_recordings(State(page): State<RecordingsPage>) -> axum::Json<ListRecordingsResponse> {
    axum::Json(page.recordings.list().into())
}

#[derive(Debug, Deserialize)]
struct DeleteRequest {
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DeleteResponse {
    deleted: Vec<String>,
    failed: Vec<String>,
}

async fn delete_recordings(
    State(page): State<RecordingsPage>,
    Json(request): Json<DeleteRequest>,
) -> axum::Json<DeleteResponse> {
    let outcome = page.recordings.delete_many(&request.ids);
    for (id, err) in &outcome.failed {
        tracing::info!(recording.id = %id, "recordings page: not deleted: {err}");
    }
    axum::Json(DeleteResponse {
        deleted: outcome.deleted,
        failed: outcome.failed.into_iter().map(|(id, _)| id).collect(),
    })
}

async fn video(
    State(page): State<RecordingsPage>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if file.starts_with('.') || file.contains(['/', '\\', '\0']) {
        return Err(ApiError::bad_request(format!("invalid file name {file:?}")));
    }
    let recording = page.recordings.by_file_name(&file).map_err(|err| match err {
        RecordingError::NotFound => ApiError::not_found(format!("no recording file {file:?}")),
        other => ApiError::from(other),
    })?;
    crate::computer_use::recording::routes::serve_file(&recording.file_path, &recording.file_name, &headers)
        .await
}
