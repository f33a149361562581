//! The management API for agreements (program managers: `ManageSharing`) and a local
//! user's federated search.
//!
//! Setting up an agreement: one PM drafts it (`POST /api/v1/agreements`) and signs it
//! (`…/{id}/sign`); the signed document goes to the partner PM, who imports it
//! (`…/import`) and signs; the doubly signed document comes back and is imported here.
//! From then on both instances hold both signatures and the agreement is in force between
//! its dates. Either side revokes it (`…/{id}/revoke`): at once locally, and the partner
//! is told through the outbox.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_policy::{
    AGREEMENT_FORMAT, Agreement, IncomingQuery, Party, SignedAgreement, decide_query,
};
use candor_store::agreements::{FederationRequest, NewAgreement, Revocation};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::agreements::{document, our_index, revoked_at, scope_summary, status, stored_signature};
use super::outbox::{queue_revocation, send_signed};
use super::partner::{
    HitNotification, PartnerQuery, PartnerQueryAnswer, PartnerUser, QUERY_PATH, RevocationNotice,
    SharedRead,
};
use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::search::PurposeBody;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(
        list_agreements,
        draft_agreement,
        import_agreement,
        sign_agreement,
        revoke_agreement,
        federation_requests,
        partner_hits,
        federated_search,
        sharing_summary
    ),
    components(schemas(
        AgreementView,
        AgreementList,
        RevocationView,
        LocalParty,
        DraftRequest,
        RevokeRequest,
        RequestList,
        PartnerHitView,
        FederatedSearchRequest,
        PartnerResult,
        FederatedSearchAnswer,
        candor_store::agreements::FederationRequest,
        candor_store::agreements::AgreementSummary,
        candor_store::agreements::PartnerQueryCounts,
        SharingSummary
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/agreements",
            get(list_agreements).post(draft_agreement),
        )
        .route("/api/v1/agreements/import", post(import_agreement))
        .route("/api/v1/agreements/{id}/sign", post(sign_agreement))
        .route("/api/v1/agreements/{id}/revoke", post(revoke_agreement))
        .route("/api/v1/federation/requests", get(federation_requests))
        .route("/api/v1/federation/hits", get(partner_hits))
        .route("/api/v1/federation/search", post(federated_search))
        .route("/api/v1/federation/summary", get(sharing_summary))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevocationView {
    pub revoked_at: i64,
    /// `local` or `partner`.
    pub side: String,
    pub revoked_by: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementView {
    pub id: String,
    pub partner_agency: String,
    pub partner_url: String,
    /// `in_force`, `awaiting_signature`, `not_yet_in_effect`, `expired`, `revoked` or
    /// `invalid`.
    pub status: String,
    /// Why it is not in force.
    pub status_reason: Option<String>,
    pub scope: String,
    /// The signed document (candor-agreement/1 with its signatures): what goes to the
    /// partner.
    #[schema(value_type = Object)]
    pub document: Value,
    pub revocation: Option<RevocationView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementList {
    /// This instance's federation public key (hex), to give to partner agencies.
    pub instance_public_key: String,
    pub agreements: Vec<AgreementView>,
}

async fn view(state: &AppState, id: &str) -> Result<AgreementView, ApiError> {
    let record = state
        .store
        .agreement(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agreement {id:?} not found")))?;
    let doc = document(&record)?;
    let (status, status_reason) = status(&record, &doc);
    Ok(AgreementView {
        id: record.id.clone(),
        partner_agency: record.partner_agency.clone(),
        partner_url: record.partner_url.clone(),
        status: status.into(),
        status_reason,
        scope: record.scope_summary.clone(),
        document: serde_json::to_value(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
        revocation: record.revocation.map(|r| RevocationView {
            revoked_at: r.revoked_at,
            side: r.side,
            revoked_by: r.revoked_by,
            reason: r.reason,
        }),
    })
}

/// Every agreement with its status, and this instance's federation public key.
#[utoipa::path(get, path = "/api/v1/agreements", responses(
    (status = 200, body = AgreementList), (status = 403, body = ErrorBody)))]
pub async fn list_agreements(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<AgreementList>, ApiError> {
    actor.require(Permission::ManageSharing)?;
    let mut agreements = Vec::new();
    for record in state.store.agreements().await? {
        agreements.push(view(&state, &record.id).await?);
    }
    Ok(Json(AgreementList {
        instance_public_key: state.federation.public_key(),
        agreements,
    }))
}

/// This agency's side of a new agreement (its key is filled in).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalParty {
    /// Defaults to the configured agency name.
    pub agency_name: Option<String>,
    pub jurisdiction: String,
    /// This instance's base URL as the partner reaches it.
    pub instance_url: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    pub local: LocalParty,
    /// The partner agency, with its instance's federation public key (hex).
    #[schema(value_type = Object)]
    pub partner: Party,
    /// The terms: `sharing`, `purposes`, `excluded_purposes`, `limits`,
    /// `recipient_retention`, `effective`, `expires` (see docs/operator-guide.md).
    #[schema(value_type = Object)]
    pub terms: Value,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_agreement", message)
}

/// Drafts an agreement with a partner: validated, stored unsigned. Audited.
#[utoipa::path(post, path = "/api/v1/agreements", request_body = DraftRequest, responses(
    (status = 201, body = AgreementView), (status = 403, body = ErrorBody),
    (status = 422, description = "the terms are invalid", body = ErrorBody)))]
