//! Camera streams watched by the server.
//!
//! One worker per camera that has a stream address and may send reads (active, approval in
//! force): a thread runs [`candor_stream::watch`] with the shared engine, and a task stores
//! each vehicle pass it hands over through the same ingest as every other read (best frame
//! and plate crop stored as sealed images, hot-list matching, alerts). The supervisor looks
//! at the cameras every few seconds: it starts a worker for each new stream, restarts one
//! whose address changed, and stops one whose camera lost its approval or its address. At
//! shutdown every watch is stopped, and the passes it was following are stored before
//! [`crate::serve`] returns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use candor_store::reads::StreamPass;
use candor_stream::{
    Pass, SourceSettings, StreamAddress, StreamState, TrackSettings, Watch, WatchSettings,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use candor_store::cameras::{Camera, StreamAddressText};

use crate::audit::OpsEvent;
use crate::auth::{Actor, Permission};
use crate::error::ApiError;
use crate::ingest::{self, IncomingRead};
use crate::state::AppState;

/// How often the supervisor compares the workers with the cameras.
const SYNC_EVERY: Duration = Duration::from_secs(3);
/// Passes waiting to be stored per stream before the watcher waits for the store.
const PASS_QUEUE: usize = 64;

/// A stream's state as the console and the API show it.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StreamView {
    /// The address without credentials; `None` when the camera has no stream.
    pub address: Option<String>,
    /// A worker is watching it now.
    pub watched: bool,
    /// Why it is not watched (camera not approved, streams off, recognition off).
    pub not_watched_because: Option<String>,
    /// What the watch is doing (all zero when none runs). `last_error` also carries a read
    /// that could not be stored.
    #[serde(flatten)]
    pub state: StreamState,
}

struct Worker {
    /// Hash of the full address, to notice a change without keeping it here.
    address_hash: Vec<u8>,
    watch: Watch,
    thread: std::thread::JoinHandle<()>,
    storer: tokio::task::JoinHandle<()>,
}

/// The running workers, by camera id, and why the others are not running.
#[derive(Default)]
pub struct StreamWorkers {
    workers: Mutex<HashMap<String, Worker>>,
    idle_because: Mutex<HashMap<String, String>>,
    store_errors: std::sync::Arc<Mutex<HashMap<String, String>>>,
}

impl StreamWorkers {
    /// What the stream of `camera` is doing; `address` is its address as stored (shown form).
    pub fn view(&self, camera_id: &str, address: Option<&str>) -> StreamView {
        let mut view = StreamView {
            address: address.map(str::to_string),
            ..StreamView::default()
        };
        if address.is_none() {
            return view;
        }
        if let Some(w) = self.workers.lock().expect("not poisoned").get(camera_id) {
            view.state = w.watch.state();
            view.watched = !view.state.ended;
            if view.state.ended {
                view.not_watched_because = Some("its file was read to the end".into());
            }
        } else {
            view.not_watched_because = self
                .idle_because
                .lock()
                .expect("not poisoned")
                .get(camera_id)
                .cloned();
        }
        if let Some(e) = self
            .store_errors
            .lock()
            .expect("not poisoned")
            .get(camera_id)
        {
            view.state.last_error = Some(e.clone());
        }
        view
    }
}

/// Checks a stream address an administrator gives, under this server's settings.
pub fn parse_address(state: &AppState, text: &str) -> Result<StreamAddress, ApiError> {
    let address = StreamAddress::parse(text)
        .map_err(|e| ApiError::unprocessable("invalid_stream_address", e.to_string()))?;
    if address.kind() == candor_stream::AddressKind::File && !state.config.streams.allow_files {
        return Err(ApiError::unprocessable(
            "invalid_stream_address",
            "a file is not a camera stream here: set streams.allow_files = true in candor.toml to try a setup out with a video file",
        ));
    }
    Ok(address)
}

/// Sets (or, with `None`, removes) the stream of camera `id`, with its audit record: the
/// address is shown there without credentials. The supervisor starts or stops the watch
/// within a few seconds.
pub async fn set_address(
    state: &AppState,
    actor: &Actor,
    id: &str,
    address: Option<&str>,
) -> Result<Camera, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let parsed = address.map(|a| parse_address(state, a)).transpose()?;
    let text = parsed.as_ref().map(|a| StreamAddressText {
        full: a.full(),
        shown: a.shown(),
    });
    let camera = state.store.set_camera_stream(&state.keys, id, text).await?;
    let (action, details) = match &parsed {
        Some(a) => (
            "camera.stream.set",
            serde_json::json!({ "address": a.shown(), "with_credentials": a.has_credentials() }),
        ),
        None => ("camera.stream.remove", serde_json::json!({})),
    };
    crate::audit::record(
        state,
        OpsEvent::by(actor, action, format!("camera:{id}"), details),
    )
    .await?;
    Ok(camera)
}

