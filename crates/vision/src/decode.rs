//! Image decoding: format sniffing, size limits (pixels and bytes) before pixels are
//! decoded, 8-bit output, early downscaling of very large images, EXIF orientation.

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

/// Largest decoded buffer accepted, in bytes, in the image's own sample type (a 16-bit
/// image counts twice per sample). Checked from the header, before any pixels; PNG, which is
/// read row by row into 8 bits, needs only its output under this.
pub const MAX_DECODED_BYTES: u64 = 192 << 20;
/// Longest side the recogniser works on; a larger image is scaled down while (PNG) or
/// right after (other formats) it is decoded, so that one image's memory stays bounded.
pub const MAX_WORKING_SIDE: u32 = 4096;

/// A decoded image, ready for the recogniser, and how much it was scaled down.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub image: RgbImage,
    /// Original pixels per working pixel (1 when not scaled down). Multiply a box found in
    /// `image` by it to get the box in the original image.
    pub scale: f32,
}

/// Decodes JPEG, PNG, WebP or BMP bytes into RGB, upright as the EXIF orientation says,
/// scaled down to [`MAX_WORKING_SIDE`] (see [`decode_image_scaled`] for the factor).
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    decode_image_scaled(bytes).map(|d| d.image)
}

/// Decodes as [`decode_image`] and says how much the image was scaled down. Memory is
/// bounded by bytes, not only pixels: PNG (which may be 16-bit) is read row by row, reduced
/// to 8 bits and scaled down as it goes; other formats are refused when their decoded buffer
/// would pass [`MAX_DECODED_BYTES`].
pub fn decode_image_scaled(bytes: &[u8]) -> Result<Decoded> {
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
    if format == ImageFormat::Png
        && let Some(decoded) = decode_png_rows(bytes, width, height)?
    {
        return Ok(decoded);
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_DECODED_BYTES + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let total = decoder.total_bytes();
    if total > MAX_DECODED_BYTES {
        return Err(VisionError::TooManyBytes {
            width,
            height,
            bytes: total,
            limit: MAX_DECODED_BYTES,
        });
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let image = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };
    Ok(scale_down(image))
}

/// How many original pixels each working pixel covers along each side.
fn reduction(width: u32, height: u32) -> u32 {
    width.max(height).div_ceil(MAX_WORKING_SIDE).max(1)
}

fn scale_down(image: RgbImage) -> Decoded {
    let (w, h) = image.dimensions();
    let k = reduction(w, h);
    if k == 1 {
        return Decoded { image, scale: 1.0 };
    }
    let (nw, nh) = ((w / k).max(1), (h / k).max(1));
    let small = image::imageops::resize(&image, nw, nh, image::imageops::FilterType::Triangle);
    Decoded {
        scale: w as f32 / nw as f32,
        image: small,
    }
}

/// Reads a non-interlaced PNG row by row, reduced to 8-bit RGB and box-averaged down by
/// an integer factor as it goes, so that no full-size buffer exists. `None` for an
/// interlaced PNG (its rows come in passes), which takes the general path.
fn decode_png_rows(bytes: &[u8], width: u32, height: u32) -> Result<Option<Decoded>> {
    let png_error = |e: png::DecodingError| VisionError::Decode(e.to_string());
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    if reader.info().interlaced {
        return Ok(None);
    }
    let (color, _) = reader.output_color_type();
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(VisionError::Decode("palette PNG was not expanded".into()));
        }
    };
    let k = reduction(width, height);
    let (nw, nh) = ((width / k).max(1), (height / k).max(1));
    let mut out = RgbImage::new(nw, nh);
    let mut sums = vec![0u32; nw as usize * 3];
    let mut rows_in_band = 0u32;
    let mut out_row = 0u32;
    let to_rgb = |px: &[u8]| -> [u8; 3] {
        match channels {
            1 | 2 => [px[0], px[0], px[0]],
            _ => [px[0], px[1], px[2]],
        }
    };
    while let Some(row) = reader.next_row().map_err(png_error)? {
        if out_row >= nh {
            break;
        }
        let data = row.data();
        for (ox, sum) in sums.chunks_exact_mut(3).enumerate() {
            let start = ox * k as usize;
            for x in start..start + k as usize {
                let Some(px) = data.get(x * channels..(x + 1) * channels) else {
                    break;
                };
                for (s, v) in sum.iter_mut().zip(to_rgb(px)) {
                    *s += u32::from(v);
                }
            }
        }
        rows_in_band += 1;
        if rows_in_band == k {
            let n = k * k;
            for (ox, sum) in sums.chunks_exact_mut(3).enumerate() {
                let px = image::Rgb([
                    ((sum[0] + n / 2) / n) as u8,
                    ((sum[1] + n / 2) / n) as u8,
                    ((sum[2] + n / 2) / n) as u8,
                ]);
                out.put_pixel(ox as u32, out_row, px);
                sum.fill(0);
            }
            rows_in_band = 0;
            out_row += 1;
        }
    }
    if out_row < nh {
        return Err(VisionError::Decode(format!(
            "truncated PNG: {} of {height} rows",
            out_row * k + rows_in_band
        )));
    }
    Ok(Some(Decoded {
        scale: width as f32 / nw as f32,
        image: out,
    }))
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
