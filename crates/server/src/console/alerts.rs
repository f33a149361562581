//! Live alerts: recent hits as cards, new ones pushed over the API's SSE stream
//! (`/api/v1/alerts/stream`, read by `static/alerts.js`, which fetches each new card from
//! here), and verification in two clicks: the disposition, then the action. Both go through
//! the API's handlers, so the checks and audit records are the same. A card's scene image and
//! plate crop are linked with the hit as their grounds (`?hit=N`); the image routes here
//! serve search results too (`?search=N`), by the one rule in `crate::read_access`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::hits::{Disposition, Hit, HitAction};
use candor_store::hotlists::HotList;
use serde::Deserialize;

use super::{Console, Layout, PageError, render, time_text};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::read_access::{self, Grounds, GroundsQuery, Refused, Subject};
use crate::routes::hits::{self, ActionRequest, DispositionRequest, HitFilter};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/alerts", get(alerts_page))
        .route("/console/alerts/hits/{id}", get(hit_card))
        .route("/console/alerts/partner-hits/{id}", get(partner_hit_card))
        .route("/console/alerts/hits/{id}/disposition", post(disposition))
        .route("/console/alerts/hits/{id}/action", post(action))
        .route("/console/alerts/hits/{id}/amendment", post(amendment))
        .route("/console/images/{id}", get(image))
        .route("/console/reads/{id}/plate", get(plate_crop))
}

/// One hit as the officer compares it: the read beside the hot-list entry.
pub struct HitCard {
    pub id: i64,
    pub status: String,
    pub read_plate: String,
    pub confidence: String,
    pub listed_plate: String,
    pub list_name: String,
    pub source: String,
    /// The hit type in words, with its code.
    pub hit_type: String,
    /// The hit type's place in the urgency order (0 first).
    pub urgency: usize,
    /// The region or state the engine or camera read the plate as, if it said.
    pub read_region: String,
    pub priority: i64,
    pub reason: String,
    pub case: String,
    pub state: String,
    /// The vehicle the list describes (year, make, model, style, colour), to compare with
    /// the car before acting.
    pub listed_vehicle: String,
    pub match_kind: String,
    pub camera: String,
    pub time: String,
    /// The same time, RFC 3339, for the browser to show in its own time zone.
    pub time_iso: String,
    pub image_id: Option<i64>,
    /// The read whose plate can be shown on its own: cut from its image (the engine gave a
    /// box), or the plate picture the camera sent.
    pub crop_read_id: Option<i64>,
    /// The vehicle as the camera described it, and where the camera was (GPS).
    pub vehicle: String,
    pub position: String,
    pub disposition: Option<String>,
    pub action: Option<String>,
    /// What the verdict allows: the badge's words and class, and the actions offered.
    pub verdict: Verdict,
    /// The actions this verdict allows (every verdict allows "No action").
    pub allowed_actions: Vec<(&'static str, &'static str)>,
    /// Corrections recorded on this hit, in words, oldest first.
    pub amendments: Vec<String>,
    /// What a correction may change to: ("disposition:misread", "Verdict: misread"), ….
    pub corrections: Vec<(String, String)>,
    pub csrf: String,
    pub can_verify: bool,
    pub can_view_images: bool,
}

impl HitCard {
    pub fn is_unverified(&self) -> bool {
        self.disposition.is_none()
    }
}

/// How the card presents the verdict that stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Unverified,
    /// A correct read: the officer may act.
    Actionable,
    /// A wrong-state read: only after confirming it against the entry.
    ConfirmFirst,
    /// A misread or a dismissed hit: nothing may be done about it.
    DoNotAct,
}

impl Verdict {
    fn of(d: Option<Disposition>) -> Verdict {
        match d {
            None => Verdict::Unverified,
            Some(Disposition::CorrectRead) => Verdict::Actionable,
            Some(Disposition::WrongState) => Verdict::ConfirmFirst,
            Some(Disposition::Misread | Disposition::Dismissed) => Verdict::DoNotAct,
        }
    }
    pub fn badge(&self) -> &'static str {
        match self {
            Verdict::Unverified => "Unverified: do not act yet",
            Verdict::Actionable => "Verified: correct read",
            Verdict::ConfirmFirst => "Wrong state: confirm against the entry before acting",
            Verdict::DoNotAct => "Not a match: do not act",
        }
    }
    pub fn class(&self) -> &'static str {
        match self {
            Verdict::Unverified => "status-unverified",
            Verdict::Actionable => "status-verified",
            Verdict::ConfirmFirst => "status-confirm",
            Verdict::DoNotAct => "status-no-match",
        }
    }
    pub fn needs_confirmation(&self) -> bool {
        *self == Verdict::ConfirmFirst
    }
}

