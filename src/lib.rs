//! toolboxd: the daemon inside every sandbox.
//!
//! # Layout
//! - `config`, `state`, `error`, `environment`, `http`: shared pieces every area uses.
//! - `routes`: the one route table and the OpenAPI document.
//! - One module per API area, each domain logic plus a thin `routes.rs`: `system`, `fs`, `git`,
//!   `process::{exec, session, pty, interpreter}`, `lsp`, `port`, `proxy`,
//!   `computer_use`.
//! - `mcp`: the same areas as Model Context Protocol tools (`/mcp` and `toolboxd mcp`).
//! - Side servers on ports of their own: `ssh` (SSH and SFTP), `web_terminal`, `recordings_page`.
//! - `sys`: signals and other platform code.
//!
//! `main.rs` only parses the configuration, binds and calls [`run`].

pub mod computer_use;
pub mod config;
pub mod environment;
pub mod error;
pub mod fs;
pub mod git;
pub mod http;
pub mod lsp;
pub mod mcp;
pub mod port;
pub mod process;
pub mod proxy;
pub mod recordings_page;
pub mod routes;
pub mod ssh;
pub mod state;
pub mod sys;
pub mod system;
pub mod web_terminal;

use std::future::Future;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Dirs};
use crate::state::{AppState, Context};

/// Serves the API on `listener` until `shutdown` completes, then drains in-flight requests for
/// at most the configured deadline and stops every area (sessions, terminals, servers).
pub async fn run(
    listener: TcpListener,
    config: Config,
    dirs: Dirs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let deadline = config.shutdown_timeout();
    let timeouts = http::server::Timeouts::from_config(&config);
    // With `--port 0` the configuration learns the port actually bound: the preview proxy
    // refuses to forward to it.
    let mut config = config;
    config.port = listener.local_addr()?.port();
    let state = AppState::new(Context::for_process(config, dirs));
    let app = routes::app(state.clone());

    let stop = CancellationToken::new();
    let local = listener.local_addr()?;
    let server = tokio::spawn(http::server::serve(listener, app, timeouts, stop.clone()));
    // Said only now, with the state and routes built and the accept loop running, so whoever
    // waits for this line can send a request at once.
    tracing::info!(work_dir = %state.dirs.work.display(), "toolboxd {} listening on {local}", system::VERSION);
    announce_listening(local)?;
    // Side servers (SSH, web terminal, recordings page) stop when `state.shutdown` is cancelled.
    let side_servers =
        [ssh::start(&state).await, web_terminal::start(&state).await, recordings_page::start(&state).await];

    shutdown.await;
    tracing::info!("shutting down: draining requests for at most {}s", deadline.as_secs());
    stop.cancel();
    state.shutdown.cancel();
    let drained = tokio::time::timeout(deadline, server).await;
    if drained.is_err() {
        tracing::warn!("requests still in flight after {}s; stopping anyway", deadline.as_secs());
    }
    state.shutdown().await;
    for server in side_servers.into_iter().flatten() {
        let _ = tokio::time::timeout(deadline, server).await;
    }
    match drained {
        Ok(Ok(())) => Ok(()),
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => Ok(()),
    }
}

/// The one line on stdout: supervisors and tests wait for it to learn the bound address.
fn announce_listening(local: std::net::SocketAddr) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()
}
