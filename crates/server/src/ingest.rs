//! The ingest pipeline shared by every way reads arrive (native JSON, OpenALPR JSON, images):
//! validate the whole batch, match every read, store the batch durably in one transaction,
//! then publish alerts for the new hits.

use candor_store::cameras::Camera;
use candor_store::reads::{Candidate, IngestOutcome, NewRead, PlateBox, ReadDetails, StreamPass};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::alerts::Alert;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest plate accepted (after normalisation).
const MAX_PLATE_LEN: usize = 16;
const MAX_CANDIDATES: usize = 20;
const MAX_TEXT_FIELD: usize = 200;

/// One read as it arrives, before validation.
#[derive(Debug, Clone, Default)]
pub struct IncomingRead {
    pub plate: String,
    /// 0–1.
    pub confidence: f64,
    pub candidates: Vec<Candidate>,
    pub region: Option<String>,
    pub captured_at: i64,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub heading: Option<f64>,
    pub image_ref: Option<String>,
    pub vehicle_color: Option<String>,
    /// Set when Candor named the colour from the image (0–1), not by cameras.
    pub vehicle_color_confidence: Option<f64>,
    pub vehicle_make: Option<String>,
    pub vehicle_model: Option<String>,
    pub vehicle_body: Option<String>,
    pub vehicle_year: Option<String>,
    /// A stored picture of the plate alone (sent by the camera).
    pub plate_image_id: Option<i64>,
    pub image_id: Option<i64>,
    /// The plate's box in the image `image_id` (set by the engine, not by cameras).
    pub plate_box: Option<PlateBox>,
    /// The vehicle pass a stream read sums up (set by the stream watcher, not by cameras).
    pub pass: Option<StreamPass>,
}

/// The answer to an ingest request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub batch_id: String,
    /// Reads stored by this batch.
    pub accepted: i64,
    /// Hits among them.
    pub hits: i64,
    /// True when this idempotency key was already stored: nothing new was stored.
    pub duplicate: bool,
}

impl From<&IngestOutcome> for IngestResponse {
    fn from(o: &IngestOutcome) -> Self {
        IngestResponse {
            batch_id: o.batch_id.clone(),
            accepted: o.read_count,
            hits: o.hit_count,
            duplicate: o.duplicate,
        }
    }
}

/// A box the engine found, as stored with the read: whole pixels inside the image.
pub fn plate_box(b: &candor_vision::BoxF) -> PlateBox {
    PlateBox {
        x: b.x.max(0.0).round() as u32,
        y: b.y.max(0.0).round() as u32,
        w: b.w.max(1.0).round() as u32,
        h: b.h.max(1.0).round() as u32,
    }
}

/// The engine's candidate texts as a read stores them.
pub fn candidates(engine: &[candor_vision::Candidate]) -> Vec<Candidate> {
    engine
        .iter()
        .map(|c| Candidate {
            plate: c.plate.clone(),
            confidence: f64::from(c.confidence),
        })
        .collect()
}

/// The colour Candor named, as a read stores it: the name and how sure.
pub fn named_colour(
    colour: Option<candor_vision::ColourEstimate>,
) -> (Option<String>, Option<f64>) {
    (
        colour.map(|c| c.colour.as_str().to_string()),
        colour.map(|c| f64::from(c.confidence)),
    )
}

/// A stable hash of a request body, to tell a re-sent batch from a different one.
pub fn request_hash(body: &[u8]) -> Vec<u8> {
    Sha256::digest(body).to_vec()
}

fn check_text(field: &str, v: &Option<String>, errs: &mut Vec<String>) {
    if let Some(s) = v
        && s.len() > MAX_TEXT_FIELD
    {
        errs.push(format!(
            "{field} is longer than {MAX_TEXT_FIELD} characters"
        ));
    }
}

/// Checks one read; returns the problems, each naming its field.
fn validate(r: &IncomingRead, now: i64, cfg: &crate::config::IngestConfig) -> Vec<String> {
    let mut errs = Vec::new();
    let plate = candor_platetext::normalize(&r.plate);
    if plate.is_empty() {
        errs.push(format!("plate {:?} has no letters or digits", r.plate));
    } else if plate.len() > MAX_PLATE_LEN {
        errs.push(format!(
            "plate is {} characters; at most {MAX_PLATE_LEN}",
            plate.len()
        ));
    }
    if !(0.0..=1.0).contains(&r.confidence) {
        errs.push(format!("confidence {} is outside 0–1", r.confidence));
    }
    if r.candidates.len() > MAX_CANDIDATES {
        errs.push(format!(
            "{} candidates; at most {MAX_CANDIDATES}",
            r.candidates.len()
        ));
    }
    for (i, c) in r.candidates.iter().enumerate() {
        if !(0.0..=1.0).contains(&c.confidence) {
            errs.push(format!(
                "candidates[{i}].confidence {} is outside 0–1",
                c.confidence
            ));
        }
        if c.plate.len() > 4 * MAX_PLATE_LEN {
            errs.push(format!("candidates[{i}].plate is too long"));
        }
    }
    let ahead = r.captured_at - now;
    if ahead > cfg.max_future_skew_secs * 1000 {
        errs.push(format!(
            "captured_at is {} s in the future (at most {} s allowed); check the camera's clock",
            ahead / 1000,
            cfg.max_future_skew_secs
        ));
    }
    if -ahead > cfg.max_past_skew_secs * 1000 {
        errs.push(format!(
            "captured_at is {} s in the past (at most {} s allowed); check the camera's clock",
            -ahead / 1000,
            cfg.max_past_skew_secs
        ));
    }
    if let Some(lat) = r.latitude
        && !(-90.0..=90.0).contains(&lat)
    {
        errs.push(format!("latitude {lat} is outside -90..90"));
    }
    if let Some(lon) = r.longitude
        && !(-180.0..=180.0).contains(&lon)
    {
        errs.push(format!("longitude {lon} is outside -180..180"));
    }
    if let Some(h) = r.heading
        && !(0.0..=360.0).contains(&h)
    {
        errs.push(format!("heading {h} is outside 0–360 degrees"));
    }
    check_text("region", &r.region, &mut errs);
    check_text("image_ref", &r.image_ref, &mut errs);
    check_text("vehicle_color", &r.vehicle_color, &mut errs);
    check_text("vehicle_make", &r.vehicle_make, &mut errs);
    check_text("vehicle_model", &r.vehicle_model, &mut errs);
    check_text("vehicle_body", &r.vehicle_body, &mut errs);
    check_text("vehicle_year", &r.vehicle_year, &mut errs);
    errs
}

