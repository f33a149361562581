//! Watching one stream: connect, read the frames that moved, follow the plates, hand over one
//! [`Pass`] per vehicle, and reconnect with back-off when the stream drops.
//!
//! A track still open when the stream drops or the watch is stopped ends there, and its pass
//! is handed over: a stop loses no pass already seen. A file has an end; a network stream is
//! reconnected until the watch is stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use candor_vision::Engine;
use serde::Serialize;

use crate::motion::MotionGate;
use crate::source::{AddressKind, FrameSource, Killer, SourceSettings, StreamAddress};
use crate::track::{Pass, TrackSettings, Tracker};

/// Everything that shapes a watch.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub source: SourceSettings,
    pub track: TrackSettings,
    /// Mean change of a thumbnail pixel (0–255) that counts as motion; 0 reads every frame.
    pub motion_threshold: f32,
    /// The longest wait between reconnection attempts (the first is half a second, then
    /// doubling).
    pub max_backoff: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            source: SourceSettings::default(),
            track: TrackSettings::default(),
            motion_threshold: 1.5,
            max_backoff: Duration::from_secs(4),
        }
    }
}

/// What a watch is doing, for the console and `candor watch`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StreamState {
    /// Frames are arriving now.
    pub connected: bool,
    /// Frames decoded and frames read by the engine per second, over the last few seconds.
    pub decoded_fps: f32,
    pub read_fps: f32,
    pub frames_decoded: u64,
    pub frames_read: u64,
    /// Passes handed over since the watch started.
    pub passes: u64,
    /// When the last pass was handed over (ms since the epoch).
    pub last_pass_at: Option<i64>,
    /// The last problem, with the stream's address shown without credentials.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Successful connections (more than one means the stream dropped and came back).
    pub connections: u64,
    /// The watch has ended: it was stopped, or its file was read to the end.
    pub ended: bool,
}

/// A handle on a running watch: cheap to clone, shared with the thread that runs it.
#[derive(Clone, Default)]
pub struct Watch {
    state: Arc<Mutex<StreamState>>,
    stopping: Arc<AtomicBool>,
    decoder: Arc<Mutex<Option<Killer>>>,
}

impl Watch {
    pub fn state(&self) -> StreamState {
        self.state.lock().expect("not poisoned").clone()
    }

    /// Asks the watch to stop: the decoder is stopped at once, open tracks are handed over
    /// as passes, and [`watch`] returns.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(k) = self.decoder.lock().expect("not poisoned").as_ref() {
            k.kill();
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn update(&self, f: impl FnOnce(&mut StreamState)) {
        f(&mut self.state.lock().expect("not poisoned"));
    }

    fn failed(&self, message: String) {
        tracing::warn!(error = %message, "stream problem");
        self.update(|s| {
            s.connected = false;
            s.last_error = Some(message);
            s.last_error_at = Some(now_ms());
        });
    }

    /// Sleeps up to `d`, waking early when stopped.
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.is_stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Frame rates over a sliding few seconds.
struct Rates {
    since: Instant,
    decoded: u64,
    read: u64,
}

impl Rates {
    const WINDOW: Duration = Duration::from_secs(3);

    fn new() -> Self {
        Self {
            since: Instant::now(),
            decoded: 0,
            read: 0,
        }
    }

    fn count(&mut self, watch: &Watch, read: bool) {
        self.decoded += 1;
        self.read += u64::from(read);
        let elapsed = self.since.elapsed();
        watch.update(|s| {
            s.frames_decoded += 1;
            s.frames_read += u64::from(read);
            if elapsed >= Self::WINDOW {
                s.decoded_fps = self.decoded as f32 / elapsed.as_secs_f32();
                s.read_fps = self.read as f32 / elapsed.as_secs_f32();
            }
        });
        if elapsed >= Self::WINDOW {
            *self = Self::new();
        }
    }
}

/// Watches `address` until stopped (or, for a file, until its end), handing each vehicle
/// pass to `on_pass` as its track ends. Problems are kept in the watch's state and retried;
/// none of them ends the watch.
pub fn watch(
    address: &StreamAddress,
    settings: &WatchSettings,
    engine: &Engine,
    handle: &Watch,
    on_pass: &mut dyn FnMut(Pass),
) {
    let first_backoff = Duration::from_millis(500);
    let mut backoff = first_backoff;
    while !handle.is_stopping() {
        let mut source = match FrameSource::open(address, &settings.source) {
            Ok(s) => s,
            Err(e) => {
                handle.failed(e.to_string());
                handle.pause(backoff);
                backoff = (backoff * 2).min(settings.max_backoff);
                continue;
            }
        };
        *handle.decoder.lock().expect("not poisoned") = Some(source.killer());
        // Stopped between the check above and the decoder's start: stop it too.
        if handle.is_stopping() {
            source.killer().kill();
        }
        let frames_before = handle.state().frames_decoded;
        read_frames(&mut source, address, settings, engine, handle, on_pass);
        *handle.decoder.lock().expect("not poisoned") = None;
        drop(source);
        handle.update(|s| s.connected = false);
        if address.kind() == AddressKind::File || handle.is_stopping() {
            break;
        }
        if handle.state().frames_decoded > frames_before {
            backoff = first_backoff;
        }
        handle.pause(backoff);
        backoff = (backoff * 2).min(settings.max_backoff);
    }
    handle.update(|s| {
        s.connected = false;
        s.ended = true;
    });
}

/// Reads one connection's frames until it ends, then hands over its open tracks.
fn read_frames(
    source: &mut FrameSource,
    address: &StreamAddress,
    settings: &WatchSettings,
    engine: &Engine,
    handle: &Watch,
    on_pass: &mut dyn FnMut(Pass),
) {
    let mut tracker = Tracker::new(settings.track.clone());
    let mut gate = MotionGate::new(settings.motion_threshold);
    let mut rates = Rates::new();
    let started = now_ms();
    let frame_ms = 1000.0 / f64::from(settings.source.fps.max(0.01));
    let mut index: u64 = 0;
    let mut hand_over = |passes: Vec<Pass>, handle: &Watch| {
        for pass in passes {
            handle.update(|s| {
                s.passes += 1;
                s.last_pass_at = Some(now_ms());
            });
            on_pass(pass);
        }
    };
    loop {
        let frame = match source.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                if !handle.is_stopping() {
                    // FFmpeg's messages mostly name the address already.
                    let message = e.to_string();
                    handle.failed(if message.contains(address.shown()) {
                        message
                    } else {
                        format!("{}: {message}", address.shown())
                    });
                }
                break;
            }
        };
        if index == 0 {
            handle.update(|s| {
                s.connected = true;
                s.connections += 1;
            });
        }
        // A file's frames are timed by their place in it, so that reading it faster than
        // real time gives the same passes; a live stream's by the clock.
        let at = if address.kind() == AddressKind::File {
            started + (index as f64 * frame_ms) as i64
        } else {
            now_ms()
        };
        index += 1;
        let moved = gate.moved(&frame);
        rates.count(handle, moved);
        if !moved {
            tracker.unchanged(at);
            continue;
        }
        match engine.recognize(&frame) {
            Ok(reads) => {
                let passes = tracker.observe(at, &reads, &Arc::new(frame));
                hand_over(passes, handle);
            }
            Err(e) => handle.failed(format!("a frame could not be read: {e}")),
        }
    }
    hand_over(tracker.finish(), handle);
}
