//! The two ways in: streamable HTTP at `/mcp` inside the daemon, and stdio for `toolboxd mcp`.

use std::future::Future;
use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::McpServer;
use crate::config::{Config, Dirs};
use crate::state::{AppState, Context};

/// The `/mcp` endpoint. Stateless: every POST carries a whole exchange and nothing is kept
/// between requests, so no per-client state can pile up (background commands live in the
/// session area like any other). Answers are plain JSON rather than event streams.
///
/// The tool table (with every tool's JSON schema) is built on the first MCP request, not at
/// start-up: most daemons never serve one.
pub fn http(state: &AppState) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let server = Arc::new(std::sync::OnceLock::new());
    let state_for_tools = state.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The daemon is reached through preview URLs and proxies under any host name; the
        // bearer token, not the Host header, is what guards it.
        .disable_allowed_hosts()
        .with_cancellation_token(state.shutdown.child_token());
    let make = move || Ok(server.get_or_init(|| McpServer::new(state_for_tools.clone())).clone());
    StreamableHttpService::new(make, Arc::new(LocalSessionManager::default()), config)
}

/// `toolboxd mcp`: serves MCP on stdin/stdout until the client closes stdin or `shutdown`
/// completes, then stops everything the tools started.
///
/// The tools run in this process with the same flags as the daemon (work dir, environment,
/// output limit), but with a data directory of their own (`<data dir>/mcp-<pid>`, removed on
/// exit): a daemon on the same machine clears its session directory at start, and this process
/// must neither do that to the daemon nor share its session logs.
pub async fn stdio(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut dirs = Dirs::resolve(&config)?;
    dirs.data = dirs.data.join(format!("mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dirs.data)?;
    let data = dirs.data.clone();
    let state = AppState::new(Context::for_process(config, dirs));
    let served = McpServer::new(state.clone()).serve(rmcp::transport::stdio()).await;
    match served {
        Ok(running) => {
            let cancel = running.cancellation_token();
            tokio::select! {
                ended = running.waiting() => {
                    if let Err(err) = ended {
                        tracing::warn!("MCP stdio session ended abnormally: {err}");
                    }
                }
                () = shutdown => cancel.cancel(),
            }
        }
        Err(err) => tracing::warn!("MCP stdio handshake failed: {err}"),
    }
    state.shutdown().await;
    if let Err(err) = std::fs::remove_dir_all(&data) {
        tracing::debug!("cannot remove {}: {err}", data.display());
    }
    Ok(())
}
