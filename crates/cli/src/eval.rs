//! `candor eval`: accuracy, detection and speed figures on labelled data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use candor_vision::eval::{DatasetKind, Summary, Tally, Truth, load_dataset, score_sample};
use candor_vision::{default_workers, load_image};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::read::ModelArgs;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Print the results as one JSON object per dataset per line
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// Parallel workers (each runs the models on one thread) [default: one per core]
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Datasets: a folder with labels.csv (plate crops), OpenALPR-style .txt labels, or
    /// YOLO images/ and labels/
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<PathBuf>,
}

#[derive(Serialize)]
struct DatasetResult {
    dataset: String,
    kind: DatasetKind,
    top_n: usize,
    /// The `--region` codes the reads favoured, normalised; empty: none.
    regions: Vec<String>,
    #[serde(flatten)]
    summary: Summary,
}

pub fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let workers = args.workers.unwrap_or_else(default_workers);
    let mut results = Vec::new();
    for dir in &args.datasets {
        let dataset = load_dataset(dir).map_err(anyhow::Error::msg)?;
        if dataset.samples.is_empty() {
            bail!("{}: the dataset has no samples", dir.display());
        }
        let bar = progress_bar(dataset.samples.len(), &dir.display().to_string());
        let outcomes = engine.par_map(&dataset.samples, workers, |reader, _, sample| {
            let outcome = load_image(&sample.image).and_then(|image| {
                let start = Instant::now();
                let (boxes, reads) = match sample.truth {
                    Truth::Crop { .. } => {
                        (Vec::new(), reader.read_crop(&image)?.into_iter().collect())
                    }
                    Truth::Scene { .. } => {
                        let (detections, reads) = reader.recognize_with_detections(&image)?;
                        (detections.iter().map(|d| d.bbox).collect(), reads)
                    }
                };
                let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
                let truth = sample.truth.in_pixels(image.width(), image.height());
                Ok((score_sample(&truth, &boxes, &reads), elapsed_ms))
            });
            bar.inc(1);
            outcome
        });
        bar.finish_and_clear();
        let mut tally = Tally::default();
        for (sample, outcome) in dataset.samples.iter().zip(&outcomes) {
            match outcome {
                Ok((score, ms)) => tally.add(score, *ms),
                Err(e) => {
                    eprintln!("{}: {e}", sample.image.display());
                    tally.add_failure(&sample.truth);
                }
            }
        }
        let has_boxes = dataset.kind != DatasetKind::Crops;
        results.push(DatasetResult {
            dataset: dir.display().to_string(),
            kind: dataset.kind,
            top_n: args.model.top_n,
            regions: engine
                .options()
                .regions
                .as_ref()
                .map(|r| r.codes().to_vec())
                .unwrap_or_default(),
            summary: tally.summary(has_boxes),
        });
    }
    if args.json {
        for r in &results {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print_table(&results);
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn print_table(results: &[DatasetResult]) {
    println!(
        "{:<44} {:>6} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}",
        "dataset",
        "images",
        "fail",
        "top-1",
        "top-N",
        "CER",
        "recall",
        "precis.",
        "med. ms",
        "p90 ms"
    );
    for r in results {
        let s = &r.summary;
        let name: String = if r.dataset.chars().count() > 44 {
            let tail: Vec<char> = r.dataset.chars().rev().take(43).collect();
            format!("…{}", tail.into_iter().rev().collect::<String>())
        } else {
            r.dataset.clone()
        };
        println!(
            "{:<44} {:>6} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}",
            name,
            s.images,
            s.failed,
            pct(s.top1_accuracy),
            pct(s.topn_accuracy),
            pct(s.char_error_rate),
            pct(s.detection_recall),
            pct(s.detection_precision),
            ms(s.median_ms),
            ms(s.p90_ms)
        );
    }
    if let Some(r) = results.first() {
        println!(
            "top-N = top-{}; a failed image counts as read with nothing found; times are per image on one worker thread, decoding excluded",
            r.top_n
        );
        if !r.regions.is_empty() {
            println!("reads favoured the layouts of {}", r.regions.join(", "));
        }
    }
}
