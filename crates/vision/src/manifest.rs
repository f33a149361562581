//! `models/manifest.toml`: what the engine needs to know about each shipped model.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, VisionError};

/// The whole manifest: one detector and one recogniser.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub detector: DetectorSpec,
    pub recognizer: RecognizerSpec,
}

/// How to feed the plate detector and read its output.
#[derive(Debug, Clone, Deserialize)]
pub struct DetectorSpec {
    /// ONNX file, relative to the manifest's folder.
    pub file: String,
    pub input: String,
    pub input_width: u32,
    pub input_height: u32,
    /// Grey level (0..1) of the letterbox fill.
    pub pad_value: f32,
    pub output: String,
    /// Boxes scoring at least this are plates.
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Boxes scoring from `confirm_threshold` up to `score_threshold` are plates only when
    /// the recogniser reads plate text in them with at least `confirm_confidence`: text
    /// separates a faint plate from a tail light. Absent: no such band.
    #[serde(default)]
    pub confirm_threshold: Option<f32>,
    #[serde(default)]
    pub confirm_confidence: Option<f32>,
}

impl DetectorSpec {
    /// The lowest score a box needs to be considered at all.
    pub fn candidate_threshold(&self) -> f32 {
        self.confirm_threshold
            .map_or(self.score_threshold, |t| t.min(self.score_threshold))
    }

    /// Whether a box with this detector score, whose best reading (plate text only) has
    /// this confidence, counts as a plate.
    pub fn is_plate(&self, score: f32, read_confidence: Option<f32>) -> bool {
        if score >= self.score_threshold {
            return true;
        }
        match (
            self.confirm_threshold,
            self.confirm_confidence,
            read_confidence,
        ) {
            (Some(t), Some(c), Some(r)) => score >= t && r >= c,
            _ => false,
        }
    }
}

/// How to feed the text recogniser and read its output.
#[derive(Debug, Clone, Deserialize)]
pub struct RecognizerSpec {
    pub file: String,
    pub input: String,
    /// 1 = grey, 3 = RGB.
    pub channels: u32,
    pub input_height: u32,
    pub input_width: u32,
    pub mean: f32,
    pub std: f32,
    pub output: String,
    /// Characters for logit indices 1..; index 0 is the CTC blank.
    pub alphabet: String,
    /// Crops narrower than this (w/h) are also read as two-row plates.
    pub two_row_aspect_below: f32,
    /// A plain one-row reading at least this confident is kept as it is: the box is not
    /// read again rectified or as two rows. Absent: every box is read every way.
    #[serde(default)]
    pub settled_confidence: Option<f32>,
}

