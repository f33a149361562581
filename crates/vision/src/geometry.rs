//! Boxes, overlap, non-maximum suppression and letterbox maths.

use serde::Serialize;

/// An axis-aligned box in pixels: top-left corner, width and height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoxF {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BoxF {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// From a centre, width and height.
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, w, h)
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BoxF) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.w).min(other.x + other.w);
        let bottom = (self.y + self.h).min(other.y + other.h);
        let inter = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The part of the box inside a `width`×`height` image.
    pub fn clamp_to(&self, width: f32, height: f32) -> BoxF {
        let left = self.x.clamp(0.0, width);
        let top = self.y.clamp(0.0, height);
        let right = (self.x + self.w).clamp(0.0, width);
        let bottom = (self.y + self.h).clamp(0.0, height);
        BoxF::new(left, top, right - left, bottom - top)
    }

    /// The box grown by a fraction of its size on each side.
    pub fn expand(&self, fx: f32, fy: f32) -> BoxF {
        let dx = self.w * fx;
        let dy = self.h * fy;
        BoxF::new(
            self.x - dx,
            self.y - dy,
            self.w + 2.0 * dx,
            self.h + 2.0 * dy,
        )
    }
}

/// A scored detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BoxF,
    pub score: f32,
}

/// Greedy non-maximum suppression: keeps the best-scoring box of each overlapping
/// group (IoU above `iou_threshold`), highest score first.
pub fn nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for det in detections {
        if kept.iter().all(|k| k.bbox.iou(&det.bbox) <= iou_threshold) {
            kept.push(det);
        }
    }
    kept
}

/// How an image is placed on the detector's canvas: scaled to fit, aspect kept,
/// at the top-left corner, the rest padded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Canvas pixels per image pixel.
    pub scale: f32,
    /// Size of the scaled image on the canvas.
    pub scaled_width: u32,
    pub scaled_height: u32,
}

impl Letterbox {
    pub fn fit(image_width: u32, image_height: u32, canvas_width: u32, canvas_height: u32) -> Self {
        let scale = (canvas_width as f32 / image_width as f32)
            .min(canvas_height as f32 / image_height as f32);
        let scaled_width = ((image_width as f32 * scale).round() as u32).clamp(1, canvas_width);
        let scaled_height = ((image_height as f32 * scale).round() as u32).clamp(1, canvas_height);
        Self {
            scale,
            scaled_width,
            scaled_height,
        }
    }

    /// A canvas box in original image pixels.
    pub fn to_image(&self, canvas_box: BoxF) -> BoxF {
        BoxF::new(
            canvas_box.x / self.scale,
            canvas_box.y / self.scale,
            canvas_box.w / self.scale,
            canvas_box.h / self.scale,
        )
    }

    /// An image box in canvas pixels.
    pub fn to_canvas(&self, image_box: BoxF) -> BoxF {
        BoxF::new(
            image_box.x * self.scale,
            image_box.y * self.scale,
            image_box.w * self.scale,
            image_box.h * self.scale,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BoxF::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BoxF::new(20.0, 20.0, 5.0, 5.0)), 0.0);
        let b = BoxF::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BoxF::new(0.0, 0.0, 0.0, 0.0)), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_of_separate() {
        let det = |x: f32, score: f32| Detection {
            bbox: BoxF::new(x, 0.0, 10.0, 10.0),
            score,
        };
        let kept = nms(
            vec![det(0.0, 0.6), det(1.0, 0.9), det(50.0, 0.5), det(2.0, 0.7)],
            0.45,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], det(1.0, 0.9));
        assert_eq!(kept[1], det(50.0, 0.5));
    }

    #[test]
    fn nms_threshold_is_respected() {
        let a = Detection {
            bbox: BoxF::new(0.0, 0.0, 10.0, 10.0),
            score: 0.9,
        };
        let b = Detection {
            bbox: BoxF::new(5.0, 0.0, 10.0, 10.0),
            score: 0.8,
        };
        // IoU is 1/3: kept at threshold 0.45, suppressed at 0.3.
        assert_eq!(nms(vec![a, b], 0.45).len(), 2);
        assert_eq!(nms(vec![a, b], 0.3).len(), 1);
    }

    #[test]
    fn letterbox_fits_wide_and_tall_images_and_round_trips() {
        let wide = Letterbox::fit(1280, 720, 384, 384);
        assert_eq!((wide.scaled_width, wide.scaled_height), (384, 216));
        assert!((wide.scale - 0.3).abs() < 1e-6);
        let tall = Letterbox::fit(300, 600, 384, 384);
        assert_eq!((tall.scaled_width, tall.scaled_height), (192, 384));
        let b = BoxF::new(100.0, 200.0, 80.0, 20.0);
        let back = wide.to_image(wide.to_canvas(b));
        assert!((back.x - b.x).abs() < 1e-3 && (back.w - b.w).abs() < 1e-3);
        let up = Letterbox::fit(100, 50, 384, 384);
        assert!((up.scale - 3.84).abs() < 1e-6);
    }

    #[test]
    fn clamp_and_expand() {
        let b = BoxF::new(-5.0, 90.0, 20.0, 20.0).clamp_to(100.0, 100.0);
        assert_eq!(b, BoxF::new(0.0, 90.0, 15.0, 10.0));
        let e = BoxF::new(10.0, 10.0, 10.0, 10.0).expand(0.1, 0.5);
        assert_eq!(e, BoxF::new(9.0, 5.0, 12.0, 20.0));
    }
}