pub async fn draft_agreement(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<DraftRequest>,
) -> Result<(StatusCode, Json<AgreementView>), ApiError> {
    actor.require(Permission::ManageSharing)?;
    let req = body.parse()?;
    let Value::Object(mut terms) = req.terms else {
        return Err(invalid("terms must be an object"));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let local = Party {
        agency_name: req
            .local
            .agency_name
            .unwrap_or_else(|| state.config.agency_name.clone()),
        jurisdiction: req.local.jurisdiction,
        instance_url: req.local.instance_url.trim_end_matches('/').to_string(),
        public_key: state.federation.public_key(),
    };
    let mut partner = req.partner;
    partner.instance_url = partner.instance_url.trim_end_matches('/').to_string();
    partner.public_key = partner.public_key.trim().to_ascii_lowercase();
    terms.insert("format".into(), json!(AGREEMENT_FORMAT));
    terms.insert("id".into(), json!(id));
    terms.insert("parties".into(), json!([local, partner]));
    let text = Value::Object(terms).to_string();
    let agreement: Agreement = {
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| invalid(format!("terms.{}: {}", e.path(), e.inner())))?
    };
    agreement.validate().map_err(|e| invalid(e.to_string()))?;
    store_new(&state, &agreement).await?;
    auth::record_action(
        &state,
        &actor,
        "agreement.draft",
        &format!("agreement:{id}"),
        json!({"partner": agreement.other(0).agency_name, "scope": scope_summary(&agreement)}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &id).await?)))
}

async fn store_new(state: &AppState, agreement: &Agreement) -> Result<(), ApiError> {
    let us = agreement
        .party_index(&state.federation.public_key())
        .ok_or_else(|| not_our_agreement(state))?;
    let partner = agreement.other(us);
    // Plate data goes to the partner: only over TLS (plain http only to this machine).
    crate::http_client::check_outbound_url(&partner.instance_url)
        .map_err(|e| invalid(format!("the partner's instance_url: {e}")))?;
    state
        .store
        .insert_agreement(
            &NewAgreement {
                id: agreement.id.clone(),
                terms: serde_json::to_string(agreement)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
                partner_agency: partner.agency_name.clone(),
                partner_url: partner.instance_url.clone(),
                partner_key: partner.public_key.to_ascii_lowercase(),
                scope_summary: scope_summary(agreement),
                effective_at: agreement.effective.timestamp_millis(),
                expires_at: agreement.expires.timestamp_millis(),
            },
            candor_store::now_ms(),
        )
        .await?;
    Ok(())
}

