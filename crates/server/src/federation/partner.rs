//! The partner-facing endpoints, authenticated by signature, never by session:
//!
//! - `POST /federation/v1/query`: a partner user's plate query;
//! - `POST /federation/v1/hits`: a hit notification from a partner;
//! - `POST /federation/v1/revocations`: the partner revokes the agreement;
//! - `POST /federation/v1/hotlists`: the partner pulls a hot list the agreement names;
//! - `POST /federation/v1/checkpoints`: the partner's audit checkpoint, to be witnessed
//!   (in [`super::witness`]).
//!
//! Order of checks, all before any plate data is read: signature headers present, agreement
//! known, sender a party to it (and not this instance), signature valid, timestamp within
//! [`MAX_SKEW_MS`], nonce unused; then the agreement's and this agency's policy decision.
//! Refusals by a verified partner are audited like answers; unsigned and forged requests
//! are only logged (no audit record for traffic nobody can attribute).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::post;
use axum::{Json, Router};
use candor_policy::{
    AgreementDenial, IncomingQuery, PlateQuery, Purpose, SharedField, SignedAgreement, decide_hit,
    decide_hot_list, decide_query,
};
use candor_store::agreements::{AgreementRecord, FederationRequest, Revocation};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use super::agreements::{document, revoked_at};
use super::signing::{MAX_SKEW_MS, RequestSignature};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{parse_json, read_body};
use crate::search::PurposeBody;
use crate::state::AppState;

pub const QUERY_PATH: &str = "/federation/v1/query";
pub const HITS_PATH: &str = "/federation/v1/hits";
pub const REVOCATIONS_PATH: &str = "/federation/v1/revocations";
pub const HOTLISTS_PATH: &str = "/federation/v1/hotlists";
const MAX_BODY: usize = 256 * 1024;
/// Most entries one shared hot list carries. A larger list is refused whole, never cut short:
/// a partner holding part of a list would miss the plates left out without knowing it.
pub const MAX_SHARED_ENTRIES: usize = 200_000;

#[derive(OpenApi)]
#[openapi(
    paths(partner_query, partner_hit, partner_revocation, partner_hot_list),
    components(schemas(
        HotListPull,
        SharedHotList,
        SharedHotListEntry,
        PartnerUser,
        PartnerQuery,
        PartnerQueryAnswer,
        SharedRead,
        HitNotification,
        HitReceipt,
        RevocationNotice
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(QUERY_PATH, post(partner_query))
        .route(HITS_PATH, post(partner_hit))
        .route(REVOCATIONS_PATH, post(partner_revocation))
        .route(HOTLISTS_PATH, post(partner_hot_list))
}

/// The person at the partner agency who asks.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerUser {
    /// The user's id at the partner instance.
    pub id: String,
    pub name: String,
    /// The user's role at the partner (e.g. `investigator`).
    pub role: String,
    /// The agency the user belongs to; must be the signing party itself.
    pub agency: String,
}

/// A partner's plate query.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerQuery {
    pub user: PartnerUser,
    pub purpose: PurposeBody,
    /// The plate; `?` or `*` make it a partial plate.
    pub plate: String,
    /// Ask for look-alike (misread character) matches too.
    #[serde(default)]
    pub lookalike: bool,
    /// Capture time window, Unix ms (`to` exclusive).
    pub from: i64,
    pub to: i64,
    /// Most reads wanted (capped by the agreement and this agency's policy).
    pub max_results: u32,
}

/// One read, with only the fields the agreement shares (the others are absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedRead {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_make: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartnerQueryAnswer {
    pub agreement_id: String,
    /// The answering agency.
    pub agency: String,
    pub reads: Vec<SharedRead>,
    /// The cap applied (agreement, policy and request together).
    pub max_results: u32,
}

/// A hit pushed by a partner.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HitNotification {
    /// The instance where the hit happened; must be the sender's own.
    pub origin_instance: String,
    pub origin_agency: String,
    /// The hit's id at the origin.
    pub hit_id: i64,
    pub hit_type: String,
    pub plate: String,
    /// Present when the agreement shares `captured_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<i64>,
    pub list_name: String,
    /// Present when the agreement shares `camera_location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_location: Option<String>,
}

