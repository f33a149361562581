//! Hits: the live alert stream, the list of hits, and human verification.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::hits::{Disposition, Hit, HitAction, HitChange, HitDetails};
use futures_util::Stream;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::OpenApi;

use crate::alerts::Alert;
use crate::audit::{self, OpsEvent};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(
        alert_stream,
        list_hits,
        get_hit,
        record_disposition,
        record_action,
        amend_hit
    ),
    components(schemas(
        Alert,
        crate::alerts::PartnerAlert,
        Hit,
        HitDetails,
        Disposition,
        HitAction,
        DispositionRequest,
        ActionRequest,
        AmendmentRequest,
        candor_store::hits::Amendment
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts/stream", get(alert_stream))
        .route("/api/v1/hits", get(list_hits))
        .route("/api/v1/hits/{id}", get(get_hit))
        .route("/api/v1/hits/{id}/disposition", post(record_disposition))
        .route("/api/v1/hits/{id}/action", post(record_action))
        .route("/api/v1/hits/{id}/amendments", post(amend_hit))
}

/// Live hits as server-sent events (`event: hit`, data: an Alert), and hits partner
/// agencies push here (`event: partner_hit`, data: a PartnerAlert, without plate data; see
/// `GET /api/v1/federation/hits`). A listener that falls behind gets `event: lagged` with
/// the number of alerts it missed (see `GET /api/v1/hits`).
#[utoipa::path(get, path = "/api/v1/alerts/stream", responses((status = 200, description = "text/event-stream of Alert")))]
pub async fn alert_stream(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    actor.require(Permission::ViewAlerts)?;
    // Every alert this stream carries holds plate data: the subscription is on record first.
    audit::record(
        &state,
        OpsEvent::by(&actor, "alerts.stream", "alerts".into(), json!({})),
    )
    .await?;
    let lagged =
        |BroadcastStreamRecvError::Lagged(n)| Event::default().event("lagged").data(n.to_string());
    let local = BroadcastStream::new(state.alerts.subscribe()).map(move |item| {
        Ok(match item {
            Ok(alert) => Event::default()
                .event("hit")
                .id(alert.hit_id.to_string())
                .json_data(&alert)
                .unwrap_or_else(|_| Event::default().event("error")),
            Err(e) => lagged(e),
        })
    });
    let partner = BroadcastStream::new(state.alerts.subscribe_partner()).map(move |item| {
        Ok(match item {
            Ok(alert) => Event::default()
                .event("partner_hit")
                .id(format!("p{}", alert.received_id))
                .json_data(&alert)
                .unwrap_or_else(|_| Event::default().event("error")),
            Err(e) => lagged(e),
        })
    });
    Ok(Sse::new(futures_util::stream::select(local, partner)).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct HitFilter {
    /// Unix ms, inclusive (default: the start of the policy's live alert horizon, 24 hours
    /// ago by default). Earlier is refused: older hits need a purpose-bound search.
    pub from: Option<i64>,
    /// Unix ms, exclusive (default: now).
    pub to: Option<i64>,
    /// Only hits without a disposition.
    pub unverified: Option<bool>,
    pub limit: Option<i64>,
}

/// How far before the horizon's start a `from` may fall and be read as the horizon itself
/// (a client's clock, or the time its request took).
const HORIZON_GRACE_MS: i64 = 5 * 60_000;

/// The live alert list: hits within the policy's live alert horizon (`alert_horizon`, 24
/// hours by default), newest first. Listing needs no purpose because it is the officer's live
/// view; a `from` before the horizon is refused (`outside_alert_horizon`) and older hits are
/// found with `POST /api/v1/search/hits`, with a purpose, a case number and its audit.
#[utoipa::path(get, path = "/api/v1/hits", params(HitFilter),
    responses((status = 200, body = [Hit]), (status = 422, body = ErrorBody)))]
pub async fn list_hits(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<HitFilter>,
) -> Result<Json<Vec<Hit>>, ApiError> {
    actor.require(Permission::ViewAlerts)?;
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let horizon = policy.document.alert_horizon;
    let now = candor_store::now_ms();
    let start = crate::read_access::alert_horizon_start(&policy.document, now);
    let from = match f.from {
        None => start,
        Some(from) if from >= start => from,
        Some(from) if from >= start - HORIZON_GRACE_MS => start,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "outside_alert_horizon",
                format!(
                    "the hit list reaches back {} (the policy's live alert horizon); older hits \
                     are found with a search of hits (POST /api/v1/search/hits), which needs a \
                     purpose and a case number",
                    candor_policy::duration_words(horizon)
                ),
            ));
        }
    };
    let hits = state
        .store
        .list_hits(
            &state.keys,
            from,
            f.to.unwrap_or(now + 1),
            f.unverified.unwrap_or(false),
            f.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "hits.list",
            "hits".into(),
            json!({ "from": from, "to": f.to, "unverified": f.unverified, "count": hits.len() }),
        ),
    )
    .await?;
    Ok(Json(hits))
}