fn not_our_agreement(state: &AppState) -> ApiError {
    ApiError::unprocessable(
        "not_a_party",
        format!(
            "this instance is not a party to the agreement: no party has its key {}",
            state.federation.public_key()
        ),
    )
}

/// Imports the partner's signed copy: every signature present must verify, and the terms
/// must be those already held (if any). Audited.
#[utoipa::path(post, path = "/api/v1/agreements/import", request_body(content = serde_json::Value, description = "the signed agreement document (candor-agreement/1 with its signatures)"), responses(
    (status = 200, body = AgreementView), (status = 403, body = ErrorBody),
    (status = 409, description = "the terms differ from the copy held here", body = ErrorBody),
    (status = 422, description = "invalid terms or signature", body = ErrorBody)))]
pub async fn import_agreement(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<SignedAgreement>,
) -> Result<Json<AgreementView>, ApiError> {
    actor.require(Permission::ManageSharing)?;
    let doc = body.parse()?;
    doc.agreement
        .validate()
        .map_err(|e| invalid(e.to_string()))?;
    if our_index(&state, &doc).is_none() {
        return Err(not_our_agreement(&state));
    }
    doc.check_signatures()
        .map_err(|d| ApiError::unprocessable(d.code(), d.to_string()))?;
    match state.store.agreement(&doc.agreement.id).await? {
        Some(held) => {
            let held = document(&held)?;
            if held.agreement.signing_bytes() != doc.agreement.signing_bytes() {
                return Err(ApiError::conflict(
                    "terms_differ",
                    "the imported terms differ from the copy of this agreement held here; draft a new agreement instead of changing a signed one",
                ));
            }
        }
        None => store_new(&state, &doc.agreement).await?,
    }
    for s in &doc.signatures {
        state
            .store
            .put_agreement_signature(&doc.agreement.id, &stored_signature(s))
            .await?;
    }
    auth::record_action(
        &state,
        &actor,
        "agreement.import",
        &format!("agreement:{}", doc.agreement.id),
        json!({"signatures": doc.signatures.iter().map(|s| &s.signer).collect::<Vec<_>>()}),
    )
    .await?;
    Ok(Json(view(&state, &doc.agreement.id).await?))
}

/// Signs the agreement as this agency's program manager, with the instance key. Audited.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/sign", params(("id" = String, Path)), responses(
    (status = 200, body = AgreementView), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, description = "revoked", body = ErrorBody)))]