impl HitNotification {
    /// Drops what the agreement's `fields` do not share (the plate and hot list always go:
    /// they are the hit).
    pub fn limited_to(mut self, fields: &[SharedField]) -> HitNotification {
        if !fields.contains(&SharedField::CapturedAt) {
            self.captured_at = None;
        }
        if !fields.contains(&SharedField::CameraLocation) {
            self.camera_location = None;
        }
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HitReceipt {
    pub received_id: i64,
    /// Until when this instance keeps it (Unix ms), per the agreement.
    pub kept_until: i64,
}

/// A partner's revocation of the agreement.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationNotice {
    /// The program manager who revoked it.
    pub revoked_by: String,
    pub reason: String,
    /// When it was revoked at the partner (Unix ms).
    pub revoked_at: i64,
}

/// A partner's pull of a named hot list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HotListPull {
    /// The person at the partner who pulls it.
    pub user: PartnerUser,
    /// The hot list's name here, as the agreement names it.
    pub name: String,
}

/// One entry of a shared hot list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedHotListEntry {
    pub plate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub hit_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// A named hot list, as the agreement lets the partner receive it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedHotList {
    pub agreement_id: String,
    /// The sharing agency.
    pub agency: String,
    pub name: String,
    pub hit_type: String,
    pub priority: i64,
    /// The list's version at the sharing agency.
    pub version: i64,
    pub entries: Vec<SharedHotListEntry>,
}

/// A request whose signature verified, from a party to a known agreement.
pub struct Verified {
    pub record: AgreementRecord,
    pub doc: SignedAgreement,
    /// The sender's index among the parties.
    pub from_party: usize,
    pub body: Bytes,
}

impl Verified {
    pub fn partner_agency(&self) -> &str {
        &self.doc.agreement.parties[self.from_party].agency_name
    }
    pub fn our_agency(&self) -> &str {
        &self.doc.agreement.other(self.from_party).agency_name
    }
}

fn unsigned(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unsigned_request", message)
}

/// Checks a partner request up to (not including) the agreement's decision.
pub async fn verify(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Verified, ApiError> {
    let sig = RequestSignature::from_headers(headers).map_err(|e| {
        unsigned(format!(
            "this endpoint answers only requests signed by a partner instance under a sharing agreement ({e})"
        ))
    })?;
    let (_, body) = read_body(headers, body, MAX_BODY, &["application/json"]).await?;
    let Some(record) = state.store.agreement(&sig.agreement_id).await? else {
        // The header is anyone's until the signature checks: bounded before it is logged.
        let claimed = candor_audit::bounded(&sig.agreement_id);
        tracing::warn!(agreement = %claimed, "federation request under an unknown agreement");
        return Err(ApiError::forbidden(
            "unknown_agreement",
            format!("there is no agreement {claimed:?} here"),
        ));
    };
    let doc = document(&record)?;
    let from_party = doc
        .agreement
        .party_index(&sig.key)
        .filter(|i| doc.agreement.parties[*i].public_key != state.federation.public_key())
        .ok_or_else(|| {
            ApiError::forbidden(
                "not_a_party",
                "the signing key is not the partner's key under this agreement",
            )
        })?;
    if !sig.verifies(method.as_str(), uri.path(), &body) {
        tracing::warn!(agreement = %sig.agreement_id, "federation request with a bad signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the request signature does not verify under the partner's key: the request was changed or not signed by the partner",
        ));
    }
    let now = candor_store::now_ms();
    if (now - sig.timestamp).abs() > MAX_SKEW_MS {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "stale_request",
            format!(
                "the request was signed {} s from this instance's clock; at most {} s are accepted (check both clocks)",
                (now - sig.timestamp) / 1000,
                MAX_SKEW_MS / 1000
            ),
        ));
    }
    if !state
        .store
        .remember_nonce(&sig.agreement_id, &sig.nonce, now, 2 * MAX_SKEW_MS)
        .await?
    {
        return Err(ApiError::conflict(
            "replayed_request",
            "this request's nonce was already used: a signed request is accepted once",
        ));
    }
    Ok(Verified {
        record,
        doc,
        from_party,
        body,
    })
}