/// The grounds for opening a hit older than the live alert horizon.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct HitGrounds {
    /// For a hit older than the policy's live alert horizon: the `audit_seq` of your own
    /// search of hits (`POST /api/v1/search/hits`) that listed it. Its view, verdict, action
    /// or amendment is then audited naming that search and its purpose. Not needed within
    /// the horizon.
    pub search: Option<u64>,
}

/// One hit. Within the live alert horizon it opens for those who receive alerts; an older
/// hit opens only with `?search=N` from your search of hits that listed it
/// (`403 outside_alert_horizon` without it, `403 not_your_search` or `403 not_listed` with
/// another).
#[utoipa::path(get, path = "/api/v1/hits/{id}", params(("id" = i64, Path, description = "The hit's id"), HitGrounds),
    responses((status = 200, body = Hit), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_hit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(g): Query<HitGrounds>,
) -> Result<Json<Hit>, ApiError> {
    view_hit(&state, &actor, id, g.search).await.map(Json)
}

/// Opens hit `id` for `actor` on its grounds (see [`get_hit`]), audited as `hit.view`.
pub async fn view_hit(
    state: &AppState,
    actor: &Actor,
    id: i64,
    search: Option<u64>,
) -> Result<Hit, ApiError> {
    let opened = crate::read_access::open_hit(state, actor, "hit.view", id, search).await?;
    audit::record(
        state,
        OpsEvent::by(
            actor,
            "hit.view",
            format!("hit:{id}"),
            opened.audit_details(),
        ),
    )
    .await?;
    Ok(opened.hit)
}

/// `details` with the grounds the hit opened on (the search and its purpose, for an older
/// hit) added.
fn with_grounds(
    opened: &crate::read_access::OpenedHit,
    mut details: serde_json::Value,
) -> serde_json::Value {
    if let (Some(d), Some(g)) = (details.as_object_mut(), opened.audit_details().as_object()) {
        d.extend(g.clone());
    }
    details
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionRequest {
    /// correct_read, wrong_state, misread or dismissed.
    pub disposition: Disposition,
    pub note: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// none, stop, arrest or other. Only a correct read, or a wrong-state read confirmed
    /// against the hot-list entry, may lead to anything but none.
    pub action: HitAction,
    /// After a wrong-state verdict: the read was checked against the hot-list entry
    /// (vehicle, details) and the officer acts on it anyway.
    #[serde(default)]
    pub confirmed_against_entry: bool,
    pub note: Option<String>,
}

/// A correction of a recorded disposition or action (exactly one of them), with the reason.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequest {
    /// The corrected verdict: correct_read, wrong_state, misread or dismissed.
    pub disposition: Option<Disposition>,
    /// The corrected action: none, stop, arrest or other.
    pub action: Option<HitAction>,
    /// For an action after a wrong-state verdict: it was confirmed against the entry.
    #[serde(default)]
    pub confirmed_against_entry: bool,
    /// Why the record is corrected (required).
    pub note: String,
}

