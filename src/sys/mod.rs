//! Platform code: signals, process trees from `/proc`, reaping (as PID 1 and as a child
//! subreaper), terminals and the fork-to-exec hook of new sessions. Unsafe code lives only
//! here, each block with a `// SAFETY:` comment.

pub mod child;
pub mod init;
pub mod libgit2;
pub mod malloc;
pub mod pty;
pub mod reaper;
pub mod spawn;
pub mod tree;

/// Completes on the first SIGTERM or SIGINT.
///
/// The handlers are installed when this is called, not when the future is first polled, so a
/// signal sent as soon as the daemon has announced its address is never the default (fatal)
/// action. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; SIGTERM and SIGINT will kill the daemon");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM"),
            _ = int.recv() => tracing::info!("received SIGINT"),
        }
    }
}