const DISPOSITIONS: &[(&str, &str)] = &[
    ("correct_read", "Correct read"),
    ("wrong_state", "Wrong state"),
    ("misread", "Misread"),
    ("dismissed", "Dismiss"),
];

const ACTIONS: &[(&str, &str)] = &[
    ("none", "No action"),
    ("stop", "Stop"),
    ("arrest", "Arrest"),
    ("other", "Other"),
];

fn words(code: &str) -> String {
    code.replace('_', " ")
}

async fn card(
    state: &AppState,
    hit: Hit,
    lists: &HashMap<i64, HotList>,
    csrf: &str,
    can_verify: bool,
    can_view_images: bool,
) -> Result<HitCard, ApiError> {
    let read = state.store.get_read(&state.keys, hit.read_id).await?;
    let current = hit.disposition.as_ref().map(|d| d.value);
    let allowed_actions = ACTIONS
        .iter()
        .copied()
        .filter(|(code, _)| {
            let a = HitAction::parse(code).unwrap_or(HitAction::None);
            current.is_some_and(|d| d.check_action(hit.id, a, true).is_ok())
        })
        .collect();
    let mut corrections = Vec::new();
    if let Some(d) = current {
        for (code, label) in DISPOSITIONS {
            if *code != d.as_str() {
                corrections.push((format!("disposition:{code}"), format!("Verdict: {label}")));
            }
        }
    }
    if let (Some(d), Some(a)) = (current, hit.action.as_ref().map(|a| a.value)) {
        for (code, label) in ACTIONS {
            let to = HitAction::parse(code).unwrap_or(HitAction::None);
            if to != a && d.check_action(hit.id, to, true).is_ok() {
                corrections.push((format!("action:{code}"), format!("Action: {label}")));
            }
        }
    }
    let amendments = hit
        .amendments
        .iter()
        .map(|a| {
            format!(
                "{} corrected from {} to {} by {}, {}: {}",
                a.field,
                words(&a.previous),
                words(&a.amended_to),
                a.by_username,
                time_text(a.at),
                a.note
            )
        })
        .collect();
    let source = match (hit.user_plate_id, hit.list_id.and_then(|id| lists.get(&id))) {
        (Some(_), _) => "user hot plate".to_string(),
        (None, Some(list)) => list.source.as_str().to_uppercase(),
        (None, None) => "list no longer held".to_string(),
    };
    Ok(HitCard {
        id: hit.id,
        status: hit.status.clone(),
        read_plate: read
            .as_ref()
            .map(|r| r.details.plate.clone())
            .unwrap_or_else(|| "(read purged)".into()),
        confidence: read
            .as_ref()
            .map(|r| format!("{:.0}%", r.confidence * 100.0))
            .unwrap_or_default(),
        listed_plate: hit.details.listed_plate.clone(),
        list_name: hit.details.list_name.clone(),
        source,
        hit_type: format!(
            "{} ({})",
            candor_store::hotlists::hit_type_words(&hit.hit_type),
            hit.hit_type
        ),
        urgency: candor_store::hotlists::hit_type_urgency(&hit.hit_type),
        read_region: read
            .as_ref()
            .and_then(|r| r.details.region.clone())
            .unwrap_or_default(),
        priority: hit.priority,
        reason: hit.details.reason.clone().unwrap_or_default(),
        case: hit.details.reference.clone().unwrap_or_default(),
        state: hit.details.state.clone().unwrap_or_default(),
        listed_vehicle: hit.details.vehicle.clone().unwrap_or_default(),
        match_kind: words(&hit.match_kind),
        camera: hit.camera_id.clone(),
        time: time_text(read.as_ref().map_or(hit.created_at, |r| r.captured_at)),
        time_iso: chrono::DateTime::from_timestamp_millis(
            read.as_ref().map_or(hit.created_at, |r| r.captured_at),
        )
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default(),
        image_id: read.as_ref().and_then(|r| r.image_id),
        crop_read_id: read
            .as_ref()
            .filter(|r| {
                (r.image_id.is_some() && r.details.plate_box.is_some())
                    || r.details.plate_image_id.is_some()
            })
            .map(|r| r.id),
        vehicle: read
            .as_ref()
            .map(|r| super::vehicle_text(&r.details))
            .unwrap_or_default(),
        position: read
            .as_ref()
            .and_then(|r| super::position_text(&r.details))
            .unwrap_or_default(),
        disposition: hit
            .disposition
            .as_ref()
            .map(|d| format!("{} by {}", words(d.value.as_str()), d.by_username)),
        action: hit
            .action
            .as_ref()
            .map(|a| format!("{} by {}", words(a.value.as_str()), a.by_username)),
        verdict: Verdict::of(current),
        allowed_actions,
        amendments,
        corrections,
        csrf: csrf.to_string(),
        can_verify,
        can_view_images,
    })
}

