//! Turning images into model input tensors: letterboxed detector canvas, recogniser crops.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::geometry::{BoxF, Letterbox};
use crate::manifest::{DetectorSpec, RecognizerSpec};

/// A crop box (left, top, width, height) inside a `width`×`height` image, at least one pixel
/// each way, that fast_image_resize accepts: `left + width <= image width` holds exactly.
fn crop_inside(region: BoxF, width: u32, height: u32) -> (f64, f64, f64, f64) {
    let finite_or = |v: f32, default: f64| if v.is_finite() { f64::from(v) } else { default };
    let axis = |start: f32, len: f32, size: u32| {
        let size = f64::from(size);
        let len = finite_or(len, 1.0).clamp(1.0, size);
        let start = finite_or(start, 0.0).clamp(0.0, size - len);
        // Rounding can put start + len one ulp past the edge; shrink until it fits.
        let mut len = len.min(size - start);
        while start + len > size {
            len = len.next_down();
        }
        (start, len)
    };
    let (x, w) = axis(region.x, region.w, width);
    let (y, h) = axis(region.y, region.h, height);
    (x, y, w, h)
}

/// Resizes a region of `image` (in pixels, may be fractional) to `width`×`height` RGB.
/// The region is first moved and shrunk to lie inside the image.
fn resize_region(image: &RgbImage, region: BoxF, width: u32, height: u32) -> Vec<u8> {
    let src = ImageRef::new(
        image.width(),
        image.height(),
        image.as_raw(),
        PixelType::U8x3,
    )
    .expect("an RgbImage buffer always matches its size");
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let (x, y, w, h) = crop_inside(region, image.width(), image.height());
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(x, y, w, h);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel types, and the crop lies inside the image");
    dst.into_vec()
}

/// The detector's input for one image: a `3×H×W` plane-major canvas of `pixel / 255`,
/// the image scaled to fit at the top-left, the rest filled with `pad_value`.
pub fn detector_input(image: &RgbImage, spec: &DetectorSpec) -> (Vec<f32>, Letterbox) {
    let (cw, ch) = (spec.input_width as usize, spec.input_height as usize);
    let lb = Letterbox::fit(
        image.width(),
        image.height(),
        spec.input_width,
        spec.input_height,
    );
    let full = BoxF::new(0.0, 0.0, image.width() as f32, image.height() as f32);
    let scaled = resize_region(image, full, lb.scaled_width, lb.scaled_height);
    let mut canvas = vec![spec.pad_value; 3 * cw * ch];
    let (sw, sh) = (lb.scaled_width as usize, lb.scaled_height as usize);
    let plane = cw * ch;
    for y in 0..sh {
        let row = &scaled[y * sw * 3..(y + 1) * sw * 3];
        for (x, px) in row.chunks_exact(3).enumerate() {
            let at = y * cw + x;
            canvas[at] = f32::from(px[0]) / 255.0;
            canvas[plane + at] = f32::from(px[1]) / 255.0;
            canvas[2 * plane + at] = f32::from(px[2]) / 255.0;
        }
    }
    (canvas, lb)
}

/// How a plate crop is laid out for the recogniser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropLayout {
    /// The whole crop stretched to the input size.
    OneRow,
    /// Top half and bottom half, each stretched to half the input width, side by side.
    TwoRow,
}

