//! Ingest endpoints for cameras (API key, never a session): native JSON batches and the
//! OpenALPR / Rekor agent JSON that existing agents already POST.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{CameraAuth, parse_json, read_body};
use crate::ingest::{self, IncomingRead, IngestResponse};
use crate::state::AppState;
use candor_store::reads::Candidate;

#[derive(OpenApi)]
#[openapi(
    paths(post_reads, post_openalpr),
    components(schemas(ReadBatch, ReadIn, IngestResponse, Candidate))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reads", post(post_reads))
        .route("/api/v1/openalpr", post(post_openalpr))
}

/// A batch of reads from one camera.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBatch {
    /// Unique per batch; re-send a batch with the same key and it is stored once. May be
    /// sent as the `Idempotency-Key` header instead.
    pub idempotency_key: Option<String>,
    pub reads: Vec<ReadIn>,
}

/// One plate read.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadIn {
    pub plate: String,
    /// 0–1.
    pub confidence: f64,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Jurisdiction as read, e.g. "us-ca".
    pub region: Option<String>,
    /// RFC 3339, e.g. "2026-11-28T14:00:00Z".
    #[schema(value_type = String, format = DateTime)]
    pub captured_at: DateTime<Utc>,
    /// The camera id; if given it must be the camera the API key belongs to.
    pub camera: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Direction of travel, degrees 0–360.
    pub heading: Option<f64>,
    /// The camera's own reference to its image.
    pub image_ref: Option<String>,
    pub vehicle_color: Option<String>,
    pub vehicle_make: Option<String>,
}

fn idempotency_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn respond(outcome: &candor_store::reads::IngestOutcome) -> (StatusCode, Json<IngestResponse>) {
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(IngestResponse::from(outcome)))
}

/// Stores a batch of reads, checks each against the hot lists, and answers only after the
/// batch is durably committed. A batch with any bad read is refused whole.
#[utoipa::path(post, path = "/api/v1/reads", request_body = ReadBatch,
    params(("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (or the body field)")),
    responses(
        (status = 201, body = IngestResponse, description = "Stored"),
        (status = 200, body = IngestResponse, description = "Already stored under this idempotency key"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("camera_api_key" = [])))]
pub async fn post_reads(
    State(state): State<AppState>,
    CameraAuth(camera): CameraAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let (_, bytes) = read_body(
        &headers,
        body,
        state.config.ingest.max_body_bytes,
        &["application/json"],
    )
    .await?;
    let batch: ReadBatch = parse_json(&bytes)?;
    let key = match (idempotency_header(&headers), batch.idempotency_key) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::bad_request(
                "idempotency_key_mismatch",
                "the Idempotency-Key header and the idempotency_key field differ; send one, or the same in both",
            ));
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => String::new(),
    };
    let mut reads = Vec::with_capacity(batch.reads.len());
    for (i, r) in batch.reads.into_iter().enumerate() {
        if let Some(c) = &r.camera
            && c != &camera.id
        {
            return Err(ApiError::forbidden(
                "camera_mismatch",
                format!(
                    "reads[{i}].camera is {c:?}, but the API key belongs to camera {:?}",
                    camera.id
                ),
            ));
        }
        reads.push(IncomingRead {
            plate: r.plate,
            confidence: r.confidence,
            candidates: r.candidates,
            region: r.region,
            captured_at: r.captured_at.timestamp_millis(),
            latitude: r.latitude,
            longitude: r.longitude,
            heading: r.heading,
            image_ref: r.image_ref,
            vehicle_color: r.vehicle_color,
            vehicle_make: r.vehicle_make,
            ..Default::default()
        });
    }
    let outcome =
        ingest::accept(&state, &camera, &key, &ingest::request_hash(&bytes), reads).await?;
    Ok(respond(&outcome))
}

// OpenALPR / Rekor agent JSON. Fields the agents send that Candor does not use are ignored;
// fields it uses must have the right type.

#[derive(Deserialize)]
struct AlprEnvelope {
    data_type: String,
}

#[derive(Deserialize)]
struct AlprCandidate {
    plate: String,
    /// 0–100.
    confidence: f64,
}

#[derive(Deserialize)]
struct AlprResult {
    plate: String,
    confidence: f64,
    region: Option<String>,
    #[serde(default)]
    candidates: Vec<AlprCandidate>,
}

#[derive(Deserialize)]
struct AlprResults {
    uuid: String,
    /// Unix ms.
    epoch_time: i64,
    #[serde(default)]
    results: Vec<AlprResult>,
}

#[derive(Deserialize)]
struct NameConfidence {
    name: String,
}

#[derive(Deserialize, Default)]
struct AlprVehicle {
    #[serde(default)]
    color: Vec<NameConfidence>,
    #[serde(default)]
    make: Vec<NameConfidence>,
    #[serde(default)]
    make_model: Vec<NameConfidence>,
    #[serde(default)]
    body_type: Vec<NameConfidence>,
    #[serde(default)]
    year: Vec<NameConfidence>,
}

/// The most likely value of a vehicle attribute (the agent lists them best first).
fn best(v: Vec<NameConfidence>) -> Option<String> {
    v.into_iter().next().map(|c| c.name)
}

#[derive(Deserialize)]
struct AlprGroup {
    epoch_start: i64,
    #[serde(default)]
    uuids: Vec<String>,
    best_uuid: Option<String>,
    best_plate_number: String,
    best_confidence: f64,
    best_region: Option<String>,
    #[serde(default)]
    candidates: Vec<AlprCandidate>,
    gps_latitude: Option<f64>,
    gps_longitude: Option<f64>,
    travel_direction: Option<f64>,
    #[serde(default)]
    vehicle: Option<AlprVehicle>,
    /// The plate cut from the best frame, JPEG in base64.
    best_plate_jpeg: Option<String>,
    /// The vehicle cut from the best frame, JPEG in base64.
    vehicle_crop_jpeg: Option<String>,
}

