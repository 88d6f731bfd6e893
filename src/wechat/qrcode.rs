//! Rendering a QR code's content (the `url` from `qrcode/create`) to a PNG image, locally.
//!
//! WeChat's `showqrcode` would serve the image too, but rendering the `url` ourselves needs no
//! network and no ticket. The image is 8-bit greyscale: black modules on white, with the
//! 4-module quiet zone the QR standard asks for, at [`PIXELS_PER_MODULE`] pixels per module.

use qrcode::{Color, QrCode};
use thiserror::Error;

/// How many pixels wide (and high) one QR module is drawn.
pub const PIXELS_PER_MODULE: usize = 8;

/// How many light modules surround the code on each side.
pub const QUIET_ZONE_MODULES: usize = 4;

const BLACK: u8 = 0;
const WHITE: u8 = 255;

/// Why a QR code could not be rendered.
#[derive(Debug, Error)]
pub enum QrRenderError {
    /// The content does not fit in a QR code (too long for version 40).
    #[error("the qr content ({len} bytes) cannot be encoded: {source}; shorten it")]
    Encode {
        /// The content's length in bytes.
        len: usize,
        /// What the QR encoder said.
        source: qrcode::types::QrError,
    },
    /// The PNG encoder failed.
    #[error("the qr image could not be written as png: {0}")]
    Png(#[from] png::EncodingError),
}

/// Renders `content` as a QR code PNG: black on white, quiet zone included.
pub fn render_png(content: &str) -> Result<Vec<u8>, QrRenderError> {
    let code = QrCode::new(content.as_bytes()).map_err(|source| QrRenderError::Encode {
        len: content.len(),
        source,
    })?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PIXELS_PER_MODULE;

    let mut pixels = vec![WHITE; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let x0 = (index % modules + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE;
        let y0 = (index / modules + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE;
        for y in y0..y0 + PIXELS_PER_MODULE {
            pixels[y * side + x0..y * side + x0 + PIXELS_PER_MODULE].fill(BLACK);
        }
    }

    // A version-40 code is 177 modules, so `side` is at most 1480: it fits in u32.
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, colour type, pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut buf).expect("one frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, info.color_type, buf)
    }

    #[test]
    fn renders_a_decodable_black_on_white_png_with_a_quiet_zone() {
        let content = "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI";
        let modules = QrCode::new(content).unwrap().width();
        let (width, height, color, pixels) = decode(&render_png(content).unwrap());

        let side = (modules + 2 * QUIET_ZONE_MODULES) * PIXELS_PER_MODULE;
        assert_eq!((width as usize, height as usize), (side, side));
        assert_eq!(color, png::ColorType::Grayscale);
        assert!(pixels.iter().all(|p| *p == BLACK || *p == WHITE));
        let quiet = QUIET_ZONE_MODULES * PIXELS_PER_MODULE;
        for i in 0..side {
            for j in 0..quiet {
                assert_eq!(pixels[j * side + i], WHITE, "top margin at ({i},{j})");
                assert_eq!(pixels[i * side + j], WHITE, "left margin at ({j},{i})");
            }
        }
        // The finder pattern's top-left corner is dark, right after the quiet zone.
        assert_eq!(pixels[quiet * side + quiet], BLACK);
    }

    #[test]
    fn different_content_gives_different_images() {
        let a = decode(&render_png("http://127.0.0.1/q/QR_STR_SCENE/expo-2026").unwrap());
        let b = decode(&render_png("http://127.0.0.1/q/QR_STR_SCENE/expo-2027").unwrap());
        assert_eq!((a.0, a.1), (b.0, b.1));
        assert_ne!(a.3, b.3);
    }

    #[test]
    fn content_too_long_for_a_qr_code_is_an_error() {
        let err = render_png(&"x".repeat(8000)).unwrap_err();
        assert!(matches!(err, QrRenderError::Encode { len: 8000, .. }));
    }
}
