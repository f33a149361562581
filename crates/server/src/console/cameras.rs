//! Cameras: the registry with each camera's approval record, status and stream, registration,
//! status changes, API key rotation and stream addresses, through the same functions as the
//! API (same checks, same audit records). A new key is shown once.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::cameras::{Approval, Camera, CameraKind, CameraStatus, CameraUpdate, NewCamera};
use serde::Deserialize;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, render_status};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::cameras as api;
use crate::state::AppState;
use crate::streams::{self, StreamView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/cameras", get(cameras_page).post(register))
        .route("/console/cameras/{id}/status", post(set_status))
        .route("/console/cameras/{id}/rotate-key", post(rotate_key))
        .route("/console/cameras/{id}/approval", post(set_approval))
        .route("/console/cameras/{id}/stream", post(set_stream))
}

/// The registration form as filled in.
#[derive(Deserialize, Default, Clone)]
pub struct CameraForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub latitude: String,
    #[serde(default)]
    pub longitude: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub justification: String,
    #[serde(default)]
    pub consultation_date: String,
    #[serde(default)]
    pub permit_reference: String,
    #[serde(default)]
    pub approving_authority: String,
    #[serde(default)]
    pub approval_date: String,
}

/// What the last action did, shown above the registry.
pub enum Notice {
    None,
    /// A new key for a camera: shown only now.
    Key {
        camera: String,
        key: String,
    },
    Error(String),
}

#[derive(Template)]
#[template(path = "console/cameras.html")]
struct CamerasPage {
    layout: Layout,
    rows: Vec<(Camera, StreamLine)>,
    form: CameraForm,
    notice: Notice,
}

/// A camera's stream as its row shows it.
pub struct StreamLine {
    pub address: Option<String>,
    /// Watched and connected now.
    pub live: bool,
    /// What it is doing, in a sentence.
    pub summary: String,
    pub last_error: Option<String>,
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

impl StreamLine {
    fn of(view: StreamView) -> Self {
        let v = &view.state;
        let summary = if view.address.is_none() {
            "No stream: the camera sends its own reads or images.".to_string()
        } else if let Some(why) = &view.not_watched_because {
            format!("Not watched: {why}.")
        } else if v.connected {
            let last = v
                .last_pass_at
                .map(|t| format!("; last at {}", when(t)))
                .unwrap_or_default();
            format!(
                "Connected: {:.1} frames/s decoded, {:.1} read; {} passes{last}.",
                v.decoded_fps, v.read_fps, v.passes
            )
        } else if view.watched {
            "Not connected: retrying.".to_string()
        } else {
            "Starting.".to_string()
        };
        StreamLine {
            live: v.connected,
            last_error: v.last_error.clone().map(|e| match v.last_error_at {
                Some(t) => format!("{e} ({})", when(t)),
                None => e,
            }),
            summary,
            address: view.address,
        }
    }
}

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A coordinate field: empty is none; otherwise a number within `limit` degrees.
fn coordinate(s: &str, name: &str, limit: f64) -> Result<Option<f64>, String> {
    let Some(t) = text(s) else { return Ok(None) };
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(Some(v)),
        _ => Err(format!(
            "The {name} {t:?} is not a number of degrees between -{limit} and {limit}."
        )),
    }
}

/// The approval record as filled in on a form.
fn approval_of(consultation: &str, permit: &str, authority: &str, approved: &str) -> Approval {
    Approval {
        consultation_date: text(consultation),
        permit_reference: text(permit),
        approving_authority: text(authority),
        approval_date: text(approved),
    }
}

async fn page(
    state: &AppState,
    c: Console,
    form: CameraForm,
    notice: Notice,
    status: axum::http::StatusCode,
) -> Result<Response, PageError> {
    let Json(cameras) = api::list_cameras(State(state.clone()), c.actor.clone())
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let rows = cameras
        .into_iter()
        .map(|cam| {
            let line = StreamLine::of(state.streams.view(&cam.id, cam.stream.as_deref()));
            (cam, line)
        })
        .collect();
    Ok(render_status(
        status,
        &CamerasPage {
            layout: c.layout,
            rows,
            form,
            notice,
        },
    ))
}

async fn cameras_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    page(
        &state,
        c,
        CameraForm::default(),
        Notice::None,
        axum::http::StatusCode::OK,
    )
    .await
}