fn watch_settings(state: &AppState) -> WatchSettings {
    let c = &state.config.streams;
    WatchSettings {
        source: SourceSettings {
            fps: c.fps,
            // A file stands in for a camera: read it at its own speed.
            realtime: true,
            ..SourceSettings::default()
        },
        track: TrackSettings {
            gap_ms: c.pass_gap_ms,
            min_sightings: c.min_sightings,
            ..TrackSettings::default()
        },
        motion_threshold: c.motion_threshold,
        ..WatchSettings::default()
    }
}

/// Starts the supervisor; it runs until aborted ([`stop_all`] then stops the workers).
pub fn spawn_supervisor(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = sync(&state).await {
                tracing::error!(error = %e.message, "stream supervisor: could not list the cameras' streams");
            }
        }
    })
}

/// Brings the workers in line with the cameras: one per stream that may be watched.
pub async fn sync(state: &AppState) -> Result<(), ApiError> {
    let streams = state.store.camera_streams(&state.keys).await?;
    let mut wanted: HashMap<String, (Camera, String)> = HashMap::new();
    let mut idle = HashMap::new();
    for (camera, full) in streams {
        let why_not = if !state.config.streams.enabled {
            Some("streams are off in candor.toml (streams.enabled)".to_string())
        } else {
            camera.ingest_allowed().err().map(|r| r.to_string())
        };
        match why_not {
            Some(reason) => {
                idle.insert(camera.id.clone(), reason);
            }
            None => {
                wanted.insert(camera.id.clone(), (camera, full));
            }
        }
    }
    // Stop what is no longer wanted, or wanted at another address.
    let stopping: Vec<(String, Worker)> = {
        let mut workers = state.streams.workers.lock().expect("not poisoned");
        let ids: Vec<String> = workers
            .iter()
            .filter(|(id, w)| {
                wanted
                    .get(*id)
                    .is_none_or(|(_, full)| address_hash(full) != w.address_hash)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| workers.remove(&id).map(|w| (id, w)))
            .collect()
    };
    for (id, worker) in stopping {
        tracing::info!(camera = %id, "stopping the stream watch");
        stop_worker(worker).await;
    }
    let to_start: Vec<(Camera, String)> = {
        let workers = state.streams.workers.lock().expect("not poisoned");
        wanted
            .into_values()
            .filter(|(c, _)| !workers.contains_key(&c.id))
            .collect()
    };
    if !to_start.is_empty() {
        match state.engine().await {
            Ok(engine) => {
                for (camera, full) in to_start {
                    match start_worker(state, engine.clone(), &camera.id, &full) {
                        Ok(worker) => {
                            tracing::info!(camera = %camera.id, "watching the camera's stream");
                            state
                                .streams
                                .workers
                                .lock()
                                .expect("not poisoned")
                                .insert(camera.id.clone(), worker);
                        }
                        Err(e) => {
                            idle.insert(camera.id.clone(), e);
                        }
                    }
                }
            }
            Err(e) => {
                for (camera, _) in to_start {
                    idle.insert(camera.id, format!("recognition is off: {e}"));
                }
            }
        }
    }
    *state.streams.idle_because.lock().expect("not poisoned") = idle;
    Ok(())
}

fn address_hash(full: &str) -> Vec<u8> {
    Sha256::digest(full.as_bytes()).to_vec()
}

fn start_worker(
    state: &AppState,
    engine: std::sync::Arc<candor_vision::Engine>,
    camera_id: &str,
    full: &str,
) -> Result<Worker, String> {
    let address = StreamAddress::parse(full).map_err(|e| e.to_string())?;
    let settings = watch_settings(state);
    let watch = Watch::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Pass>(PASS_QUEUE);
    let thread = {
        let watch = watch.clone();
        std::thread::Builder::new()
            .name(format!("stream-{camera_id}"))
            .spawn(move || {
                candor_stream::watch(&address, &settings, &engine, &watch, &mut |pass| {
                    // The storer ends only after the watch does, so the send cannot fail
                    // while it runs.
                    let _ = tx.blocking_send(pass);
                });
            })
            .map_err(|e| format!("could not start the stream's thread: {e}"))?
    };
    let storer = {
        let state = state.clone();
        let camera_id = camera_id.to_string();
        let errors = state.streams.store_errors.clone();
        tokio::spawn(async move {
            while let Some(pass) = rx.recv().await {
                match store_pass(&state, &camera_id, pass).await {
                    Ok(()) => {
                        errors.lock().expect("not poisoned").remove(&camera_id);
                    }
                    Err(e) => {
                        tracing::error!(camera = %camera_id, error = %e.message, "a stream read could not be stored");
                        errors.lock().expect("not poisoned").insert(
                            camera_id.clone(),
                            format!("a read could not be stored: {}", e.message),
                        );
                    }
                }
            }
        })
    };
    Ok(Worker {
        address_hash: address_hash(full),
        watch,
        thread,
        storer,
    })
}

/// Stops the watch, waits for its thread, and lets the storer store what it was handed.
/// Returns how many passes the watch handed over in all.
async fn stop_worker(worker: Worker) -> u64 {
    worker.watch.stop();
    let thread = worker.thread;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    let _ = worker.storer.await;
    worker.watch.state().passes
}

/// Stops every watch; returns, with the number of passes they handed over in all, when
/// those passes (the ones they were following included) are stored.
pub async fn stop_all(state: &AppState) -> u64 {
    let workers: Vec<Worker> = state
        .streams
        .workers
        .lock()
        .expect("not poisoned")
        .drain()
        .map(|(_, w)| w)
        .collect();
    for w in &workers {
        w.watch.stop();
    }
    let mut passes = 0;
    for w in workers {
        passes += stop_worker(w).await;
    }
    passes
}

fn jpeg(image: &candor_vision::RgbImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(image)
        .map_err(|e| ApiError::internal(format!("encoding a frame: {e}")))?;
    Ok(out)
}

/// Stores one pass as a read of `camera_id`, with its best frame and plate crop, through
/// the common ingest. A camera that lost its approval meanwhile sends nothing.
async fn store_pass(state: &AppState, camera_id: &str, pass: Pass) -> Result<(), ApiError> {
    let Some(camera) = state.store.get_camera(camera_id).await? else {
        return Ok(());
    };
    if let Err(refusal) = camera.ingest_allowed() {
        tracing::warn!(camera = %camera_id, reason = %refusal, "a stream pass was dropped");
        return Ok(());
    }
    let (frame, crop) = {
        let frame = pass.best_frame.clone();
        let crop = pass.plate_crop();
        tokio::task::spawn_blocking(move || Ok::<_, ApiError>((jpeg(&frame)?, jpeg(&crop)?)))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??
    };
    let any_hit = !state.matcher.find(&pass.plate, pass.best_at_ms).is_empty();
    let keep_secs = crate::retention::in_force(state)
        .await?
        .image_secs_for(any_hit);
    let image_dir = state.config.image_dir();
    let mut stored = Vec::with_capacity(2);
    for bytes in [&frame, &crop] {
        stored.push(
            state
                .store
                .store_image(
                    &state.keys,
                    &image_dir,
                    camera_id,
                    pass.best_at_ms,
                    keep_secs,
                    "image/jpeg",
                    bytes,
                )
                .await?,
        );
    }
    let (vehicle_color, vehicle_color_confidence) = ingest::named_colour(pass.colour);
    let read = IncomingRead {
        plate: pass.plate.clone(),
        confidence: f64::from(pass.confidence),
        candidates: ingest::candidates(&pass.candidates),
        region: pass.region.clone(),
        vehicle_color,
        vehicle_color_confidence,
        captured_at: pass.best_at_ms,
        image_id: Some(stored[0]),
        plate_image_id: Some(stored[1]),
        plate_box: Some(ingest::plate_box(&pass.best.bbox)),
        pass: Some(StreamPass {
            first_seen: pass.first_seen_ms,
            last_seen: pass.last_seen_ms,
            sightings: u32::try_from(pass.sightings).unwrap_or(u32::MAX),
            direction: pass.direction.as_str().to_string(),
        }),
        ..IncomingRead::default()
    };
    // The key only has to be unique: it is kept in clear, so it carries no plate.
    let key = format!("stream:{camera_id}:{}", uuid::Uuid::new_v4());
    let hash = ingest::request_hash(key.as_bytes());
    ingest::accept(state, &camera, &key, &hash, vec![read]).await?;
    Ok(())
}
