//! The SSH server (port 22220, `--ssh-port`; 0 turns it off): shells with or without a
//! terminal, commands, the `sftp` subsystem, and TCP and Unix-socket forwarding both ways.
//!
//! Owns the listener, the host key (kept in the data dir) and every connection. Invariants:
//! - nothing is accepted without a credential the policy in `auth` allows;
//! - every child runs in the work dir with the daemon's environment (`POST /env`) and dies with
//!   its channel, its connection or the daemon (`child`);
//! - connections are capped (`MAX_CONNECTIONS`), and so are channels per connection.
//!
//! Knows nothing about HTTP. `connection` is russh's handler, `session` one session channel,
//! `forward` the forwards, `sftp` the file-transfer subsystem, `child` the processes.

pub mod auth;
pub mod child;
pub mod connection;
pub mod forward;
pub mod host_key;
pub mod session;
pub mod sftp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::environment::Environment;
use crate::ssh::auth::AuthPolicy;
use crate::ssh::connection::Connection;
use crate::state::AppState;

/// Concurrent SSH connections; more are closed at once, with a log line.
pub const MAX_CONNECTIONS: usize = 128;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub env: Environment,
    pub work: PathBuf,
    pub policy: AuthPolicy,
}

/// Starts the SSH server unless it is turned off; a port that cannot be bound is logged and the
/// daemon carries on without SSH (the toolbox API matters more).
pub async fn start(state: &AppState) -> Option<JoinHandle<()>> {
    let config = &state.config;
    if config.ssh_port == 0 {
        return None;
    }
    let key = match host_key::load_or_create(&state.dirs.data) {
        Ok(key) => key,
        Err(err) => {
            tracing::error!("SSH server not started: {err}");
            return None;
        }
    };
    let addr = SocketAddr::new(config.bind, config.ssh_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("SSH server not started: cannot listen on {addr}: {err}");
            return None;
        }
    };
    let keys_file = config
        .ssh_authorized_keys
        .clone()
        .or_else(|| state.dirs.home.as_ref().map(|home| home.join(".ssh/authorized_keys")));
    let policy = AuthPolicy::new(config.token.clone(), keys_file, config.ssh_accept_any);
    tracing::info!("SSH server listening on {addr}; who may log in: {}", policy.describe());
    let russh_config = russh::server::Config {
        server_id: russh::SshId::Standard(format!("SSH-2.0-toolboxd_{}", crate::system::VERSION).into()),
        methods: russh::MethodSet::from(policy.methods().as_slice()),
        auth_rejection_time: Duration::from_secs(1),
        // OpenSSH probes with "none" first; answering that at once is no information leak.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        nodelay: true,
        max_auth_attempts: 6,
        ..Default::default()
    };
    let shared = Arc::new(Shared { env: state.env.clone(), work: state.dirs.work.clone(), policy });
    Some(tokio::spawn(serve(listener, Arc::new(russh_config), shared, state.shutdown.clone())))
}

/// Accepts connections until `shutdown`; each connection ends with it too.
pub async fn serve(
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors, usually: wait a moment instead of spinning.
                tracing::warn!("SSH server cannot accept: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            tracing::warn!("SSH server has {MAX_CONNECTIONS} connections; closing the one from {peer}");
            continue;
        };
        let local = socket.local_addr().ok().or(local).unwrap_or(peer);
        let cancel = shutdown.child_token();
        let handler = Connection::new(Arc::clone(&shared), peer, local, cancel.clone());
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let _permit = permit;
            let session = match russh::server::run_stream(config, socket, handler).await {
                Ok(session) => session,
                Err(err) => {
                    tracing::debug!("ssh: handshake with {peer} failed: {err}");
                    return;
                }
            };
            let handle = session.handle();
            tokio::select! {
                result = session => {
                    if let Err(err) = result {
                        tracing::debug!("ssh: connection from {peer} ended: {err}");
                    }
                }
                _ = cancel.cancelled() => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "server shutting down".into(), String::new())
                        .await;
                }
            }
        });
    }
}
