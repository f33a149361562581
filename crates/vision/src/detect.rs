//! Decoding the detector's raw `[K, 5]` rows (cx, cy, w, h in canvas pixels, score) into
//! plate boxes in image pixels.

use crate::geometry::{BoxF, Detection, Letterbox, nms};

/// Boxes smaller than this (image pixels, either side) cannot hold readable text.
const MIN_BOX_SIDE: f32 = 4.0;

/// Rows scoring at least `score_threshold`, mapped back to the image through the
/// letterbox, clamped to it, then thinned by non-maximum suppression.
pub fn decode_boxes(
    rows: &[f32],
    letterbox: &Letterbox,
    image_width: u32,
    image_height: u32,
    score_threshold: f32,
    nms_iou: f32,
) -> Vec<Detection> {
    let candidates = rows
        .chunks_exact(5)
        .filter(|r| r[4].is_finite() && r[4] >= score_threshold)
        .filter_map(|r| {
            let canvas = BoxF::from_center(r[0], r[1], r[2], r[3]);
            if ![canvas.x, canvas.y, canvas.w, canvas.h]
                .iter()
                .all(|v| v.is_finite())
            {
                return None;
            }
            let bbox = letterbox
                .to_image(canvas)
                .clamp_to(image_width as f32, image_height as f32);
            (bbox.w >= MIN_BOX_SIDE && bbox.h >= MIN_BOX_SIDE)
                .then_some(Detection { bbox, score: r[4] })
        })
        .collect();
    nms(candidates, nms_iou)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_through_letterbox_thresholds_and_suppresses() {
        // 1280×720 on a 384 canvas: scale 0.3.
        let lb = Letterbox::fit(1280, 720, 384, 384);
        let rows = [
            // A plate at canvas centre (150, 90), 60×15: image (500, 300) 200×50.
            150.0, 90.0, 60.0, 15.0, 0.9, //
            // The same plate, slightly shifted, lower score: suppressed.
            151.0, 90.0, 60.0, 15.0, 0.8, //
            // Below threshold.
            300.0, 100.0, 30.0, 10.0, 0.2, //
            // Half outside the image on the right: clamped.
            380.0, 50.0, 20.0, 10.0, 0.5, //
        ];
        let dets = decode_boxes(&rows, &lb, 1280, 720, 0.35, 0.45);
        assert_eq!(dets.len(), 2);
        let b = dets[0].bbox;
        assert!((b.x - 400.0).abs() < 1e-2 && (b.y - 275.0).abs() < 1e-2);
        assert!((b.w - 200.0).abs() < 1e-2 && (b.h - 50.0).abs() < 1e-2);
        assert_eq!(dets[0].score, 0.9);
        let c = dets[1].bbox;
        assert!(
            (c.x + c.w - 1280.0).abs() < 1e-2,
            "clamped to the right edge"
        );
    }

    #[test]
    fn ignores_padding_area_nan_and_tiny_boxes() {
        let lb = Letterbox::fit(1280, 720, 384, 384);
        let rows = [
            // Entirely in the letterbox padding (canvas y > 216).
            100.0,
            300.0,
            40.0,
            10.0,
            0.99, //
            f32::NAN,
            10.0,
            10.0,
            10.0,
            0.99, //
            50.0,
            50.0,
            0.5,
            0.5,
            0.99,
        ];
        assert!(decode_boxes(&rows, &lb, 1280, 720, 0.35, 0.45).is_empty());
    }
}
