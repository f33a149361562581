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
    pub score_threshold: f32,
    pub nms_iou: f32,
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
