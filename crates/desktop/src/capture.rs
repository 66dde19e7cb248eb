//! Screenshots: xcap captures the display's first monitor (the primary one when RandR names
//! one), the whole of it or a region, and `image_out` scales, marks the pointer and encodes.

use image::DynamicImage;
use toolboxd_desktop_protocol::{ErrorKind, HelperError, Image, Point, Rect, ScreenshotSpec};
use xcap::Monitor;

use crate::image_out;
use crate::x11::X;

fn failed(err: impl std::fmt::Display) -> HelperError {
    HelperError::new(ErrorKind::Failed, format!("capturing the screen failed: {err}"))
}

pub(crate) fn screenshot(x: &X, spec: &ScreenshotSpec) -> Result<Image, HelperError> {
    let monitor = display_zero()?;
    let screen = Rect {
        x: monitor.x().map_err(failed)?,
        y: monitor.y().map_err(failed)?,
        width: monitor.width().map_err(failed)?,
        height: monitor.height().map_err(failed)?,
    };
    let (area, frame) = match spec.region {
        None => (screen, monitor.capture_image().map_err(failed)?),
        Some(region) => {
            let (dx, dy) = within(region, screen)?;
            (region, monitor.capture_region(dx, dy, region.width, region.height).map_err(failed)?)
        }
    };
    let pointer = if spec.show_cursor { Some(x.pointer()?) } else { None };
    let in_frame = pointer.map(|p| Point { x: p.x - area.x, y: p.y - area.y });
    let frame = DynamicImage::ImageRgba8(frame).into_rgb8();
    let mut image = image_out::finish(frame, spec.scale, in_frame, spec.format)?;
    image.cursor = pointer;
    Ok(image)
}

/// The monitor the contract calls display 0: RandR's primary one, else the first.
fn display_zero() -> Result<Monitor, HelperError> {
    let monitors = Monitor::all().map_err(failed)?;
    let primary = monitors.iter().position(|m| m.is_primary().unwrap_or(false)).unwrap_or(0);
    monitors.into_iter().nth(primary).ok_or_else(|| failed("the X server lists no monitor"))
}

/// The region's offset inside `screen`, or why it does not fit.
fn within(region: Rect, screen: Rect) -> Result<(u32, u32), HelperError> {
    let (dx, dy) = (i64::from(region.x) - i64::from(screen.x), i64::from(region.y) - i64::from(screen.y));
    let fits = dx >= 0
        && dy >= 0
        && dx + i64::from(region.width) <= i64::from(screen.width)
        && dy + i64::from(region.height) <= i64::from(screen.height);
    if !fits {
        return Err(HelperError::new(
            ErrorKind::InvalidInput,
            format!(
                "region {}x{} at {},{} extends beyond the {}x{} screen at {},{}",
                region.width,
                region.height,
                region.x,
                region.y,
                screen.width,
                screen.height,
                screen.x,
                screen.y
            ),
        ));
    }
    Ok((dx as u32, dy as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Rect = Rect { x: 0, y: 0, width: 1280, height: 800 };

    #[test]
    fn a_region_must_lie_on_the_screen() {
        assert_eq!(within(Rect { x: 10, y: 20, width: 300, height: 200 }, SCREEN).unwrap(), (10, 20));
        assert_eq!(within(Rect { x: 0, y: 0, width: 1280, height: 800 }, SCREEN).unwrap(), (0, 0));
        for bad in [
            Rect { x: -1, y: 0, width: 10, height: 10 },
            Rect { x: 1200, y: 0, width: 81, height: 10 },
            Rect { x: 0, y: 799, width: 10, height: 2 },
        ] {
            let err = within(bad, SCREEN).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput);
            assert!(err.message.contains("beyond"), "{}", err.message);
        }
    }
}
