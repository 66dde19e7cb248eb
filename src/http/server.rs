//! The accept loop and the per-connection HTTP/1.1 server, with the timeouts `axum::serve`
//! lacks: a connection that stalls while sending a request head, sits idle between requests,
//! or stops sending a request body it started is closed.
//!
//! How the three timeouts are told apart, per connection:
//! - A request is *in flight* from the moment the router is called until its response body is
//!   finished or dropped. Nothing that is in flight is timed here, so long polls, log follows
//!   and the preview proxy's long responses live as long as they need.
//! - Between requests the connection is *idle* until its first new byte arrives; past the idle
//!   timeout it is closed. From that first byte on, the whole head must arrive within the
//!   header-read timeout.
//! - A request body is timed only while the handler waits for it: if no byte arrives for the
//!   body timeout the handler's read fails (its error answer follows) and the connection is not
//!   reused. A body that keeps moving, however slowly, is never cut off.
//! - Once a connection switches protocols (websockets, proxied upgrades) it leaves this server;
//!   its idle life is the websocket's business.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The connection timeouts, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
    pub body: Duration,
}

impl Timeouts {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Timeouts {
            header_read: Duration::from_secs(config.header_read_timeout_secs),
            idle: Duration::from_secs(config.idle_timeout_secs),
            body: Duration::from_secs(config.body_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, then lets every open connection finish
/// its in-flight requests (the caller bounds how long it waits for this future).
pub async fn serve(listener: TcpListener, app: Router, timeouts: Timeouts, stop: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err).await;
                continue;
            }
        };
        // Responses are often written in pieces (headers, then streamed frames); without
        // NODELAY, Nagle holds the second piece until the client's delayed ACK, ~40 ms each.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set on an accepted connection: {err}");
        }
        connections.spawn(serve_connection(tcp, remote, app.clone(), timeouts, stop.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Out of file descriptors (EMFILE) is the usual cause; waiting lets other connections close.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!("accept failed: {err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What the watchdog of one connection observes.
#[derive(Debug, Default)]
struct Activity {
    /// Bytes read from the socket so far.
    read: AtomicU64,
    /// Requests handed to the router so far, and requests whose response has ended.
    started: AtomicU64,
    finished: AtomicU64,
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Counted { inner: tcp, activity: Arc::clone(&activity) });
    let service = {
        let started = Arc::clone(&activity);
        app.map_request(move |request: axum::http::Request<Incoming>| {
            started.started.fetch_add(1, Ordering::Relaxed);
            let mut request = request.map(|body| Body::new(BodyTimeout::new(body, timeouts.body)));
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        })
        .map_response({
            let activity = Arc::clone(&activity);
            move |response: axum::response::Response| {
                let guard = Finished(Arc::clone(&activity));
                response.map(|body| Body::new(Tracked { inner: body, _guard: guard }))
            }
        })
    };
    let builder = hyper::server::conn::http1::Builder::new();
    let connection = builder.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let mut watchdog = std::pin::pin!(watch(&activity, timeouts));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::trace!("connection from {remote} ended: {err}");
                }
                return;
            }
            reason = &mut watchdog => {
                tracing::debug!("closing the connection from {remote}: {reason}");
                return;
            }
            () = stop.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves, with the reason, when the connection has been idle or slow to send a request head
/// for too long. Checks a few times per timeout; a deadline is honoured to within that step.
async fn watch(activity: &Activity, timeouts: Timeouts) -> &'static str {
    let step = (timeouts.header_read.min(timeouts.idle) / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut seen_finished = 0;
    let mut idle_since = Instant::now();
    let mut read_at_idle = activity.read.load(Ordering::Relaxed);
    let mut head_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(step).await;
        let now = Instant::now();
        let started = activity.started.load(Ordering::Relaxed);
        let finished = activity.finished.load(Ordering::Relaxed);
        let read = activity.read.load(Ordering::Relaxed);
        if started != finished || finished != seen_finished {
            // In flight, or a request ended since the last look: the idle wait starts afresh.
            seen_finished = finished;
            idle_since = now;
            read_at_idle = read;
            head_since = None;
            continue;
        }
        if read == read_at_idle {
            if now - idle_since >= timeouts.idle {
                return "idle keep-alive timeout";
            }
            continue;
        }
        let since = *head_since.get_or_insert(now);
        if now - since >= timeouts.header_read {
            return "request head not received in time";
        }
    }
}

/// The socket, counting the bytes read so the watchdog can tell idle from arriving.
#[derive(Debug)]
struct Counted {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            this.activity.read.fetch_add(read as u64, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks a request as ended when its response body is finished or dropped.
#[derive(Debug)]
struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// A response body that carries its request's [`Finished`] guard.
struct Tracked {
    inner: Body,
    _guard: Finished,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body failed because the client sent nothing for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("request body stalled: no data for {}s", .0.as_secs())]
pub struct BodyStalled(Duration);

/// A request body that fails when the client stops sending while the handler waits for it.
/// The clock runs only while a read is pending, so a handler that reads slowly is not blamed
/// on the client, and data already received is always delivered first.
struct BodyTimeout {
    inner: Incoming,
    timeout: Duration,
    waiting: Option<Pin<Box<Sleep>>>,
}

impl BodyTimeout {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        BodyTimeout { inner, timeout, waiting: None }
    }
}

impl HttpBody for BodyTimeout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let waiting = this.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(waiting.as_mut().poll(cx));
        this.waiting = None;
        Poll::Ready(Some(Err(Box::new(BodyStalled(timeout)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
