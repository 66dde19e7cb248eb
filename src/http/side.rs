//! Side servers (web terminal, recordings page): bound on their own port beside the API, served
//! by the same accept loop with the same connection timeouts, and stopped by the daemon's
//! shutdown token. A port that cannot be bound is logged and the daemon carries on without it.

use std::net::SocketAddr;

use axum::Router;
use tokio::task::JoinHandle;

use crate::http::server::{self, Timeouts};
use crate::state::AppState;

/// Binds `port` (0 = turned off) and serves the app `build` makes; `name` is what the logs
/// call the server and `access` says who may use it.
pub async fn start(
    name: &str,
    port: u16,
    state: &AppState,
    build: impl FnOnce() -> (Router, &'static str),
) -> Option<JoinHandle<()>> {
    if port == 0 {
        return None;
    }
    let addr = SocketAddr::new(state.config.bind, port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("{name} not started: cannot listen on {addr}: {err}");
            return None;
        }
    };
    let (app, access) = build();
    tracing::info!("{name} listening on {addr}; {access}");
    let timeouts = Timeouts::from_config(&state.config);
    Some(tokio::spawn(server::serve(listener, app, timeouts, state.shutdown.clone())))
}
