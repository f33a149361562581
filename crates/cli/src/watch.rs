//! `candor watch`: read a camera stream from the command line and print one JSON line per
//! vehicle pass, for setting a camera up before it is registered.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use candor_stream::{Pass, SourceSettings, StreamAddress, TrackSettings, Watch, WatchSettings};
use clap::Args as ClapArgs;

use crate::read::ModelArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// rtsp://, rtsps://, http(s):// (MJPEG, MPEG-TS or snapshots) address, or a video file
    #[arg(value_name = "ADDRESS")]
    address: String,
    /// Frames read per second
    #[arg(long, default_value_t = 5.0)]
    fps: f32,
    /// Mean change of a thumbnail pixel (0–255) that counts as motion; 0 reads every frame
    #[arg(long, default_value_t = 1.5)]
    motion: f32,
    /// A plate not seen for this many milliseconds has passed
    #[arg(long, default_value_t = 1500)]
    gap_ms: i64,
    /// Frames a plate must be read in to count as a pass (unless one read is 0.9 sure)
    #[arg(long, default_value_t = 2)]
    min_sightings: usize,
    /// Read a file at its own speed, as a camera would send it
    #[arg(long)]
    realtime: bool,
    /// Save each pass's best frame and plate crop (JPEG) in this folder
    #[arg(long, value_name = "DIR")]
    frames: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let address = StreamAddress::parse(&args.address)?;
    let engine = args.model.load()?;
    if let Some(dir) = &args.frames {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let settings = WatchSettings {
        source: SourceSettings {
            fps: args.fps,
            realtime: args.realtime,
            ..SourceSettings::default()
        },
        track: TrackSettings {
            gap_ms: args.gap_ms,
            min_sightings: args.min_sightings.max(1),
            ..TrackSettings::default()
        },
        motion_threshold: args.motion,
        ..WatchSettings::default()
    };
    let handle = Watch::default();
    // Ctrl-C stops the watch; passes still open are printed before it returns.
    let on_signal = handle.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a signal runtime");
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            on_signal.stop();
        }
    });
    let on_state = handle.clone();
    let shown_address = address.shown().to_string();
    std::thread::spawn(move || {
        let mut shown = None;
        while !on_state.state().ended {
            let s = on_state.state();
            let now = (s.connected, s.last_error.clone());
            if shown.as_ref() != Some(&now) {
                match &now {
                    (true, _) => eprintln!("connected to {shown_address}"),
                    (false, Some(e)) => eprintln!("not connected: {e} (retrying)"),
                    (false, None) => {}
                }
                shown = Some(now);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let frames = args.frames.clone();
    let mut failed = None;
    candor_stream::watch(&address, &settings, &engine, &handle, &mut |pass: Pass| {
        if let Err(e) = print_pass(&pass, frames.as_deref()) {
            failed.get_or_insert(e);
            handle.stop();
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let state = handle.state();
    eprintln!(
        "{} frames decoded, {} read, {} passes",
        state.frames_decoded, state.frames_read, state.passes
    );
    Ok(())
}

fn print_pass(pass: &Pass, frames: Option<&std::path::Path>) -> anyhow::Result<()> {
    let mut line = serde_json::to_value(pass)?;
    if let Some(dir) = frames {
        let stem = format!("{}-{}", pass.first_seen_ms, pass.plate);
        let frame_path = dir.join(format!("{stem}.jpg"));
        pass.best_frame
            .save(&frame_path)
            .with_context(|| format!("saving {}", frame_path.display()))?;
        let crop_path = dir.join(format!("{stem}-plate.jpg"));
        pass.plate_crop()
            .save(&crop_path)
            .with_context(|| format!("saving {}", crop_path.display()))?;
        line["best_frame_file"] = frame_path.display().to_string().into();
        line["plate_crop_file"] = crop_path.display().to_string().into();
    }
    println!("{line}");
    Ok(())
}
