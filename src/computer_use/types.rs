//! Wire types of the mouse, keyboard, screenshot and display routes, field for field as the
//! 0.226.1 client sends and reads them. Every request field is optional here so that a missing
//! one is reported by the checks in `input.rs`/`keys.rs` with a message naming it.

use serde::{Deserialize, Serialize};
use toolboxd_desktop_protocol::{Display, Image, Point, Window};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
pub struct MouseMoveRequest {
    pub x: Option<i64>,
    pub y: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MouseClickRequest {
    pub x: Option<i64>,
    pub y: Option<i64>,
    /// left (default), right or middle.
    pub button: Option<String>,
    pub double: Option<bool>,
    /// 1 to 10; wins over `double`.
    pub clicks: Option<i64>,
    /// ctrl, alt, shift, cmd (and their aliases), held during the click.
    pub modifiers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MouseDragRequest {
    pub start_x: Option<i64>,
    pub start_y: Option<i64>,
    pub end_x: Option<i64>,
    pub end_y: Option<i64>,
    pub button: Option<String>,
    pub modifiers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MouseScrollRequest {
    pub x: Option<i64>,
    pub y: Option<i64>,
    /// up, down, left or right.
    pub direction: Option<String>,
    /// Notches; absent or 0 is 1.
    pub amount: Option<i64>,
    pub modifiers: Option<Vec<String>>,
}

/// `mouse/down` and `mouse/up`: the pointer moves first only when both coordinates are given.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MouseButtonRequest {
    pub x: Option<i64>,
    pub y: Option<i64>,
    pub button: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KeyboardTypeRequest {
    pub text: Option<String>,
    /// Milliseconds after every character.
    pub delay: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KeyboardPressRequest {
    pub key: Option<String>,
    pub modifiers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KeyboardHotkeyRequest {
    /// One chord, e.g. "ctrl+c" or "ctrl + shift + t".
    pub keys: Option<String>,
}

/// `keyboard/down` and `keyboard/up`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeyboardKeyRequest {
    pub key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MousePositionResponse {
    pub x: i32,
    pub y: i32,
}

impl From<Point> for MousePositionResponse {
    fn from(point: Point) -> Self {
        MousePositionResponse { x: point.x, y: point.y }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScrollResponse {
    pub success: bool,
}

/// The `{}` the keyboard routes answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}

/// The screenshot routes' query; all four read the same names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScreenshotQuery {
    /// Region left edge (region routes; may be negative).
    pub x: Option<String>,
    /// Region top edge (region routes).
    pub y: Option<String>,
    /// Region width, > 0 (region routes).
    pub width: Option<String>,
    /// Region height, > 0 (region routes).
    pub height: Option<String>,
    /// Draw the pointer and report `cursorPosition` (Go boolean syntax; also `show_cursor`).
    #[serde(rename = "showCursor", alias = "show_cursor")]
    #[param(rename = "showCursor")]
    pub show_cursor: Option<String>,
    /// png (default) or jpeg (compressed routes); anything else gives a full-size PNG.
    pub format: Option<String>,
    /// JPEG quality 1–100, default 85 (compressed routes).
    pub quality: Option<String>,
    /// 0.1–1.0, default 1.0 (compressed routes).
    pub scale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScreenshotResponse {
    /// The image, base64 (standard alphabet, no data-URI prefix).
    pub screenshot: String,
    /// The pointer in screen coordinates, when `showCursor` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_position: Option<MousePositionResponse>,
    /// The encoded image's length in bytes (compressed routes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

impl ScreenshotResponse {
    pub fn new(image: Image, with_size: bool) -> Self {
        ScreenshotResponse {
            screenshot: image.base64,
            cursor_position: image.cursor.map(Into::into),
            size_bytes: with_size.then_some(image.size_bytes),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisplayInfo {
    /// The monitor's index in the X server's (RandR) monitor list.
    pub id: u32,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Always true: every listed monitor shows part of the screen.
    pub is_active: bool,
    /// Whether RandR calls it the primary monitor (an extension).
    pub primary: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayInfoResponse {
    pub displays: Vec<DisplayInfo>,
}

impl From<Vec<Display>> for DisplayInfoResponse {
    fn from(displays: Vec<Display>) -> Self {
        let displays = displays
            .into_iter()
            .map(|d| DisplayInfo {
                id: d.id,
                x: d.x,
                y: d.y,
                width: d.width,
                height: d.height,
                is_active: true,
                primary: d.primary,
            })
            .collect();
        DisplayInfoResponse { displays }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowInfo {
    /// The X window id (as `xdotool` and `xwininfo -id` use it); the reference daemon sent a PID.
    pub id: u32,
    pub title: String,
    /// Where the window's contents start on the screen (inside the window manager's frame).
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Whether it is the window manager's active window (`_NET_ACTIVE_WINDOW`).
    pub is_active: bool,
    /// The owning process (`_NET_WM_PID`), when the window says (an extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WindowsResponse {
    pub windows: Vec<WindowInfo>,
}

impl From<Vec<Window>> for WindowsResponse {
    fn from(windows: Vec<Window>) -> Self {
        let windows = windows
            .into_iter()
            .map(|w| WindowInfo {
                id: w.id,
                title: w.title,
                x: w.x,
                y: w.y,
                width: w.width,
                height: w.height,
                is_active: w.active,
                pid: w.pid,
            })
            .collect();
        WindowsResponse { windows }
    }
}