async fn lists_by_id(state: &AppState) -> Result<HashMap<i64, HotList>, ApiError> {
    Ok(state
        .store
        .list_hot_lists()
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect())
}

/// A hit a partner pushed here, marked as the partner's, with what its agreement shares.
pub struct PartnerCard {
    pub id: i64,
    pub partner_agency: String,
    pub agreement_id: String,
    pub hit_type: String,
    pub plate: String,
    pub list_name: String,
    pub captured: Option<String>,
    pub location: Option<String>,
    pub received: String,
    pub kept_until: String,
}

fn partner_card(h: crate::federation::manage::PartnerHitView) -> PartnerCard {
    let n = &h.notification;
    PartnerCard {
        id: h.id,
        plate: n["plate"].as_str().unwrap_or_default().to_string(),
        list_name: n["list_name"].as_str().unwrap_or_default().to_string(),
        captured: n["captured_at"].as_i64().map(time_text),
        location: n["camera_location"].as_str().map(str::to_string),
        partner_agency: h.partner_agency,
        agreement_id: h.agreement_id,
        hit_type: h.hit_type,
        received: time_text(h.received_at),
        kept_until: time_text(h.expires_at),
    }
}

#[derive(Template)]
#[template(path = "console/partner_hit_card.html")]
struct PartnerCardFragment {
    p: PartnerCard,
}

/// One partner hit's card, for the live page (the view is audited).
async fn partner_hit_card(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let mut views =
        crate::federation::manage::view_partner_hits(&state, &c.actor, Some(id), "console")
            .await
            .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let p = partner_card(views.remove(0));
    Ok(render(&PartnerCardFragment { p }))
}

#[derive(Template)]
#[template(path = "console/alerts.html")]
struct AlertsPage {
    layout: Layout,
    cards: Vec<HitCard>,
    partner_cards: Vec<PartnerCard>,
    dispositions: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "console/hit_card.html")]
struct HitCardFragment {
    card: HitCard,
    dispositions: &'static [(&'static str, &'static str)],
}

/// The last 24 hours of hits, newest first; new ones arrive live.
async fn alerts_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    let Console { actor, layout } = c;
    let filter = HitFilter {
        from: None,
        to: None,
        unverified: None,
        limit: Some(100),
    };
    let Json(list) = hits::list_hits(
        State(state.clone()),
        actor.clone(),
        axum::extract::Query(filter),
    )
    .await
    .map_err(|e| PageError::within(layout_copy(&layout), e))?;
    let lists = lists_by_id(&state).await?;
    let can_verify = actor.role.allows(Permission::VerifyHits);
    let can_view_images = actor.role.allows(Permission::ViewImages);
    let mut cards = Vec::with_capacity(list.len());
    for hit in list {
        cards.push(
            card(
                &state,
                hit,
                &lists,
                &actor.csrf_token,
                can_verify,
                can_view_images,
            )
            .await?,
        );
    }
    // Hits waiting for a verdict first, the most urgent kind first among them (a wanted
    // person above a stolen plate), newest first within a kind.
    cards.sort_by_key(|c| (c.disposition.is_some(), c.urgency));
    let partner_cards =
        crate::federation::manage::view_partner_hits(&state, &actor, None, "console")
            .await
            .map_err(|e| PageError::within(layout_copy(&layout), e))?
            .into_iter()
            .map(partner_card)
            .collect();
    Ok(render(&AlertsPage {
        layout,
        cards,
        partner_cards,
        dispositions: DISPOSITIONS,
    }))
}

