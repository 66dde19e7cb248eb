//! One SSH connection: authentication, then channel and forwarding requests.
//!
//! russh calls these methods one at a time from the connection's loop, so none of them waits
//! on anything slow: channels and forwards run as tasks of their own, all under the
//! connection's token, which is cancelled when the connection ends (this handler is dropped)
//! or the daemon stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use russh::keys::{Certificate, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::ssh::auth::fingerprint;
use crate::ssh::session::ChannelContext;
use crate::ssh::{Shared, forward, session};

/// Channels and forwarded streams one connection may have open at once.
const MAX_CHANNELS: usize = 256;

pub struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    cancel: CancellationToken,
    channels: Arc<Semaphore>,
    /// Remote forwards by what the client asked for, so it can cancel them.
    tcp_forwards: HashMap<(String, u32), CancellationToken>,
    unix_forwards: HashMap<String, CancellationToken>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl Connection {
    pub fn new(shared: Arc<Shared>, peer: SocketAddr, local: SocketAddr, cancel: CancellationToken) -> Self {
        Connection {
            shared,
            peer,
            local,
            cancel,
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            tcp_forwards: HashMap::new(),
            unix_forwards: HashMap::new(),
        }
    }

    fn channel_context(&self, session: &Session) -> ChannelContext {
        ChannelContext {
            env: self.shared.env.clone(),
            work: self.shared.work.clone(),
            peer: self.peer,
            local: self.local,
            handle: session.handle(),
            cancel: self.cancel.clone(),
        }
    }

    fn permit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = Arc::clone(&self.channels).try_acquire_owned().ok();
        if permit.is_none() {
            tracing::warn!("ssh: {} has {MAX_CHANNELS} channels open; refusing another", self.peer);
        }
        permit
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.shared.policy.password_ok(password) {
            tracing::info!("ssh: {user} logged in from {} with a password", self.peer);
            return Ok(Auth::Accept);
        }
        tracing::warn!("ssh: refused the password of {user} from {}", self.peer);
        Ok(Auth::reject())
    }

    async fn auth_publickey_offered(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        // Unknown keys are turned away before the client signs anything, so it can try its next.
        if self.shared.policy.key_ok(key) {
            return Ok(Auth::Accept);
        }
        tracing::debug!("ssh: {user} from {} offered unknown key {}", self.peer, fingerprint(key));
        Ok(Auth::reject())
    }

    async fn auth_publickey(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        if self.shared.policy.key_ok(key) {
            tracing::info!("ssh: {user} logged in from {} with key {}", self.peer, fingerprint(key));
            return Ok(Auth::Accept);
        }
        tracing::warn!("ssh: refused key {} of {user} from {}", fingerprint(key), self.peer);
        Ok(Auth::reject())
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        _certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        tracing::warn!(
            "ssh: refused a certificate of {user} from {} (certificates are not accepted)",
            self.peer
        );
        Ok(Auth::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(permit) = self.permit() else { return Ok(()) };
        let ctx = self.channel_context(session);
        reply.accept().await;
        tokio::spawn(async move {
            session::run(channel, ctx).await;
            drop(permit);
        });
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(permit) = self.permit() else { return Ok(()) };
        let (host, cancel) = (host_to_connect.to_owned(), self.cancel.clone());
        tokio::spawn(async move {
            forward::direct_tcp(channel, host, port_to_connect, reply, cancel).await;
            drop(permit);
        });
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        channel: Channel<Msg>,
        socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(permit) = self.permit() else { return Ok(()) };
        let (path, cancel) = (socket_path.to_owned(), self.cancel.clone());
        tokio::spawn(async move {
            forward::direct_unix(channel, path, reply, cancel).await;
            drop(permit);
        });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" { session.channel_success(channel) } else { session.channel_failure(channel) }
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Ok(wanted) = u16::try_from(*port) else { return Ok(false) };
        let listener = match tokio::net::TcpListener::bind(forward::listen_address(address, wanted)).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::info!("ssh: remote forward on {address}:{wanted} for {} refused: {err}", self.peer);
                return Ok(false);
            }
        };
        let bound = listener.local_addr().map(|addr| u32::from(addr.port())).unwrap_or(*port);
        let cancel = self.cancel.child_token();
        self.tcp_forwards.insert((address.to_owned(), bound), cancel.clone());
        if *port == 0 {
            self.tcp_forwards.insert((address.to_owned(), 0), cancel.clone());
        }
        *port = bound;
        forward::serve_remote_tcp(
            listener,
            address.to_owned(),
            bound,
            session.handle(),
            Arc::clone(&self.channels),
            cancel,
        );
        Ok(true)
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        match self.tcp_forwards.remove(&(address.to_owned(), port)) {
            Some(cancel) => {
                cancel.cancel();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn streamlocal_forward(
        &mut self,
        socket_path: &str,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let listener = match tokio::net::UnixListener::bind(socket_path) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::info!("ssh: remote forward on {socket_path} for {} refused: {err}", self.peer);
                return Ok(false);
            }
        };
        let cancel = self.cancel.child_token();
        self.unix_forwards.insert(socket_path.to_owned(), cancel.clone());
        forward::serve_remote_unix(
            listener,
            socket_path.to_owned(),
            session.handle(),
            Arc::clone(&self.channels),
            cancel,
        );
        Ok(true)
    }

    async fn cancel_streamlocal_forward(
        &mut self,
        socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        match self.unix_forwards.remove(socket_path) {
            Some(cancel) => {
                cancel.cancel();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
