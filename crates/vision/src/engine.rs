//! The recognition engine: models loaded once, images in, plate reads out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::RgbImage;
use rten::{RunOptions, ThreadPool};
use rten_tensor::NdTensor;
use serde::Serialize;

use candor_platetext::formats::RegionSet;

use crate::ctc::{self, Hypothesis, ProbSeq};
use crate::decode;
use crate::detect::decode_boxes;
use crate::error::{Result, VisionError};
use crate::geometry::{BoxF, Detection};
use crate::manifest::Manifest;
use crate::preprocess::{CropLayout, detector_input, push_recognizer_input};
use crate::rank::{self, Candidate};
use crate::rectify;
use crate::runtime::{LoadedModel, Runtime};

/// Fraction of the plate box's width and height added on each side before reading;
/// the recogniser is trained on crops with 0–12 % margins.
const CROP_MARGIN: f32 = 0.06;
/// Beam width of the CTC prefix beam search.
const BEAM_WIDTH: usize = 12;

/// One plate found in an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateRead {
    /// Best text, normal form (upper case, letters and digits only).
    pub plate: String,
    /// Confidence of `plate`, 0..1.
    pub confidence: f32,
    /// The top-N texts, best first; the first is `plate`.
    pub candidates: Vec<Candidate>,
    /// Plate box in the original image's pixels.
    #[serde(rename = "box")]
    pub bbox: BoxF,
    /// The detector's score for the box, 0..1 (1 for a crop read without detection).
    pub detection_score: f32,
    /// Region code of the best-fitting known layout (e.g. `BR`, `US-CA`), if any fits.
    pub region: Option<String>,
    /// Name of that layout.
    pub format: Option<String>,
    /// Whether the two-row reading won over the one-row reading.
    pub two_row: bool,
}

/// Engine settings a caller may change.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How many candidate texts each read keeps.
    pub top_n: usize,
    /// The regions whose plates the deployment reads. When set, each read also searches
    /// for the likeliest texts of their layouts, and only their layouts raise a text's
    /// rank; a text of another layout is still read when the recogniser is sure of it.
    pub regions: Option<RegionSet>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            top_n: 5,
            regions: None,
        }
    }
}

/// Loaded models and settings; `Send + Sync`, share it behind an `Arc` or a reference.
pub struct Engine {
    manifest: Manifest,
    detector: LoadedModel,
    recognizer: LoadedModel,
    alphabet: Vec<char>,
    options: EngineOptions,
}

/// Where the engine looks for models when not told: `CANDOR_MODELS`, else `models/` in the
/// current directory or one of its parents (a source checkout), else beside the executable:
/// `models/` in its folder or `share/candor/models` next to its `bin/` (an installed binary).
pub fn default_models_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CANDOR_MODELS") {
        return Some(PathBuf::from(dir));
    }
    let has_manifest = |dir: &Path| dir.join("manifest.toml").is_file();
    let cwd = std::env::current_dir().ok();
    let in_tree = cwd
        .iter()
        .flat_map(|d| d.ancestors())
        .map(|d| d.join("models"));
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.to_path_buf()));
    let beside_binary = bin
        .iter()
        .flat_map(|b| [b.join("models"), b.join("../share/candor/models")]);
    in_tree.chain(beside_binary).find(|d| has_manifest(d))
}

