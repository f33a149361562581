//! Image decoding: format sniffing, size limits before pixels are decoded, EXIF orientation.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::{Result, VisionError};

/// Largest image accepted, in megapixels; larger ones are rejected before decoding.
pub const MAX_MEGAPIXELS: u32 = 50;
/// Smallest side accepted; nothing smaller can hold a readable plate.
pub const MIN_SIDE: u32 = 16;

/// Reads and decodes an image file.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| VisionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_image(&bytes)
}

/// Decodes JPEG, PNG, WebP or BMP bytes into RGB, upright as the EXIF orientation says.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    let format = image::guess_format(bytes).map_err(|_| VisionError::UnknownFormat)?;
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(VisionError::Decode(
            "truncated JPEG: no end-of-image marker after the last scan".into(),
        ));
    }
    // Read the header alone first, so a huge declared size is refused before any pixels.
    let mut probe = ImageReader::with_format(Cursor::new(bytes), format);
    probe.no_limits();
    let (width, height) = probe.into_dimensions().map_err(map_image_error)?;
    check_dimensions(width, height)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(u64::from(MAX_MEGAPIXELS) * 1_000_000 * 4 + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(image.into_rgb8())
}

/// Rejects images too small to hold a plate or too large to decode safely.
pub fn check_dimensions(width: u32, height: u32) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > u64::from(MAX_MEGAPIXELS) * 1_000_000 {
        return Err(VisionError::TooLarge {
            width,
            height,
            megapixels: pixels as f64 / 1e6,
            limit: MAX_MEGAPIXELS,
        });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(VisionError::TooSmall {
            width,
            height,
            min: MIN_SIDE,
        });
    }
    Ok(())
}

/// Whether a JPEG's last scan is followed by an end-of-image marker. The JPEG decoder
/// fills a cut-off file with grey instead of failing; scan data never holds `FF D9`
/// (a data `FF` is always followed by `00`), so a missing marker means truncation.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_scan = bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap_or(0);
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn map_image_error(error: image::ImageError) -> VisionError {
    match error {
        image::ImageError::Unsupported(_) => VisionError::UnknownFormat,
        image::ImageError::Limits(e) => {
            VisionError::Decode(format!("image exceeds decoding limits: {e}"))
        }
        other => VisionError::Decode(other.to_string()),
    }
}
