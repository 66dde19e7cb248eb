//! Mouse and keyboard through enigo (its x11rb backend: XTEST events, no libxdo or libX11).
//!
//! Keys are sent as X keysyms, so a key means the same on any layout that has it. Typed ASCII
//! uses the US layout's keys (with shift where the US layout needs it); other characters are
//! bound to a spare keycode by enigo. Modifiers held around a click,
//! drag, scroll or key press are released again even when the action in between fails.

use std::thread::sleep;
use std::time::Duration;

use enigo::{Axis, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};
use toolboxd_desktop_protocol::{
    Button, ErrorKind, HelperError, Key, Modifier, NamedKey, Op, Point, ScrollDirection,
};

/// Pointer positions between the start and the end of a drag, so that applications see motion.
const DRAG_STEPS: i32 = 20;

pub(crate) struct Input {
    enigo: Enigo,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

fn failed(err: impl std::fmt::Display) -> HelperError {
    HelperError::new(ErrorKind::Failed, format!("the X server refused the input: {err}"))
}

impl Input {
    pub(crate) fn connect(display: &str) -> Result<Input, HelperError> {
        let settings = Settings { x11_display: Some(display.to_owned()), ..Settings::default() };
        let enigo = Enigo::new(&settings).map_err(|err| {
            HelperError::new(
                ErrorKind::DisplayUnreachable,
                format!("cannot drive input on X display {display}: {err}"),
            )
        })?;
        Ok(Input { enigo })
    }

    /// Carries out an input operation; `true` when the caller should answer the pointer position.
    pub(crate) fn run(&mut self, op: Op) -> Result<bool, HelperError> {
        match op {
            Op::MouseMove { to } => self.move_to(to).map(|()| true),
            Op::MouseClick { at, button, clicks, modifiers } => {
                self.move_to(at)?;
                self.holding(&modifiers, |input| {
                    (0..clicks).try_for_each(|_| {
                        input.enigo.button(button_of(button), Direction::Click).map_err(failed)
                    })
                })?;
                Ok(true)
            }
            Op::MouseDrag { from, to, button, modifiers } => {
                self.holding(&modifiers, |input| input.drag(from, to, button))?;
                Ok(true)
            }
            Op::MouseScroll { at, direction, amount, modifiers } => {
                self.move_to(at)?;
                let amount = i32::try_from(amount).map_err(failed)?;
                let (length, axis) = match direction {
                    ScrollDirection::Up => (-amount, Axis::Vertical),
                    ScrollDirection::Down => (amount, Axis::Vertical),
                    ScrollDirection::Left => (-amount, Axis::Horizontal),
                    ScrollDirection::Right => (amount, Axis::Horizontal),
                };
                self.holding(&modifiers, |input| input.enigo.scroll(length, axis).map_err(failed))?;
                Ok(false)
            }
            Op::MouseButton { at, button, down } => {
                if let Some(at) = at {
                    self.move_to(at)?;
                }
                let direction = if down { Direction::Press } else { Direction::Release };
                self.enigo.button(button_of(button), direction).map_err(failed)?;
                Ok(true)
            }
            Op::TypeText { text, delay_ms } => self.type_text(&text, delay_ms).map(|()| false),
            Op::KeyPress { key, modifiers } => {
                self.holding(&modifiers, |input| {
                    input.enigo.key(key_of(key), Direction::Click).map_err(failed)
                })?;
                Ok(false)
            }
            Op::KeyToggle { key, down } => {
                let direction = if down { Direction::Press } else { Direction::Release };
                self.enigo.key(key_of(key), direction).map_err(failed)?;
                Ok(false)
            }
            Op::MousePosition | Op::Screenshot(_) | Op::DisplayInfo | Op::Windows => {
                Err(HelperError::new(ErrorKind::Failed, "not an input operation"))
            }
        }
    }

    fn move_to(&mut self, to: Point) -> Result<(), HelperError> {
        self.enigo.move_mouse(to.x, to.y, Coordinate::Abs).map_err(failed)
    }

    /// Presses `button` at `from`, moves there to `to` in steps and releases. The button is
    /// released even when a move in between fails, so no drag is left hanging.
    fn drag(&mut self, from: Point, to: Point, button: Button) -> Result<(), HelperError> {
        self.move_to(from)?;
        self.enigo.button(button_of(button), Direction::Press).map_err(failed)?;
        let moved = (1..=DRAG_STEPS).try_for_each(|step| {
            let x = from.x + (to.x - from.x) * step / DRAG_STEPS;
            let y = from.y + (to.y - from.y) * step / DRAG_STEPS;
            self.move_to(Point { x, y })
        });
        let released = self.enigo.button(button_of(button), Direction::Release).map_err(failed);
        moved.and(released)
    }