/// A partner's request refused under the agreement; each caller has recorded it already.
pub(super) fn denied(d: &AgreementDenial) -> ApiError {
    ApiError::forbidden(d.code(), d.to_string()).already_audited()
}

/// A hot list goes to a partner whole or not at all (see [`MAX_SHARED_ENTRIES`]).
fn fits_one_pull(list: &str, stored_entries: usize) -> Result<(), ApiError> {
    if stored_entries <= MAX_SHARED_ENTRIES {
        return Ok(());
    }
    let limit = grouped(MAX_SHARED_ENTRIES);
    Err(ApiError::payload_too_large(format!(
        "hot list {list:?} holds more than {limit} entries, more than one pull carries, so \
         none were sent; its holder can split it into named lists of at most {limit} entries \
         and name each in the agreement"
    )))
}

/// `200000` as `200,000`: people read limits in messages, not code.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) async fn audit_partner(
    state: &AppState,
    v: &Verified,
    user: &str,
    action: &str,
    outcome: candor_audit::Outcome,
    details: serde_json::Value,
) -> Result<u64, ApiError> {
    let entry = candor_audit::AuditEntry::new(
        Utc::now(),
        candor_audit::Actor::Partner {
            agency: v.partner_agency().to_string(),
            user: user.to_string(),
        },
        action,
        format!("agreement:{}", v.record.id),
        outcome,
    )
    .with_source("federation")
    .with_details(details);
    Ok(state.store.append_audit(entry).await?.seq)
}

fn project(
    read: &candor_store::reads::StoredRead,
    fields: &[SharedField],
    locations: &std::collections::HashMap<String, String>,
) -> SharedRead {
    let mut out = SharedRead::default();
    for f in fields {
        match f {
            SharedField::Plate => out.plate = Some(read.details.plate.clone()),
            SharedField::CapturedAt => out.captured_at = Some(read.captured_at),
            SharedField::CameraLocation => {
                out.camera_location = locations.get(&read.camera_id).cloned()
            }
            SharedField::Coordinates => {
                out.latitude = read.details.latitude;
                out.longitude = read.details.longitude;
            }
            SharedField::VehicleColor => out.vehicle_color = read.details.vehicle_color.clone(),
            SharedField::VehicleMake => out.vehicle_make = read.details.vehicle_make.clone(),
            SharedField::Confidence => out.confidence = Some(read.confidence),
        }
    }
    out
}

/// A partner user's plate query under an agreement. Signed by the partner instance.
/// Checked against the agreement and this agency's policy before the store is read;
/// audited (answered or refused) before the answer leaves.
#[utoipa::path(post, path = "/federation/v1/query", request_body = PartnerQuery, responses(
    (status = 200, body = PartnerQueryAnswer),
    (status = 401, description = "unsigned, forged or stale request", body = ErrorBody),
    (status = 403, description = "refused by the agreement or this agency's policy", body = ErrorBody),
    (status = 409, description = "replayed request", body = ErrorBody)))]
