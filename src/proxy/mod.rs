//! The preview reverse proxy: `/proxy/{port}/{path...}` to `http://localhost:{port}{path}`.
//!
//! Owns the upstream HTTP/1.1 client (one connection pool for every port), the header rewriting
//! between hops, and the byte tunnels of upgraded connections (websockets).
//!
//! Invariants:
//! - The path's percent-encoding and the query go upstream exactly as received ([`target`]).
//! - Bodies stream both ways frame by frame with hyper's backpressure: nothing is buffered
//!   beyond a frame, so memory stays flat whatever the size, and server-sent events or chunked
//!   responses reach the client as the app writes them. No response timeout (long polls work).
//! - Upstream addresses are loopback literals, 127.0.0.1 then ::1; no name resolution.
//! - The daemon's own API port is never a target, and a request that already crossed
//!   [`headers::MAX_HOPS`] toolboxd proxies (counted in `Via`) is refused, so a loop through
//!   other local proxies ends after a few hops instead of exhausting file descriptors.
//! - A tunnel lives until either side closes or the daemon shuts down; each copies through two
//!   fixed buffers.
//!
//! Must not know: routing or extractors (`routes.rs` hands in the raw URI and the caller's
//! address) and anything about the apps behind it.

pub mod headers;
pub mod routes;
pub mod target;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{ApiError, ErrorCode};
use crate::state::Context;

/// A connection attempt to loopback only stalls when the app's accept backlog is full.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle upstream connections are closed after this long (apps see few stray keep-alives).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// How long shutdown waits for open tunnels to notice the cancellation.
const TUNNEL_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("failed to parse target URL: {0}")]
    BadTarget(String),
    #[error("port {0} is the daemon's own API port; the preview proxy does not forward to itself")]
    OwnPort(u16),
    #[error("proxy loop: the request already passed through {0} toolboxd preview proxies")]
    Loop(usize),
    #[error("proxy upstream error: {0}")]
    Upstream(String),
}

impl From<ProxyError> for ApiError {
    fn from(err: ProxyError) -> Self {
        match err {
            ProxyError::BadTarget(_) | ProxyError::Loop(_) => ApiError::bad_request(err.to_string()),
            ProxyError::OwnPort(_) => ApiError::forbidden(err.to_string()),
            // The contract's code list has no 502 code; the SDK classifies by status alone.
            ProxyError::Upstream(_) => ApiError::new(ErrorCode::BadGateway, err.to_string()),
        }
    }
}

/// Resolves every name to the two loopback addresses, IPv4 first, without consulting DNS or
/// `/etc/hosts` (the URIs built here always name `localhost`).
#[derive(Debug, Clone, Copy)]
struct Loopback;

impl tower::Service<Name> for Loopback {
    type Response = std::array::IntoIter<SocketAddr, 2>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        // The connector fills in the port; it tries the second family when the first fails.
        let addrs =
            [SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0)];
        ready(Ok(addrs.into_iter()))
    }
}

type UpstreamClient = Client<HttpConnector<Loopback>, Body>;

#[derive(Debug, Clone)]
pub struct ProxyService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: UpstreamClient,
    /// The daemon's bearer token, withheld from apps.
    token: Option<String>,
    /// The port the daemon's API listens on (on every address): never a preview target.
    own_port: u16,
    shutdown: CancellationToken,
    tunnels: TaskTracker,
}

impl ProxyService {
    pub fn new(ctx: &Context) -> Self {
        let mut connector = HttpConnector::new_with_resolver(Loopback);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(connector);
        ProxyService {
            inner: Arc::new(Inner {
                client,
                token: ctx.config.token.clone(),
                own_port: ctx.config.port,
                shutdown: ctx.shutdown.child_token(),
                tunnels: TaskTracker::new(),
            }),
        }
    }

    /// Ends every open tunnel (its token is a child of the daemon's shutdown token) and waits
    /// briefly for them to close their sockets.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tunnels.close();
        let _ = tokio::time::timeout(TUNNEL_DRAIN, self.inner.tunnels.wait()).await;
    }

    /// Sends `request` to the app on `port` at `path_and_query` and returns the app's response
    /// with a streaming body. On `101 Switching Protocols` the two connections are joined by a
    /// tunnel once the client has received the 101.
    pub async fn forward(
        &self,
        port: u16,
        path_and_query: &str,
        client_ip: Option<IpAddr>,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, ProxyError> {
        if port == self.inner.own_port {
            return Err(ProxyError::OwnPort(port));
        }
        let hops = headers::our_hops(request.headers());
        if hops >= headers::MAX_HOPS {
            return Err(ProxyError::Loop(hops));
        }
        let upgrading = headers::is_upgrade(request.headers());
        let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        parts.uri = Uri::builder()
            .scheme("http")
            .authority(format!("localhost:{port}"))
            .path_and_query(path_and_query)
            .build()
            .map_err(|err| ProxyError::BadTarget(err.to_string()))?;
        parts.version = Version::HTTP_11;
        parts.extensions = Default::default();
        headers::rewrite_request(&mut parts.headers, port, client_ip, upgrading, self.inner.token.as_deref());

        let mut response = self
            .inner
            .client
            .request(Request::from_parts(parts, body))
            .await
            .map_err(|err| ProxyError::Upstream(describe(port, &err)))?;

        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ProxyError::Upstream("the app switched protocols unasked".to_owned()));
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let shutdown = self.inner.shutdown.clone();
            self.inner.tunnels.spawn(async move {
                let joined = tokio::try_join!(client_upgrade, upstream_upgrade);
                let (client, upstream) = match joined {
                    Ok(both) => both,
                    Err(err) => {
                        tracing::debug!("proxy tunnel to port {port} not established: {err}");
                        return;
                    }
                };
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                tokio::select! {
                    copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                        if let Err(err) = copied {
                            tracing::debug!("proxy tunnel to port {port} ended: {err}");
                        }
                    }
                    () = shutdown.cancelled() => {}
                }
            });
        }
        headers::strip_hop_by_hop(response.headers_mut(), switching);
        // The app's protocol version describes its hop; ours is HTTP/1.1 (hyper downgrades for
        // 1.0 clients), so an HTTP/1.0 app does not cost the client its keep-alive.
        *response.version_mut() = Version::HTTP_11;
        Ok(response.map(Body::new))
    }
}

/// The upstream error with its causes, e.g. `localhost:3000: client error (Connect): tcp
/// connect error: Connection refused (os error 111)`.
fn describe(port: u16, err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("localhost:{port}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
