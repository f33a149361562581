//! Rectifying a plate crop: a plate seen at an angle, or on a tilted camera, has slanted
//! text rows; the recogniser reads level rows best. We estimate the slant from where the
//! horizontal edges (character tops and bottoms, plate borders) line up, and resample the
//! crop with that slant sheared out.

use image::{Rgb, RgbImage};

use crate::geometry::BoxF;

/// Slants tried, as dy/dx: tan(-20°)..=tan(20°) in 1° steps.
const MAX_SLANT_DEGREES: i32 = 20;
/// Below this the crop is read as it is: the recogniser copes with small slants.
const MIN_SLANT_DEGREES: f32 = 3.0;
/// The best slant must sharpen the row profile by this factor over level rows, or the
/// evidence is too weak to resample on.
const MIN_SHARPENING: f32 = 1.15;
/// Width of the grey copy the slant is measured on.
const PROBE_WIDTH: u32 = 96;
/// Longest side of a rectified crop; the recogniser's input is far smaller.
const MAX_RECTIFIED_WIDTH: f32 = 256.0;

/// Bilinear grey (0..255) sample at a fractional position, clamped to the image.
fn grey_at(image: &RgbImage, x: f32, y: f32) -> f32 {
    let rgb = rgb_at(image, x, y);
    0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
}

/// Bilinear RGB sample at a fractional position, clamped to the image.
fn rgb_at(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let x1 = (x0 + 1).min(image.width() - 1);
    let y1 = (y0 + 1).min(image.height() - 1);
    let p = |x, y| image.get_pixel(x, y).0.map(f32::from);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    std::array::from_fn(|i| {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bottom = c[i] + (d[i] - c[i]) * fx;
        top + (bottom - top) * fy
    })
}

/// The slant (dy/dx, in pixels of the image) of the text rows in `region`, when it is
/// clearly more than a few degrees; `None` for level or unclear crops.
pub fn estimate_slant(image: &RgbImage, region: BoxF) -> Option<f32> {
    if region.w < 8.0 || region.h < 4.0 || image.width() < 2 || image.height() < 2 {
        return None;
    }
    // A grey copy at one scale both ways, so slopes keep their value.
    let scale = PROBE_WIDTH as f32 / region.w;
    let (pw, ph) = (
        PROBE_WIDTH as usize,
        ((region.h * scale).round() as usize).clamp(8, 96),
    );
    let grey: Vec<f32> = (0..ph)
        .flat_map(|y| (0..pw).map(move |x| (x, y)))
        .map(|(x, y)| {
            grey_at(
                image,
                region.x + (x as f32 + 0.5) / scale,
                region.y + (y as f32 + 0.5) / scale,
            )
        })
        .collect();
    // Horizontal edges: the vertical gradient.
    let edges: Vec<f32> = (0..ph)
        .flat_map(|y| (0..pw).map(move |x| (x, y)))
        .map(|(x, y)| {
            if y == 0 || y + 1 == ph {
                0.0
            } else {
                (grey[(y + 1) * pw + x] - grey[(y - 1) * pw + x]).abs()
            }
        })
        .collect();
    // How sharply the edges fall into rows once the slant is sheared out.
    let sharpness = |slant: f32| {
        let reach = (pw as f32 * slant.abs() / 2.0).ceil() as usize + 1;
        let mut rows = vec![0.0f32; ph + 2 * reach];
        let cx = pw as f32 / 2.0;
        for y in 0..ph {
            for x in 0..pw {
                let row = y as f32 - (x as f32 - cx) * slant + reach as f32;
                rows[row.round() as usize] += edges[y * pw + x];
            }
        }
        rows.iter().map(|r| r * r).sum::<f32>()
    };
    let level = sharpness(0.0);
    let (best_degrees, best) = (-MAX_SLANT_DEGREES..=MAX_SLANT_DEGREES)
        .map(|d| (d as f32, sharpness((d as f32).to_radians().tan())))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (best_degrees.abs() >= MIN_SLANT_DEGREES && best > level * MIN_SHARPENING)
        .then(|| best_degrees.to_radians().tan())
}

/// `region` of `image` resampled with `slant` sheared out: column x is shifted by
/// `slant · (x − centre)`, so the text rows come out level. At most
/// [`MAX_RECTIFIED_WIDTH`] pixels wide.
pub fn rectified_crop(image: &RgbImage, region: BoxF, slant: f32) -> RgbImage {
    let scale = (MAX_RECTIFIED_WIDTH / region.w).min(1.0);
    let width = ((region.w * scale).round() as u32).max(2);
    let height = ((region.h * scale).round() as u32).max(2);
    let cx = region.w / 2.0;
    RgbImage::from_fn(width, height, |x, y| {
        let sx = (x as f32 + 0.5) / scale;
        let sy = (y as f32 + 0.5) / scale + (sx - cx) * slant;
        let rgb = rgb_at(image, region.x + sx, region.y + sy);
        Rgb(rgb.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A light plate with three dark bars slanting by `slant` (dy/dx) about the centre.
    fn slanted_bars(slant: f32) -> RgbImage {
        RgbImage::from_fn(200, 60, |x, y| {
            let level_y = y as f32 - (x as f32 - 100.0) * slant;
            let dark = (14.0..20.0).contains(&level_y)
                || (28.0..34.0).contains(&level_y)
                || (42.0..48.0).contains(&level_y);
            Rgb(if dark { [20, 20, 20] } else { [230, 230, 230] })
        })
    }

    #[test]
    fn a_slanted_crop_gives_its_slant() {
        let whole = BoxF::new(0.0, 0.0, 200.0, 60.0);
        for degrees in [-12.0f32, -6.0, 8.0, 15.0] {
            let slant = degrees.to_radians().tan();
            let found = estimate_slant(&slanted_bars(slant), whole)
                .unwrap_or_else(|| panic!("no slant found at {degrees}°"));
            assert!(
                (found.atan().to_degrees() - degrees).abs() <= 1.0,
                "{degrees}° read as {}°",
                found.atan().to_degrees()
            );
        }
    }

    #[test]
    fn level_and_blank_crops_are_left_alone() {
        let whole = BoxF::new(0.0, 0.0, 200.0, 60.0);
        assert_eq!(estimate_slant(&slanted_bars(0.0), whole), None);
        assert_eq!(estimate_slant(&slanted_bars(0.02), whole), None);
        let blank = RgbImage::from_pixel(200, 60, Rgb([128, 128, 128]));
        assert_eq!(estimate_slant(&blank, whole), None);
        assert_eq!(
            estimate_slant(&blank, BoxF::new(0.0, 0.0, 3.0, 2.0)),
            None,
            "too small to tell"
        );
    }

    #[test]
    fn rectifying_levels_the_rows() {
        let slant = 10f32.to_radians().tan();
        let whole = BoxF::new(0.0, 0.0, 200.0, 60.0);
        let level = rectified_crop(&slanted_bars(slant), whole, slant);
        assert_eq!(level.dimensions(), (200, 60));
        // Every column now has its bars on the same rows.
        for x in [20, 100, 180] {
            assert!(level.get_pixel(x, 17).0[0] < 80, "column {x} row 17");
            assert!(level.get_pixel(x, 24).0[0] > 180, "column {x} row 24");
        }
        assert_eq!(estimate_slant(&level, whole), None);
    }
}