pub async fn partner_query(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PartnerQueryAnswer>, ApiError> {
    let v = verify(&state, &method, &uri, &headers, body).await?;
    let q: PartnerQuery = parse_json(&v.body)?;
    let plate = candor_platetext::normalize(&q.plate.replace(['?', '*'], ""));
    let partial = q.plate.contains(['?', '*']);
    let (Some(from), Some(to)) = (
        chrono::DateTime::from_timestamp_millis(q.from),
        chrono::DateTime::from_timestamp_millis(q.to),
    ) else {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from and to must be Unix milliseconds",
        ));
    };
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let incoming = IncomingQuery {
        requester_agency: q.user.agency.clone(),
        purpose: Purpose {
            category: q.purpose.category.clone(),
            case_number: q.purpose.case_number.clone(),
            free_text: q.purpose.free_text.clone(),
        },
        plate: if partial {
            PlateQuery::Partial
        } else {
            PlateQuery::Full
        },
        lookalike: q.lookalike,
        from,
        to,
        max_results: q.max_results,
    };
    let decision = decide_query(
        &v.doc,
        revoked_at(&v.record),
        v.from_party,
        &policy.document,
        &incoming,
        Utc::now(),
    );
    let query_json = json!({"plate": plate, "kind": if partial {"partial"} else {"full"}, "lookalike": q.lookalike, "from": q.from, "to": q.to, "max_results": q.max_results});
    let log = |outcome: &str, reason: String, results: i64| FederationRequest {
        agreement_id: v.record.id.clone(),
        direction: "incoming".into(),
        partner_agency: v.partner_agency().to_string(),
        user_name: q.user.name.clone(),
        user_role: q.user.role.clone(),
        purpose_category: q.purpose.category.clone(),
        case_number: q.purpose.case_number.clone(),
        outcome: outcome.into(),
        reason,
        result_count: results,
        at: candor_store::now_ms(),
    };
    let grant = match decision {
        Ok(grant) => grant,
        Err(d) => {
            audit_partner(
                &state,
                &v,
                &q.user.name,
                "federation.query.incoming",
                candor_audit::Outcome::Denied,
                json!({"agreement_id": v.record.id, "partner": v.partner_agency(), "partner_user": q.user,
                       "purpose": q.purpose, "query": query_json, "denial": d.code(), "reason": d.to_string(),
                       "results": 0, "policy_version": policy.version}),
            )
            .await?;
            state
                .store
                .record_federation_request(&log("denied", d.to_string(), 0))
                .await?;
            return Err(denied(&d));
        }
    };
    // The same pattern rules and store search as a local search; only this instance's own
    // reads: hits received from partners live apart and are never part of an answer (no
    // onward sharing).
    let pattern = candor_platetext::wildcard::Pattern::parse(&q.plate)
        .map_err(|e| ApiError::unprocessable("invalid_plate", e.to_string()))?;
    let lookalikes = (q.lookalike && policy.document.lookalike_budget > 0).then(|| {
        candor_store::search::LookAlikes {
            classes: candor_platetext::lookalike::LookAlikeClasses::vendor_default(),
            budget: policy.document.lookalike_budget,
        }
    });
    let page = state
        .store
        .search_reads(
            &state.keys,
            &candor_store::search::ReadSearch {
                pattern,
                lookalikes,
                from: q.from,
                to: q.to,
                cameras: None,
                vehicle_color: None,
                hits_only: false,
                limit: grant.max_results.max(1) as usize,
                after: None,
            },
        )
        .await?;
    let reads = page.reads;
    let locations: std::collections::HashMap<String, String> =
        state.store.camera_locations().await?;
    let shared: Vec<SharedRead> = reads
        .iter()
        .map(|r| project(r, &grant.fields, &locations))
        .collect();
    audit_partner(
        &state,
        &v,
        &q.user.name,
        "federation.query.incoming",
        candor_audit::Outcome::Success,
        json!({"agreement_id": v.record.id, "partner": v.partner_agency(), "partner_user": q.user,
               "purpose": q.purpose, "query": query_json, "results": shared.len(),
               "fields": grant.fields, "policy_version": policy.version}),
    )
    .await?;
    state
        .store
        .record_federation_request(&log("answered", String::new(), shared.len() as i64))
        .await?;
    Ok(Json(PartnerQueryAnswer {
        agreement_id: v.record.id.clone(),
        agency: v.our_agency().to_string(),
        reads: shared,
        max_results: grant.max_results,
    }))
}

/// A hit notification from a partner whose agreement shares that hit type. Kept (sealed)
/// for the agreement's retention at the recipient, tagged with the agreement so it is
/// never shared onward.
#[utoipa::path(post, path = "/federation/v1/hits", request_body = HitNotification, responses(
    (status = 202, body = HitReceipt),
    (status = 401, description = "unsigned, forged or stale request", body = ErrorBody),
    (status = 403, description = "refused by the agreement", body = ErrorBody),
    (status = 409, description = "replayed request", body = ErrorBody)))]
