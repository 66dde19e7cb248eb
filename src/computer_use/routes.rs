//! HTTP routes for `/computeruse/{mouse,keyboard,screenshot,display}`: each handler checks its
//! input, calls one `ComputerUseService` function and converts the answer.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;

use crate::computer_use::input::{self, Click, Drag, MouseButtonAction, ScreenshotParams, Scroll, TypeText};
use crate::computer_use::types::{
    DisplayInfoResponse, Empty, KeyboardHotkeyRequest, KeyboardKeyRequest, KeyboardPressRequest,
    KeyboardTypeRequest, MouseButtonRequest, MouseClickRequest, MouseDragRequest, MouseMoveRequest,
    MousePositionResponse, MouseScrollRequest, ScreenshotQuery, ScreenshotResponse, ScrollResponse,
    WindowsResponse,
};
use crate::computer_use::{ComputerUseError, ComputerUseService, keys};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Query};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(get_mouse_position))
        .routes(routes!(move_mouse))
        .routes(routes!(click))
        .routes(routes!(drag))
        .routes(routes!(scroll))
        .routes(routes!(mouse_down))
        .routes(routes!(mouse_up))
        .routes(routes!(type_text))
        .routes(routes!(press_key))
        .routes(routes!(press_hotkey))
        .routes(routes!(key_down))
        .routes(routes!(key_up))
        .routes(routes!(take_screenshot))
        .routes(routes!(take_region_screenshot))
        .routes(routes!(take_compressed_screenshot))
        .routes(routes!(take_compressed_region_screenshot))
        .routes(routes!(get_display_info))
        .routes(routes!(get_windows))
}

fn required<'a>(name: &str, value: &'a Option<String>) -> Result<&'a str, ComputerUseError> {
    value.as_deref().ok_or_else(|| ComputerUseError::InvalidParameter(format!("{name} is required")))
}

/// Where the pointer is.
#[utoipa::path(get, path = "/computeruse/mouse/position", tag = "computer-use", operation_id = "GetMousePosition",
    responses((status = 200, body = MousePositionResponse), (status = 500, body = ErrorEnvelope),
        (status = 503, body = ErrorEnvelope)))]
async fn get_mouse_position(
    State(cu): State<ComputerUseService>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    Ok(axum::Json(cu.mouse_position().await?.into()))
}

