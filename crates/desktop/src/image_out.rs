//! Turning a captured frame into the image a client gets: scaled, with the pointer drawn, and
//! encoded as PNG or JPEG.

use std::io::Cursor;

use base64::Engine as _;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use toolboxd_desktop_protocol::{ErrorKind, HelperError, Image, ImageFormat, Point};

/// Half the length of the crosshair's arms: the reference daemon draws 41 pixels across.
const CROSSHAIR_ARM: i64 = 20;

/// Scales `frame` (nearest neighbour), draws the crosshair at `cursor` (given relative to the
/// frame's top-left, before scaling) and encodes it. The caller fills in [`Image::cursor`].
pub(crate) fn finish(
    frame: RgbImage,
    scale: f32,
    cursor: Option<Point>,
    format: ImageFormat,
) -> Result<Image, HelperError> {
    let mut frame = frame;
    if scale < 1.0 {
        let width = ((frame.width() as f32 * scale).round() as u32).max(1);
        let height = ((frame.height() as f32 * scale).round() as u32).max(1);
        frame = imageops::resize(&frame, width, height, FilterType::Nearest);
    }
    if let Some(at) = cursor {
        let x = (f64::from(at.x) * f64::from(scale)).round() as i64;
        let y = (f64::from(at.y) * f64::from(scale)).round() as i64;
        draw_crosshair(&mut frame, x, y);
    }
    let bytes = encode(&frame, format)?;
    let image = Image {
        base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        size_bytes: bytes.len() as u64,
        width: frame.width(),
        height: frame.height(),
        cursor: None,
    };
    Ok(image)
}

fn encode(frame: &RgbImage, format: ImageFormat) -> Result<Vec<u8>, HelperError> {
    // A screen compresses well; start with room for a tenth of the raw size.
    let mut out = Cursor::new(Vec::with_capacity(frame.as_raw().len() / 10));
    let result =
        match format {
            // Fast compression: screens are mostly flat colour, where it costs little size.
            ImageFormat::Png => {
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
                    .write_image(frame.as_raw(), frame.width(), frame.height(), ExtendedColorType::Rgb8)
            }
            ImageFormat::Jpeg { quality } => JpegEncoder::new_with_quality(&mut out, quality).write_image(
                frame.as_raw(),
                frame.width(),
                frame.height(),
                ExtendedColorType::Rgb8,
            ),
        };
    result.map_err(|err| {
        HelperError::new(ErrorKind::Failed, format!("encoding the screenshot failed: {err}"))
    })?;
    Ok(out.into_inner())
}

/// A crosshair 41 pixels across: white arms edged in black, a red centre, clipped to the image.
fn draw_crosshair(frame: &mut RgbImage, cx: i64, cy: i64) {
    const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
    const RED: Rgb<u8> = Rgb([255, 0, 0]);
    let (width, height) = (i64::from(frame.width()), i64::from(frame.height()));
    let mut put = |x: i64, y: i64, colour: Rgb<u8>| {
        if (0..width).contains(&x) && (0..height).contains(&y) {
            frame.put_pixel(x as u32, y as u32, colour);
        }
    };
    for d in -CROSSHAIR_ARM..=CROSSHAIR_ARM {
        for edge in [-1, 1] {
            put(cx + d, cy + edge, BLACK);
            put(cx + edge, cy + d, BLACK);
        }
    }
    for d in -CROSSHAIR_ARM..=CROSSHAIR_ARM {
        put(cx + d, cy, WHITE);
        put(cx, cy + d, WHITE);
    }
    for dx in -1..=1 {
        for dy in -1..=1 {
            put(cx + dx, cy + dy, RED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: u32, height: u32) -> RgbImage {
        RgbImage::from_pixel(width, height, Rgb([0, 0, 255]))
    }

    fn decode(image: &Image) -> image::DynamicImage {
        let bytes = base64::engine::general_purpose::STANDARD.decode(&image.base64).unwrap();
        assert_eq!(bytes.len() as u64, image.size_bytes);
        image::load_from_memory(&bytes).unwrap()
    }

    #[test]
    fn scaling_gives_the_scaled_size() {
        let image = finish(frame(200, 100), 0.5, None, ImageFormat::Png).unwrap();
        let decoded = decode(&image);
        assert_eq!((decoded.width(), decoded.height()), (100, 50));
        assert_eq!(decoded.to_rgb8().get_pixel(10, 10), &Rgb([0, 0, 255]));
    }

    #[test]
    fn the_crosshair_has_a_red_centre_where_the_pointer_is() {
        let image = finish(frame(100, 100), 1.0, Some(Point { x: 30, y: 40 }), ImageFormat::Png).unwrap();
        let decoded = decode(&image).to_rgb8();
        assert_eq!(decoded.get_pixel(30, 40), &Rgb([255, 0, 0]));
        assert_eq!(decoded.get_pixel(45, 40), &Rgb([255, 255, 255]));
        assert_eq!(decoded.get_pixel(80, 80), &Rgb([0, 0, 255]));
    }

    #[test]
    fn low_jpeg_quality_is_smaller() {
        let mut noisy = frame(256, 256);
        for (x, y, pixel) in noisy.enumerate_pixels_mut() {
            *pixel = Rgb([(x * 7 + y * 13) as u8, (x * y) as u8, (x ^ y) as u8]);
        }
        let low = finish(noisy.clone(), 1.0, None, ImageFormat::Jpeg { quality: 10 }).unwrap();
        let high = finish(noisy, 1.0, None, ImageFormat::Jpeg { quality: 95 }).unwrap();
        assert!(low.size_bytes < high.size_bytes, "{} >= {}", low.size_bytes, high.size_bytes);
        assert_eq!(decode(&low).width(), 256);
    }
}