impl Manifest {
    /// Reads and checks `manifest.toml` in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| VisionError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| VisionError::Manifest { path, message })
    }

    /// Parses manifest text and checks that its numbers make sense.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let d = &self.detector;
        if d.input_width == 0
            || d.input_height == 0
            || d.input_width > 4096
            || d.input_height > 4096
        {
            return Err(format!(
                "detector input {}×{} is out of range",
                d.input_width, d.input_height
            ));
        }
        if !(0.0..=1.0).contains(&d.score_threshold) || !(0.0..=1.0).contains(&d.nms_iou) {
            return Err("detector score_threshold and nms_iou must lie in 0..1".into());
        }
        match (d.confirm_threshold, d.confirm_confidence) {
            (None, None) => {}
            (Some(t), Some(c)) => {
                if !(0.0..=d.score_threshold).contains(&t) || !(0.0..=1.0).contains(&c) {
                    return Err(format!(
                        "detector confirm_threshold {t} must lie in 0..score_threshold ({}) \
                         and confirm_confidence {c} in 0..1",
                        d.score_threshold
                    ));
                }
            }
            _ => {
                return Err(
                    "detector confirm_threshold and confirm_confidence go together: set both or neither"
                        .into(),
                );
            }
        }
        let r = &self.recognizer;
        if r.channels != 1 && r.channels != 3 {
            return Err(format!(
                "recognizer channels must be 1 or 3, not {}",
                r.channels
            ));
        }
        if r.input_width < 2 || r.input_height == 0 || r.input_width > 4096 || r.input_height > 4096
        {
            return Err(format!(
                "recognizer input {}×{} is out of range",
                r.input_width, r.input_height
            ));
        }
        if r.std <= 0.0 {
            return Err("recognizer std must be positive".into());
        }
        if let Some(c) = r.settled_confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(format!("recognizer settled_confidence {c} is not in 0..1"));
        }
        if r.alphabet.is_empty() {
            return Err("recognizer alphabet is empty".into());
        }
        Ok(())
    }

    /// Absolute path of a model file named in the manifest.
    pub fn model_path(dir: &Path, file: &str) -> PathBuf {
        dir.join(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(detector_extra: &str) -> std::result::Result<Manifest, String> {
        manifest_with(detector_extra, "")
    }

    fn manifest_with(
        detector_extra: &str,
        recognizer_extra: &str,
    ) -> std::result::Result<Manifest, String> {
        Manifest::parse(&format!(
            "[detector]\nfile = \"d.onnx\"\ninput = \"images\"\ninput_width = 384\n\
             input_height = 384\npad_value = 0.5\noutput = \"boxes\"\n\
             score_threshold = 0.8\nnms_iou = 0.45\n{detector_extra}\n\
             [recognizer]\nfile = \"r.onnx\"\ninput = \"crops\"\nchannels = 1\n\
             input_height = 32\ninput_width = 128\nmean = 0.5\nstd = 0.5\n\
             output = \"logits\"\nalphabet = \"0123456789\"\ntwo_row_aspect_below = 4.5\n\
             {recognizer_extra}\n"
        ))
    }

    #[test]
    fn a_settled_confidence_is_a_probability() {
        let settled = |v: &str| manifest_with("", &format!("settled_confidence = {v}"));
        assert_eq!(
            settled("0.9").unwrap().recognizer.settled_confidence,
            Some(0.9)
        );
        assert!(settled("1.5").unwrap_err().contains("settled_confidence"));
        assert_eq!(manifest("").unwrap().recognizer.settled_confidence, None);
    }

    #[test]
    fn without_a_confirm_band_only_sure_boxes_are_plates() {
        let d = manifest("").unwrap().detector;
        let (sure, faint) = (d.score_threshold, d.score_threshold - 0.01);
        assert_eq!(d.candidate_threshold(), sure);
        assert!(d.is_plate(sure, None));
        assert!(!d.is_plate(faint, Some(1.0)));
    }

    #[test]
    fn a_box_in_the_confirm_band_needs_a_confident_read() {
        let d = manifest("confirm_threshold = 0.4\nconfirm_confidence = 0.7\n")
            .unwrap()
            .detector;
        assert_eq!(d.candidate_threshold(), 0.4);
        assert!(
            d.is_plate(d.score_threshold, None),
            "sure boxes need no text"
        );
        assert!(d.is_plate(0.5, Some(0.7)));
        assert!(!d.is_plate(0.5, Some(0.69)), "text read without confidence");
        assert!(!d.is_plate(0.5, None), "no plate text read");
        assert!(!d.is_plate(0.39, Some(1.0)), "below the band");
    }

    #[test]
    fn confirm_settings_are_checked() {
        let err = manifest("confirm_threshold = 0.4\n").unwrap_err();
        assert!(err.contains("set both or neither"), "{err}");
        let err = manifest("confirm_threshold = 0.95\nconfirm_confidence = 0.5\n").unwrap_err();
        assert!(err.contains("confirm_threshold 0.95"), "{err}");
        let err = manifest("confirm_threshold = 0.4\nconfirm_confidence = 1.5\n").unwrap_err();
        assert!(err.contains("confirm_confidence 1.5"), "{err}");
    }
}
