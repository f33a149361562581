//! Image upload from cameras without on-board recognition: Candor reads the plates, then
//! stores the reads and the (encrypted) image.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{CameraAuth, read_body};
use crate::ingest::{self, IncomingRead, IngestResponse};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(post_image))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/cameras/{id}/images", post(post_image))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageParams {
    /// Capture time, RFC 3339 (default: now).
    #[param(value_type = Option<String>)]
    pub captured_at: Option<DateTime<Utc>>,
}

/// One plate the engine read in an uploaded image.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlateRead {
    pub plate: String,
    /// 0–1.
    pub confidence: f64,
    /// The plate layout's region code, when the engine named one.
    pub region: Option<String>,
    /// Where the plate is in the image, in pixels: left, top, width, height.
    pub plate_box: candor_store::reads::PlateBox,
}

/// The answer to an image upload: the stored batch and what was read in the image.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImageIngestResponse {
    pub batch_id: String,
    /// Reads stored by this upload.
    pub accepted: i64,
    /// Hits among them.
    pub hits: i64,
    /// True when this image (or idempotency key) was already stored: nothing new was stored.
    pub duplicate: bool,
    /// The plates read, best first within the image as the engine found them (empty when
    /// it found none).
    pub reads: Vec<PlateRead>,
}

impl ImageIngestResponse {
    fn new(stored: IngestResponse, reads: Vec<PlateRead>) -> Self {
        ImageIngestResponse {
            batch_id: stored.batch_id,
            accepted: stored.accepted,
            hits: stored.hits,
            duplicate: stored.duplicate,
            reads,
        }
    }
}

/// Reads the plates in a JPEG or PNG and stores the reads and the image. The idempotency
/// key is the `Idempotency-Key` header, or the image's SHA-256.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/images", params(("id" = String, Path, description = "The camera's id"), ImageParams),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 201, body = ImageIngestResponse), (status = 200, body = ImageIngestResponse),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("camera_api_key" = [])))]
pub async fn post_image(
    State(state): State<AppState>,
    CameraAuth(camera): CameraAuth,
    Path(id): Path<String>,
    Query(params): Query<ImageParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImageIngestResponse>), ApiError> {
    if id != camera.id {
        return Err(ApiError::forbidden(
            "camera_mismatch",
            format!(
                "the path names camera {id:?}, but the API key belongs to camera {:?}",
                camera.id
            ),
        ));
    }
    let (_declared, bytes) = read_body(
        &headers,
        body,
        state.config.ingest.max_image_bytes,
        &["image/jpeg", "image/png"],
    )
    .await?;
    // The image is stored with the type its bytes show, never the one declared.
    let detected_type = match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::Png) => "image/png",
        _ => {
            return Err(ApiError::unprocessable(
                "unreadable_image",
                "the body is not a JPEG or PNG image (its first bytes say otherwise)",
            ));
        }
    };
    // At most a few images are decoded and read at once; beyond the queue, 503.
    let _slot = state.recognitions.enter().await?;
    let engine = state.engine().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "recognition_unavailable",
            format!("the recognition engine is not available: {e}"),
        )
    })?;
    let image_bytes = bytes.clone();
    // Each plate with the colour of the vehicle around it (boxes are in the original
    // image's pixels, the colour is named in the working image).
    let plates = tokio::task::spawn_blocking(move || {
        let decoded = candor_vision::decode_image_scaled(&image_bytes)?;
        let reads = engine.recognize_decoded(&decoded)?;
        let k = decoded.scale;
        Ok::<_, candor_vision::VisionError>(
            reads
                .into_iter()
                .map(|r| {
                    let b = r.bbox;
                    let working = candor_vision::BoxF::new(b.x / k, b.y / k, b.w / k, b.h / k);
                    let colour = candor_vision::vehicle_colour(&decoded.image, &working);
                    (r, colour)
                })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| {
        ApiError::unprocessable(
            "unreadable_image",
            format!("the image could not be read: {e}"),
        )
    })?;
    let captured_at = params
        .captured_at
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(candor_store::now_ms);
    let hash = ingest::request_hash(&bytes);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("image:{}", hex::encode(&hash)));
    if plates.is_empty() {
        let nothing = IngestResponse {
            batch_id: String::new(),
            accepted: 0,
            hits: 0,
            duplicate: false,
        };
        return Ok((
            StatusCode::OK,
            Json(ImageIngestResponse::new(nothing, Vec::new())),
        ));
    }
    // An image of a hit is kept as long as the hit.
    let now = candor_store::now_ms();
    let any_hit = plates
        .iter()
        .any(|(p, _)| !state.matcher.find(&p.plate, now).is_empty());
    let retention = crate::retention::in_force(&state)
        .await?
        .image_secs_for(any_hit);
    let image_id = state
        .store
        .store_image(
            &state.keys,
            &state.config.image_dir(),
            &camera.id,
            captured_at,
            retention,
            detected_type,
            &bytes,
        )
        .await?;
    let read_back: Vec<PlateRead> = plates
        .iter()
        .map(|(p, _)| PlateRead {
            plate: p.plate.clone(),
            confidence: f64::from(p.confidence),
            region: p.region.clone(),
            plate_box: ingest::plate_box(&p.bbox),
        })
        .collect();
    let reads = plates
        .into_iter()
        .map(|(p, colour)| {
            let (vehicle_color, vehicle_color_confidence) = ingest::named_colour(colour);
            IncomingRead {
                plate: p.plate,
                confidence: f64::from(p.confidence),
                candidates: ingest::candidates(&p.candidates),
                region: p.region,
                vehicle_color,
                vehicle_color_confidence,
                captured_at,
                image_id: Some(image_id),
                plate_box: Some(ingest::plate_box(&p.bbox)),
                ..Default::default()
            }
        })
        .collect();
    let outcome = ingest::accept(&state, &camera, &key, &hash, reads).await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(ImageIngestResponse::new(
            IngestResponse::from(&outcome),
            read_back,
        )),
    ))
}
