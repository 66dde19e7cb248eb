//! Checks the mouse and screenshot inputs a client sends and turns them into the helper's typed
//! operations. Nothing here touches the display: a value that fails is a 400 that changed
//! nothing.

use std::time::Duration;

use toolboxd_desktop_protocol::{
    Button, ImageFormat, Modifier, Point, Rect, ScreenshotSpec, ScrollDirection,
};

use crate::computer_use::error::ComputerUseError;
use crate::computer_use::keys;

/// The most clicks one `mouse/click` may ask for.
pub const MAX_CLICKS: i64 = 10;

/// The most wheel notches one `mouse/scroll` may ask for.
pub const MAX_SCROLL: i64 = 1000;

/// The longest per-character delay of `keyboard/type`, and the longest a whole call may type.
pub const MAX_TYPE_DELAY_MS: i64 = 10_000;
pub const MAX_TYPE_DURATION: Duration = Duration::from_secs(600);

/// The largest region side a screenshot may ask for (X coordinates are 16-bit).
pub const MAX_REGION_SIDE: i64 = 32_767;

fn invalid(message: impl Into<String>) -> ComputerUseError {
    ComputerUseError::InvalidParameter(message.into())
}

/// A screen coordinate: X positions are 16-bit signed numbers.
pub fn coordinate(name: &str, value: Option<i64>) -> Result<i32, ComputerUseError> {
    let value = value.ok_or_else(|| invalid(format!("{name} is required")))?;
    i16::try_from(value)
        .map(i32::from)
        .map_err(|_| invalid(format!("{name} {value} is outside the screen coordinate range -32768..32767")))
}

pub fn point(x_name: &str, x: Option<i64>, y_name: &str, y: Option<i64>) -> Result<Point, ComputerUseError> {
    Ok(Point { x: coordinate(x_name, x)?, y: coordinate(y_name, y)? })
}

/// `left` (also when empty or absent), `right` or `middle`, ignoring case and spaces.
pub fn button(raw: Option<&str>) -> Result<Button, ComputerUseError> {
    let normalized: String = raw.unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    match normalized.to_ascii_lowercase().as_str() {
        "" | "left" => Ok(Button::Left),
        "right" => Ok(Button::Right),
        "middle" => Ok(Button::Middle),
        _ => Err(invalid(format!("invalid button {:?}: use left, right or middle", raw.unwrap_or_default()))),
    }
}

/// A click: where, which button, how many times, with which modifiers held.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    pub at: Point,
    pub button: Button,
    pub clicks: u8,
    pub modifiers: Vec<Modifier>,
}