/// A copy of the layout for an error page (the page itself keeps the original).
pub fn layout_copy(l: &Layout) -> Layout {
    Layout {
        agency: l.agency.clone(),
        nav: l
            .nav
            .iter()
            .map(|n| super::NavLink {
                label: n.label,
                href: n.href,
                current: n.current,
            })
            .collect(),
        user: l.user.as_ref().map(|u| super::UserBadge {
            name: u.name.clone(),
            role: u.role.clone(),
        }),
        csrf: l.csrf.clone(),
    }
}

/// One hit's card, for the live page to insert when the stream announces it.
async fn hit_card(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(g): Query<hits::HitGrounds>,
) -> Result<Response, PageError> {
    let hit = hits::view_hit(&state, &c.actor, id, g.search).await?;
    let lists = lists_by_id(&state).await?;
    let can_verify = c.actor.role.allows(Permission::VerifyHits);
    let can_view_images = c.actor.role.allows(Permission::ViewImages);
    let card = card(
        &state,
        hit,
        &lists,
        &c.actor.csrf_token,
        can_verify,
        can_view_images,
    )
    .await?;
    Ok(render(&HitCardFragment {
        card,
        dispositions: DISPOSITIONS,
    }))
}

#[derive(Deserialize)]
struct DispositionForm {
    disposition: String,
}

async fn disposition(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(g): Query<hits::HitGrounds>,
    Form(form): Form<DispositionForm>,
) -> Result<Response, PageError> {
    let d = Disposition::parse(&form.disposition).map_err(ApiError::from)?;
    let body = DispositionRequest {
        disposition: d,
        note: None,
    };
    hits::verdict(&state, &c.actor, id, g.search, body)
        .await
        .map_err(|e| PageError::within(c.layout, e))?;
    Ok(Redirect::to(&format!("/console/alerts#hit-{id}")).into_response())
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
    /// The "confirmed against the entry" box (wrong-state reads).
    confirmed_against_entry: Option<String>,
}

async fn action(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(g): Query<hits::HitGrounds>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let a = HitAction::parse(&form.action).map_err(ApiError::from)?;
    let body = ActionRequest {
        action: a,
        confirmed_against_entry: form.confirmed_against_entry.is_some(),
        note: None,
    };
    hits::act(&state, &c.actor, id, g.search, body)
        .await
        .map_err(|e| PageError::within(c.layout, e))?;
    Ok(Redirect::to(&format!("/console/alerts#hit-{id}")).into_response())
}

#[derive(Deserialize)]
struct AmendmentForm {
    /// "disposition:<code>" or "action:<code>".
    change: String,
    note: String,
    confirmed_against_entry: Option<String>,
}

/// Corrects a mis-click: a recorded, audited amendment with a note (never an edit).
async fn amendment(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(g): Query<hits::HitGrounds>,
    Form(form): Form<AmendmentForm>,
) -> Result<Response, PageError> {
    let (disposition, action) = match form.change.split_once(':') {
        Some(("disposition", code)) => (
            Some(Disposition::parse(code).map_err(ApiError::from)?),
            None,
        ),
        Some(("action", code)) => (None, Some(HitAction::parse(code).map_err(ApiError::from)?)),
        _ => {
            return Err(ApiError::bad_request(
                "one_change",
                "choose the verdict or the action to correct",
            )
            .into());
        }
    };
    let body = hits::AmendmentRequest {
        disposition,
        action,
        confirmed_against_entry: form.confirmed_against_entry.is_some(),
        note: form.note,
    };
    hits::amend(&state, &c.actor, id, g.search, body)
        .await
        .map_err(|e| PageError::within(c.layout, e))?;
    Ok(Redirect::to(&format!("/console/alerts#hit-{id}")).into_response())
}

