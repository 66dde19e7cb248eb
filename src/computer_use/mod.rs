//! Computer use: the mouse, the keyboard, screenshots, displays and windows of the sandbox's X
//! display (`/computeruse/…`).
//!
//! The core binary links no X library. Everything that touches the display runs in the desktop
//! helper `toolboxd-desktop` (crates/desktop), a child process started on the first request
//! and spoken to with the typed messages of `toolboxd-desktop-protocol` (see `helper.rs`).
//! This module checks every input first (`keys.rs`, `input.rs`), so a bad request is a 400 that
//! reached no display, then hands one typed operation to the helper.
//!
//! The display is the daemon environment's `DISPLAY`, else `:0` (where the desktop stack in
//! `desktop/` starts Xvfb). When the helper cannot be found, cannot start, or no X server
//! answers, the request is a 503 that says which.
//!
//! This module knows nothing of HTTP: `routes.rs` translates requests and
//! [`ComputerUseError`]s.

/// Accessibility: the AT-SPI tree over D-Bus (pure Rust, no desktop helper).
pub mod a11y;
/// The desktop stack: start/stop/status of Xvfb, the desktop, VNC and noVNC.
pub mod desktop;
pub mod error;
pub mod helper;
pub mod input;
pub mod keys;
/// Screen recordings (`/computeruse/recordings`): ffmpeg and an X display, no desktop helper.
pub mod recording;
pub mod routes;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use toolboxd_desktop_protocol::{Display, Image, Op, Point, Reply, ScreenshotSpec, Window};

use crate::computer_use::helper::Helper;
use crate::environment::Environment;
use crate::state::Context;

pub use crate::computer_use::error::ComputerUseError;
pub use crate::computer_use::input::{Click, Drag, MouseButtonAction, Scroll, TypeText};

/// The display used when the daemon's environment sets no `DISPLAY`.
pub const DEFAULT_DISPLAY: &str = ":0";

/// How long an ordinary operation may take in the helper before it is presumed stuck.
const OP_DEADLINE: Duration = Duration::from_secs(30);

/// The X display computer use drives: the daemon environment's `DISPLAY`, else `:0`.
pub fn display(env: &Environment) -> String {
    env.get("DISPLAY")
        .and_then(|value| value.into_string().ok())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| DEFAULT_DISPLAY.to_owned())
}

/// Mouse, keyboard, screenshots and windows, through the desktop helper.
#[derive(Debug, Clone)]
pub struct ComputerUseService {
    helper: Arc<Helper>,
    env: Environment,
}

impl ComputerUseService {
    pub fn new(ctx: &Context) -> Self {
        let helper = Helper::new(ctx.config.desktop_helper.clone(), ctx.env.clone(), ctx.dirs.work.clone());
        ComputerUseService { helper: Arc::new(helper), env: ctx.env.clone() }
    }

    /// Whether the desktop helper binary is installed, so these operations can work at all.
    pub fn helper_installed(&self) -> bool {
        self.helper.installed()
    }

    /// Stops the helper; later requests answer 503.
    pub async fn shutdown(&self) {
        self.helper.stop().await;
    }

    pub async fn mouse_position(&self) -> Result<Point, ComputerUseError> {
        position(self.call(Op::MousePosition, OP_DEADLINE).await?)
    }

    pub async fn mouse_move(&self, to: Point) -> Result<Point, ComputerUseError> {
        position(self.call(Op::MouseMove { to }, OP_DEADLINE).await?)
    }

    pub async fn click(&self, click: Click) -> Result<Point, ComputerUseError> {
        let op = Op::MouseClick {
            at: click.at,
            button: click.button,
            clicks: click.clicks,
            modifiers: click.modifiers,
        };
        position(self.call(op, OP_DEADLINE).await?)
    }

    pub async fn drag(&self, drag: Drag) -> Result<Point, ComputerUseError> {
        let op =
            Op::MouseDrag { from: drag.from, to: drag.to, button: drag.button, modifiers: drag.modifiers };
        position(self.call(op, OP_DEADLINE).await?)
    }

    pub async fn scroll(&self, scroll: Scroll) -> Result<(), ComputerUseError> {
        let op = Op::MouseScroll {
            at: scroll.at,
            direction: scroll.direction,
            amount: scroll.amount,
            modifiers: scroll.modifiers,
        };
        done(self.call(op, OP_DEADLINE).await?)
    }

    /// Presses (`down`) or releases a mouse button, first moving when a point is given.
    pub async fn mouse_button(&self, action: MouseButtonAction) -> Result<Point, ComputerUseError> {
        let op = Op::MouseButton { at: action.at, button: action.button, down: action.down };
        position(self.call(op, OP_DEADLINE).await?)
    }

    pub async fn type_text(&self, typing: TypeText) -> Result<(), ComputerUseError> {
        // Typing takes as long as its delays; the deadline grows with them.
        let deadline = OP_DEADLINE + typing.duration();
        done(self.call(Op::TypeText { text: typing.text, delay_ms: typing.delay_ms }, deadline).await?)
    }

    pub async fn press(
        &self,
        key: toolboxd_desktop_protocol::Key,
        modifiers: Vec<toolboxd_desktop_protocol::Modifier>,
    ) -> Result<(), ComputerUseError> {
        done(self.call(Op::KeyPress { key, modifiers }, OP_DEADLINE).await?)
    }

    /// Presses (`down`) or releases a key and leaves it so.
    pub async fn key_toggle(
        &self,
        key: toolboxd_desktop_protocol::Key,
        down: bool,
    ) -> Result<(), ComputerUseError> {
        done(self.call(Op::KeyToggle { key, down }, OP_DEADLINE).await?)
    }

    pub async fn screenshot(&self, spec: ScreenshotSpec) -> Result<Image, ComputerUseError> {
        match self.call(Op::Screenshot(spec), OP_DEADLINE).await? {
            Reply::Image(image) => Ok(image),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn displays(&self) -> Result<Vec<Display>, ComputerUseError> {
        match self.call(Op::DisplayInfo, OP_DEADLINE).await? {
            Reply::Displays { displays } => Ok(displays),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn windows(&self) -> Result<Vec<Window>, ComputerUseError> {
        match self.call(Op::Windows, OP_DEADLINE).await? {
            Reply::Windows { windows } => Ok(windows),
            other => Err(unexpected(&other)),
        }
    }

    async fn call(&self, op: Op, deadline: Duration) -> Result<Reply, ComputerUseError> {
        let display = display(&self.env);
        let unset = self.env.get("DISPLAY").is_none_or(|value| value.is_empty());
        self.helper.call(&display, op, deadline).await.map_err(|err| {
            err.into_error(|detail| {
                if unset {
                    format!(
                        "DISPLAY is not set and no X server answers at the default {display} ({detail}); \
                         start the desktop with POST /computeruse/start or set DISPLAY with POST /env"
                    )
                } else {
                    format!("no X server answers at DISPLAY={display} ({detail})")
                }
            })
        })
    }
}

fn position(reply: Reply) -> Result<Point, ComputerUseError> {
    match reply {
        Reply::Position(point) => Ok(point),
        other => Err(unexpected(&other)),
    }
}

fn done(reply: Reply) -> Result<(), ComputerUseError> {
    match reply {
        Reply::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(reply: &Reply) -> ComputerUseError {
    ComputerUseError::Failed(format!("the desktop helper answered with an unexpected reply: {reply:?}"))
}