    fn type_text(&mut self, text: &str, delay_ms: u64) -> Result<(), HelperError> {
        let delay = Duration::from_millis(delay_ms);
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                self.enigo.key(enigo::Key::Other(keysym::RETURN), Direction::Click).map_err(failed)?;
                if !delay.is_zero() {
                    sleep(delay);
                }
            }
            for c in line.chars() {
                self.type_char(c)?;
                if !delay.is_zero() {
                    sleep(delay);
                }
            }
        }
        Ok(())
    }

    /// Types one character. ASCII goes through the keys the keymap already has (shift held for
    /// capitals and shifted symbols); only other characters are bound to a spare keycode. Binding
    /// keycodes for ASCII would race: enigo rebinds its few spare keycodes while a client still
    /// reads earlier key events with the old mapping, and characters get lost under load.
    fn type_char(&mut self, c: char) -> Result<(), HelperError> {
        let Some((keysym, shifted)) = us_key(c) else {
            return self.enigo.key(enigo::Key::Unicode(c), Direction::Click).map_err(failed);
        };
        let shift = enigo::Key::Other(keysym::SHIFT_L);
        if shifted {
            self.enigo.key(shift, Direction::Press).map_err(failed)?;
        }
        let typed = self.enigo.key(enigo::Key::Other(keysym), Direction::Click).map_err(failed);
        let released = match shifted {
            true => self.enigo.key(shift, Direction::Release).map_err(failed),
            false => Ok(()),
        };
        typed.and(released)
    }

    /// Runs `action` with `modifiers` held, releasing them in reverse order afterwards.
    fn holding(
        &mut self,
        modifiers: &[Modifier],
        action: impl FnOnce(&mut Self) -> Result<(), HelperError>,
    ) -> Result<(), HelperError> {
        let mut held = Vec::with_capacity(modifiers.len());
        let mut result = Ok(());
        for &modifier in modifiers {
            let key = enigo::Key::Other(modifier_keysym(modifier));
            match self.enigo.key(key, Direction::Press) {
                Ok(()) => held.push(key),
                Err(err) => {
                    result = Err(failed(err));
                    break;
                }
            }
        }
        if result.is_ok() {
            result = action(self);
        }
        for key in held.into_iter().rev() {
            let released = self.enigo.key(key, Direction::Release).map_err(failed);
            result = result.and(released);
        }
        result
    }
}

fn button_of(button: Button) -> enigo::Button {
    match button {
        Button::Left => enigo::Button::Left,
        Button::Right => enigo::Button::Right,
        Button::Middle => enigo::Button::Middle,
    }
}

fn key_of(key: Key) -> enigo::Key {
    match key {
        Key::Char(c) => enigo::Key::Unicode(c),
        Key::Named(named) => enigo::Key::Other(named_keysym(named)),
    }
}

/// X keysyms (from X11/keysymdef.h) of the keys the grammar names.
/// The key of an ASCII character on a US layout (its keysym equals the character's code) and
/// whether shift makes the character; `None` for anything else.
fn us_key(c: char) -> Option<(u32, bool)> {
    const SHIFTED: &str = "!@#$%^&*()_+{}|:\"<>?~";
    const BASES: &str = "1234567890-=[]\\;',./`";
    match c {
        'a'..='z' | '0'..='9' | ' ' => Some((c as u32, false)),
        'A'..='Z' => Some((c.to_ascii_lowercase() as u32, true)),
        _ if BASES.contains(c) => Some((c as u32, false)),
        _ => {
            SHIFTED.chars().position(|s| s == c).and_then(|i| BASES.chars().nth(i)).map(|b| (b as u32, true))
        }
    }
}

