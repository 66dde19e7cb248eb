//! The application state handed to every handler: the shared context plus one handle per area.
//!
//! Every area service is built the same way, `Service::new(&Context)`, and torn down the same
//! way, `service.shutdown().await`, so adding state to an area never touches this file.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Dirs};
use crate::environment::Environment;
use crate::{computer_use, fs, git, lsp, port, process, proxy, system};

/// What every area service is built from.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub dirs: Arc<Dirs>,
    pub env: Environment,
    /// Cancelled when the daemon shuts down; long-lived tasks watch it.
    pub shutdown: CancellationToken,
}

impl Context {
    /// The context of a serving process: the daemon's environment as it started, and a fresh
    /// shutdown token.
    pub fn for_process(config: Config, dirs: Dirs) -> Self {
        Context {
            config: Arc::new(config),
            dirs: Arc::new(dirs),
            env: Environment::from_process(),
            shutdown: CancellationToken::new(),
        }
    }
}

#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub dirs: Arc<Dirs>,
    pub env: Environment,
    pub shutdown: CancellationToken,
    pub system: system::SystemService,
    pub fs: fs::FsService,
    pub git: git::GitService,
    pub exec: process::exec::ExecService,
    pub sessions: process::session::SessionService,
    pub pty: process::pty::PtyService,
    pub interpreter: process::interpreter::InterpreterService,
    pub lsp: lsp::LspService,
    pub port: port::PortService,
    pub proxy: proxy::ProxyService,
    pub computer_use: computer_use::ComputerUseService,
    pub desktop: computer_use::desktop::DesktopService,
    pub recordings: computer_use::recording::RecordingService,
    pub a11y: computer_use::a11y::AccessibilityService,
}

impl AppState {
    pub fn new(ctx: Context) -> Self {
        AppState {
            system: system::SystemService::new(&ctx),
            fs: fs::FsService::new(&ctx),
            git: git::GitService::new(&ctx),
            exec: process::exec::ExecService::new(&ctx),
            sessions: process::session::SessionService::new(&ctx),
            pty: process::pty::PtyService::new(&ctx),
            interpreter: process::interpreter::InterpreterService::new(&ctx),
            lsp: lsp::LspService::new(&ctx),
            port: port::PortService::new(&ctx),
            proxy: proxy::ProxyService::new(&ctx),
            computer_use: computer_use::ComputerUseService::new(&ctx),
            desktop: computer_use::desktop::DesktopService::new(&ctx),
            recordings: computer_use::recording::RecordingService::new(&ctx),
            a11y: computer_use::a11y::AccessibilityService::new(&ctx),
            config: ctx.config,
            dirs: ctx.dirs,
            env: ctx.env,
            shutdown: ctx.shutdown,
        }
    }

    /// Stops every area: kills sessions, terminals, interpreters and language servers.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        tokio::join!(
            self.system.shutdown(),
            self.fs.shutdown(),
            self.git.shutdown(),
            self.exec.shutdown(),
            self.sessions.shutdown(),
            self.pty.shutdown(),
            self.interpreter.shutdown(),
            self.lsp.shutdown(),
            self.port.shutdown(),
            self.proxy.shutdown(),
            self.computer_use.shutdown(),
            self.desktop.shutdown(),
            self.recordings.shutdown(),
            self.a11y.shutdown(),
        );
    }
}