/// The grounds named in a page's query string (`?search=N` / `?hit=N`).
fn grounds(
    q: Result<Query<GroundsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Grounds, Refused> {
    q.map_err(|_| Refused::NoGrounds)
        .and_then(|Query(q)| q.grounds())
}

/// A stored image (scene of a read), for people allowed to see images, opened from a hit on
/// its read or a search of theirs that listed it (`crate::read_access`). Each view is
/// audited, with its grounds, before the image is sent.
async fn image(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    q: Result<Query<GroundsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    c.require(Permission::ViewImages)?;
    let basis = read_access::check(
        &state,
        &c.actor,
        "image.view",
        Subject::Image(id),
        grounds(q),
    )
    .await
    .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let image = state
        .store
        .get_image(&state.keys, &state.config.image_dir(), id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::not_found(format!("image {id} not found (it may have been purged)"))
        })?;
    read_access::record_view(
        &state,
        &c.actor,
        "image.view",
        format!("image:{id}"),
        &basis,
        serde_json::json!({ "camera_id": image.camera_id, "captured_at": image.captured_at }),
    )
    .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, image.content_type)],
        image.bytes,
    )
        .into_response())
}

/// The plate cut from a read's image (with a margin around the engine's box), as PNG, for
/// the officer to compare with the hot-list entry. Opened and audited like the whole image.
async fn plate_crop(
    State(state): State<AppState>,
    c: Console,
    Path(read_id): Path<i64>,
    q: Result<Query<GroundsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    c.require(Permission::ViewImages)?;
    let basis = read_access::check(
        &state,
        &c.actor,
        "image.view",
        Subject::Read(read_id),
        grounds(q),
    )
    .await
    .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let gone = || {
        ApiError::not_found(format!(
            "read {read_id} has no plate image (it may have been purged)"
        ))
    };
    let read = state
        .store
        .get_read(&state.keys, read_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(gone)?;
    if let Some(plate_image) = read.details.plate_image_id {
        // The camera sent the plate on its own: show it as it came.
        let image = state
            .store
            .get_image(&state.keys, &state.config.image_dir(), plate_image)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(gone)?;
        read_access::record_view(
            &state,
            &c.actor,
            "image.view",
            format!("image:{plate_image}"),
            &basis,
            serde_json::json!({ "part": "plate", "camera_id": image.camera_id }),
        )
        .await?;
        return Ok((
            [(axum::http::header::CONTENT_TYPE, image.content_type)],
            image.bytes,
        )
            .into_response());
    }
    let (Some(image_id), Some(b)) = (read.image_id, read.details.plate_box) else {
        return Err(gone().into());
    };
    let image = state
        .store
        .get_image(&state.keys, &state.config.image_dir(), image_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(gone)?;
    let png = crop_png(&image.bytes, b).map_err(|e| {
        ApiError::internal(format!("cannot cut the plate from image {image_id}: {e}"))
    })?;
    read_access::record_view(
        &state,
        &c.actor,
        "image.view",
        format!("image:{image_id}"),
        &basis,
        serde_json::json!({ "part": "plate", "camera_id": image.camera_id }),
    )
    .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// The box grown by a quarter of its height on every side (the plate's edges and frame help
/// the comparison), clipped to the image, encoded as PNG. The image is decoded as for
/// recognition (bounded memory, a very large one scaled down; the box follows).
pub fn crop_png(image_bytes: &[u8], b: candor_store::reads::PlateBox) -> anyhow::Result<Vec<u8>> {
    let decoded = candor_vision::decode_image_scaled(image_bytes)?;
    let img = image::DynamicImage::ImageRgb8(decoded.image);
    let k = decoded.scale;
    let scaled = |v: u32| (v as f32 / k).round() as u32;
    let b = candor_store::reads::PlateBox {
        x: scaled(b.x),
        y: scaled(b.y),
        w: scaled(b.w).max(1),
        h: scaled(b.h).max(1),
    };
    let margin = b.h / 4;
    let x =
        b.x.saturating_sub(margin)
            .min(img.width().saturating_sub(1));
    let y =
        b.y.saturating_sub(margin)
            .min(img.height().saturating_sub(1));
    let w = (b.w + 2 * margin).min(img.width() - x).max(1);
    let h = (b.h + 2 * margin).min(img.height() - y).max(1);
    let mut out = std::io::Cursor::new(Vec::new());
    img.crop_imm(x, y, w, h)
        .write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}