impl Engine {
    /// Loads the models that `dir/manifest.toml` names, with the default runtime.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, Runtime::default())
    }

    /// Loads the models that `dir/manifest.toml` names, with the given runtime.
    pub fn load_with(dir: &Path, runtime: Runtime) -> Result<Self> {
        let manifest = Manifest::load(dir)?;
        let d = &manifest.detector;
        let path = Manifest::model_path(dir, &d.file);
        let detector = LoadedModel::load(runtime, &path, &d.input, &d.output)?;
        let r = &manifest.recognizer;
        let path = Manifest::model_path(dir, &r.file);
        let recognizer = LoadedModel::load(runtime, &path, &r.input, &r.output)?;
        let alphabet = r.alphabet.chars().collect();
        Ok(Self {
            manifest,
            detector,
            recognizer,
            alphabet,
            options: EngineOptions::default(),
        })
    }

    pub fn with_options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// A reader that runs each model on all cores: best for one image at a time.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            engine: self,
            run_options: RunOptions::default(),
        }
    }

    /// A reader that runs each model on its own pool of `threads` threads.
    pub fn reader_with_threads(&self, threads: usize) -> Reader<'_> {
        Reader {
            engine: self,
            run_options: RunOptions::default()
                .with_thread_pool(Some(Arc::new(ThreadPool::with_num_threads(threads.max(1))))),
        }
    }

    /// Finds and reads every plate in an image, best first.
    pub fn recognize(&self, image: &RgbImage) -> Result<Vec<PlateRead>> {
        self.reader().recognize(image)
    }

    /// Reads a decoded image, with each box in the original image's pixels.
    pub fn recognize_decoded(&self, decoded: &decode::Decoded) -> Result<Vec<PlateRead>> {
        self.reader().recognize_decoded(decoded)
    }

    /// Reads many images at once, one worker per core, each running the models on a
    /// single thread so the workers do not compete for cores.
    pub fn recognize_batch(&self, images: &[RgbImage]) -> Vec<Result<Vec<PlateRead>>> {
        self.par_map(images, default_workers(), |reader, _, image| {
            reader.recognize(image)
        })
    }

    /// Applies `f` to every item on `workers` threads, each with its own single-threaded
    /// reader; results come back in item order. `f` also gets the item's index.
    pub fn par_map<T: Sync, R: Send>(
        &self,
        items: &[T],
        workers: usize,
        f: impl Fn(&Reader<'_>, usize, &T) -> R + Sync,
    ) -> Vec<R> {
        let workers = workers.clamp(1, items.len().max(1));
        let next = AtomicUsize::new(0);
        let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        let slots: Vec<std::sync::Mutex<&mut Option<R>>> =
            results.iter_mut().map(std::sync::Mutex::new).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let reader = self.reader_with_threads(1);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let result = f(&reader, i, item);
                        **slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                });
            }
        });
        drop(slots);
        results
            .into_iter()
            .map(|r| r.expect("every index is taken by exactly one worker"))
            .collect()
    }
}

/// Number of batch workers: one per available core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs the pipeline with one thread-pool setting; get one from [`Engine::reader`] or
/// inside [`Engine::par_map`].
pub struct Reader<'e> {
    engine: &'e Engine,
    run_options: RunOptions,
}

