//! The contract's key grammar: key names, modifiers, hotkey chords and typeable text.
//!
//! Everything a client may say about the keyboard is checked here, before anything reaches the
//! display, so a bad key is a 400 that changed nothing. The result is the helper protocol's
//! typed [`Key`] and [`Modifier`] values.

use toolboxd_desktop_protocol::{Key, Modifier, NamedKey};

use crate::computer_use::error::ComputerUseError;

/// The longest text one `keyboard/type` call may type.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// Shifted symbols of a US layout and the key that makes them with `shift`.
const SHIFTED: &[(char, char)] = &[
    ('!', '1'),
    ('@', '2'),
    ('#', '3'),
    ('$', '4'),
    ('%', '5'),
    ('^', '6'),
    ('&', '7'),
    ('*', '8'),
    ('(', '9'),
    (')', '0'),
    ('_', '-'),
    ('+', '='),
    ('{', '['),
    ('}', ']'),
    ('|', '\\'),
    (':', ';'),
    ('"', '\''),
    ('<', ','),
    ('>', '.'),
    ('?', '/'),
    ('~', '`'),
];

const UNSHIFTED_PUNCTUATION: &str = "',-./;=[]\\`";

/// Parses one key of the grammar: a letter (any case), a digit, unshifted punctuation or a
/// named key (case-insensitive, `-` and `_` alike) or one of its aliases.
pub fn parse_key(raw: &str) -> Result<Key, ComputerUseError> {
    let invalid = |reason: String| ComputerUseError::InvalidKey { key: raw.to_owned(), reason };
    if raw.is_empty() {
        return Err(invalid("the key is empty".to_owned()));
    }
    if !raw.is_ascii() {
        return Err(invalid(
            "only ASCII key names are supported; type other text with keyboard/type".to_owned(),
        ));
    }
    if raw.chars().any(|c| c.is_ascii_whitespace()) {
        return Err(invalid(
            "key names contain no whitespace; name one key, e.g. \"space\" or \"enter\"".to_owned(),
        ));
    }
    let mut chars = raw.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphanumeric() {
            return Ok(Key::Char(c.to_ascii_lowercase()));
        }
        if UNSHIFTED_PUNCTUATION.contains(c) {
            return Ok(Key::Char(c));
        }
        if let Some((_, base)) = SHIFTED.iter().find(|(shifted, _)| *shifted == c) {
            return Err(invalid(format!(
                "it is a shifted symbol: press \"{base}\" with modifiers [\"shift\"] (hotkey \"shift+{base}\")"
            )));
        }
        return Err(invalid("it is not a key name".to_owned()));
    }
    let name = raw.to_ascii_lowercase().replace('-', "_");
    if let Some(suffix) = name.strip_prefix("num").filter(|s| ["+", "-", "*", "/", "."].contains(s)) {
        let full = match suffix {
            "+" => "num_plus",
            "-" => "num_minus",
            "*" => "num_asterisk",
            "/" => "num_slash",
            _ => "num_decimal",
        };
        return Err(invalid(format!("keypad shorthands are not accepted: use {full:?}")));
    }
    named_key(&name).map(Key::Named).ok_or_else(|| invalid("it is not a key name".to_owned()))
}

fn named_key(name: &str) -> Option<NamedKey> {
    use NamedKey::*;
    let key = match name {
        "enter" | "return" => Enter,
        "backspace" => Backspace,
        "tab" => Tab,
        "escape" | "esc" => Escape,
        "space" | "spacebar" => Space,
        "delete" | "del" => Delete,
        "insert" => Insert,
        "home" => Home,
        "end" => End,
        "pageup" | "page_up" => PageUp,
        "pagedown" | "page_down" => PageDown,
        "up" => Up,
        "down" => Down,
        "left" => Left,
        "right" => Right,
        "capslock" | "caps_lock" => CapsLock,
        "menu" => Menu,
        "num_plus" => NumPlus,
        "num_minus" => NumMinus,
        "num_asterisk" => NumAsterisk,
        "num_slash" => NumSlash,
        "num_decimal" => NumDecimal,
        "num_enter" => NumEnter,
        "num_equal" => NumEqual,
        "num_lock" => NumLock,
        "lctrl" | "left_ctrl" | "left_control" => LCtrl,
        "rctrl" | "right_ctrl" | "right_control" => RCtrl,
        "lalt" | "left_alt" | "left_option" => LAlt,
        "ralt" | "right_alt" | "right_option" => RAlt,
        "lshift" | "left_shift" => LShift,
        "rshift" | "right_shift" => RShift,
        "lcmd" | "left_cmd" | "left_command" => LCmd,
        "rcmd" | "right_cmd" | "right_command" => RCmd,
        other => {
            if let Some(modifier) = modifier(other) {
                return Some(match modifier {
                    Modifier::Ctrl => Ctrl,
                    Modifier::Alt => Alt,
                    Modifier::Shift => Shift,
                    Modifier::Cmd => Cmd,
                });
            }
            return numbered(other, "f", 1, 24).map(F).or_else(|| numbered(other, "num", 0, 9).map(Num));
        }
    };
    Some(key)
}

