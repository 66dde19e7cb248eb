//! The web terminal (port 22222, `--web-terminal-port`; 0 turns it off): `GET /` serves an
//! xterm.js page, `GET /ws` a shell in a terminal per socket, so every browser tab has its own.
//!
//! With `--token` the terminal is closed to anyone without it: `GET /` answers the login form of
//! `http::login`, and `/ws` accepts its cookie (from a page of the same origin) or
//! `Authorization: Bearer <token>`.
//!
//! Shells run in the work dir with the daemon's environment and die with their socket
//! (`ssh::child`). `assets` finds xterm.js, `socket` speaks the protocol, `page` holds the HTML.

pub mod assets;
pub mod page;
pub mod socket;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::environment::Environment;
use crate::error::ApiError;
use crate::http;
use crate::http::login::{BrowserLogin, LoginForm, same_origin};
use crate::http::ws::Ws;
use crate::ssh::child::{Child, Spec, Terminal};
use crate::state::AppState;
use crate::web_terminal::socket::Frame;

/// Terminals open at once; more sockets are refused with 503.
pub const MAX_TERMINALS: usize = 64;
/// The cookie a successful login sets.
pub const COOKIE: &str = "toolboxd_terminal";

#[derive(Debug, Clone)]
pub struct WebTerminal {
    env: Environment,
    work: PathBuf,
    login: BrowserLogin,
    terminals: Arc<Semaphore>,
    shutdown: CancellationToken,
}

/// Starts the web terminal unless it is turned off; a port that cannot be bound is logged and
/// the daemon carries on without it.
pub async fn start(state: &AppState) -> Option<JoinHandle<()>> {
    http::side::start("web terminal", state.config.web_terminal_port, state, || {
        let terminal = WebTerminal {
            env: state.env.clone(),
            work: state.dirs.work.clone(),
            login: BrowserLogin::new(state.config.token.as_deref(), COOKIE, "Terminal"),
            terminals: Arc::new(Semaphore::new(MAX_TERMINALS)),
            shutdown: state.shutdown.clone(),
        };
        let access =
            if terminal.login.token_required() { "the token is required" } else { "open (no --token)" };
        (app(terminal), access)
    })
    .await
}

pub fn app(terminal: WebTerminal) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/assets/xterm.js", get(script))
        .route("/assets/xterm.css", get(stylesheet))
        .route("/ws", get(connect))
        .layer(axum::middleware::from_fn(crate::http::middleware::render_envelope))
        .with_state(terminal)
}

async fn index(State(terminal): State<WebTerminal>, headers: HeaderMap) -> Response {
    if !terminal.login.authorized(&headers) {
        return Html(terminal.login.form(None)).into_response();
    }
    match assets::get() {
        Ok(_) => Html(page::TERMINAL).into_response(),
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, Html(page::missing(&missing))).into_response(),
    }
}

async fn login(State(terminal): State<WebTerminal>, Form(form): Form<LoginForm>) -> Response {
    terminal.login.login(&form.token)
}

async fn script() -> Response {
    match assets::get() {
        Ok(assets) => {
            ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], assets.script.clone())
                .into_response()
        }
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, missing).into_response(),
    }
}

async fn stylesheet() -> Response {
    match assets::get() {
        Ok(assets) => {
            ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], assets.css.clone()).into_response()
        }
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, missing).into_response(),
    }
}

async fn connect(
    State(terminal): State<WebTerminal>,
    headers: HeaderMap,
    ws: Ws,
) -> Result<Response, ApiError> {
    if !terminal.login.authorized(&headers) {
        return Err(ApiError::unauthorized("log in at / or send Authorization: Bearer <token>"));
    }
    if !same_origin(&headers) {
        return Err(ApiError::forbidden("the terminal opens only from its own page"));
    }
    let Ok(permit) = Arc::clone(&terminal.terminals).try_acquire_owned() else {
        return Err(ApiError::service_unavailable(format!("{MAX_TERMINALS} terminals are open already")));
    };
    let spec = Spec {
        program: crate::process::exec::shell::current(&terminal.env),
        args: vec![],
        cwd: terminal.work.clone(),
        env: BTreeMap::new(),
        terminal: Some(Terminal { term: "xterm-256color".to_owned(), cols: 80, rows: 24 }),
    };
    let child = Child::spawn(&terminal.env, spec).map_err(|err| ApiError::internal(err.to_string()))?;
    let shutdown = terminal.shutdown.clone();
    Ok(ws.0.on_upgrade(move |socket| async move {
        socket::pump(frames(socket), child, shutdown).await;
        drop(permit);
    }))
}

/// The axum websocket seen as protocol frames.
fn frames(
    socket: WebSocket,
) -> impl futures_util::Stream<Item = Frame> + futures_util::Sink<Frame, Error = axum::Error> + Unpin {
    socket
        .with(|frame: Frame| {
            futures_util::future::ready(Ok::<_, axum::Error>(match frame {
                Frame::Text(text) => Message::Text(text.into()),
                Frame::Binary(data) => Message::Binary(data),
                Frame::Close | Frame::Other => Message::Close(None),
            }))
        })
        .map(|message| match message {
            Ok(Message::Text(text)) => Frame::Text(text.to_string()),
            Ok(Message::Binary(data)) => Frame::Binary(data),
            Ok(Message::Ping(_) | Message::Pong(_)) => Frame::Other,
            Ok(Message::Close(_)) | Err(_) => Frame::Close,
        })
}