async fn register(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<CameraForm>,
) -> Result<Response, PageError> {
    c.require(Permission::ManageCameras)?;
    let kind = match CameraKind::parse(&form.kind) {
        Ok(k) => k,
        Err(e) => {
            let notice = Notice::Error(ApiError::from(e).message);
            return page(
                &state,
                c,
                form,
                notice,
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let position = coordinate(&form.latitude, "latitude", 90.0)
        .and_then(|lat| Ok((lat, coordinate(&form.longitude, "longitude", 180.0)?)));
    let (latitude, longitude) = match position {
        Ok(p) => p,
        Err(message) => {
            return page(
                &state,
                c,
                form,
                Notice::Error(message),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let new = NewCamera {
        id: form.id.trim().to_string(),
        name: form.name.trim().to_string(),
        kind,
        location: form.location.trim().to_string(),
        latitude,
        longitude,
        direction: form.direction.trim().to_string(),
        justification: form.justification.trim().to_string(),
        approval: approval_of(
            &form.consultation_date,
            &form.permit_reference,
            &form.approving_authority,
            &form.approval_date,
        ),
    };
    match api::create_camera(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(new),
    )
    .await
    {
        Ok((_, Json(created))) => {
            let notice = Notice::Key {
                camera: created.camera.id.clone(),
                key: created.api_key,
            };
            page(
                &state,
                c,
                CameraForm::default(),
                notice,
                axum::http::StatusCode::CREATED,
            )
            .await
        }
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let status = e.status;
            page(&state, c, form, Notice::Error(e.message), status).await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

/// The registry again after a change to a camera: the change's refusal is shown above it
/// when it is the person's to fix (a client error other than a missing permission), any
/// other error on the error page.
async fn after_change<T>(
    state: &AppState,
    c: Console,
    result: Result<T, ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => {
            page(
                state,
                c,
                CameraForm::default(),
                Notice::None,
                axum::http::StatusCode::OK,
            )
            .await
        }
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let status = e.status;
            page(
                state,
                c,
                CameraForm::default(),
                Notice::Error(e.message),
                status,
            )
            .await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

async fn set_status(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    let status = CameraStatus::parse(&form.status).map_err(ApiError::from)?;
    let update = CameraUpdate {
        status: Some(status),
        ..CameraUpdate::default()
    };
    let result = api::update_camera(
        State(state.clone()),
        c.actor.clone(),
        Path(id),
        ApiJson::from_value(update),
    )
    .await;
    after_change(&state, c, result).await
}

async fn rotate_key(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Json(key) = api::rotate_key(State(state.clone()), c.actor.clone(), Path(id.clone()))
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let notice = Notice::Key {
        camera: id,
        key: key.api_key,
    };
    page(
        &state,
        c,
        CameraForm::default(),
        notice,
        axum::http::StatusCode::OK,
    )
    .await
}

/// The approval record and position of a registered camera, as edited on its row.
#[derive(Deserialize)]
struct ApprovalForm {
    #[serde(default)]
    consultation_date: String,
    #[serde(default)]
    permit_reference: String,
    #[serde(default)]
    approving_authority: String,
    #[serde(default)]
    approval_date: String,
    #[serde(default)]
    latitude: String,
    #[serde(default)]
    longitude: String,
}

/// Completes or corrects a camera's approval record (and its map position), through the
/// API's handler (same checks, same audit record).
async fn set_approval(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(form): Form<ApprovalForm>,
) -> Result<Response, PageError> {
    c.require(Permission::ManageCameras)?;
    let position = coordinate(&form.latitude, "latitude", 90.0)
        .and_then(|lat| Ok((lat, coordinate(&form.longitude, "longitude", 180.0)?)));
    let (latitude, longitude) = match position {
        Ok(p) => p,
        Err(message) => {
            return page(
                &state,
                c,
                CameraForm::default(),
                Notice::Error(message),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let update = CameraUpdate {
        approval: Some(approval_of(
            &form.consultation_date,
            &form.permit_reference,
            &form.approving_authority,
            &form.approval_date,
        )),
        latitude,
        longitude,
        ..CameraUpdate::default()
    };
    let result = api::update_camera(
        State(state.clone()),
        c.actor.clone(),
        Path(id),
        ApiJson::from_value(update),
    )
    .await;
    after_change(&state, c, result).await
}

#[derive(Deserialize)]
struct StreamForm {
    #[serde(default)]
    address: String,
}

/// Sets the camera's stream address, or removes it when the field is left empty.
async fn set_stream(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(form): Form<StreamForm>,
) -> Result<Response, PageError> {
    c.require(Permission::ManageCameras)?;
    let address = text(&form.address);
    let result = streams::set_address(&state, &c.actor, &id, address.as_deref()).await;
    after_change(&state, c, result).await
}