impl Click {
    /// `clicks` (1 to 10) wins over `double`; an explicit 0 is refused rather than defaulted.
    pub fn parse(
        at: Point,
        button_name: Option<&str>,
        double: Option<bool>,
        clicks: Option<i64>,
        modifiers: &[String],
    ) -> Result<Self, ComputerUseError> {
        let clicks = match clicks {
            Some(n) if (1..=MAX_CLICKS).contains(&n) => n as u8,
            Some(n) => {
                return Err(invalid(format!("invalid clicks {n}: must be between 1 and {MAX_CLICKS}")));
            }
            None if double == Some(true) => 2,
            None => 1,
        };
        Ok(Click { at, button: button(button_name)?, clicks, modifiers: keys::parse_modifiers(modifiers)? })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drag {
    pub from: Point,
    pub to: Point,
    pub button: Button,
    pub modifiers: Vec<Modifier>,
}

impl Drag {
    pub fn parse(
        from: Point,
        to: Point,
        button_name: Option<&str>,
        modifiers: &[String],
    ) -> Result<Self, ComputerUseError> {
        Ok(Drag { from, to, button: button(button_name)?, modifiers: keys::parse_modifiers(modifiers)? })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scroll {
    pub at: Point,
    pub direction: ScrollDirection,
    pub amount: u32,
    pub modifiers: Vec<Modifier>,
}

impl Scroll {
    /// `up`, `down`, `left` or `right`; an absent or zero amount is one notch.
    pub fn parse(
        at: Point,
        direction: &str,
        amount: Option<i64>,
        modifiers: &[String],
    ) -> Result<Self, ComputerUseError> {
        let direction = match direction.trim().to_ascii_lowercase().as_str() {
            "up" => ScrollDirection::Up,
            "down" => ScrollDirection::Down,
            "left" => ScrollDirection::Left,
            "right" => ScrollDirection::Right,
            _ => {
                return Err(invalid(format!(
                    "invalid scroll direction {direction:?}: use up, down, left or right"
                )));
            }
        };
        let amount = match amount.unwrap_or(0) {
            0 => 1,
            n if (1..=MAX_SCROLL).contains(&n) => n as u32,
            n if n < 0 => return Err(invalid(format!("invalid amount {n}: must not be negative"))),
            n => {
                return Err(invalid(format!(
                    "invalid amount {n}: scroll at most {MAX_SCROLL} notches at once"
                )));
            }
        };
        Ok(Scroll { at, direction, amount, modifiers: keys::parse_modifiers(modifiers)? })
    }
}

/// `mouse/down` and `mouse/up`: the point is used only when both coordinates are given.
#[derive(Debug, Clone, PartialEq)]
pub struct MouseButtonAction {
    pub at: Option<Point>,
    pub button: Button,
    pub down: bool,
}

impl MouseButtonAction {
    pub fn parse(
        x: Option<i64>,
        y: Option<i64>,
        button_name: Option<&str>,
        down: bool,
    ) -> Result<Self, ComputerUseError> {
        let at = match (x, y) {
            (Some(_), Some(_)) => Some(point("x", x, "y", y)?),
            _ => None,
        };
        Ok(MouseButtonAction { at, button: button(button_name)?, down })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeText {
    pub text: String,
    pub delay_ms: u64,
}

impl TypeText {
    pub fn parse(text: Option<&str>, delay: Option<i64>) -> Result<Self, ComputerUseError> {
        let text = keys::normalize_text(text.ok_or_else(|| invalid("text is required"))?)?;
        let delay_ms = match delay.unwrap_or(0) {
            n if (0..=MAX_TYPE_DELAY_MS).contains(&n) => n as u64,
            n => {
                return Err(invalid(format!(
                    "invalid delay {n}: must be between 0 and {MAX_TYPE_DELAY_MS} ms"
                )));
            }
        };
        let typing = TypeText { text, delay_ms };
        if typing.duration() > MAX_TYPE_DURATION {
            return Err(invalid(format!(
                "typing {} characters {} ms apart would take longer than {} s",
                typing.text.chars().count(),
                delay_ms,
                MAX_TYPE_DURATION.as_secs()
            )));
        }
        Ok(typing)
    }

    /// How long the delays alone take.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.delay_ms.saturating_mul(self.text.chars().count() as u64))
    }
}

/// The query parameters of the four screenshot routes, as strings, checked here so that every
/// problem gets the contract's wording.
#[derive(Debug, Clone, Default)]
pub struct ScreenshotParams<'a> {
    pub x: Option<&'a str>,
    pub y: Option<&'a str>,
    pub width: Option<&'a str>,
    pub height: Option<&'a str>,
    pub show_cursor: Option<&'a str>,
    pub format: Option<&'a str>,
    pub quality: Option<&'a str>,
    pub scale: Option<&'a str>,
}

impl ScreenshotParams<'_> {
    /// A plain screenshot (PNG, full size) of the screen or of the region.
    pub fn plain(&self, region: bool) -> Result<ScreenshotSpec, ComputerUseError> {
        Ok(ScreenshotSpec {
            region: if region { Some(self.region()?) } else { None },
            format: ImageFormat::Png,
            scale: 1.0,
            show_cursor: self.show_cursor()?,
        })
    }

    /// A compressed screenshot: `format` png (default) or jpeg with `quality` 1–100 (default 85),
    /// `scale` 0.1–1.0. Any other format gives a full-size PNG, as the reference daemon does.
    pub fn compressed(&self, region: bool) -> Result<ScreenshotSpec, ComputerUseError> {
        let region = if region { Some(self.region()?) } else { None };
        let show_cursor = self.show_cursor()?;
        let quality = match self.quality {
            None => 85,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(q) if (1..=100).contains(&q) => q as u8,
                _ => {
                    return Err(ComputerUseError::InvalidParameter(
                        "quality: must be between 1 and 100".to_owned(),
                    ));
                }
            },
        };
        let scale = match self.scale {
            None => 1.0,
            Some(raw) => match raw.trim().parse::<f32>() {
                Ok(s) if (0.1..=1.0).contains(&s) => s,
                _ => {
                    return Err(ComputerUseError::InvalidParameter(
                        "scale: must be between 0.1 and 1.0".to_owned(),
                    ));
                }
            },
        };
        let (format, scale) = match self.format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("png") => (ImageFormat::Png, scale),
            Some("jpeg" | "jpg") => (ImageFormat::Jpeg { quality }, scale),
            Some(_) => (ImageFormat::Png, 1.0),
        };
        Ok(ScreenshotSpec { region, format, scale, show_cursor })
    }

    fn region(&self) -> Result<Rect, ComputerUseError> {
        let x = required_int("x", self.x)?;
        let y = required_int("y", self.y)?;
        let width = required_int("width", self.width)?;
        let height = required_int("height", self.height)?;
        for (name, value) in [("width", width), ("height", height)] {
            if value <= 0 {
                return Err(invalid(format!("{name}: must be greater than zero")));
            }
            if value > MAX_REGION_SIDE {
                return Err(invalid(format!("{name}: must be at most {MAX_REGION_SIDE}")));
            }
        }
        let x = coordinate("x", Some(x))?;
        let y = coordinate("y", Some(y))?;
        Ok(Rect { x, y, width: width as u32, height: height as u32 })
    }

    /// `showCursor` as Go's `strconv.ParseBool` reads it; absent is false.
    fn show_cursor(&self) -> Result<bool, ComputerUseError> {
        match self.show_cursor {
            None => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False" | "") => Ok(false),
            Some(other) => Err(invalid(format!("showCursor: {other:?} is not a boolean"))),
        }
    }
}

fn required_int(name: &str, raw: Option<&str>) -> Result<i64, ComputerUseError> {
    let raw = raw
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid(format!("missing required query parameter: {name}")))?;
    raw.trim().parse().map_err(|_| invalid(format!("{name}: {raw:?} is not an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Point = Point { x: 0, y: 0 };

    #[test]
    fn clicks_override_double_and_zero_is_refused() {
        assert_eq!(Click::parse(ORIGIN, None, Some(true), None, &[]).unwrap().clicks, 2);
        assert_eq!(Click::parse(ORIGIN, None, Some(true), Some(3), &[]).unwrap().clicks, 3);
        assert_eq!(Click::parse(ORIGIN, Some(" Right "), None, None, &[]).unwrap().button, Button::Right);
        for bad in [0, -1, 11] {
            let err = Click::parse(ORIGIN, None, None, Some(bad), &[]).unwrap_err().to_string();
            assert!(err.contains("clicks"), "{err}");
        }
        assert!(
            Click::parse(ORIGIN, Some("fourth"), None, None, &[]).unwrap_err().to_string().contains("button")
        );
    }

    #[test]
    fn scroll_takes_four_directions_and_refuses_negative_amounts() {
        let scroll = Scroll::parse(ORIGIN, "LEFT", None, &["ctrl".into()]).unwrap();
        assert_eq!(
            (scroll.direction, scroll.amount, scroll.modifiers),
            (ScrollDirection::Left, 1, vec![Modifier::Ctrl])
        );
        assert_eq!(Scroll::parse(ORIGIN, "down", Some(0), &[]).unwrap().amount, 1);
        assert!(Scroll::parse(ORIGIN, "down", Some(-2), &[]).unwrap_err().to_string().contains("negative"));
        assert!(Scroll::parse(ORIGIN, "sideways", Some(1), &[]).is_err());
    }

    #[test]
    fn coordinates_stay_in_the_x_range() {
        assert_eq!(point("x", Some(-5), "y", Some(7)).unwrap(), Point { x: -5, y: 7 });
        assert!(point("x", Some(40_000), "y", Some(0)).is_err());
        assert!(point("x", None, "y", Some(0)).unwrap_err().to_string().contains("x is required"));
    }

    #[test]
    fn mouse_down_moves_only_with_both_coordinates() {
        assert_eq!(MouseButtonAction::parse(Some(3), None, None, true).unwrap().at, None);
        assert_eq!(
            MouseButtonAction::parse(Some(3), Some(4), None, true).unwrap().at,
            Some(Point { x: 3, y: 4 })
        );
    }

    #[test]
    fn typing_is_bounded() {
        assert_eq!(
            TypeText::parse(Some("a\r\nb"), Some(5)).unwrap(),
            TypeText { text: "a\nb".into(), delay_ms: 5 }
        );
        assert!(TypeText::parse(Some("x"), Some(-1)).is_err());
        assert!(TypeText::parse(None, None).is_err());
        assert!(TypeText::parse(Some(&"x".repeat(1000)), Some(1000)).is_err());
    }

    #[test]
    fn screenshot_parameters_get_the_contract_messages() {
        let message =
            |params: ScreenshotParams<'_>, region: bool| params.compressed(region).unwrap_err().to_string();
        assert_eq!(message(ScreenshotParams::default(), true), "missing required query parameter: x");
        let region = ScreenshotParams {
            x: Some("-3"),
            y: Some("4"),
            width: Some("0"),
            height: Some("5"),
            ..Default::default()
        };
        assert_eq!(message(region.clone(), true), "width: must be greater than zero");
        let ok = ScreenshotParams { width: Some("10"), ..region };
        assert_eq!(ok.plain(true).unwrap().region, Some(Rect { x: -3, y: 4, width: 10, height: 5 }));
        let quality = ScreenshotParams { quality: Some("0"), ..Default::default() };
        assert_eq!(message(quality, false), "quality: must be between 1 and 100");
        let scale = ScreenshotParams { scale: Some("1.5"), ..Default::default() };
        assert_eq!(message(scale, false), "scale: must be between 0.1 and 1.0");
    }

    #[test]
    fn an_unknown_format_is_a_full_size_png() {
        let params = ScreenshotParams { format: Some("webp"), scale: Some("0.5"), ..Default::default() };
        let spec = params.compressed(false).unwrap();
        assert_eq!((spec.format, spec.scale), (ImageFormat::Png, 1.0));
        let params = ScreenshotParams {
            format: Some("jpeg"),
            quality: Some("20"),
            show_cursor: Some("True"),
            ..Default::default()
        };
        let spec = params.compressed(false).unwrap();
        assert_eq!((spec.format, spec.show_cursor), (ImageFormat::Jpeg { quality: 20 }, true));
    }
}
