//! Skipping frames in which nothing moved: the engine is the costly part, and a still
//! scene has nothing new to read.

use candor_vision::RgbImage;
use image::{GrayImage, imageops};

/// Side of the thumbnails compared (the frame's long side is scaled to this).
const THUMB: u32 = 64;

/// Compares each frame with the last one that was let through.
#[derive(Debug)]
pub struct MotionGate {
    /// Mean absolute change of a thumbnail pixel (0–255) that counts as motion.
    threshold: f32,
    last: Option<GrayImage>,
}

impl MotionGate {
    pub fn new(threshold: f32) -> Self {
        Self {
            threshold,
            last: None,
        }
    }

    /// Whether `frame` differs enough from the last frame let through; if so it becomes the
    /// new reference. A threshold of 0 lets every frame through.
    pub fn moved(&mut self, frame: &RgbImage) -> bool {
        let (w, h) = frame.dimensions();
        let scale = THUMB as f32 / w.max(h).max(1) as f32;
        let grey = imageops::grayscale(frame);
        let thumb = imageops::thumbnail(
            &grey,
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let moved = match &self.last {
            Some(last) if last.dimensions() == thumb.dimensions() => {
                let change: u64 = last
                    .as_raw()
                    .iter()
                    .zip(thumb.as_raw())
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                change as f32 / thumb.as_raw().len().max(1) as f32 > self.threshold
                    || self.threshold <= 0.0
            }
            _ => true,
        };
        if moved {
            self.last = Some(thumb);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_still_frame_is_skipped_and_a_moving_one_is_not() {
        let mut gate = MotionGate::new(1.0);
        let mut frame = RgbImage::from_pixel(320, 180, Rgb([90, 90, 90]));
        assert!(gate.moved(&frame), "the first frame is always read");
        assert!(!gate.moved(&frame));
        // A car-sized block arrives.
        for y in 60..140 {
            for x in 100..220 {
                frame.put_pixel(x, y, Rgb([200, 30, 30]));
            }
        }
        assert!(gate.moved(&frame));
        assert!(!gate.moved(&frame));
        // Sensor noise of a level or two is not motion.
        let noisy = RgbImage::from_fn(320, 180, |x, y| {
            let mut p = *frame.get_pixel(x, y);
            p.0[0] = p.0[0].saturating_add(((x + y) % 2) as u8);
            p
        });
        assert!(!gate.moved(&noisy));
    }
}