pub async fn partner_hit(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<HitReceipt>), ApiError> {
    let v = verify(&state, &method, &uri, &headers, body).await?;
    let hit: HitNotification = parse_json(&v.body)?;
    let details = json!({"agreement_id": v.record.id, "partner": v.partner_agency(),
        "hit_type": hit.hit_type, "origin_instance": hit.origin_instance, "origin_hit_id": hit.hit_id});
    if let Err(d) = decide_hit(
        &v.doc,
        revoked_at(&v.record),
        v.from_party,
        &hit.hit_type,
        &hit.origin_instance,
        Utc::now(),
    ) {
        let mut details = details;
        details["denial"] = json!(d.code());
        details["reason"] = json!(d.to_string());
        audit_partner(
            &state,
            &v,
            "",
            "federation.hit.incoming",
            candor_audit::Outcome::Denied,
            details,
        )
        .await?;
        return Err(denied(&d));
    }
    let now = candor_store::now_ms();
    let keep_ms =
        i64::try_from(v.doc.agreement.recipient_retention.as_millis()).unwrap_or(i64::MAX);
    let kept_until = now.saturating_add(keep_ms);
    let id = state
        .store
        .store_received_hit(
            &state.keys,
            &candor_store::agreements::NewReceivedHit {
                agreement_id: &v.record.id,
                partner_agency: v.partner_agency(),
                hit_type: &hit.hit_type,
                payload: &v.body,
                received_at: now,
                expires_at: kept_until,
            },
        )
        .await?;
    let mut details = details;
    details["received_id"] = json!(id);
    details["kept_until"] = json!(kept_until);
    audit_partner(
        &state,
        &v,
        "",
        "federation.hit.incoming",
        candor_audit::Outcome::Success,
        details,
    )
    .await?;
    state.alerts.publish_partner(crate::alerts::PartnerAlert {
        received_id: id,
        agreement_id: v.record.id.clone(),
        partner_agency: v.partner_agency().to_string(),
        hit_type: hit.hit_type.clone(),
        received_at: now,
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(HitReceipt {
            received_id: id,
            kept_until,
        }),
    ))
}

/// The partner revokes the agreement: it stops here at once. Accepted from either party
/// whatever the agreement's state.
#[utoipa::path(post, path = "/federation/v1/revocations", request_body = RevocationNotice, responses(
    (status = 200, description = "revoked (or already revoked)"),
    (status = 401, description = "unsigned, forged or stale request", body = ErrorBody),
    (status = 409, description = "replayed request", body = ErrorBody)))]
pub async fn partner_revocation(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = verify(&state, &method, &uri, &headers, body).await?;
    let notice: RevocationNotice = parse_json(&v.body)?;
    let now = candor_store::now_ms();
    let outcome = state
        .store
        .revoke_agreement(
            &v.record.id,
            &Revocation {
                revoked_at: now,
                side: "partner".into(),
                revoked_by: format!("{} ({})", notice.revoked_by, v.partner_agency()),
                reason: notice.reason.clone(),
            },
        )
        .await?;
    if !outcome.withdrawn_lists.is_empty() {
        state.matcher.rebuild(&state.store).await?;
    }
    audit_partner(
        &state,
        &v,
        &notice.revoked_by,
        "federation.agreement.revoked_by_partner",
        candor_audit::Outcome::Success,
        json!({"agreement_id": v.record.id, "partner": v.partner_agency(), "reason": notice.reason,
               "partner_revoked_at": notice.revoked_at, "already_revoked": !outcome.first,
               "withdrawn_hot_lists": outcome.withdrawn_lists}),
    )
    .await?;
    Ok(Json(json!({"agreement_id": v.record.id, "revoked": true})))
}