/// Validates, matches and stores a batch from `camera`; answers only after the commit.
/// Nothing of a batch with any bad read is stored.
pub async fn accept(
    state: &AppState,
    camera: &Camera,
    idempotency_key: &str,
    request_hash: &[u8],
    reads: Vec<IncomingRead>,
) -> Result<IngestOutcome, ApiError> {
    let key = idempotency_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::bad_request(
            "missing_idempotency_key",
            "send an idempotency key (1–200 characters) in the Idempotency-Key header or the idempotency_key field; re-send a batch with the same key",
        ));
    }
    if reads.is_empty() {
        return Err(ApiError::unprocessable(
            "empty_batch",
            "the batch has no reads",
        ));
    }
    let cfg = &state.config.ingest;
    if reads.len() > cfg.max_batch_reads {
        return Err(ApiError::payload_too_large(format!(
            "the batch has {} reads; at most {} per batch",
            reads.len(),
            cfg.max_batch_reads
        )));
    }
    let now = candor_store::now_ms();
    let mut problems = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        for e in validate(r, now, cfg) {
            problems.push(format!("reads[{i}]: {e}"));
        }
    }
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(20);
        let more = if total > 20 {
            format!(" (and {} more)", total - 20)
        } else {
            String::new()
        };
        return Err(ApiError::unprocessable(
            "invalid_reads",
            format!(
                "nothing was stored; fix these and re-send: {}{more}",
                problems.join("; ")
            ),
        ));
    }

    let mut new_reads = Vec::with_capacity(reads.len());
    for r in reads {
        let plate = candor_platetext::normalize(&r.plate);
        let mut hits = Vec::new();
        for found in state.matcher.find(&plate, now) {
            let facts = state
                .store
                .entry_facts(found.entry.entry_id, found.entry.user_plate_id)
                .await?;
            hits.push(found.into_hit(facts));
        }
        new_reads.push(NewRead {
            captured_at: r.captured_at,
            confidence: r.confidence,
            details: ReadDetails {
                plate,
                candidates: r
                    .candidates
                    .into_iter()
                    .map(|c| Candidate {
                        plate: candor_platetext::normalize(&c.plate),
                        confidence: c.confidence,
                    })
                    .collect(),
                region: r.region,
                latitude: r.latitude,
                longitude: r.longitude,
                heading: r.heading,
                image_ref: r.image_ref,
                vehicle_color: r.vehicle_color,
                vehicle_color_confidence: r.vehicle_color_confidence,
                vehicle_make: r.vehicle_make,
                vehicle_model: r.vehicle_model,
                vehicle_body: r.vehicle_body,
                vehicle_year: r.vehicle_year,
                plate_image_id: r.plate_image_id,
                plate_box: r.plate_box,
                pass: r.pass,
            },
            image_id: r.image_id,
            hits,
        });
    }
    let retention = crate::retention::in_force(state).await?;
    let outcome = state
        .store
        .ingest_batch(
            &state.keys,
            &retention,
            &camera.id,
            key,
            request_hash,
            new_reads.clone(),
        )
        .await?;

    // Durable now: tell the officers, and queue the partners' notifications.
    let mut alerts = Vec::with_capacity(outcome.hits.len());
    for h in &outcome.hits {
        let read = &new_reads[h.read_index];
        let hit = &read.hits[h.hit_index];
        let alert = Alert {
            hit_id: h.hit_id,
            read_id: h.read_id,
            camera_id: camera.id.clone(),
            captured_at: read.captured_at,
            plate: read.details.plate.clone(),
            listed_plate: hit.details.listed_plate.clone(),
            list_name: hit.details.list_name.clone(),
            hit_type: hit.hit_type.clone(),
            priority: hit.priority,
            match_kind: hit.match_kind.clone(),
            status: "unverified".into(),
        };
        state.webhooks.enqueue(&alert);
        state.alerts.publish(alert.clone());
        alerts.push(alert);
    }
    crate::federation::outbox::queue_hits(state, &alerts).await;
    Ok(outcome)
}