/// Stores a crop the agent sent (base64 JPEG) as the read's image, kept as long as the
/// read's images are (as long as its hit's, when it hits); `None` when there is none.
async fn store_crop(
    state: &AppState,
    camera: &str,
    captured_at: i64,
    plate: &str,
    field: &str,
    b64: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    use base64::Engine;
    let Some(b64) = b64.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| ApiError::bad_request("invalid_field", format!("{field}: not base64: {e}")))?;
    if bytes.len() > state.config.ingest.max_image_bytes {
        return Err(ApiError::payload_too_large(format!(
            "{field} is larger than the {}-byte image limit",
            state.config.ingest.max_image_bytes
        )));
    }
    if !bytes.starts_with(b"\xFF\xD8") {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("{field}: not a JPEG image"),
        ));
    }
    let now = candor_store::now_ms();
    let plate = candor_platetext::normalize(plate);
    let retention = crate::retention::in_force(state)
        .await?
        .image_secs_for(!state.matcher.find(&plate, now).is_empty());
    let id = state
        .store
        .store_image(
            &state.keys,
            &state.config.image_dir(),
            camera,
            captured_at,
            retention,
            "image/jpeg",
            &bytes,
        )
        .await?;
    Ok(Some(id))
}

fn alpr_candidates(c: Vec<AlprCandidate>) -> Vec<Candidate> {
    c.into_iter()
        .map(|c| Candidate {
            plate: c.plate,
            confidence: c.confidence / 100.0,
        })
        .collect()
}

/// Accepts OpenALPR / Rekor agent JSON: `alpr_results` (one read per result) and
/// `alpr_group` (one read per vehicle). Heartbeats and `alpr_alert` are acknowledged and
/// not stored. The idempotency key is the agent's uuid.
#[utoipa::path(post, path = "/api/v1/openalpr", request_body(content = Object, description = "alpr_results or alpr_group JSON"),
    responses((status = 201, body = IngestResponse), (status = 200, body = IngestResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("camera_api_key" = [])))]
pub async fn post_openalpr(
    State(state): State<AppState>,
    CameraAuth(camera): CameraAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (_, bytes) = read_body(
        &headers,
        body,
        state.config.ingest.max_body_bytes,
        &["application/json"],
    )
    .await?;
    let env: AlprEnvelope = parse_json(&bytes)?;
    let (key, reads) = match env.data_type.as_str() {
        "alpr_results" => {
            let r: AlprResults = parse_json(&bytes)?;
            let reads = r
                .results
                .into_iter()
                .map(|res| IncomingRead {
                    plate: res.plate,
                    confidence: res.confidence / 100.0,
                    candidates: alpr_candidates(res.candidates),
                    region: res.region,
                    captured_at: r.epoch_time,
                    image_ref: Some(format!("openalpr:{}", r.uuid)),
                    ..Default::default()
                })
                .collect::<Vec<_>>();
            (format!("alpr_results:{}", r.uuid), reads)
        }
        "alpr_group" => {
            let g: AlprGroup = parse_json(&bytes)?;
            let id = g.best_uuid.clone().or_else(|| g.uuids.first().cloned()).ok_or_else(|| {
                ApiError::bad_request("missing_uuid", "alpr_group has neither best_uuid nor uuids; the agent's uuid is the idempotency key")
            })?;
            let vehicle = g.vehicle.unwrap_or_default();
            let vehicle_crop = store_crop(
                &state,
                &camera.id,
                g.epoch_start,
                &g.best_plate_number,
                "vehicle_crop_jpeg",
                g.vehicle_crop_jpeg.as_deref(),
            )
            .await?;
            let plate_crop = store_crop(
                &state,
                &camera.id,
                g.epoch_start,
                &g.best_plate_number,
                "best_plate_jpeg",
                g.best_plate_jpeg.as_deref(),
            )
            .await?;
            let read = IncomingRead {
                plate: g.best_plate_number,
                confidence: g.best_confidence / 100.0,
                candidates: alpr_candidates(g.candidates),
                region: g.best_region,
                captured_at: g.epoch_start,
                latitude: g.gps_latitude,
                longitude: g.gps_longitude,
                heading: g.travel_direction,
                image_ref: Some(format!("openalpr:{id}")),
                vehicle_color: best(vehicle.color),
                vehicle_color_confidence: None,
                vehicle_make: best(vehicle.make),
                vehicle_model: best(vehicle.make_model),
                vehicle_body: best(vehicle.body_type),
                vehicle_year: best(vehicle.year),
                image_id: vehicle_crop,
                plate_image_id: plate_crop,
                plate_box: None,
                pass: None,
            };
            (format!("alpr_group:{id}"), vec![read])
        }
        "alpr_alert" | "heartbeat" | "alpr_heartbeat" => {
            return Ok((
                StatusCode::OK,
                Json(serde_json::json!({ "ignored": env.data_type })),
            ));
        }
        other => {
            return Err(ApiError::unprocessable(
                "unsupported_data_type",
                format!("data_type {other:?} is not accepted; send alpr_results or alpr_group"),
            ));
        }
    };
    if reads.is_empty() {
        // A frame with no plates: nothing to store.
        return Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "ignored": "no results" })),
        ));
    }
    let outcome =
        ingest::accept(&state, &camera, &key, &ingest::request_hash(&bytes), reads).await?;
    let (status, Json(resp)) = respond(&outcome);
    Ok((
        status,
        Json(serde_json::to_value(resp).map_err(|e| ApiError::internal(e.to_string()))?),
    ))
}
