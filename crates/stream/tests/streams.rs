//! Streams end to end, with the shipped models and Debian's FFmpeg: a clip of cars carrying
//! known plates across a real photo is read from a file and from an HTTP stream served on
//! loopback; a watch comes back after its stream's server is stopped and started again.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candor_stream::clip::{self, ClipSpec};
use candor_stream::{Pass, SourceSettings, StreamAddress, Watch, WatchSettings};
use candor_vision::Engine;

fn engine() -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    Engine::load(&dir).expect("the shipped models load")
}

/// A clip of `cars` cars in a temporary folder.
fn make_clip(cars: usize, seed: u64) -> (tempfile::TempDir, PathBuf, ClipSpec) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let spec = ClipSpec::random(cars, seed);
    clip::write(&spec, &clip::background(), &path)
        .expect("FFmpeg encodes the clip (Debian: apt install ffmpeg fonts-dejavu-core)");
    (dir, path, spec)
}

fn settings() -> WatchSettings {
    WatchSettings {
        source: SourceSettings {
            fps: 5.0,
            ..SourceSettings::default()
        },
        ..WatchSettings::default()
    }
}

#[test]
fn a_clip_gives_one_pass_per_car_with_the_voted_plate() {
    let (_dir, path, spec) = make_clip(4, 11);
    let engine = engine();
    let address = StreamAddress::parse(path.to_str().unwrap()).unwrap();
    let handle = Watch::default();
    let mut passes: Vec<Pass> = Vec::new();
    candor_stream::watch(&address, &settings(), &engine, &handle, &mut |p| {
        passes.push(p)
    });
    let score = clip::score(&spec.plates, &passes);
    eprintln!("plates {:?}", spec.plates);
    for p in &passes {
        eprintln!(
            "pass {} ({:.2}, {} reads, best {} {:.2}, {:?}, {:?})",
            p.plate,
            p.confidence,
            p.sightings,
            p.best.plate,
            p.best.confidence,
            p.direction,
            p.colour
        );
    }
    eprintln!("{score:?}");
    let state = handle.state();
    assert!(state.ended && !state.connected, "{state:?}");
    assert_eq!(state.connections, 1);
    assert!(
        state.frames_read < state.frames_decoded,
        "frames without motion are skipped: {state:?}"
    );
    assert_eq!(score.cars_with_one_pass, 4, "{score:?}");
    assert_eq!(score.strays, 0, "{score:?}");
    assert!(score.voted_right >= 3, "{score:?}");
    assert!(score.voted_right >= score.best_frame_right, "{score:?}");
    assert!(score.colour_right >= 3, "{score:?}");
    // Left to right, then towards the camera, as the clip drives them.
    let mut by_time: Vec<&Pass> = passes.iter().collect();
    by_time.sort_by_key(|p| p.first_seen_ms);
    assert_eq!(by_time[0].direction, candor_stream::Direction::LeftToRight);
    assert_eq!(by_time[1].direction, candor_stream::Direction::Approaching);
    assert_eq!(by_time[2].direction, candor_stream::Direction::LeftToRight);
    // The best frame and its crop are kept with the pass.
    let crop = by_time[0].plate_crop();
    assert!(crop.width() > 100 && crop.height() > 30);
}

/// FFmpeg serving `clip` over HTTP (MPEG-TS) on `port`, to one client, in real time.
fn serve(clip: &Path, port: u16) -> Child {
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(clip)
        .args(["-c", "copy", "-f", "mpegts", "-listen", "1"])
        .arg(format!("http://127.0.0.1:{port}/live.ts"))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg starts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
fn a_dropped_stream_is_read_again_soon_after_its_server_returns() {
    let (_dir, path, spec) = make_clip(3, 5);
    let port = free_port();
    let address = StreamAddress::parse(&format!("http://127.0.0.1:{port}/live.ts")).unwrap();
    let mut server = serve(&path, port);
    let handle = Watch::default();
    let passes = Arc::new(Mutex::new(Vec::<Pass>::new()));
    let watcher = {
        let (handle, passes) = (handle.clone(), passes.clone());
        std::thread::spawn(move || {
            let engine = engine();
            candor_stream::watch(&address, &settings(), &engine, &handle, &mut |p| {
                passes.lock().unwrap().push(p)
            });
        })
    };
    wait_for("first connection", Duration::from_secs(60), || {
        handle.state().connected
    });
    // The server goes away mid-stream: the watch notices and says why.
    std::thread::sleep(Duration::from_secs(3));
    server.kill().unwrap();
    server.wait().unwrap();
    wait_for("the drop noticed", Duration::from_secs(15), || {
        !handle.state().connected
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(handle.state().last_error.is_some(), "{:?}", handle.state());
    // Back: the watch reconnects within the target of 10 s.
    let mut server = serve(&path, port);
    let back = wait_for("reconnection", Duration::from_secs(30), || {
        handle.state().connections >= 2 && handle.state().connected
    });
    eprintln!("back after {back:?}");
    assert!(back < Duration::from_secs(10), "back after {back:?}");
    // Let a car or two pass, then stop: the watch ends and hands over what it saw.
    std::thread::sleep(Duration::from_secs(6));
    handle.stop();
    watcher.join().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let state = handle.state();
    assert!(state.ended, "{state:?}");
    let passes = passes.lock().unwrap();
    let score = clip::score(&spec.plates, &passes);
    eprintln!("{state:?}\n{score:?}");
    assert!(score.passes >= 1, "{score:?}");
}
