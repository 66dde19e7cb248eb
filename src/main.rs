//! Startup: configuration → logging → allocator settings → child subreaper → bind →
//! `toolboxd::run` → kill what is left of every child tree. Two detours before the runtime
//! starts: as PID 1 the process becomes the init loop around a child daemon (`sys::init`), and
//! `toolboxd entrypoint logs [FLAGS]` prints the entrypoint's log. `toolboxd mcp [FLAGS]` takes
//! the same path but serves the tools over MCP on stdio instead of binding.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use toolboxd::config::{Config, Dirs};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let entrypoint_logs = args.get(1..3).is_some_and(|a| a[0] == "entrypoint" && a[1] == "logs");
    if entrypoint_logs {
        args.drain(1..3);
    }
    let mcp_stdio = args.get(1).is_some_and(|a| a == "mcp");
    if mcp_stdio {
        args.remove(1);
    }
    let config = Config::parse_from(args);
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    // Before any thread exists: few allocator arenas keep the resident set near what is live.
    toolboxd::sys::malloc::tune();

    if entrypoint_logs {
        return match Dirs::resolve(&config) {
            Ok(dirs) => toolboxd::process::session::entrypoint::print_logs(&dirs.data),
            Err(err) => {
                tracing::error!("{err}");
                ExitCode::from(1)
            }
        };
    }
    if toolboxd::sys::init::is_pid1() {
        return toolboxd::sys::init::run_as_init();
    }

    // Orphans of the daemon's children (double forks, `setsid … &`) are reparented to the
    // daemon instead of init, so their trees can still be found and killed (`sys::tree`).
    if let Err(err) = toolboxd::sys::reaper::become_subreaper() {
        tracing::warn!(
            "cannot become a child subreaper; double-forked processes may outlive their owner: {err}"
        );
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let served = match mcp_stdio {
        // The signal handlers and the reaper need the runtime, so they are made inside it.
        true => runtime.block_on(async {
            toolboxd::sys::reaper::spawn_reaper();
            toolboxd::mcp::transport::stdio(config, toolboxd::sys::shutdown_signal()).await
        }),
        false => runtime.block_on(serve(config)),
    };
    // Requests cut at the drain deadline end here, before any of their processes is killed, so
    // none of them can still answer; their trees die as their handles drop.
    drop(runtime);
    // Every area has stopped its trees; this takes what is left (disowned background jobs,
    // processes that cleared their environment and double-forked): nothing outlives the daemon.
    toolboxd::sys::tree::kill_descendants();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    config.load_token_file()?;
    let dirs = Dirs::resolve(&config)?;
    if config.token.is_none() {
        tracing::warn!("no --token set: every request is accepted (run behind the sandbox proxy)");
    }
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {addr}: {err}"))?;
    // Before the address is announced (by `run`): whoever learns it may signal the daemon at once.
    let shutdown = toolboxd::sys::shutdown_signal();
    toolboxd::sys::reaper::spawn_reaper();
    toolboxd::run(listener, config, dirs, shutdown).await?;
    Ok(())
}