/// A partner pulls a hot list the agreement names (`sharing.hot_lists`): answered only while
/// the agreement is in force, to the party itself (never for a third agency). Audited,
/// answered or refused, before the list leaves.
#[utoipa::path(post, path = "/federation/v1/hotlists", request_body = HotListPull, responses(
    (status = 200, body = SharedHotList),
    (status = 401, description = "unsigned, forged or stale request", body = ErrorBody),
    (status = 403, description = "the agreement does not name this list, or is not in force", body = ErrorBody),
    (status = 404, description = "the list is named but not held here", body = ErrorBody),
    (status = 409, description = "replayed request", body = ErrorBody),
    (status = 413, description = "the list holds more entries than one pull carries", body = ErrorBody)))]
pub async fn partner_hot_list(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SharedHotList>, ApiError> {
    let v = verify(&state, &method, &uri, &headers, body).await?;
    let pull: HotListPull = parse_json(&v.body)?;
    let details = json!({"agreement_id": v.record.id, "partner": v.partner_agency(),
        "partner_user": pull.user, "list": pull.name});
    // refusals by the agreement, by size or for a list not held, and the list itself, are
    // audited before they leave
    let audit = async |outcome, details| {
        audit_partner(
            &state,
            &v,
            &pull.user.name,
            "federation.hotlist.incoming",
            outcome,
            details,
        )
        .await
    };
    let decision = if pull.user.agency != v.partner_agency() {
        Err(AgreementDenial::OnwardSharing {
            what: "the request",
            claimed: pull.user.agency.clone(),
            party: v.partner_agency().to_string(),
        })
    } else {
        decide_hot_list(&v.doc, revoked_at(&v.record), &pull.name, Utc::now())
    };
    if let Err(d) = decision {
        let mut details = details;
        details["denial"] = json!(d.code());
        details["reason"] = json!(d.to_string());
        audit(candor_audit::Outcome::Denied, details).await?;
        return Err(denied(&d));
    }
    let Some((list, entries)) = state
        .store
        .hot_list_by_name(&pull.name, MAX_SHARED_ENTRIES as i64 + 1)
        .await?
    else {
        let missing = ApiError::not_found(format!(
            "hot list {:?} is named in the agreement but {} holds no list of that name now",
            pull.name,
            v.our_agency()
        ));
        let mut details = details;
        details["reason"] = json!(missing.message);
        audit(candor_audit::Outcome::Failure, details).await?;
        return Err(missing);
    };
    if let Err(refusal) = fits_one_pull(&list.name, entries.len()) {
        let mut details = details;
        details["reason"] = json!(refusal.message);
        audit(candor_audit::Outcome::Failure, details).await?;
        return Err(refusal);
    }
    let now = candor_store::now_ms();
    let entries: Vec<SharedHotListEntry> = entries
        .into_iter()
        .filter(|e| e.expires_at.is_none_or(|t| t > now))
        .map(|e| SharedHotListEntry {
            plate: e.plate,
            state: e.state,
            hit_type: e.hit_type,
            reason: e.reason,
            expires_at: e.expires_at,
        })
        .collect();
    let mut details = details;
    details["version"] = json!(list.version);
    details["entries"] = json!(entries.len());
    audit(candor_audit::Outcome::Success, details).await?;
    Ok(Json(SharedHotList {
        agreement_id: v.record.id.clone(),
        agency: v.our_agency().to_string(),
        name: list.name,
        hit_type: list.hit_type,
        priority: list.priority,
        version: list.version,
        entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_list_is_shared_whole_or_refused_with_what_to_do() {
        assert!(fits_one_pull("stolen", MAX_SHARED_ENTRIES).is_ok());
        let refused = fits_one_pull("stolen", MAX_SHARED_ENTRIES + 1).unwrap_err();
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        let message = &refused.message;
        assert!(
            message.contains("\"stolen\" holds more than 200,000 entries"),
            "{message}"
        );
        assert!(message.contains("split it"), "{message}");
    }

    #[test]
    fn limits_are_grouped_by_thousands() {
        assert_eq!(grouped(7), "7");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(200_000), "200,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