/// `f1`…`f24`, `num0`…`num9`: the prefix and a number in range, without leading zeros.
fn numbered(name: &str, prefix: &str, min: u8, max: u8) -> Option<u8> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 2 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

/// A modifier name or alias (case-insensitive), not the side-specific keys.
fn modifier(name: &str) -> Option<Modifier> {
    match name {
        "ctrl" | "control" => Some(Modifier::Ctrl),
        "alt" | "option" => Some(Modifier::Alt),
        "shift" => Some(Modifier::Shift),
        "cmd" | "command" | "meta" | "super" | "win" | "windows" => Some(Modifier::Cmd),
        _ => None,
    }
}

/// The modifier family a key belongs to, if it is a modifier key.
fn family(key: Key) -> Option<Modifier> {
    use NamedKey::*;
    match key {
        Key::Named(Ctrl | LCtrl | RCtrl) => Some(Modifier::Ctrl),
        Key::Named(Alt | LAlt | RAlt) => Some(Modifier::Alt),
        Key::Named(Shift | LShift | RShift) => Some(Modifier::Shift),
        Key::Named(Cmd | LCmd | RCmd) => Some(Modifier::Cmd),
        _ => None,
    }
}

/// Parses a list of modifiers: each named once, side-specific keys refused.
pub fn parse_modifiers(raw: &[String]) -> Result<Vec<Modifier>, ComputerUseError> {
    let mut modifiers = Vec::with_capacity(raw.len());
    for name in raw {
        let invalid = |reason: &str| ComputerUseError::InvalidModifier {
            modifier: name.clone(),
            reason: reason.to_owned(),
        };
        let normalized = name.trim().to_ascii_lowercase().replace('-', "_");
        let Some(modifier) = modifier(&normalized) else {
            if parse_key(name).ok().and_then(family).is_some() {
                return Err(invalid(
                    "side-specific keys are only accepted as the main key; use ctrl, alt, shift or cmd",
                ));
            }
            return Err(invalid(
                "modifiers are ctrl, alt, shift and cmd (or control, option, command, meta, super, win)",
            ));
        };
        if modifiers.contains(&modifier) {
            return Err(invalid("it is listed twice"));
        }
        modifiers.push(modifier);
    }
    Ok(modifiers)
}

/// A main key and the modifiers held around it: `keyboard/key` and `keyboard/hotkey`.
pub fn parse_press(key: &str, modifiers: &[String]) -> Result<(Key, Vec<Modifier>), ComputerUseError> {
    let key_value = parse_key(key)?;
    let modifiers = parse_modifiers(modifiers)?;
    if let Some(family) = family(key_value).filter(|f| modifiers.contains(f)) {
        return Err(ComputerUseError::InvalidKey {
            key: key.to_owned(),
            reason: format!("its modifier family {} is also listed as a modifier", modifier_name(family)),
        });
    }
    Ok((key_value, modifiers))
}

/// One chord such as `"ctrl + shift + t"`: tokens split on `+` and trimmed, the last one the
/// main key, every other one a modifier.
pub fn parse_hotkey(keys: &str) -> Result<(Key, Vec<Modifier>), ComputerUseError> {
    let invalid =
        |reason: &str| ComputerUseError::InvalidHotkey { keys: keys.to_owned(), reason: reason.to_owned() };
    let tokens: Vec<&str> = keys.split('+').map(str::trim).collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Err(invalid(
            "it has an empty key (a leading, trailing or doubled \"+\"); press \"+\" as \"shift+=\"",
        ));
    }
    if tokens.iter().any(|t| t.chars().any(char::is_whitespace)) {
        return Err(invalid("a key contains whitespace; a hotkey is one chord such as \"ctrl+c\""));
    }
    let (main, modifiers) = tokens.split_last().ok_or_else(|| invalid("it names no key"))?;
    let modifiers: Vec<String> = modifiers.iter().map(|m| (*m).to_owned()).collect();
    parse_press(main, &modifiers)
}