/// Moves the pointer; answers where it is afterwards (the screen's edge clamps it).
#[utoipa::path(post, path = "/computeruse/mouse/move", tag = "computer-use", operation_id = "MoveMouse",
    request_body = MouseMoveRequest, responses((status = 200, body = MousePositionResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn move_mouse(
    State(cu): State<ComputerUseService>,
    Json(request): Json<MouseMoveRequest>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    let to = input::point("x", request.x, "y", request.y)?;
    Ok(axum::Json(cu.mouse_move(to).await?.into()))
}

/// Moves, then clicks `clicks` times (or twice for `double`) with `modifiers` held.
#[utoipa::path(post, path = "/computeruse/mouse/click", tag = "computer-use", operation_id = "Click",
    request_body = MouseClickRequest, responses((status = 200, body = MousePositionResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn click(
    State(cu): State<ComputerUseService>,
    Json(r): Json<MouseClickRequest>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    let at = input::point("x", r.x, "y", r.y)?;
    let modifiers = r.modifiers.unwrap_or_default();
    let click = Click::parse(at, r.button.as_deref(), r.double, r.clicks, &modifiers)?;
    Ok(axum::Json(cu.click(click).await?.into()))
}

/// Presses at the start, moves in steps to the end and releases there.
#[utoipa::path(post, path = "/computeruse/mouse/drag", tag = "computer-use", operation_id = "Drag",
    request_body = MouseDragRequest, responses((status = 200, body = MousePositionResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn drag(
    State(cu): State<ComputerUseService>,
    Json(r): Json<MouseDragRequest>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    let from = input::point("startX", r.start_x, "startY", r.start_y)?;
    let to = input::point("endX", r.end_x, "endY", r.end_y)?;
    let drag = Drag::parse(from, to, r.button.as_deref(), &r.modifiers.unwrap_or_default())?;
    Ok(axum::Json(cu.drag(drag).await?.into()))
}

/// Turns the wheel `amount` notches up, down, left or right at a point.
#[utoipa::path(post, path = "/computeruse/mouse/scroll", tag = "computer-use", operation_id = "Scroll",
    request_body = MouseScrollRequest, responses((status = 200, body = ScrollResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn scroll(
    State(cu): State<ComputerUseService>,
    Json(r): Json<MouseScrollRequest>,
) -> ApiResult<axum::Json<ScrollResponse>> {
    let at = input::point("x", r.x, "y", r.y)?;
    let direction = required("direction", &r.direction)?;
    cu.scroll(Scroll::parse(at, direction, r.amount, &r.modifiers.unwrap_or_default())?).await?;
    Ok(axum::Json(ScrollResponse { success: true }))
}

/// Presses and holds a button, first moving when both coordinates are given.
#[utoipa::path(post, path = "/computeruse/mouse/down", tag = "computer-use", operation_id = "MouseDown",
    request_body = MouseButtonRequest, responses((status = 200, body = MousePositionResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn mouse_down(
    State(cu): State<ComputerUseService>,
    Json(r): Json<MouseButtonRequest>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    let action = MouseButtonAction::parse(r.x, r.y, r.button.as_deref(), true)?;
    Ok(axum::Json(cu.mouse_button(action).await?.into()))
}

/// Releases a held button, first moving when both coordinates are given.
#[utoipa::path(post, path = "/computeruse/mouse/up", tag = "computer-use", operation_id = "MouseUp",
    request_body = MouseButtonRequest, responses((status = 200, body = MousePositionResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn mouse_up(
    State(cu): State<ComputerUseService>,
    Json(r): Json<MouseButtonRequest>,
) -> ApiResult<axum::Json<MousePositionResponse>> {
    let action = MouseButtonAction::parse(r.x, r.y, r.button.as_deref(), false)?;
    Ok(axum::Json(cu.mouse_button(action).await?.into()))
}

/// Types text; each line end is an Enter key, `delay` ms pass after every character.
#[utoipa::path(post, path = "/computeruse/keyboard/type", tag = "computer-use", operation_id = "TypeText",
    request_body = KeyboardTypeRequest, responses((status = 200, body = Empty),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn type_text(
    State(cu): State<ComputerUseService>,
    Json(r): Json<KeyboardTypeRequest>,
) -> ApiResult<axum::Json<Empty>> {
    cu.type_text(TypeText::parse(r.text.as_deref(), r.delay)?).await?;
    Ok(axum::Json(Empty {}))
}

/// Taps one key with modifiers held.
#[utoipa::path(post, path = "/computeruse/keyboard/key", tag = "computer-use", operation_id = "PressKey",
    request_body = KeyboardPressRequest, responses((status = 200, body = Empty),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn press_key(
    State(cu): State<ComputerUseService>,
    Json(r): Json<KeyboardPressRequest>,
) -> ApiResult<axum::Json<Empty>> {
    let (key, modifiers) = keys::parse_press(required("key", &r.key)?, &r.modifiers.unwrap_or_default())?;
    cu.press(key, modifiers).await?;
    Ok(axum::Json(Empty {}))
}

/// Presses one chord such as `ctrl+shift+t`.
#[utoipa::path(post, path = "/computeruse/keyboard/hotkey", tag = "computer-use", operation_id = "PressHotkey",
    request_body = KeyboardHotkeyRequest, responses((status = 200, body = Empty),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn press_hotkey(
    State(cu): State<ComputerUseService>,
    Json(r): Json<KeyboardHotkeyRequest>,
) -> ApiResult<axum::Json<Empty>> {
    let (key, modifiers) = keys::parse_hotkey(required("keys", &r.keys)?)?;
    cu.press(key, modifiers).await?;
    Ok(axum::Json(Empty {}))
}

/// Presses a key and holds it until `keyboard/up`.
#[utoipa::path(post, path = "/computeruse/keyboard/down", tag = "computer-use", operation_id = "KeyDown",
    request_body = KeyboardKeyRequest, responses((status = 200, body = Empty),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn key_down(
    State(cu): State<ComputerUseService>,
    Json(r): Json<KeyboardKeyRequest>,
) -> ApiResult<axum::Json<Empty>> {
    cu.key_toggle(keys::parse_key(required("key", &r.key)?)?, true).await?;
    Ok(axum::Json(Empty {}))
}

/// Releases a held key.
#[utoipa::path(post, path = "/computeruse/keyboard/up", tag = "computer-use", operation_id = "KeyUp",
    request_body = KeyboardKeyRequest, responses((status = 200, body = Empty),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn key_up(
    State(cu): State<ComputerUseService>,
    Json(r): Json<KeyboardKeyRequest>,
) -> ApiResult<axum::Json<Empty>> {
    cu.key_toggle(keys::parse_key(required("key", &r.key)?)?, false).await?;
    Ok(axum::Json(Empty {}))
}

fn params(q: &ScreenshotQuery) -> ScreenshotParams<'_> {
    ScreenshotParams {
        x: q.x.as_deref(),
        y: q.y.as_deref(),
        width: q.width.as_deref(),
        height: q.height.as_deref(),
        show_cursor: q.show_cursor.as_deref(),
        format: q.format.as_deref(),
        quality: q.quality.as_deref(),
        scale: q.scale.as_deref(),
    }
}

/// A PNG of the whole screen.
#[utoipa::path(get, path = "/computeruse/screenshot", tag = "computer-use", operation_id = "TakeScreenshot",
    params(ScreenshotQuery), responses((status = 200, body = ScreenshotResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn take_screenshot(
    State(cu): State<ComputerUseService>,
    Query(q): Query<ScreenshotQuery>,
) -> ApiResult<axum::Json<ScreenshotResponse>> {
    let image = cu.screenshot(params(&q).plain(false)?).await?;
    Ok(axum::Json(ScreenshotResponse::new(image, false)))
}

/// A PNG of a rectangle of the screen.
#[utoipa::path(get, path = "/computeruse/screenshot/region", tag = "computer-use", operation_id = "TakeRegionScreenshot",
    params(ScreenshotQuery), responses((status = 200, body = ScreenshotResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn take_region_screenshot(
    State(cu): State<ComputerUseService>,
    Query(q): Query<ScreenshotQuery>,
) -> ApiResult<axum::Json<ScreenshotResponse>> {
    let image = cu.screenshot(params(&q).plain(true)?).await?;
    Ok(axum::Json(ScreenshotResponse::new(image, false)))
}

/// The whole screen as PNG or JPEG, optionally scaled down.
#[utoipa::path(get, path = "/computeruse/screenshot/compressed", tag = "computer-use",
    operation_id = "TakeCompressedScreenshot", params(ScreenshotQuery), responses((status = 200, body = ScreenshotResponse),
        (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn take_compressed_screenshot(
    State(cu): State<ComputerUseService>,
    Query(q): Query<ScreenshotQuery>,
) -> ApiResult<axum::Json<ScreenshotResponse>> {
    let image = cu.screenshot(params(&q).compressed(false)?).await?;
    Ok(axum::Json(ScreenshotResponse::new(image, true)))
}

/// A rectangle of the screen as PNG or JPEG, optionally scaled down.
#[utoipa::path(get, path = "/computeruse/screenshot/region/compressed", tag = "computer-use",
    operation_id = "TakeCompressedRegionScreenshot", params(ScreenshotQuery),
    responses((status = 200, body = ScreenshotResponse), (status = 400, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn take_compressed_region_screenshot(
    State(cu): State<ComputerUseService>,
    Query(q): Query<ScreenshotQuery>,
) -> ApiResult<axum::Json<ScreenshotResponse>> {
    let image = cu.screenshot(params(&q).compressed(true)?).await?;
    Ok(axum::Json(ScreenshotResponse::new(image, true)))
}

/// The monitors of the X screen.
#[utoipa::path(get, path = "/computeruse/display/info", tag = "computer-use", operation_id = "GetDisplayInfo",
    responses((status = 200, body = DisplayInfoResponse), (status = 500, body = ErrorEnvelope),
        (status = 503, body = ErrorEnvelope)))]
async fn get_display_info(
    State(cu): State<ComputerUseService>,
) -> ApiResult<axum::Json<DisplayInfoResponse>> {
    Ok(axum::Json(cu.displays().await?.into()))
}

/// The window manager's application windows with titles, geometry and the active flag.
#[utoipa::path(get, path = "/computeruse/display/windows", tag = "computer-use", operation_id = "GetWindows",
    responses((status = 200, body = WindowsResponse), (status = 500, body = ErrorEnvelope),
        (status = 503, body = ErrorEnvelope)))]
async fn get_windows(State(cu): State<ComputerUseService>) -> ApiResult<axum::Json<WindowsResponse>> {
    Ok(axum::Json(cu.windows().await?.into()))
}
