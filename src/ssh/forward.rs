//! Port forwarding: local (`ssh -L`, direct-tcpip), Unix sockets (`ssh -L …:/path`,
//! direct-streamlocal) and remote (`ssh -R`, tcpip-forward and streamlocal-forward).
//!
//! Every forward belongs to its connection: listeners stop when the client cancels them or the
//! connection ends (their token is a child of the connection's), and each forwarded stream is
//! one SSH channel copied both ways until either side closes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use russh::server::{ChannelOpenHandle, Handle, Msg};
use russh::{Channel, ChannelOpenFailure};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long a forward waits for its target to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Copies both ways between a channel and a socket until both directions are done.
async fn splice(
    channel: Channel<Msg>,
    mut socket: impl AsyncRead + AsyncWrite + Unpin,
    cancel: CancellationToken,
) {
    let mut stream = channel.into_stream();
    tokio::select! {
        _ = cancel.cancelled() => {}
        result = tokio::io::copy_bidirectional(&mut stream, &mut socket) => {
            if let Err(err) = result {
                tracing::debug!("forwarded stream ended: {err}");
            }
        }
    }
}

/// `ssh -L port:host:port`: connects to the target first, so a refused connection is a refused
/// channel the client can report.
pub async fn direct_tcp(
    channel: Channel<Msg>,
    host: String,
    port: u32,
    reply: ChannelOpenHandle,
    cancel: CancellationToken,
) {
    let Ok(port) = u16::try_from(port) else {
        reply.reject(ChannelOpenFailure::ConnectFailed).await;
        return;
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await;
    match connected {
        Ok(Ok(socket)) => {
            let _ = socket.set_nodelay(true);
            reply.accept().await;
            splice(channel, socket, cancel).await;
        }
        Ok(Err(err)) => {
            tracing::debug!("ssh: forward to {host}:{port} refused: {err}");
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
        }
        Err(_) => {
            tracing::debug!("ssh: forward to {host}:{port} timed out");
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
        }
    }
}

/// `ssh -L port:/path/to/socket`.
pub async fn direct_unix(
    channel: Channel<Msg>,
    path: String,
    reply: ChannelOpenHandle,
    cancel: CancellationToken,
) {
    match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&path)).await {
        Ok(Ok(socket)) => {
            reply.accept().await;
            splice(channel, socket, cancel).await;
        }
        _ => {
            tracing::debug!("ssh: forward to socket {path} refused");
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
        }
    }
}

/// Where a remote forward listens. As with OpenSSH's default (`GatewayPorts no`), names and the
/// wildcard bind the loopback interface; an explicit address is taken as given.
pub fn listen_address(address: &str, port: u16) -> SocketAddr {
    let ip = address.parse::<IpAddr>().ok().filter(|ip| !ip.is_unspecified());
    SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), port)
}

/// `ssh -R`: accepts on `listener` and opens a forwarded-tcpip channel per connection.
pub fn serve_remote_tcp(
    listener: TcpListener,
    address: String,
    port: u32,
    handle: Handle,
    limit: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!("ssh: remote forward on port {port} cannot accept: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                tracing::warn!("ssh: too many forwarded connections; dropping one on port {port}");
                continue;
            };
            let _ = socket.set_nodelay(true);
            let (handle, address, cancel) = (handle.clone(), address.clone(), cancel.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let opened = handle
                    .channel_open_forwarded_tcpip(
                        address,
                        port,
                        peer.ip().to_string(),
                        u32::from(peer.port()),
                    )
                    .await;
                match opened {
                    Ok(channel) => splice(channel, socket, cancel).await,
                    Err(err) => tracing::debug!("ssh: client refused a forwarded connection: {err}"),
                }
            });
        }
    });
}

/// `ssh -R /path:…`: a Unix socket in the sandbox whose connections go to the client. The socket
/// file is removed when the forward ends.
pub fn serve_remote_unix(
    listener: UnixListener,
    path: String,
    handle: Handle,
    limit: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((socket, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                tracing::warn!("ssh: too many forwarded connections; dropping one on {path}");
                continue;
            };
            let (handle, path, cancel) = (handle.clone(), path.clone(), cancel.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match handle.channel_open_forwarded_streamlocal(path).await {
                    Ok(channel) => splice(channel, socket, cancel).await,
                    Err(err) => tracing::debug!("ssh: client refused a forwarded connection: {err}"),
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    });
}
