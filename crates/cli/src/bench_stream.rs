//! `candor bench-stream`: how well and how cheaply a camera stream is read. It draws a clip
//! of cars with known plates crossing a real photo (`candor_stream::clip`, from a seed),
//! encodes it as 1280×720 H.264, watches it as the server would, and reports:
//!
//! - passes: how many cars gave exactly one pass, and how many passes belong to no car;
//! - the voted text against the best single frame's text, right out of all passes, and the
//!   vehicle colour named right;
//! - cost: CPU seconds (Candor and its FFmpeg child) per second of video, which is the
//!   number of cores one such stream takes, and so how many streams the machine carries.
//!
//! The clip is read as fast as the machine goes rather than in real time; frames are timed
//! by their place in the clip, so the passes and the work per second of video are the same.

use std::time::Instant;

use anyhow::Context;
use candor_stream::clip::{self, ClipSpec};
use candor_stream::{Pass, SourceSettings, StreamAddress, Watch, WatchSettings};
use clap::Args as ClapArgs;
use serde::Serialize;

use crate::read::ModelArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Cars in the clip (each crosses in 2.4 s, then 1.2 s of empty road)
    #[arg(long, default_value_t = 30)]
    cars: usize,
    /// Seed of the plates, the noise and the clip
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Frames read per second (the clip has 25)
    #[arg(long, default_value_t = 5.0)]
    fps: f32,
    /// Size of the cars: 1 draws plates 200 pixels wide; 0.5 is a camera twice as far
    #[arg(long, default_value_t = 1.0)]
    size: f32,
    /// Noise amplitude of each frame (0–255)
    #[arg(long, default_value_t = 10)]
    noise: u8,
    /// Blur of each frame (a Gaussian of BLUR / 3 pixels)
    #[arg(long, default_value_t = 3)]
    blur: u32,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
    /// Also print every pass (voted text, best single read, reads, direction) and the clip's
    /// plates, to see where the misreads are
    #[arg(long)]
    passes: bool,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Serialize)]
struct Report {
    cars: usize,
    seed: u64,
    size: f32,
    noise: u8,
    blur: u32,
    read_fps: f32,
    passes: usize,
    cars_with_one_pass: usize,
    stray_passes: usize,
    voted_right: usize,
    best_frame_right: usize,
    /// Passes that named the car's colour.
    colour_right: usize,
    video_secs: f64,
    frames_decoded: u64,
    frames_read: u64,
    cpu_secs: f64,
    wall_secs: f64,
    /// CPU seconds per second of video: the cores one such stream keeps busy.
    cores_per_stream: f64,
    cpus: usize,
    /// `cpus / cores_per_stream`, rounded down.
    streams_carried: usize,
}

/// User and system CPU time of this process and its waited-for children, in seconds.
fn cpu_seconds() -> f64 {
    let secs = |who| {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(usage.ru_utime) + t(usage.ru_stime)
    };
    secs(libc::RUSAGE_SELF) + secs(libc::RUSAGE_CHILDREN)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.cars > 0, "--cars must be at least 1");
    let engine = args.model.load()?;
    anyhow::ensure!(
        (0.2..=2.0).contains(&args.size),
        "--size must be between 0.2 and 2"
    );
    let spec = ClipSpec {
        size: args.size,
        noise: args.noise,
        blur: args.blur,
        ..ClipSpec::random(args.cars, args.seed)
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("clip.mp4");
    eprintln!("drawing and encoding {} cars…", args.cars);
    clip::write(&spec, &clip::background(), &path).context("making the clip")?;
    let address = StreamAddress::parse(path.to_str().context("a UTF-8 temp path")?)?;
    let settings = WatchSettings {
        source: SourceSettings {
            fps: args.fps,
            ..SourceSettings::default()
        },
        ..WatchSettings::default()
    };
    let handle = Watch::default();
    let mut passes: Vec<Pass> = Vec::new();
    let bar = crate::eval::progress_bar(args.cars, "passes");
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    candor_stream::watch(&address, &settings, &engine, &handle, &mut |p| {
        bar.inc(1);
        passes.push(p);
    });
    let (cpu_secs, wall_secs) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    bar.finish_and_clear();
    let state = handle.state();
    if let Some(e) = &state.last_error {
        eprintln!("stream problem: {e}");
    }
    let score = clip::score(&spec.plates, &passes);
    if args.passes {
        eprintln!("plates: {}", spec.plates.join(" "));
        for p in &passes {
            let others: Vec<&str> = p.candidates[1..].iter().map(|c| c.plate.as_str()).collect();
            eprintln!(
                "pass {} ({:.2}) best {} ({:.2}) reads {} {} other texts: {}",
                p.plate,
                p.confidence,
                p.best.plate,
                p.best.confidence,
                p.sightings,
                p.direction.as_str(),
                others.join(" ")
            );
        }
    }
    let video_secs = spec.duration_secs();
    let cores_per_stream = cpu_secs / video_secs;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = Report {
        cars: score.cars,
        seed: args.seed,
        size: args.size,
        noise: args.noise,
        blur: args.blur,
        read_fps: args.fps,
        passes: score.passes,
        cars_with_one_pass: score.cars_with_one_pass,
        stray_passes: score.strays,
        voted_right: score.voted_right,
        best_frame_right: score.best_frame_right,
        colour_right: score.colour_right,
        video_secs,
        frames_decoded: state.frames_decoded,
        frames_read: state.frames_read,
        cpu_secs,
        wall_secs,
        cores_per_stream,
        cpus,
        streams_carried: (cpus as f64 / cores_per_stream).floor() as usize,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    println!(
        "cars {}  passes {}  cars with exactly one pass {} ({:.1} %)  stray passes {}",
        report.cars,
        report.passes,
        report.cars_with_one_pass,
        pct(report.cars_with_one_pass, report.cars),
        report.stray_passes
    );
    println!(
        "right of all passes: voted {} ({:.1} %), best single frame {} ({:.1} %)",
        report.voted_right,
        pct(report.voted_right, report.passes),
        report.best_frame_right,
        pct(report.best_frame_right, report.passes)
    );
    println!(
        "vehicle colour named right: {} ({:.1} %)",
        report.colour_right,
        pct(report.colour_right, report.passes)
    );
    println!(
        "{:.0} s of 1280×720 video at 25 fps, {} frames decoded, {} read ({} fps read)",
        report.video_secs, report.frames_decoded, report.frames_read, report.read_fps
    );
    println!(
        "CPU {:.1} s in {:.1} s: {:.2} cores per stream; {} such streams on these {} CPUs",
        report.cpu_secs,
        report.wall_secs,
        report.cores_per_stream,
        report.streams_carried,
        report.cpus
    );
    Ok(())
}
