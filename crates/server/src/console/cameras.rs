//! Cameras: the registry with each camera's approval record and status, registration,
//! status changes and API key rotation, through the API's handlers (same checks, same audit
//! records). A new key is shown once.

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

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/cameras", get(cameras_page).post(register))
        .route("/console/cameras/{id}/status", post(set_status))
        .route("/console/cameras/{id}/rotate-key", post(rotate_key))
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
    cameras: Vec<Camera>,
    form: CameraForm,
    notice: Notice,
}

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
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
    Ok(render_status(
        status,
        &CamerasPage {
            layout: c.layout,
            cameras,
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
    let new = NewCamera {
        id: form.id.trim().to_string(),
        name: form.name.trim().to_string(),
        kind,
        location: form.location.trim().to_string(),
        latitude: None,
        longitude: None,
        direction: form.direction.trim().to_string(),
        justification: form.justification.trim().to_string(),
        approval: Approval {
            consultation_date: text(&form.consultation_date),
            permit_reference: text(&form.permit_reference),
            approving_authority: text(&form.approving_authority),
            approval_date: text(&form.approval_date),
        },
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
    match api::update_camera(
        State(state.clone()),
        c.actor.clone(),
        Path(id),
        ApiJson::from_value(update),
    )
    .await
    {
        Ok(_) => {
            page(
                &state,
                c,
                CameraForm::default(),
                Notice::None,
                axum::http::StatusCode::OK,
            )
            .await
        }
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => {
            let status = e.status;
            page(
                &state,
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