/// Records the person's verdict on a hit, after checking it by eye (and, for user-entered or
/// expired entries, against the source list). Recorded once.
#[utoipa::path(post, path = "/api/v1/hits/{id}/disposition", params(("id" = i64, Path, description = "The hit's id")), request_body = DispositionRequest,
    responses((status = 200, body = Hit), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn record_disposition(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(g): Query<HitGrounds>,
    body: ApiJson<DispositionRequest>,
) -> Result<Json<Hit>, ApiError> {
    // a role without the permission is refused before its body is looked at
    actor.require(Permission::VerifyHits)?;
    let d = body.parse()?;
    verdict(&state, &actor, id, g.search, d).await.map(Json)
}

/// Records `actor`'s verdict on hit `id` (see [`record_disposition`]), with its audit record.
pub async fn verdict(
    state: &AppState,
    actor: &Actor,
    id: i64,
    search: Option<u64>,
    d: DispositionRequest,
) -> Result<Hit, ApiError> {
    actor.require(Permission::VerifyHits)?;
    let opened = crate::read_access::open_hit(state, actor, "hit.disposition", id, search).await?;
    let audit = OpsEvent::by(
        actor,
        "hit.disposition",
        format!("hit:{id}"),
        with_grounds(&opened, serde_json::json!({ "disposition": d.disposition })),
    );
    state
        .store
        .record_disposition(
            id,
            d.disposition,
            actor.user_id,
            &actor.username,
            d.note.as_deref(),
            audit.entry(),
        )
        .await?;
    recorded_hit(state, id).await
}

/// The hit as just recorded, for the answer to a verdict, action or amendment: that
/// action's audit record covers it, so it is not recorded again as a view.
async fn recorded_hit(state: &AppState, id: i64) -> Result<Hit, ApiError> {
    let hit = state.store.get_hit(&state.keys, id).await?;
    hit.ok_or_else(|| ApiError::not_found(format!("hit {id} not found")))
}

/// Records what was done after a verified hit. Needs a disposition first that allows it (a
/// correct read, or a wrong-state read confirmed against the entry; any verdict allows
/// "none"); recorded once, then corrected only by an amendment.
#[utoipa::path(post, path = "/api/v1/hits/{id}/action", params(("id" = i64, Path, description = "The hit's id")), request_body = ActionRequest,
    responses((status = 200, body = Hit), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn record_action(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(g): Query<HitGrounds>,
    body: ApiJson<ActionRequest>,
) -> Result<Json<Hit>, ApiError> {
    // a role without the permission is refused before its body is looked at
    actor.require(Permission::VerifyHits)?;
    let a = body.parse()?;
    act(&state, &actor, id, g.search, a).await.map(Json)
}

/// Records what `actor` did after hit `id` (see [`record_action`]), with its audit record.
pub async fn act(
    state: &AppState,
    actor: &Actor,
    id: i64,
    search: Option<u64>,
    a: ActionRequest,
) -> Result<Hit, ApiError> {
    actor.require(Permission::VerifyHits)?;
    let opened = crate::read_access::open_hit(state, actor, "hit.action", id, search).await?;
    let audit = OpsEvent::by(
        actor,
        "hit.action",
        format!("hit:{id}"),
        with_grounds(
            &opened,
            serde_json::json!({ "action": a.action, "confirmed_against_entry": a.confirmed_against_entry }),
        ),
    );
    state
        .store
        .record_action(
            id,
            a.action,
            a.confirmed_against_entry,
            actor.user_id,
            &actor.username,
            a.note.as_deref(),
            audit.entry(),
        )
        .await?;
    recorded_hit(state, id).await
}

/// Corrects a recorded disposition or action (a mis-click): the first record stays, the
/// correction is recorded beside it with who, when and the note, and audited. The verdict and
/// the action must stay consistent (amend the action first when a verdict would contradict
/// it). Reports and the transparency page count the corrected values.
#[utoipa::path(post, path = "/api/v1/hits/{id}/amendments", params(("id" = i64, Path, description = "The hit's id")), request_body = AmendmentRequest,
    responses((status = 200, body = Hit), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn amend_hit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(g): Query<HitGrounds>,
    body: ApiJson<AmendmentRequest>,
) -> Result<Json<Hit>, ApiError> {
    // a role without the permission is refused before its body is looked at
    actor.require(Permission::VerifyHits)?;
    let a = body.parse()?;
    amend(&state, &actor, id, g.search, a).await.map(Json)
}

/// Corrects hit `id`'s verdict or action (see [`amend_hit`]), with its audit record.
pub async fn amend(
    state: &AppState,
    actor: &Actor,
    id: i64,
    search: Option<u64>,
    a: AmendmentRequest,
) -> Result<Hit, ApiError> {
    actor.require(Permission::VerifyHits)?;
    let opened = crate::read_access::open_hit(state, actor, "hit.amendment", id, search).await?;
    let change = match (a.disposition, a.action) {
        (Some(d), None) => HitChange::Disposition(d),
        (None, Some(act)) => HitChange::Action(act),
        _ => {
            return Err(ApiError::bad_request(
                "one_change",
                "an amendment corrects either the disposition or the action: give exactly one of them",
            ));
        }
    };
    let audit = |amendment: i64| {
        OpsEvent::by(
            actor,
            "hit.amendment",
            format!("hit:{id}"),
            with_grounds(
                &opened,
                serde_json::json!({
                    "amendment": amendment,
                    "disposition": a.disposition,
                    "action": a.action,
                    "confirmed_against_entry": a.confirmed_against_entry,
                }),
            ),
        )
        .entry()
    };
    state
        .store
        .amend_hit(
            id,
            change,
            a.confirmed_against_entry,
            actor.user_id,
            &actor.username,
            &a.note,
            audit,
        )
        .await?;
    recorded_hit(state, id).await
}