mod keysym {
    pub(super) const RETURN: u32 = 0xff0d;
    pub(super) const BACKSPACE: u32 = 0xff08;
    pub(super) const TAB: u32 = 0xff09;
    pub(super) const ESCAPE: u32 = 0xff1b;
    pub(super) const SPACE: u32 = 0x0020;
    pub(super) const DELETE: u32 = 0xffff;
    pub(super) const INSERT: u32 = 0xff63;
    pub(super) const HOME: u32 = 0xff50;
    pub(super) const LEFT: u32 = 0xff51;
    pub(super) const UP: u32 = 0xff52;
    pub(super) const RIGHT: u32 = 0xff53;
    pub(super) const DOWN: u32 = 0xff54;
    pub(super) const PAGE_UP: u32 = 0xff55;
    pub(super) const PAGE_DOWN: u32 = 0xff56;
    pub(super) const END: u32 = 0xff57;
    pub(super) const MENU: u32 = 0xff67;
    pub(super) const NUM_LOCK: u32 = 0xff7f;
    pub(super) const KP_ENTER: u32 = 0xff8d;
    pub(super) const KP_MULTIPLY: u32 = 0xffaa;
    pub(super) const KP_ADD: u32 = 0xffab;
    pub(super) const KP_SUBTRACT: u32 = 0xffad;
    pub(super) const KP_DECIMAL: u32 = 0xffae;
    pub(super) const KP_DIVIDE: u32 = 0xffaf;
    pub(super) const KP_0: u32 = 0xffb0;
    pub(super) const KP_EQUAL: u32 = 0xffbd;
    pub(super) const F1: u32 = 0xffbe;
    pub(super) const SHIFT_L: u32 = 0xffe1;
    pub(super) const SHIFT_R: u32 = 0xffe2;
    pub(super) const CONTROL_L: u32 = 0xffe3;
    pub(super) const CONTROL_R: u32 = 0xffe4;
    pub(super) const CAPS_LOCK: u32 = 0xffe5;
    pub(super) const ALT_L: u32 = 0xffe9;
    pub(super) const ALT_R: u32 = 0xffea;
    pub(super) const SUPER_L: u32 = 0xffeb;
    pub(super) const SUPER_R: u32 = 0xffec;
}

fn modifier_keysym(modifier: Modifier) -> u32 {
    match modifier {
        Modifier::Ctrl => keysym::CONTROL_L,
        Modifier::Alt => keysym::ALT_L,
        Modifier::Shift => keysym::SHIFT_L,
        Modifier::Cmd => keysym::SUPER_L,
    }
}

fn named_keysym(key: NamedKey) -> u32 {
    use keysym::*;
    match key {
        NamedKey::Enter => RETURN,
        NamedKey::Backspace => BACKSPACE,
        NamedKey::Tab => TAB,
        NamedKey::Escape => ESCAPE,
        NamedKey::Space => SPACE,
        NamedKey::Delete => DELETE,
        NamedKey::Insert => INSERT,
        NamedKey::Home => HOME,
        NamedKey::End => END,
        NamedKey::PageUp => PAGE_UP,
        NamedKey::PageDown => PAGE_DOWN,
        NamedKey::Up => UP,
        NamedKey::Down => DOWN,
        NamedKey::Left => LEFT,
        NamedKey::Right => RIGHT,
        NamedKey::CapsLock => CAPS_LOCK,
        NamedKey::Menu => MENU,
        // F1…F35 and KP_0…KP_9 are consecutive keysyms; the core checked the ranges.
        NamedKey::F(n) => F1 + u32::from(n.saturating_sub(1)),
        NamedKey::Num(n) => KP_0 + u32::from(n.min(9)),
        NamedKey::NumPlus => KP_ADD,
        NamedKey::NumMinus => KP_SUBTRACT,
        NamedKey::NumAsterisk => KP_MULTIPLY,
        NamedKey::NumSlash => KP_DIVIDE,
        NamedKey::NumDecimal => KP_DECIMAL,
        NamedKey::NumEnter => KP_ENTER,
        NamedKey::NumEqual => KP_EQUAL,
        NamedKey::NumLock => NUM_LOCK,
        NamedKey::Ctrl | NamedKey::LCtrl => CONTROL_L,
        NamedKey::RCtrl => CONTROL_R,
        NamedKey::Alt | NamedKey::LAlt => ALT_L,
        NamedKey::RAlt => ALT_R,
        NamedKey::Shift | NamedKey::LShift => SHIFT_L,
        NamedKey::RShift => SHIFT_R,
        NamedKey::Cmd | NamedKey::LCmd => SUPER_L,
        NamedKey::RCmd => SUPER_R,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_typed_with_the_us_layout_keys() {
        assert_eq!(us_key('a'), Some(('a' as u32, false)));
        assert_eq!(us_key('Q'), Some(('q' as u32, true)));
        assert_eq!(us_key(' '), Some((0x20, false)));
        assert_eq!(us_key('+'), Some(('=' as u32, true)));
        assert_eq!(us_key('"'), Some(('\'' as u32, true)));
        assert_eq!(us_key('|'), Some(('\\' as u32, true)));
        assert_eq!(us_key('~'), Some(('`' as u32, true)));
        assert_eq!(us_key('\\'), Some(('\\' as u32, false)));
        assert_eq!(us_key('é'), None);
        for c in (0x20u8..0x7f).map(char::from) {
            assert!(us_key(c).is_some(), "{c:?} has no key");
        }
    }
}