impl Reader<'_> {
    /// Decodes an image file and reads its plates; also returns the image's size (boxes and
    /// size in the original image's pixels, even when it was scaled down to be read).
    pub fn recognize_file(&self, path: &Path) -> Result<(u32, u32, Vec<PlateRead>)> {
        let bytes = std::fs::read(path).map_err(|source| VisionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let decoded = decode::decode_image_scaled(&bytes)?;
        let reads = self.recognize_decoded(&decoded)?;
        let size = |side: u32| (side as f32 * decoded.scale).round() as u32;
        Ok((
            size(decoded.image.width()),
            size(decoded.image.height()),
            reads,
        ))
    }

    /// Reads a decoded image, with each box in the original image's pixels.
    pub fn recognize_decoded(&self, decoded: &decode::Decoded) -> Result<Vec<PlateRead>> {
        let mut reads = self.recognize(&decoded.image)?;
        if decoded.scale != 1.0 {
            for read in &mut reads {
                let b = read.bbox;
                let k = decoded.scale;
                read.bbox = BoxF::new(b.x * k, b.y * k, b.w * k, b.h * k);
            }
        }
        Ok(reads)
    }

    /// Finds and reads every plate in an image, best first.
    pub fn recognize(&self, image: &RgbImage) -> Result<Vec<PlateRead>> {
        Ok(self.recognize_with_detections(image)?.1)
    }

    /// Like [`Reader::recognize`], also returning every box counted as a plate: each box
    /// the detector is sure of (even when its text was then judged not to be a plate) and
    /// each box in the manifest's confirm band in which a plate was read.
    pub fn recognize_with_detections(
        &self,
        image: &RgbImage,
    ) -> Result<(Vec<Detection>, Vec<PlateRead>)> {
        decode::check_dimensions(image.width(), image.height())?;
        let candidates = self.detect(image)?;
        let readings = self.read_boxes(image, &candidates, CROP_MARGIN, rank::Source::Detection)?;
        let spec = &self.engine.manifest.detector;
        let mut detections = Vec::new();
        let mut reads = Vec::new();
        for (det, read) in candidates.into_iter().zip(readings) {
            if spec.is_plate(det.score, read.as_ref().map(|r| r.confidence)) {
                detections.push(det);
                reads.extend(read);
            }
        }
        reads.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok((detections, reads))
    }

    /// Candidate plate boxes, best first: every box scoring at least the manifest's
    /// confirm threshold (or its score threshold when it has no confirm band).
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        let spec = &self.engine.manifest.detector;
        let (canvas, letterbox) = detector_input(image, spec);
        let input = NdTensor::from_data(
            [1, 3, spec.input_height as usize, spec.input_width as usize],
            canvas,
        );
        let out = self
            .engine
            .detector
            .run("detector", input, &self.run_options)?;
        if out.shape.len() != 3 || out.shape[2] != 5 {
            return Err(VisionError::Inference {
                model: "detector",
                message: format!("expected output [1, K, 5], got {:?}", out.shape),
            });
        }
        Ok(decode_boxes(
            &out.data,
            &letterbox,
            image.width(),
            image.height(),
            spec.candidate_threshold(),
            spec.nms_iou,
        ))
    }

    /// Reads an image that is already a plate crop, without detection. The caller vouches
    /// that it is a plate, so text without digits (a vanity plate's `GLENIE`) is kept.
    pub fn read_crop(&self, crop: &RgbImage) -> Result<Option<PlateRead>> {
        if crop.width() < 2 || crop.height() < 2 {
            return Err(VisionError::TooSmall {
                width: crop.width(),
                height: crop.height(),
                min: 2,
            });
        }
        let whole = Detection {
            bbox: BoxF::new(0.0, 0.0, crop.width() as f32, crop.height() as f32),
            score: 1.0,
        };
        Ok(self
            .read_boxes(crop, &[whole], 0.0, rank::Source::Crop)?
            .into_iter()
            .next()
            .flatten())
    }

    /// Reads the text in each box (grown by `margin`), one result per box: `None` where
    /// the text is not a plate (see [`rank::keeps`]).
    fn read_boxes(
        &self,
        image: &RgbImage,
        detections: &[Detection],
        margin: f32,
        source: rank::Source,
    ) -> Result<Vec<Option<PlateRead>>> {
        if detections.is_empty() {
            return Ok(Vec::new());
        }
        let spec = &self.engine.manifest.recognizer;
        let (iw, ih) = (image.width() as f32, image.height() as f32);
        let regions: Vec<BoxF> = detections
            .iter()
            .map(|det| det.bbox.expand(margin, margin).clamp_to(iw, ih))
            .collect();
        // Each box is read as one row first. A box whose reading is not settled by then is
        // read again, rectified when its text rows slant and, when squarish, as two rows; the
        // most confident reading wins.
        let mut best: Vec<Option<(Vec<Candidate>, bool)>> = vec![None; detections.len()];
        let mut inputs = Vec::new();
        let mut jobs = Vec::new();
        for (i, &region) in regions.iter().enumerate() {
            push_recognizer_input(image, region, CropLayout::OneRow, spec, &mut inputs);
            jobs.push((i, CropLayout::OneRow));
        }
        self.read_inputs(inputs, &jobs, &mut best)?;
        let (mut inputs, mut jobs) = (Vec::new(), Vec::new());
        for (i, &region) in regions.iter().enumerate() {
            let settled = spec.settled_confidence.is_some_and(|at_least| {
                best[i]
                    .as_ref()
                    .is_some_and(|(c, _)| c[0].confidence >= at_least)
            });
            if settled {
                continue;
            }
            if let Some(slant) = rectify::estimate_slant(image, region) {
                let level = rectify::rectified_crop(image, region, slant);
                let whole = BoxF::new(0.0, 0.0, level.width() as f32, level.height() as f32);
                push_recognizer_input(&level, whole, CropLayout::OneRow, spec, &mut inputs);
                jobs.push((i, CropLayout::OneRow));
            }
            if region.w < spec.two_row_aspect_below * region.h {
                push_recognizer_input(image, region, CropLayout::TwoRow, spec, &mut inputs);
                jobs.push((i, CropLayout::TwoRow));
            }
        }
        if !jobs.is_empty() {
            self.read_inputs(inputs, &jobs, &mut best)?;
        }
        let regions = self.engine.options.regions.as_ref();
        Ok(detections
            .iter()
            .zip(best)
            .map(|(det, reading)| {
                let (candidates, two_row) = reading?;
                let top = &candidates[0];
                if !rank::keeps(&top.plate, source) {
                    return None;
                }
                let layout = rank::layout_of(&top.plate, regions);
                Some(PlateRead {
                    plate: top.plate.clone(),
                    confidence: top.confidence,
                    bbox: det.bbox,
                    detection_score: det.score,
                    region: layout.map(|l| l.0.to_string()),
                    format: layout.map(|l| l.1.to_string()),
                    two_row,
                    candidates,
                })
            })
            .collect())
    }

    /// Runs the recogniser on `inputs` (one crop per job: the box it belongs to and how it
    /// was cut) and keeps, per box, the most confident ranked reading in `best`.
    fn read_inputs(
        &self,
        inputs: Vec<f32>,
        jobs: &[(usize, CropLayout)],
        best: &mut [Option<(Vec<Candidate>, bool)>],
    ) -> Result<()> {
        let spec = &self.engine.manifest.recognizer;
        let (w, h) = (spec.input_width as usize, spec.input_height as usize);
        let input = NdTensor::from_data([jobs.len(), spec.channels as usize, h, w], inputs);
        let out = self
            .engine
            .recognizer
            .run("recognizer", input, &self.run_options)?;
        let &[n, steps, classes] = out.shape.as_slice() else {
            return Err(VisionError::Inference {
                model: "recognizer",
                message: format!("expected output [N, T, C], got {:?}", out.shape),
            });
        };
        if n != jobs.len() || classes != self.engine.alphabet.len() + 1 {
            return Err(VisionError::Inference {
                model: "recognizer",
                message: format!(
                    "output is [{n}, {steps}, {classes}], expected [{}, T, {}] for the manifest's alphabet",
                    jobs.len(),
                    self.engine.alphabet.len() + 1
                ),
            });
        }
        let mut probs = out.data;
        ctc::softmax_rows(&mut probs, classes);
        let top_n = self.engine.options.top_n.max(1);
        let regions = self.engine.options.regions.as_ref();
        for (j, &(det, layout)) in jobs.iter().enumerate() {
            let seq = ProbSeq::new(
                &probs[j * steps * classes..(j + 1) * steps * classes],
                steps,
                classes,
            );
            let alphabet = &self.engine.alphabet;
            let mut hyps = ctc::beam_search(&seq, alphabet, BEAM_WIDTH, BEAM_WIDTH);
            if let Some(regions) = regions {
                let fitting = ctc::beam_search_within(&seq, alphabet, BEAM_WIDTH, top_n, regions);
                merge_hypotheses(&mut hyps, fitting);
            }
            let candidates = rank::rank(&hyps, top_n, regions);
            let Some(top) = candidates.first() else {
                continue;
            };
            let better = best[det]
                .as_ref()
                .is_none_or(|(c, _)| top.confidence > c[0].confidence);
            if better {
                best[det] = Some((candidates, layout == CropLayout::TwoRow));
            }
        }
        Ok(())
    }
}

/// Adds `more` to `hyps`. A text both searches found counts once, at the larger of its
/// two probabilities (each search sums only the paths its beam kept), not twice.
fn merge_hypotheses(hyps: &mut Vec<Hypothesis>, more: Vec<Hypothesis>) {
    for h in more {
        match hyps.iter_mut().find(|k| k.text == h.text) {
            Some(known) => known.prob = known.prob.max(h.prob),
            None => hyps.push(h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}
