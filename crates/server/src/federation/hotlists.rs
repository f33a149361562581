//! Named hot lists shared under an agreement, on the receiving side: a program manager pulls
//! the partner's list (`POST /api/v1/agreements/{id}/hotlists/{name}/import`) into a local
//! hot list with source `partner`, named after the list and the partner, with its origin
//! recorded. A re-import replaces it; once the agreement is revoked or expired no pull is
//! sent (and the partner refuses one anyway). Audited here as well as at the partner.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use candor_policy::decide_hot_list;
use candor_store::agreements::PartnerHotList;
use candor_store::hotlists::{HotList, HotListEntry, HotListSpec, ListSource};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::agreements::{document, our_index, revoked_at};
use super::outbox::send_signed;
use super::partner::{HOTLISTS_PATH, HotListPull, PartnerUser, SharedHotList};
use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(import_partner_list),
    components(schemas(PartnerListImport, PartnerHotList))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/agreements/{id}/hotlists/{name}/import",
        post(import_partner_list),
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerListImport {
    /// The local hot list (source `partner`).
    pub list: HotList,
    /// Where it came from.
    pub origin: PartnerHotList,
}

/// The local name of a partner's list: its name there and the partner agency.
pub fn local_name(remote_name: &str, partner_agency: &str) -> String {
    format!("{remote_name} (from {partner_agency})")
}

/// A refused pull, audited here with what the partner or the agreement said.
async fn refused(
    state: &AppState,
    actor: &Actor,
    agreement_id: &str,
    partner: &str,
    name: &str,
    error: ApiError,
) -> ApiError {
    let recorded = auth::record_action(
        state,
        actor,
        "federation.hotlist.import",
        &format!("agreement:{agreement_id}"),
        json!({"partner": partner, "list": name, "outcome": "refused",
               "error": error.code, "reason": error.message}),
    )
    .await;
    recorded.err().unwrap_or(error)
}

/// Pulls the partner's named hot list under the agreement and replaces the local copy.
/// Checked here first (agreement in force and naming the list), then at the partner;
/// every pull, imported or refused, is audited.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/hotlists/{name}/import",
    params(("id" = String, Path), ("name" = String, Path, description = "the list's name at the partner")),
    responses(
    (status = 201, body = PartnerListImport), (status = 403, description = "the agreement does not share the list (here or at the partner), or is not in force", body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 502, description = "the partner could not be reached or answered badly", body = ErrorBody)))]
pub async fn import_partner_list(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, name)): Path<(String, String)>,
) -> Result<(StatusCode, Json<PartnerListImport>), ApiError> {
    actor.require(Permission::ManageSharing)?;
    actor.require(Permission::ManageHotLists)?;
    let record = state
        .store
        .agreement(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agreement {id:?} not found")))?;
    let doc = document(&record)?;
    let partner = record.partner_agency.clone();
    let Some(us) = our_index(&state, &doc) else {
        return Err(ApiError::forbidden(
            "not_a_party",
            "this instance is not a party to the agreement",
        ));
    };
    if let Err(d) = decide_hot_list(&doc, revoked_at(&record), &name, Utc::now()) {
        let e = ApiError::forbidden(d.code(), format!("refused here before asking: {d}"));
        return Err(refused(&state, &actor, &id, &partner, &name, e).await);
    }
    let pull = HotListPull {
        user: PartnerUser {
            id: actor.user_id.to_string(),
            name: actor.username.clone(),
            role: auth::role_name(actor.role),
            agency: doc.agreement.parties[us].agency_name.clone(),
        },
        name: name.clone(),
    };
    let body = serde_json::to_vec(&pull).map_err(|e| ApiError::internal(e.to_string()))?;
    let answer = match send_signed(&state, &id, &record.partner_url, HOTLISTS_PATH, body).await {
        Ok(res) if res.status().is_success() => res.json::<SharedHotList>().await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad_answer",
                format!("the partner's answer is unreadable: {e}"),
            )
        }),
        Ok(res) => {
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            Err(ApiError::new(
                if status.is_client_error() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_GATEWAY
                },
                body["error"]["code"].as_str().unwrap_or("partner_error"),
                format!(
                    "{partner} refused: {}",
                    body["error"]["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
                ),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "partner_unreachable",
            format!(
                "the partner instance could not be reached: {}",
                e.without_url()
            ),
        )),
    };
    let answer = match answer {
        Ok(a) if a.name == name && a.agreement_id == id => a,
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_answer",
            "the partner answered with another list or agreement than the one asked for",
        ))?,
        Err(e) => return Err(refused(&state, &actor, &id, &partner, &name, e).await),
    };
    // Entries are kept no longer than the agreement's retention at the recipient, nor past
    // the agreement's end.
    let now = candor_store::now_ms();
    let keep_until = now
        .saturating_add(
            i64::try_from(doc.agreement.recipient_retention.as_millis()).unwrap_or(i64::MAX),
        )
        .min(doc.agreement.expires.timestamp_millis());
    let entries: Vec<HotListEntry> = answer
        .entries
        .iter()
        .map(|e| HotListEntry {
            plate: candor_platetext::normalize(&e.plate),
            state: e.state.clone(),
            hit_type: e.hit_type.clone(),
            reference: Some(format!("{partner} · agreement {id}")),
            reason: e.reason.clone(),
            effective_at: None,
            expires_at: Some(e.expires_at.map_or(keep_until, |t| t.min(keep_until))),
            priority: None,
            details: None,
        })
        .filter(|e| !e.plate.is_empty() && candor_store::hotlists::is_known_hit_type(&e.hit_type))
        .collect();
    let list_name = local_name(&name, &partner);
    let spec = HotListSpec {
        name: list_name.clone(),
        source: ListSource::Partner,
        hit_type: answer.hit_type.clone(),
        priority: answer.priority.clamp(1, 9),
        hit_retention_secs: None,
    };
    let origin = PartnerHotList {
        list_name,
        agreement_id: id.clone(),
        partner_agency: partner.clone(),
        remote_name: name.clone(),
        remote_version: answer.version,
        entry_count: entries.len() as i64,
        imported_at: now,
        imported_by: actor.username.clone(),
    };
    let list = state
        .store
        .import_partner_hot_list(&spec, &entries, &origin)
        .await?;
    auth::record_action(
        &state,
        &actor,
        "federation.hotlist.import",
        &format!("agreement:{id}"),
        json!({"partner": partner, "list": name, "outcome": "imported", "local_list": list.name,
               "remote_version": answer.version, "entries": entries.len(),
               "skipped": answer.entries.len() - entries.len()}),
    )
    .await?;
    state.matcher.rebuild(&state.store).await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerListImport { list, origin }),
    ))
}