pub async fn sign_agreement(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AgreementView>, ApiError> {
    actor.require(Permission::ManageSharing)?;
    let record = state
        .store
        .agreement(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agreement {id:?} not found")))?;
    if record.revocation.is_some() {
        return Err(ApiError::conflict(
            "agreement_revoked",
            "this agreement was revoked; draft a new one",
        ));
    }
    let mut doc = document(&record)?;
    doc.sign(&state.federation.key, &actor.username, Utc::now())
        .map_err(|d| ApiError::unprocessable(d.code(), d.to_string()))?;
    let ours = doc
        .signatures
        .last()
        .expect("sign adds a signature")
        .clone();
    state
        .store
        .put_agreement_signature(&id, &stored_signature(&ours))
        .await?;
    auth::record_action(
        &state,
        &actor,
        "agreement.sign",
        &format!("agreement:{id}"),
        json!({"partner": record.partner_agency}),
    )
    .await?;
    Ok(Json(view(&state, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why, for the partner and the audit log.
    pub reason: String,
}

/// Revokes the agreement: no request under it is answered from now on, and the partner is
/// told (through the durable outbox). Audited.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/revoke", params(("id" = String, Path)), request_body = RevokeRequest, responses(
    (status = 200, body = AgreementView), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke_agreement(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    body: ApiJson<RevokeRequest>,
) -> Result<Json<AgreementView>, ApiError> {
    actor.require(Permission::ManageSharing)?;
    let req = body.parse()?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "missing_reason",
            "give the reason for revoking the agreement",
        ));
    }
    let record = state
        .store
        .agreement(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agreement {id:?} not found")))?;
    let now = candor_store::now_ms();
    let outcome = state
        .store
        .revoke_agreement(
            &id,
            &Revocation {
                revoked_at: now,
                side: "local".into(),
                revoked_by: actor.username.clone(),
                reason: req.reason.clone(),
            },
        )
        .await?;
    if !outcome.withdrawn_lists.is_empty() {
        state.matcher.rebuild(&state.store).await?;
    }
    if outcome.first {
        queue_revocation(
            &state,
            &id,
            &record.partner_url,
            &RevocationNotice {
                revoked_by: actor.username.clone(),
                reason: req.reason.clone(),
                revoked_at: now,
            },
        )
        .await?;
    }
    auth::record_action(
        &state,
        &actor,
        "agreement.revoke",
        &format!("agreement:{id}"),
        json!({"partner": record.partner_agency, "reason": req.reason, "already_revoked": !outcome.first,
               "withdrawn_hot_lists": outcome.withdrawn_lists}),
    )
    .await?;
    Ok(Json(view(&state, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestsQuery {
    /// `incoming` (default) or `outgoing`.
    pub direction: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestList {
    pub requests: Vec<FederationRequest>,
}

/// Shared queries, newest first: those partners made here (`incoming`) or this agency's
/// users made to partners (`outgoing`). No plate data.
#[utoipa::path(get, path = "/api/v1/federation/requests", params(RequestsQuery), responses(
    (status = 200, body = RequestList), (status = 403, body = ErrorBody)))]
pub async fn federation_requests(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<RequestsQuery>,
) -> Result<Json<RequestList>, ApiError> {
    if !(actor.role.allows(Permission::ManageSharing) || actor.role.allows(Permission::ReadAudit)) {
        actor.require(Permission::ManageSharing)?;
    }
    let direction = q.direction.unwrap_or_else(|| "incoming".into());
    if direction != "incoming" && direction != "outgoing" {
        return Err(ApiError::bad_request(
            "invalid_direction",
            "direction is incoming or outgoing",
        ));
    }
    let requests = state
        .store
        .federation_requests(&direction, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(RequestList { requests }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerHitView {
    pub id: i64,
    pub agreement_id: String,
    pub partner_agency: String,
    pub hit_type: String,
    pub received_at: i64,
    /// Kept until (the agreement's retention at the recipient).
    pub expires_at: i64,
    /// The notification as the partner sent it.
    #[schema(value_type = Object)]
    pub notification: Value,
}

/// Hits partners pushed here, newest first, each with only the fields its agreement
/// shares. Like local alerts, each needs a person's verification before anyone acts on it;
/// none is ever passed to another partner. Viewing them is audited.
#[utoipa::path(get, path = "/api/v1/federation/hits", responses(
    (status = 200, body = [PartnerHitView]), (status = 403, body = ErrorBody)))]
pub async fn partner_hits(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<PartnerHitView>>, ApiError> {
    Ok(Json(view_partner_hits(&state, &actor, None, "api").await?))
}

/// The partner hits still kept here (or only the one with id `only`), newest first, limited
/// to the fields each agreement shares; the view is audited (`federation.hits.view`, with
/// the ids shown) before anything is returned. `via` says which page or route asked.
pub async fn view_partner_hits(
    state: &AppState,
    actor: &Actor,
    only: Option<i64>,
    via: &str,
) -> Result<Vec<PartnerHitView>, ApiError> {
    actor.require(Permission::ViewAlerts)?;
    let hits = state
        .store
        .received_hits(&state.keys, candor_store::now_ms(), 200)
        .await?;
    let mut fields: std::collections::HashMap<String, Vec<candor_policy::SharedField>> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for h in hits
        .into_iter()
        .filter(|h| only.is_none_or(|id| id == h.id))
    {
        if !fields.contains_key(&h.agreement_id) {
            let shared = match state.store.agreement(&h.agreement_id).await? {
                Some(record) => document(&record)?.agreement.sharing.fields,
                None => Vec::new(),
            };
            fields.insert(h.agreement_id.clone(), shared);
        }
        let notification = serde_json::from_slice::<HitNotification>(&h.payload)
            .ok()
            .map(|n| n.limited_to(&fields[&h.agreement_id]));
        out.push(PartnerHitView {
            id: h.id,
            agreement_id: h.agreement_id,
            partner_agency: h.partner_agency,
            hit_type: h.hit_type,
            received_at: h.received_at,
            expires_at: h.expires_at,
            notification: serde_json::to_value(notification).unwrap_or(Value::Null),
        });
    }
    if only.is_some() && out.is_empty() {
        return Err(ApiError::not_found(
            "that partner hit is not held here (it may have passed the agreement's retention)",
        ));
    }
    auth::record_action(
        state,
        actor,
        "federation.hits.view",
        "partner_hits",
        json!({"via": via, "count": out.len(), "ids": out.iter().map(|h| h.id).collect::<Vec<_>>()}),
    )
    .await?;
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedSearchRequest {
    /// Agreements to ask; every agreement in force that shares plate queries when empty.
    #[serde(default)]
    pub agreements: Vec<String>,
    /// The plate; `?` and `*` make a partial plate (only where both the agreement and this
    /// agency's policy allow it).
    pub plate: String,
    /// Capture time window, Unix ms (`to` exclusive).
    pub from: i64,
    pub to: i64,
    pub purpose: PurposeBody,
    /// Most reads wanted from each partner (default 100).
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerResult {
    pub agreement_id: String,
    pub partner_agency: String,
    /// `answered`, `denied` (by the agreement, here or at the partner) or `failed`.
    pub outcome: String,
    pub reads: Vec<SharedRead>,
    /// The refusal's code and explanation, or the failure.
    pub error: Option<crate::error::ErrorDetail>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FederatedSearchAnswer {
    pub results: Vec<PartnerResult>,
    /// Sequence number of the audit record of this search.
    pub audit_seq: u64,
}

fn detail(code: &str, message: impl Into<String>) -> Option<crate::error::ErrorDetail> {
    Some(crate::error::ErrorDetail {
        code: code.into(),
        message: message.into(),
    })
}

/// The audit record of `actor`'s search of partners' reads, filed under its case number.
fn outgoing_entry(
    actor: &Actor,
    purpose: &crate::search::PurposeBody,
    outcome: candor_audit::Outcome,
) -> candor_audit::AuditEntry {
    candor_audit::AuditEntry::new(
        Utc::now(),
        candor_audit::Actor::User {
            id: actor.user_id.to_string(),
            name: actor.username.clone(),
        },
        "federation.search.outgoing",
        format!("case:{}", purpose.case_number),
        outcome,
    )
    .with_source(actor.remote_addr.clone())
}

/// Searches partners' reads under the agreements in force, with a purpose as for a local
/// search. Each agreement's terms are checked here before anything is sent; the partner
/// checks them again. Audited (purpose, query, each partner's outcome and result count)
/// before the results are returned.
#[utoipa::path(post, path = "/api/v1/federation/search", request_body = FederatedSearchRequest, responses(
    (status = 200, body = FederatedSearchAnswer), (status = 403, body = ErrorBody),
    (status = 422, description = "purpose or limits refused by this agency's policy", body = ErrorBody)))]
pub async fn federated_search(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<FederatedSearchRequest>,
) -> Result<Json<FederatedSearchAnswer>, ApiError> {
    actor.require(Permission::SearchReads)?;
    let req = body.parse()?;
    let partial = req.plate.contains(['?', '*']);
    let plate = if partial {
        req.plate.trim().to_ascii_uppercase()
    } else {
        candor_platetext::normalize(&req.plate)
    };
    if plate.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_plate",
            "give the plate to search for (letters and digits)",
        ));
    }
    let (Some(from), Some(to)) = (
        chrono::DateTime::from_timestamp_millis(req.from),
        chrono::DateTime::from_timestamp_millis(req.to),
    ) else {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from and to must be Unix milliseconds",
        ));
    };
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let (purpose, shape) = crate::search::search_terms(&req.purpose, partial, from, to);
    let max_results = req.max_results.unwrap_or(100).max(1);
    let query_details = json!({"plate": plate, "kind": if partial {"partial"} else {"full"},
                               "from": req.from, "to": req.to, "max_results": max_results});
    if let Err(e) = candor_policy::check_search(&policy.document, &purpose, &shape) {
        // Refused before anything was sent, and recorded as a refused local search is.
        let entry = outgoing_entry(&actor, &req.purpose, candor_audit::Outcome::Denied)
            .with_details(json!({
                "purpose": req.purpose,
                "query": query_details,
                "reason": e.to_string(),
                "policy_version": policy.version,
            }));
        state.store.append_audit(entry).await?;
        return Err(ApiError::unprocessable("purpose_denied", e.to_string()).already_audited());
    }

    let now = Utc::now();
    let mut results = Vec::new();
    for record in state.store.agreements().await? {
        if !req.agreements.is_empty() && !req.agreements.contains(&record.id) {
            continue;
        }
        let doc = document(&record)?;
        let Some(us) = our_index(&state, &doc) else {
            continue;
        };
        if req.agreements.is_empty()
            && (!doc.agreement.sharing.plate_queries
                || doc.check_in_force(revoked_at(&record), now).is_err())
        {
            continue;
        }
        let our_agency = doc.agreement.parties[us].agency_name.clone();
        let mut result = PartnerResult {
            agreement_id: record.id.clone(),
            partner_agency: record.partner_agency.clone(),
            outcome: "answered".into(),
            reads: Vec::new(),
            error: None,
        };
        // The same terms bind both ways: refuse here what the partner would refuse, so the
        // plate never leaves for a query the agreement does not allow.
        let pre = IncomingQuery {
            requester_agency: our_agency.clone(),
            purpose: purpose.clone(),
            plate: shape.plate,
            lookalike: false,
            from,
            to,
            max_results,
        };
        if let Err(d) = decide_query(&doc, revoked_at(&record), us, &policy.document, &pre, now) {
            result.outcome = "denied".into();
            result.error = detail(d.code(), format!("refused here before sending: {d}"));
            results.push(result);
            continue;
        }
        let query = PartnerQuery {
            user: PartnerUser {
                id: actor.user_id.to_string(),
                name: actor.username.clone(),
                role: auth::role_name(actor.role),
                agency: our_agency,
            },
            purpose: req.purpose.clone(),
            plate: plate.clone(),
            lookalike: false,
            from: req.from,
            to: req.to,
            max_results,
        };
        let body = serde_json::to_vec(&query).map_err(|e| ApiError::internal(e.to_string()))?;
        match send_signed(&state, &record.id, &record.partner_url, QUERY_PATH, body).await {
            Ok(res) if res.status().is_success() => match res.json::<PartnerQueryAnswer>().await {
                Ok(answer) => result.reads = answer.reads,
                Err(e) => {
                    result.outcome = "failed".into();
                    result.error = detail(
                        "bad_answer",
                        format!("the partner's answer is unreadable: {e}"),
                    );
                }
            },
            Ok(res) => {
                let status = res.status();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                result.outcome = if status == StatusCode::FORBIDDEN {
                    "denied".into()
                } else {
                    "failed".into()
                };
                result.error = detail(
                    body["error"]["code"].as_str().unwrap_or("partner_error"),
                    body["error"]["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            format!("the partner answered HTTP {}", status.as_u16())
                        }),
                );
            }
            Err(e) => {
                result.outcome = "failed".into();
                result.error = detail(
                    "partner_unreachable",
                    format!(
                        "the partner instance could not be reached: {}",
                        e.without_url()
                    ),
                );
            }
        }
        results.push(result);
    }

    let outcomes: Vec<Value> = results
        .iter()
        .map(|r| json!({"agreement_id": r.agreement_id, "partner": r.partner_agency, "outcome": r.outcome,
                        "results": r.reads.len(), "error": r.error.as_ref().map(|e| &e.code)}))
        .collect();
    let total: usize = results.iter().map(|r| r.reads.len()).sum();
    let entry =
        outgoing_entry(&actor, &req.purpose, candor_audit::Outcome::Success).with_details(json!({
            "purpose": req.purpose,
            "query": query_details,
            "partners": outcomes,
            "results": total,
            "policy_version": policy.version,
        }));
    // The audit record and the usage count commit together, as for a local search.
    let mut tx = state.store.begin().await?;
    let record = state.store.append_audit_tx(&mut tx, entry).await?;
    candor_store::metrics::count_search(
        &mut tx,
        candor_store::now_ms(),
        &req.purpose.category,
        actor.user_id,
    )
    .await?;
    tx.commit().await.map_err(candor_store::StoreError::from)?;
    for r in &results {
        state
            .store
            .record_federation_request(&FederationRequest {
                agreement_id: r.agreement_id.clone(),
                direction: "outgoing".into(),
                partner_agency: r.partner_agency.clone(),
                user_name: actor.username.clone(),
                user_role: auth::role_name(actor.role),
                purpose_category: req.purpose.category.clone(),
                case_number: req.purpose.case_number.clone(),
                outcome: r.outcome.clone(),
                reason: r
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
                result_count: r.reads.len() as i64,
                at: candor_store::now_ms(),
            })
            .await?;
    }
    crate::routes::reviews::consider_for_review(
        &state,
        &actor,
        &policy.document,
        &crate::routes::reviews::SearchFacts {
            audit_seq: record.seq,
            range_ms: req.to.saturating_sub(req.from),
            results: total,
            partial,
            query_fingerprint: state.keys.query_fingerprint(&plate),
            purpose_chars: req.purpose.free_text.trim().chars().count(),
        },
    )
    .await?;
    Ok(Json(FederatedSearchAnswer {
        results,
        audit_seq: record.seq,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SummaryQuery {
    /// Count shared queries from this time (Unix ms; default: all).
    pub from: Option<i64>,
    /// Until this time (Unix ms, exclusive; default: now).
    pub to: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharingSummary {
    /// Every agreement: partner, scope, dates, whether signed by both and revoked.
    pub agreements: Vec<candor_store::agreements::AgreementSummary>,
    /// Shared queries per partner agency in the period.
    pub shared_queries: Vec<candor_store::agreements::PartnerQueryCounts>,
}

/// What is shared with whom, and how much: the agreements' public summary and the count of
/// shared queries per partner. No plate data; for reports and the transparency page.
#[utoipa::path(get, path = "/api/v1/federation/summary", params(SummaryQuery), responses(
    (status = 200, body = SharingSummary), (status = 403, body = ErrorBody)))]
pub async fn sharing_summary(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<SharingSummary>, ApiError> {
    if !(actor.role.allows(Permission::ViewReports) || actor.role.allows(Permission::ManageSharing))
    {
        actor.require(Permission::ViewReports)?;
    }
    Ok(Json(SharingSummary {
        agreements: state.store.agreement_summaries().await?,
        shared_queries: state
            .store
            .shared_query_counts(
                q.from.unwrap_or(0),
                q.to.unwrap_or_else(|| candor_store::now_ms() + 1),
            )
            .await?,
    }))
}
