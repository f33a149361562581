//! `candor bench`: throughput and latency of the whole pipeline on a folder of images.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use candor_vision::eval::percentile;
use candor_vision::{RgbImage, default_workers, load_image};
use clap::Args;
use serde::Serialize;

use crate::eval::progress_bar;
use crate::read::{ModelArgs, image_files};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// Times each image is processed in each mode
    #[arg(long, default_value_t = 5, value_name = "N")]
    rounds: usize,
    /// Images, or folders searched for images
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Latency figures for one group of frames, in milliseconds.
#[derive(Serialize, Default)]
struct Latency {
    frames: usize,
    median_ms: Option<f64>,
    p90_ms: Option<f64>,
}

impl Latency {
    fn of(times: &[f64], frames: usize) -> Self {
        Self {
            frames,
            median_ms: percentile(times, 0.5),
            p90_ms: percentile(times, 0.9),
        }
    }
}

#[derive(Serialize)]
struct Mode {
    mode: String,
    threads: usize,
    images_per_s: f64,
    with_plates: Latency,
    without_plates: Latency,
}

#[derive(Serialize)]
struct Report {
    images: usize,
    rounds: usize,
    decode_median_ms: Option<f64>,
    modes: Vec<Mode>,
    peak_memory_mb: Option<f64>,
}

/// Peak resident memory of this process, from Linux's /proc.
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The part of the pipeline a mode times.
#[derive(Clone, Copy)]
enum Stage {
    Whole,
    DetectorOnly,
}

/// Runs `stage` over every image `rounds` times on one reader; returns per-call times
/// and images per second.
fn sequential(
    images: &[RgbImage],
    rounds: usize,
    reader: &candor_vision::Reader<'_>,
    stage: Stage,
    label: &str,
) -> anyhow::Result<(Vec<Vec<f64>>, f64)> {
    let bar = progress_bar(images.len() * rounds, label);
    let mut times = vec![Vec::with_capacity(rounds); images.len()];
    let start = Instant::now();
    for _ in 0..rounds {
        for (i, image) in images.iter().enumerate() {
            let t = Instant::now();
            match stage {
                Stage::Whole => drop(reader.recognize(image)?),
                Stage::DetectorOnly => drop(reader.detect(image)?),
            }
            times[i].push(t.elapsed().as_secs_f64() * 1000.0);
            bar.inc(1);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok((times, (images.len() * rounds) as f64 / wall))
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let files = image_files(&args.paths)?;
    let rounds = args.rounds.max(1);
    let mut images = Vec::new();
    let mut decode_ms = Vec::new();
    for file in &files {
        let start = Instant::now();
        match load_image(file) {
            Ok(image) => {
                decode_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                images.push(image);
            }
            Err(e) => eprintln!("{}: skipped: {e}", file.display()),
        }
    }
    if images.is_empty() {
        bail!("no readable images to benchmark");
    }
    // Warm-up, and which frames show a plate.
    let has_plate: Vec<bool> = images
        .iter()
        .map(|image| engine.recognize(image).map(|reads| !reads.is_empty()))
        .collect::<Result<_, _>>()?;
    let split = |times: &[Vec<f64>]| {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for (t, &plate) in times.iter().zip(&has_plate) {
            if plate {
                with.extend(t)
            } else {
                without.extend(t)
            }
        }
        let n_with = has_plate.iter().filter(|p| **p).count();
        (
            Latency::of(&with, n_with),
            Latency::of(&without, has_plate.len() - n_with),
        )
    };

    let cores = default_workers();
    let mut modes = Vec::new();
    let one = engine.reader_with_threads(1);
    let (times, rate) = sequential(
        &images,
        rounds,
        &one,
        Stage::DetectorOnly,
        "detector, 1 thread",
    )?;
    let (with_plates, without_plates) = split(&times);
    modes.push(Mode {
        mode: "detector only".into(),
        threads: 1,
        images_per_s: rate,
        with_plates,
        without_plates,
    });
    let (times, rate) = sequential(&images, rounds, &one, Stage::Whole, "1 thread")?;
    let (with_plates, without_plates) = split(&times);
    modes.push(Mode {
        mode: "one image at a time".into(),
        threads: 1,
        images_per_s: rate,
        with_plates,
        without_plates,
    });

    let all = engine.reader();
    let (times, rate) = sequential(
        &images,
        rounds,
        &all,
        Stage::Whole,
        "all cores, one image at a time",
    )?;
    let (with_plates, without_plates) = split(&times);
    modes.push(Mode {
        mode: "one image at a time".into(),
        threads: cores,
        images_per_s: rate,
        with_plates,
        without_plates,
    });

    // Throughput: one worker per core, each single-threaded.
    let indices: Vec<usize> = (0..images.len() * rounds).collect();
    let bar = progress_bar(indices.len(), "all cores, one image per worker");
    let start = Instant::now();
    let timed = engine.par_map(&indices, cores, |reader, _, &i| {
        let image = &images[i % images.len()];
        let t = Instant::now();
        let result = reader
            .recognize(image)
            .map(|_| t.elapsed().as_secs_f64() * 1000.0);
        bar.inc(1);
        result
    });
    let rate = indices.len() as f64 / start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut times = vec![Vec::new(); images.len()];
    for (i, t) in timed.into_iter().enumerate() {
        times[i % images.len()].push(t?);
    }
    let (with_plates, without_plates) = split(&times);
    modes.push(Mode {
        mode: "one image per worker".into(),
        threads: cores,
        images_per_s: rate,
        with_plates,
        without_plates,
    });

    let report = Report {
        images: images.len(),
        rounds,
        decode_median_ms: percentile(&decode_ms, 0.5),
        modes,
        peak_memory_mb: peak_memory_mb(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn print_report(r: &Report) {
    println!(
        "{} images × {} rounds; decoding (not included below): median {} ms",
        r.images,
        r.rounds,
        ms(r.decode_median_ms)
    );
    println!(
        "{:<24} {:>7} {:>9}   {:>22}   {:>22}",
        "mode", "threads", "images/s", "with plate: med / p90", "no plate: med / p90"
    );
    for m in &r.modes {
        println!(
            "{:<24} {:>7} {:>9.1}   {:>4} fr {:>7} / {:>7}   {:>4} fr {:>7} / {:>7}",
            m.mode,
            m.threads,
            m.images_per_s,
            m.with_plates.frames,
            ms(m.with_plates.median_ms),
            ms(m.with_plates.p90_ms),
            m.without_plates.frames,
            ms(m.without_plates.median_ms),
            ms(m.without_plates.p90_ms)
        );
    }
    if let Some(mb) = r.peak_memory_mb {
        println!("peak memory (resident): {mb:.0} MB");
    }
}
