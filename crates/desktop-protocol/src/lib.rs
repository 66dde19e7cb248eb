//! The messages between `toolboxd` and its desktop helper `toolboxd-desktop`.
//!
//! The core binary links no X library, so everything that touches the display runs in the
//! helper, a child process the core starts on demand. They talk over the helper's stdin and
//! stdout, one JSON object per line:
//!
//! - the helper first writes [`Output::Hello`] with its [`PROTOCOL_VERSION`];
//! - the core writes [`Request`]s, each with an id of its choosing;
//! - the helper answers each with one [`Output::Response`] carrying the same id.
//!
//! Requests are carried out one at a time, in the order they arrive, because input events must
//! reach the X server in order. Everything here is already validated by the core: the helper
//! gets typed keys, buttons and rectangles, never the client's strings.

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes shape; the core refuses a helper that speaks another one.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request from the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub op: Op,
}

/// What the helper writes to its stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// The first line, written once at start.
    Hello { protocol: u32 },
    /// The answer to the request with the same `id`.
    Response { id: u64, result: Result<Reply, HelperError> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

/// A rectangle in screen coordinates; `width` and `height` are at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// One operation on the display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    MousePosition,
    MouseMove {
        to: Point,
    },
    /// Moves to `at`, then presses and releases `button` `clicks` times with `modifiers` held.
    MouseClick {
        at: Point,
        button: Button,
        clicks: u8,
        modifiers: Vec<Modifier>,
    },
    /// Presses `button` at `from`, moves in steps to `to` and releases it there.
    MouseDrag {
        from: Point,
        to: Point,
        button: Button,
        modifiers: Vec<Modifier>,
    },
    /// `amount` wheel notches in `direction` at `at`.
    MouseScroll {
        at: Point,
        direction: ScrollDirection,
        amount: u32,
        modifiers: Vec<Modifier>,
    },
    /// Presses (`down`) or releases `button`, first moving to `at` when given.
    MouseButton {
        at: Option<Point>,
        button: Button,
        down: bool,
    },
    /// Types `text` (no control characters but `\n`, which is an Enter key tap), waiting
    /// `delay_ms` after every character when it is not zero.
    TypeText {
        text: String,
        delay_ms: u64,
    },
    /// Taps `key` with `modifiers` held.
    KeyPress {
        key: Key,
        modifiers: Vec<Modifier>,
    },
    /// Presses (`down`) or releases `key` and leaves it so.
    KeyToggle {
        key: Key,
        down: bool,
    },
    Screenshot(ScreenshotSpec),
    DisplayInfo,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    Left,
    Right,
    Middle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrollDirection {
    Up,
    Down,
    Left,
    Right,
}

/// A modifier held around another action; the left-hand key of its family is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modifier {
    Ctrl,
    Alt,
    Shift,
    /// The Super ("Windows") key.
    Cmd,
}

/// A key, in the vocabulary of the contract's key grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// A lower-case ASCII letter, a digit or unshifted punctuation, as its character.
    Char(char),
    Named(NamedKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedKey {
    Enter,
    Backspace,
    Tab,
    Escape,
    Space,
    Delete,
    Insert,
    Home,
    End,
    PageUp,
    PageDown,
    Up,
    Down,
    Left,
    Right,
    CapsLock,
    Menu,
    /// F1 to F24.
    F(u8),
    /// The keypad digits 0 to 9.
    Num(u8),
    NumPlus,
    NumMinus,
    NumAsterisk,
    NumSlash,
    NumDecimal,
    NumEnter,
    NumEqual,
    NumLock,
    Ctrl,
    Alt,
    Shift,
    Cmd,
    LCtrl,
    RCtrl,
    LAlt,
    RAlt,
    LShift,
    RShift,
    LCmd,
    RCmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Png,
    /// `quality` from 1 to 100.
    Jpeg {
        quality: u8,
    },
}

/// What to capture and how to encode it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScreenshotSpec {
    /// The whole screen when absent. Parts outside the screen come out black.
    pub region: Option<Rect>,
    pub format: ImageFormat,
    /// From 0.1 to 1.0; the image is resized (nearest neighbour) by this factor.
    pub scale: f32,
    /// Draw a crosshair at the pointer and report where it is.
    pub show_cursor: bool,
}

/// The answer to one [`Op`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The pointer position after the operation.
    Position(Point),
    Done,
    Image(Image),
    Displays {
        displays: Vec<Display>,
    },
    Windows {
        windows: Vec<Window>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The encoded image, base64 (standard alphabet, padded), ready for the wire.
    pub base64: String,
    /// The length of the encoded image in bytes (before base64).
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    /// Where the pointer is, in screen coordinates, when the cursor was asked for.
    pub cursor: Option<Point>,
}

/// One monitor of the X screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    pub id: u32,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

/// One top-level application window, as the window manager lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The X window id (what `xdotool` and `xwininfo -id` use).
    pub id: u32,
    pub title: String,
    /// The position of the window's contents (inside any frame) on the screen.
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Whether it is the window manager's active window.
    pub active: bool,
    /// The owning process, when the window says (`_NET_WM_PID`).
    pub pid: Option<u32>,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperError {
    pub kind: ErrorKind,
    pub message: String,
}

impl HelperError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HelperError { kind, message: message.into() }
    }
}

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HelperError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No X server answers at the display; nothing was done.
    DisplayUnreachable,
    /// The request cannot be carried out as asked (e.g. a region entirely off the screen).
    InvalidInput,
    /// The X server refused or the capture or encoding failed.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_outputs_survive_a_json_line() {
        let request = Request {
            id: 7,
            op: Op::KeyPress { key: Key::Named(NamedKey::F(5)), modifiers: vec![Modifier::Ctrl] },
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);

        let output = Output::Response {
            id: 7,
            result: Err(HelperError::new(ErrorKind::DisplayUnreachable, "no X server at :9")),
        };
        let line = serde_json::to_string(&output).unwrap();
        assert_eq!(serde_json::from_str::<Output>(&line).unwrap(), output);
    }
}