/// Appends one recogniser input (`C×H×W`, normalised) for `region` of `image` to `out`.
pub fn push_recognizer_input(
    image: &RgbImage,
    region: BoxF,
    layout: CropLayout,
    spec: &RecognizerSpec,
    out: &mut Vec<f32>,
) {
    let (w, h) = (spec.input_width, spec.input_height);
    let rgb = match layout {
        CropLayout::OneRow => resize_region(image, region, w, h),
        CropLayout::TwoRow => {
            let half = w / 2;
            let top = BoxF::new(region.x, region.y, region.w, region.h / 2.0);
            let bottom = BoxF::new(
                region.x,
                region.y + region.h / 2.0,
                region.w,
                region.h / 2.0,
            );
            let left = resize_region(image, top, half, h);
            let right = resize_region(image, bottom, w - half, h);
            let mut joined = Vec::with_capacity((w * h * 3) as usize);
            for y in 0..h as usize {
                joined.extend_from_slice(&left[y * half as usize * 3..(y + 1) * half as usize * 3]);
                let rw = (w - half) as usize;
                joined.extend_from_slice(&right[y * rw * 3..(y + 1) * rw * 3]);
            }
            joined
        }
    };
    let norm = |v: f32| (v / 255.0 - spec.mean) / spec.std;
    if spec.channels == 1 {
        out.extend(rgb.chunks_exact(3).map(|p| {
            norm(0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        }));
    } else {
        for c in 0..3 {
            out.extend(rgb.chunks_exact(3).map(|p| norm(f32::from(p[c]))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_kept_inside_the_image() {
        for region in [
            BoxF::new(299.7, 10.0, 0.2, 5.0),
            BoxF::new(-20.0, -5.0, 50.0, 500.0),
            BoxF::new(10.000001, 0.3, 289.99998, 199.7),
            BoxF::new(f32::MAX, 0.0, 10.0, 10.0),
            BoxF::new(f32::NAN, 0.0, f32::INFINITY, 10.0),
        ] {
            let (x, y, w, h) = crop_inside(region, 300, 200);
            assert!(w >= 1.0 && h >= 1.0, "{region:?}");
            assert!(
                x >= 0.0 && y >= 0.0 && x + w <= 300.0 && y + h <= 200.0,
                "{region:?}"
            );
        }
        let image = RgbImage::new(300, 200);
        let out = resize_region(&image, BoxF::new(299.7, 199.9, 0.2, 0.05), 16, 8);
        assert_eq!(out.len(), 16 * 8 * 3);
    }

    fn detector_spec() -> DetectorSpec {
        DetectorSpec {
            file: String::new(),
            input: "images".into(),
            input_width: 64,
            input_height: 64,
            pad_value: 0.5,
            output: "boxes".into(),
            score_threshold: 0.35,
            nms_iou: 0.45,
            confirm_threshold: None,
            confirm_confidence: None,
        }
    }

    #[test]
    fn detector_canvas_holds_image_top_left_and_padding_elsewhere() {
        let image = RgbImage::from_pixel(128, 64, image::Rgb([255, 0, 0]));
        let (canvas, lb) = detector_input(&image, &detector_spec());
        assert_eq!((lb.scaled_width, lb.scaled_height), (64, 32));
        assert_eq!(canvas.len(), 3 * 64 * 64);
        // Red inside the image area, grey padding below it.
        assert!((canvas[0] - 1.0).abs() < 1e-6 && canvas[64 * 64].abs() < 1e-6);
        assert_eq!(canvas[40 * 64 + 10], 0.5);
        assert_eq!(canvas[2 * 64 * 64 + 63 * 64 + 63], 0.5);
    }

    #[test]
    fn two_row_layout_puts_top_half_left_and_bottom_half_right() {
        let mut image = RgbImage::from_pixel(40, 40, image::Rgb([0, 0, 0]));
        for y in 20..40 {
            for x in 0..40 {
                image.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let spec = RecognizerSpec {
            file: String::new(),
            input: "crops".into(),
            channels: 1,
            input_height: 8,
            input_width: 16,
            mean: 0.0,
            std: 1.0,
            output: "logits".into(),
            alphabet: "AB".into(),
            two_row_aspect_below: 1.6,
            settled_confidence: None,
        };
        let mut out = Vec::new();
        push_recognizer_input(
            &image,
            BoxF::new(0.0, 0.0, 40.0, 40.0),
            CropLayout::TwoRow,
            &spec,
            &mut out,
        );
        assert_eq!(out.len(), 8 * 16);
        assert!(out[4 * 16 + 2] < 0.05, "left half is the dark top");
        assert!(out[4 * 16 + 13] > 0.95, "right half is the light bottom");
    }
}
