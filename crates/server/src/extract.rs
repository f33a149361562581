//! Request extraction with errors that say what is wrong: body size and content type,
//! JSON with the path of the bad field, and camera API keys.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use candor_store::cameras::{Camera, IngestRefusal};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The request's media type (without parameters), lower-cased.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Reads the whole body, refusing a media type outside `accepted` (415) or more than `limit`
/// bytes (413).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    accepted: &[&str],
) -> Result<(String, Bytes), ApiError> {
    let mt = media_type(headers).unwrap_or_default();
    if !accepted.contains(&mt.as_str()) {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type {} is not accepted here; send {}",
            if mt.is_empty() {
                "(none)".to_string()
            } else {
                format!("{mt:?}")
            },
            accepted.join(" or ")
        )));
    }
    if let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty",
        ));
    }
    Ok((mt, bytes))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::payload_too_large(format!(
        "the body is larger than the {limit}-byte limit; send smaller batches"
    ))
}

/// Parses JSON, naming the path of a bad field: `reads[3].confidence: invalid type: …`. A
/// leading byte order mark is forgiven ([`candor_store::input::without_bom`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = candor_store::input::without_bom(bytes);
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "invalid_field"
        };
        let msg = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(code, msg)
    })
}

/// A JSON body for person-facing routes (limit 1 MiB).
///
/// The body is read and parsed when the extractor runs, but a bad body is reported only when
/// the handler calls [`ApiJson::parse`] — after its permission check, so that a caller without
/// the permission learns nothing from the body's validation.
pub struct ApiJson<T>(Result<T, ApiError>);

impl<T> ApiJson<T> {
    /// The parsed body, or the error that says what is wrong with it.
    pub fn parse(self) -> Result<T, ApiError> {
        self.0
    }

    /// A body already parsed elsewhere (a console form calling the API's handler).
    pub fn from_value(value: T) -> Self {
        ApiJson(Ok(value))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let parsed = match read_body(&parts.headers, body, 1024 * 1024, &["application/json"]).await
        {
            Ok((_, bytes)) => parse_json(&bytes),
            Err(e) => Err(e),
        };
        Ok(ApiJson(parsed))
    }
}

/// The camera a machine request comes from, identified by its API key
/// (`Authorization: Bearer …` or `X-Api-Key: …`), and allowed to send reads now. A key in
/// the URL (`?api_key=…`) ends up in proxy and access logs: it is refused, except on the
/// OpenALPR route while `ingest.allow_key_in_url` is set for the agents that cannot send a
/// header yet (a transition; see the operator guide).
pub struct CameraAuth(pub Camera);

/// The one route where a key in the URL may still be accepted, during the transition.
pub const KEY_IN_URL_ROUTE: &str = "/api/v1/openalpr";

fn api_key_from(parts: &Parts, allow_in_url: bool) -> Result<Option<String>, ApiError> {
    if let Some(k) = api_key_from_headers(parts) {
        return Ok(Some(k));
    }
    let in_url = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("api_key=").map(|v| v.to_string()))
    });
    match in_url {
        None => Ok(None),
        Some(k) if allow_in_url && parts.uri.path() == KEY_IN_URL_ROUTE => {
            tracing::warn!(
                "a camera sent its API key in the URL (allowed by ingest.allow_key_in_url during the transition); move it to a header and rotate the key"
            );
            Ok(Some(k))
        }
        Some(_) => Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "api_key_in_url",
            "camera API keys are not accepted in the URL (proxies and access logs keep URLs): send it as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>', and rotate this key, which may have been logged",
        )),
    }
}

fn api_key_from_headers(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(k) = v.strip_prefix("Bearer ")
    {
        return Some(k.trim().to_string());
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

impl FromRequestParts<AppState> for CameraAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = api_key_from(parts, state.config.ingest.allow_key_in_url)?.ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "send the camera's API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'",
            )
        })?;
        let camera = state.store.camera_by_api_key(&key).await?.ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unknown_camera",
                "this API key belongs to no registered camera; register the camera or use its current key",
            )
        })?;
        camera.ingest_allowed().map_err(|r| {
            let code = match r {
                IngestRefusal::NotApproved(_) => "camera_not_approved",
                IngestRefusal::Suspended => "camera_suspended",
                IngestRefusal::Decommissioned => "camera_decommissioned",
            };
            ApiError::forbidden(code, format!("camera {:?}: {r}", camera.id))
        })?;
        Ok(CameraAuth(camera))
    }
}
