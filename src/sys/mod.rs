//! Platform code: signals, process trees from `/proc`, and PID 1 duties. Unsafe code, if any is
//! ever needed, lives only here, each block with a `// SAFETY:` comment.

pub mod init;
pub mod tree;

/// Completes on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; SIGTERM and SIGINT will kill the daemon");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = int.recv() => tracing::info!("received SIGINT"),
    }
}
