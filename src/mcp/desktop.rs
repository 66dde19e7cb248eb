//! Desktop tools: a screenshot as image content, mouse moves and clicks, typing and key chords;
//! thin calls into `computer_use` (the same checks and the same desktop helper as the HTTP
//! routes). They are listed only when the desktop helper is installed; without a display they
//! answer a tool error with the daemon's 503 message, which says how to start one.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use serde_json::json;
use toolboxd_desktop_protocol::ImageFormat;

use super::McpServer;
use super::reply::{ToolResult, done, failed, reply};
use crate::computer_use::input::{self, Click, ScreenshotParams, TypeText};
use crate::computer_use::{ComputerUseError, keys};

/// The names of this module's tools, which the server lists only when the helper is installed.
pub(crate) const TOOLS: [&str; 5] = ["screenshot", "click", "move_mouse", "type_text", "press_keys"];

/// A screenshot the caller does not scale fits in this box: large enough to read a desktop's
/// text, small enough for a model's image input.
const FIT_WIDTH: u32 = 1280;
const FIT_HEIGHT: u32 = 800;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Region {
    /// Left edge, in screen pixels.
    x: i64,
    /// Top edge, in screen pixels.
    y: i64,
    /// Width in screen pixels.
    width: i64,
    /// Height in screen pixels.
    height: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Png,
    Jpeg,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Screenshot {
    /// Only this rectangle of the screen. Default: the whole screen.
    region: Option<Region>,
    /// Resize factor from 0.1 to 1.0. Default: the largest factor (at most 1.0) that fits the
    /// image in 1280x800. Coordinates for click and move_mouse are always screen pixels, so
    /// divide image coordinates by this factor (the result says which factor was used).
    scale: Option<f32>,
    /// png (default; sharp text) or jpeg (smaller).
    format: Option<Format>,
    /// JPEG quality from 1 to 100. Default 85.
    quality: Option<u8>,
    /// Draw a red crosshair where the mouse pointer is and report its position. Default false.
    #[serde(default)]
    show_cursor: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ClickAt {
    /// Horizontal screen coordinate in pixels (0 is the left edge).
    x: i64,
    /// Vertical screen coordinate in pixels (0 is the top edge).
    y: i64,
    /// left (default), right or middle.
    button: Option<String>,
    /// Number of clicks, 1 to 10. Default 1; 2 is a double click.
    clicks: Option<i64>,
    /// Keys held during the click: ctrl, alt, shift, cmd (super). Default none.
    #[serde(default)]
    modifiers: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct MoveTo {
    /// Horizontal screen coordinate in pixels (0 is the left edge).
    x: i64,
    /// Vertical screen coordinate in pixels (0 is the top edge).
    y: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct TypeInto {
    /// The text to type, as on a US keyboard. A newline presses Enter; tabs and other control
    /// characters are refused (press them with press_keys).
    text: String,
    /// Milliseconds to wait after each character, 0 to 10000. Default 0.
    delay_ms: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Keys {
    /// One key or one chord of keys joined by "+", the last one the main key: "enter", "tab",
    /// "escape", "backspace", "delete", "up", "pagedown", "f5", "a", "ctrl+c", "ctrl+shift+t",
    /// "alt+f4". Shifted symbols are written with shift: "shift+1" for "!".
    keys: String,
}

/// `scale` given, else the factor that fits a `width` x `height` image in the default box.
fn fitting_scale(scale: Option<f32>, width: u32, height: u32) -> f32 {
    scale.unwrap_or_else(|| {
        let fit = (FIT_WIDTH as f32 / width.max(1) as f32).min(FIT_HEIGHT as f32 / height.max(1) as f32);
        // Two decimals keep the factor readable for the model; 0.1 is the smallest allowed.
        ((fit * 100.0).floor() / 100.0).clamp(0.1, 1.0)
    })
}

#[tool_router(router = desktop_tools, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "Take a screenshot of the sandbox's desktop (its X display) and return it \
        as an image. By default the whole screen, scaled down to fit 1280x800; the text part of \
        the result gives the screen size and the scale factor. click and move_mouse take screen \
        pixels: screen x = region x + image x / scale. Needs a running desktop (POST \
        /computeruse/start, or an X server at DISPLAY).")]
    async fn screenshot(&self, Parameters(p): Parameters<Screenshot>) -> ToolResult {
        let cu = &self.state.computer_use;
        let (width, height) = match &p.region {
            Some(r) => (r.width.clamp(1, u32::MAX.into()) as u32, r.height.clamp(1, u32::MAX.into()) as u32),
            None => match cu.displays().await {
                Ok(displays) => match displays.iter().find(|d| d.primary).or(displays.first()) {
                    Some(d) => (d.width, d.height),
                    None => {
                        return failed(ComputerUseError::Failed(
                            "the X server reports no monitor".to_owned(),
                        ));
                    }
                },
                Err(err) => return failed(err),
            },
        };
        let scale = fitting_scale(p.scale, width, height).to_string();
        let quality = p.quality.map(|q| q.to_string());
        let region = p.region.as_ref().map(|r| [r.x, r.y, r.width, r.height].map(|v| v.to_string()));
        let params = ScreenshotParams {
            x: region.as_ref().map(|r| r[0].as_str()),
            y: region.as_ref().map(|r| r[1].as_str()),
            width: region.as_ref().map(|r| r[2].as_str()),
            height: region.as_ref().map(|r| r[3].as_str()),
            show_cursor: Some(if p.show_cursor { "true" } else { "false" }),
            format: Some(match p.format {
                Some(Format::Jpeg) => "jpeg",
                _ => "png",
            }),
            quality: quality.as_deref(),
            scale: Some(&scale),
        };
        let spec = match params.compressed(p.region.is_some()) {
            Ok(spec) => spec,
            Err(err) => return failed(err),
        };
        let (mime, format) = match spec.format {
            ImageFormat::Jpeg { .. } => ("image/jpeg", "jpeg"),
            ImageFormat::Png => ("image/png", "png"),
        };
        let (scale, origin) = (spec.scale, spec.region.map_or((0, 0), |r| (r.x, r.y)));
        let image = match cu.screenshot(spec).await {
            Ok(image) => image,
            Err(err) => return failed(err),
        };
        let mut text = format!(
            "{format} screenshot, {}x{} pixels, of the {} {width}x{height} at ({}, {}), scale {scale}: \
             screen x = {} + image x / {scale}, screen y = {} + image y / {scale}.",
            image.width,
            image.height,
            if p.region.is_some() { "region" } else { "screen" },
            origin.0,
            origin.1,
            origin.0,
            origin.1,
        );
        if let Some(cursor) = image.cursor {
            text.push_str(&format!(" The mouse pointer is at ({}, {}) on the screen.", cursor.x, cursor.y));
        }
        let mut result =
            CallToolResult::success(vec![ContentBlock::image(image.base64, mime), ContentBlock::text(text)]);
        result.structured_content = Some(json!({
            "format": format,
            "width": image.width,
            "height": image.height,
            "sizeBytes": image.size_bytes,
            "scale": scale,
            "origin": {"x": origin.0, "y": origin.1},
            "cursor": image.cursor.map(|c| json!({"x": c.x, "y": c.y})),
        }));
        Ok(result)
    }

    #[tool(description = "Move the mouse pointer to a point on the screen and click there: left \
        button by default, right or middle; clicks=2 double-clicks; modifiers are held during the \
        click (e.g. [\"ctrl\"]). Coordinates are screen pixels (see screenshot for converting \
        from a scaled image). Returns where the pointer ended up.")]
    async fn click(&self, Parameters(p): Parameters<ClickAt>) -> ToolResult {
        let outcome = async {
            let at = input::point("x", Some(p.x), "y", Some(p.y))?;
            let click = Click::parse(at, p.button.as_deref(), None, p.clicks, &p.modifiers)?;
            let (button, clicks) = (click.button, click.clicks);
            let at = self.state.computer_use.click(click).await?;
            Ok::<_, ComputerUseError>((at, button, clicks))
        }
        .await;
        reply(outcome, |(at, button, clicks)| {
            let button = format!("{button:?}").to_ascii_lowercase();
            done(
                format!("clicked the {button} button {clicks} time(s) at ({}, {})", at.x, at.y),
                json!({"x": at.x, "y": at.y, "button": button, "clicks": clicks}),
            )
        })
    }

    #[tool(description = "Move the mouse pointer to a point on the screen without clicking (to \
        hover, or before a drag). Coordinates are screen pixels; points off the screen stop at \
        its edge. Returns where the pointer ended up.")]
    async fn move_mouse(&self, Parameters(p): Parameters<MoveTo>) -> ToolResult {
        let outcome = async {
            let to = input::point("x", Some(p.x), "y", Some(p.y))?;
            self.state.computer_use.mouse_move(to).await
        }
        .await;
        reply(outcome, |at| {
            done(format!("the pointer is at ({}, {})", at.x, at.y), json!({"x": at.x, "y": at.y}))
        })
    }

    #[tool(description = "Type text with the keyboard into whatever has the focus (click a field \
        or window first). A newline in the text presses Enter. For single keys and shortcuts \
        such as Tab, Escape or Ctrl+C use press_keys.")]
    async fn type_text(&self, Parameters(p): Parameters<TypeInto>) -> ToolResult {
        let outcome = async {
            let typing = TypeText::parse(Some(&p.text), p.delay_ms)?;
            let count = typing.text.chars().count();
            self.state.computer_use.type_text(typing).await?;
            Ok::<_, ComputerUseError>(count)
        }
        .await;
        reply(outcome, |count| done(format!("typed {count} characters"), json!({"characters": count})))
    }

    #[tool(description = "Press one key or a key chord once, e.g. \"enter\", \"tab\", \"escape\", \
        \"ctrl+c\", \"ctrl+shift+t\", \"alt+f4\", \"super\". Modifiers (ctrl, alt, shift, cmd/super) \
        are held while the last key is pressed and released.")]
    async fn press_keys(&self, Parameters(p): Parameters<Keys>) -> ToolResult {
        let outcome = async {
            let (key, modifiers) = keys::parse_hotkey(&p.keys)?;
            self.state.computer_use.press(key, modifiers).await
        }
        .await;
        reply(outcome, |()| done(format!("pressed {}", p.keys), json!({"keys": p.keys})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scale_fits_the_box_and_a_given_one_wins() {
        assert_eq!(fitting_scale(None, 1280, 800), 1.0);
        assert_eq!(fitting_scale(None, 1024, 768), 1.0);
        assert_eq!(fitting_scale(None, 1920, 1080), 0.66);
        assert_eq!(fitting_scale(None, 2560, 1600), 0.5);
        assert_eq!(fitting_scale(None, 100_000, 100), 0.1);
        assert_eq!(fitting_scale(Some(0.3), 1920, 1080), 0.3);
    }
}
