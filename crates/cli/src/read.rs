//! `candor read`: plate reads for images and folders of images.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use candor_platetext::formats::RegionSet;
use candor_vision::{
    Engine, EngineOptions, PlateRead, Runtime, default_models_dir, default_workers,
};
use clap::Args;
use serde::Serialize;

/// Options shared by the vision commands.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Folder holding manifest.toml and the ONNX models [default: $CANDOR_MODELS, else the
    /// nearest models/ folder upwards from here]
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Candidate texts kept per plate
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top_n: usize,
    /// Model runtime: rten (pure Rust), or ort (ONNX Runtime from ORT_DYLIB_PATH; needs a
    /// build with the `ort` feature)
    #[arg(long, default_value = "rten", value_name = "NAME")]
    pub runtime: String,
    /// Regions whose plates the cameras see (BR, US, US-NY, GB, ...; repeat or separate by
    /// commas): reads favour their layouts [default: every known layout counts alike]
    #[arg(long = "region", value_name = "CODE", value_delimiter = ',')]
    pub regions: Vec<String>,
}

impl ModelArgs {
    fn runtime(&self) -> anyhow::Result<Runtime> {
        match self.runtime.as_str() {
            "rten" => Ok(Runtime::Rten),
            #[cfg(feature = "ort")]
            "ort" => Ok(Runtime::Ort),
            #[cfg(not(feature = "ort"))]
            "ort" => bail!("this candor was built without the `ort` feature"),
            other => bail!("unknown runtime {other:?}: expected rten or ort"),
        }
    }

    pub fn load(&self) -> anyhow::Result<Engine> {
        let dir = match &self.models {
            Some(dir) => dir.clone(),
            None => default_models_dir()
                .context("no models folder found: pass --models DIR or set CANDOR_MODELS")?,
        };
        let engine = Engine::load_with(&dir, self.runtime()?)
            .with_context(|| format!("loading models from {}", dir.display()))?;
        let regions =
            RegionSet::named(&self.regions).map_err(|e| anyhow::anyhow!("--region: {e}"))?;
        Ok(engine.with_options(EngineOptions {
            top_n: self.top_n.max(1),
            regions,
        }))
    }
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Print one JSON object per image per line
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// Images, or folders searched for images
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "jfif"];

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Files named directly, plus image files found (recursively, sorted) in named folders.
pub fn image_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect_images(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_images(&path, out)?;
        } else if is_image_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonBox {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

#[derive(Serialize)]
struct JsonCandidate<'a> {
    plate: &'a str,
    confidence: f32,
}

#[derive(Serialize)]
struct JsonPlate<'a> {
    plate: &'a str,
    confidence: f32,
    #[serde(rename = "box")]
    bbox: JsonBox,
    detection_score: f32,
    candidates: Vec<JsonCandidate<'a>>,
    region: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonImage<'a> {
    image: String,
    width: Option<u32>,
    height: Option<u32>,
    elapsed_ms: f64,
    plates: Vec<JsonPlate<'a>>,
    error: Option<String>,
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

fn json_plate(read: &PlateRead) -> JsonPlate<'_> {
    JsonPlate {
        plate: &read.plate,
        confidence: round3(read.confidence),
        bbox: JsonBox {
            x: read.bbox.x.round() as i64,
            y: read.bbox.y.round() as i64,
            w: read.bbox.w.round() as i64,
            h: read.bbox.h.round() as i64,
        },
        detection_score: round3(read.detection_score),
        candidates: read
            .candidates
            .iter()
            .map(|c| JsonCandidate {
                plate: &c.plate,
                confidence: round3(c.confidence),
            })
            .collect(),
        region: read.region.as_deref(),
    }
}

/// The outcome for one file: size and reads, or the error, and the time it took.
pub struct FileOutcome {
    pub path: PathBuf,
    pub elapsed_ms: f64,
    pub result: Result<(u32, u32, Vec<PlateRead>), candor_vision::VisionError>,
}

/// Reads every file on all cores; results in file order.
pub fn read_files(engine: &Engine, files: &[PathBuf]) -> Vec<FileOutcome> {
    engine.par_map(files, default_workers(), |reader, _, path| {
        let start = Instant::now();
        let result = reader.recognize_file(path);
        FileOutcome {
            path: path.clone(),
            elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
            result,
        }
    })
}

pub fn run(args: ReadArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let files = image_files(&args.paths)?;
    if files.is_empty() {
        bail!("no image files found in the given paths");
    }
    let outcomes = read_files(&engine, &files);
    let mut failed = 0;
    for outcome in &outcomes {
        let elapsed_ms = (outcome.elapsed_ms * 10.0).round() / 10.0;
        let image = outcome.path.display().to_string();
        match &outcome.result {
            Ok((width, height, reads)) => {
                if args.json {
                    let line = JsonImage {
                        image,
                        width: Some(*width),
                        height: Some(*height),
                        elapsed_ms,
                        plates: reads.iter().map(json_plate).collect(),
                        error: None,
                    };
                    println!("{}", serde_json::to_string(&line)?);
                } else if reads.is_empty() {
                    println!("{image}: no plate ({elapsed_ms} ms)");
                } else {
                    let list: Vec<String> = reads
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {:.0}% at {:.0},{:.0} {:.0}×{:.0}",
                                r.plate,
                                r.confidence * 100.0,
                                r.bbox.x,
                                r.bbox.y,
                                r.bbox.w,
                                r.bbox.h
                            )
                        })
                        .collect();
                    println!("{image}: {} ({elapsed_ms} ms)", list.join("; "));
                }
            }
            Err(error) => {
                failed += 1;
                if args.json {
                    let line = JsonImage {
                        image,
                        width: None,
                        height: None,
                        elapsed_ms,
                        plates: Vec::new(),
                        error: Some(error.to_string()),
                    };
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    eprintln!("{image}: error: {error}");
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be read", outcomes.len());
    }
    Ok(())
}