/// Checks text for `keyboard/type`: `\r\n` and `\r` become `\n` (typed as Enter); tabs and other
/// control characters are refused because they have no typeable character.
pub fn normalize_text(text: &str) -> Result<String, ComputerUseError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ComputerUseError::InvalidText(format!(
            "the text has {chars} characters; type at most {MAX_TEXT_CHARS} per call"
        )));
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if let Some((index, c)) = text.char_indices().find(|(_, c)| *c != '\n' && is_untypeable(*c)) {
        let hint = if c == '\t' { ": press the tab key with keyboard/key instead" } else { "" };
        return Err(ComputerUseError::InvalidText(format!(
            "character {:?} at byte {index} cannot be typed{hint}",
            c.escape_unicode().to_string()
        )));
    }
    Ok(text)
}

fn is_untypeable(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

fn modifier_name(modifier: Modifier) -> &'static str {
    match modifier {
        Modifier::Ctrl => "ctrl",
        Modifier::Alt => "alt",
        Modifier::Shift => "shift",
        Modifier::Cmd => "cmd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Key {
        parse_key(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn key_error(raw: &str) -> String {
        parse_key(raw).expect_err(raw).to_string()
    }

    #[test]
    fn letters_digits_and_unshifted_punctuation_are_characters() {
        assert_eq!(key("a"), Key::Char('a'));
        assert_eq!(key("Q"), Key::Char('q'));
        assert_eq!(key("7"), Key::Char('7'));
        for c in UNSHIFTED_PUNCTUATION.chars() {
            assert_eq!(key(&c.to_string()), Key::Char(c));
        }
    }

    #[test]
    fn named_keys_and_aliases_are_case_and_dash_insensitive() {
        use NamedKey::*;
        for (raw, want) in [
            ("Enter", Enter),
            ("RETURN", Enter),
            ("esc", Escape),
            ("del", Delete),
            ("Page-Up", PageUp),
            ("page_down", PageDown),
            ("spacebar", Space),
            ("control", Ctrl),
            ("option", Alt),
            ("Super", Cmd),
            ("windows", Cmd),
            ("left_control", LCtrl),
            ("right-shift", RShift),
            ("left_command", LCmd),
            ("f1", F(1)),
            ("F24", F(24)),
            ("num0", Num(0)),
            ("num_plus", NumPlus),
            ("Num-Lock", NumLock),
        ] {
            assert_eq!(key(raw), Key::Named(want), "{raw}");
        }
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(key_error("!").contains("shift"), "{}", key_error("!"));
        assert!(key_error("?").contains("\"/\""), "{}", key_error("?"));
        assert!(key_error("num+").contains("num_plus"));
        for raw in ["", "f0", "f25", "f01", "num10", "é", "two keys", "enterr", "\t"] {
            assert!(parse_key(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn modifiers_refuse_side_keys_duplicates_and_unknown_names() {
        assert_eq!(
            parse_modifiers(&["Control".into(), "meta".into()]).unwrap(),
            vec![Modifier::Ctrl, Modifier::Cmd]
        );
        assert!(parse_modifiers(&["lctrl".into()]).unwrap_err().to_string().contains("side-specific"));
        assert!(
            parse_modifiers(&["ctrl".into(), "control".into()]).unwrap_err().to_string().contains("twice")
        );
        assert!(parse_modifiers(&["hyper".into()]).is_err());
    }

    #[test]
    fn a_modifier_main_key_may_not_repeat_its_family() {
        assert!(parse_press("lctrl", &["ctrl".into()]).is_err());
        assert_eq!(parse_press("shift", &[]).unwrap(), (Key::Named(NamedKey::Shift), vec![]));
        assert_eq!(parse_press("lshift", &["ctrl".into()]).unwrap().1, vec![Modifier::Ctrl]);
    }

    #[test]
    fn hotkeys_are_one_chord() {
        assert_eq!(parse_hotkey("ctrl + c").unwrap(), (Key::Char('c'), vec![Modifier::Ctrl]));
        assert_eq!(
            parse_hotkey("Ctrl+Shift+T").unwrap(),
            (Key::Char('t'), vec![Modifier::Ctrl, Modifier::Shift])
        );
        assert_eq!(parse_hotkey("shift").unwrap(), (Key::Named(NamedKey::Shift), vec![]));
        for bad in ["ctrl+", "++", "", "ctrl+c alt+v", "a+b", "ctrl+ctrl"] {
            assert!(parse_hotkey(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_turns_line_ends_into_newlines_and_refuses_control_characters() {
        assert_eq!(normalize_text("a\r\nb\rc\n").unwrap(), "a\nb\nc\n");
        assert_eq!(normalize_text("héllo ✓").unwrap(), "héllo ✓");
        assert!(normalize_text("a\tb").unwrap_err().to_string().contains("tab"));
        assert!(normalize_text("\u{7}").is_err());
        assert!(normalize_text("a\u{2028}b").is_err());
    }
}
