//! Legal holds (program managers): the holds in force and those released, placing a hold on
//! a read for a case (kept past its expiry, with its hits and image, until released) and
//! releasing one with a note. Each is the API's function: same checks, same audit record.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, render_status, time_text};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::retention::{self as api, HoldFilter, NewHold, Release};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/holds", get(holds_page).post(place))
        .route("/console/holds/{id}/release", post(release))
}

pub struct HoldRow {
    pub id: i64,
    pub read_id: i64,
    pub case_number: String,
    pub reason: String,
    pub placed: String,
    /// Who released it, when, and why; empty while in force.
    pub released: String,
}

#[derive(Template)]
#[template(path = "console/holds.html")]
struct HoldsPage {
    layout: Layout,
    rows: Vec<HoldRow>,
    showing_released: bool,
    notice: Option<String>,
    error: Option<String>,
    form: PlaceForm,
}

#[derive(Deserialize, Default)]
pub struct PlaceForm {
    #[serde(default)]
    read_id: String,
    #[serde(default)]
    case_number: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub struct HoldsQuery {
    status: Option<String>,
    placed: Option<i64>,
    released: Option<i64>,
}

async fn page(
    state: &AppState,
    c: Console,
    showing_released: bool,
    notice: Option<String>,
    error: Option<String>,
    form: PlaceForm,
) -> Result<Response, PageError> {
    c.require(Permission::ManagePolicy)?;
    let filter = HoldFilter {
        active: Some(!showing_released),
    };
    let Json(holds) = api::list_holds(State(state.clone()), c.actor.clone(), Query(filter))
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let rows = holds
        .into_iter()
        .filter(|h| showing_released == h.released_at.is_some())
        .map(|h| HoldRow {
            id: h.id,
            read_id: h.read_id,
            case_number: h.case_number,
            reason: h.reason,
            placed: format!("{} by {}", time_text(h.created_at), h.created_by_name),
            released: match (h.released_at, h.released_by_name) {
                (Some(at), by) => format!(
                    "{} by {}{}",
                    time_text(at),
                    by.unwrap_or_default(),
                    h.release_note.map(|n| format!(": {n}")).unwrap_or_default()
                ),
                (None, _) => String::new(),
            },
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render_status(
        status,
        &HoldsPage {
            layout: c.layout,
            rows,
            showing_released,
            notice,
            error,
            form,
        },
    ))
}

async fn holds_page(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<HoldsQuery>,
) -> Result<Response, PageError> {
    let notice = match (q.placed, q.released) {
        (Some(id), _) => Some(format!(
            "Hold {id} placed: the read, its hits and its image are kept until it is released."
        )),
        (None, Some(id)) => Some(format!(
            "Hold {id} released: the read is purged when its own time is up."
        )),
        (None, None) => None,
    };
    let released = q.status.as_deref() == Some("released");
    page(&state, c, released, notice, None, PlaceForm::default()).await
}

/// Places a hold; a refusal (no such read, a missing case number) is shown by the form.
async fn place(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<PlaceForm>,
) -> Result<Response, PageError> {
    c.require(Permission::ManagePolicy)?;
    let Ok(read_id) = form.read_id.trim().parse::<i64>() else {
        let error = "the read's number is a whole number, as on its record page".to_string();
        return page(&state, c, false, None, Some(error), form).await;
    };
    let hold = NewHold {
        read_id,
        reason: form.reason.trim().to_string(),
        case_number: form.case_number.trim().to_string(),
    };
    let placed = api::place_hold(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(hold),
    )
    .await;
    match placed {
        Ok((_, Json(h))) => {
            Ok(Redirect::to(&format!("/console/holds?placed={}", h.id)).into_response())
        }
        Err(e) if correctable(&e) => page(&state, c, false, None, Some(e.message), form).await,
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    note: String,
}

/// Releases a hold with the note given.
async fn release(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Form(form): Form<ReleaseForm>,
) -> Result<Response, PageError> {
    c.require(Permission::ManagePolicy)?;
    let note = Some(form.note.trim().to_string()).filter(|n| !n.is_empty());
    let released = api::release_hold(
        State(state.clone()),
        c.actor.clone(),
        Path(id),
        ApiJson::from_value(Release { note }),
    )
    .await;
    match released {
        Ok(_) => Ok(Redirect::to(&format!("/console/holds?released={id}")).into_response()),
        Err(e) if correctable(&e) => {
            page(
                &state,
                c,
                false,
                None,
                Some(e.message),
                PlaceForm::default(),
            )
            .await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

/// A refusal the person can put right from this page.
fn correctable(e: &ApiError) -> bool {
    e.is_correctable() || e.status == StatusCode::NOT_FOUND
}
