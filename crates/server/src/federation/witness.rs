//! Partner agencies witness each other's audit checkpoints, so that a rollback of the audit
//! log (its tail deleted, the head rewound, a checkpoint signed again) is caught by an
//! outside party.
//!
//! - Sending: [`offer_newest`], called on the outbox's schedule, queues this instance's
//!   newest signed checkpoint (the text the transparency page publishes, with the audit
//!   public key) for each partner under an agreement in force, once per checkpoint; a
//!   newer one supersedes one still undelivered, so a partner never receives them out of
//!   order.
//! - Receiving: [`partner_checkpoint`] (`POST /federation/v1/checkpoints`) pins the
//!   partner's audit key at first sight for the agreement, checks the signature, and
//!   [`judge`]s the checkpoint against the one witnessed before: a shorter one (rollback)
//!   or one with another head at the same length (fork) is refused and recorded in this
//!   instance's audit log, and the one witnessed before is kept.
//! - Reading: [`list_witnessed`] and [`latest_witnessed`] (`/api/v1/federation/witnessed…`)
//!   for auditors; the text of one is what `candor audit verify --against` takes at the
//!   partner's side.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_audit::{Checkpoint, StatementError};
use candor_store::agreements::NewOutboxMessage;
use candor_store::witness::WitnessedCheckpoint;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use super::agreements::{document, our_index, revoked_at};
use super::partner::{audit_partner, denied, verify};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::parse_json;
use crate::state::AppState;

pub const CHECKPOINTS_PATH: &str = "/federation/v1/checkpoints";
/// The outbox kind of a checkpoint sent to be witnessed.
pub const OUTBOX_KIND: &str = "checkpoint";
/// Most bytes of a checkpoint statement a partner may send: a real one is under 400.
pub const MAX_STATEMENT: usize = 1024;
/// How long an undelivered checkpoint is kept in the outbox: a newer one replaces it
/// sooner while the chain grows.
const OUTBOX_KEEP_MS: i64 = 86_400_000;

#[derive(OpenApi)]
#[openapi(
    paths(partner_checkpoint, list_witnessed, latest_witnessed),
    components(schemas(CheckpointOffer, WitnessReceipt, WitnessedView, WitnessedList))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CHECKPOINTS_PATH, post(partner_checkpoint))
        .route("/api/v1/federation/witnessed", get(list_witnessed))
        .route("/api/v1/federation/witnessed/{id}", get(latest_witnessed))
}

/// A partner's newest signed audit checkpoint, sent to be witnessed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointOffer {
    /// The signed statement, as the partner's transparency page publishes it.
    pub checkpoint: String,
    /// The partner's audit public key (Ed25519, hex).
    pub public_key: String,
}

/// Why a checkpoint was not witnessed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessRefusal {
    #[error("the checkpoint is {size} bytes, more than the {MAX_STATEMENT} a checkpoint takes")]
    TooLarge { size: usize },
    #[error("the checkpoint cannot be read: {0}")]
    Unreadable(String),
    #[error(
        "the checkpoint is offered with audit key {offered}, but this agreement pinned the \
         partner's audit key {pinned} at first sight"
    )]
    KeyChanged { pinned: String, offered: String },
    #[error("the checkpoint does not verify under the partner's audit key: {0}")]
    BadSignature(StatementError),
    #[error(
        "rollback: the checkpoint vouches for {offered} records, but {witnessed} were \
         witnessed before from this partner; records were deleted from its audit log"
    )]
    Rollback { witnessed: u64, offered: u64 },
    #[error(
        "fork: the checkpoint gives record {last} the head hash {offered}, but {witnessed} \
         was witnessed before from this partner; its audit log was rewritten"
    )]
    Fork {
        last: u64,
        witnessed: String,
        offered: String,
    },
}

impl WitnessRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            WitnessRefusal::TooLarge { .. } => "checkpoint_too_large",
            WitnessRefusal::Unreadable(_) => "checkpoint_unreadable",
            WitnessRefusal::KeyChanged { .. } => "audit_key_changed",
            WitnessRefusal::BadSignature(_) => "checkpoint_bad_signature",
            WitnessRefusal::Rollback { .. } => "checkpoint_rollback",
            WitnessRefusal::Fork { .. } => "checkpoint_fork",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            WitnessRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WitnessRefusal::Unreadable(_) | WitnessRefusal::BadSignature(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::CONFLICT,
        }
    }
}

/// Decides whether `offer` may be witnessed after `previous` (the newest witnessed under
/// the same agreement). Returns the checkpoint read from it.
pub fn judge(
    previous: Option<&WitnessedCheckpoint>,
    offer: &CheckpointOffer,
) -> Result<Checkpoint, WitnessRefusal> {
    let size = offer.checkpoint.len() + offer.public_key.len();
    if size > MAX_STATEMENT {
        return Err(WitnessRefusal::TooLarge { size });
    }
    let key = candor_policy::parse_public_key(&offer.public_key).ok_or_else(|| {
        WitnessRefusal::Unreadable("public_key is not an Ed25519 public key in hex".into())
    })?;
    let offered_key = hex::encode(key.to_bytes());
    if let Some(p) = previous
        && p.public_key != offered_key
    {
        return Err(WitnessRefusal::KeyChanged {
            pinned: p.public_key.clone(),
            offered: offered_key,
        });
    }
    let checkpoint = Checkpoint::from_text(&offer.checkpoint)
        .map_err(|e| WitnessRefusal::Unreadable(e.to_string()))?;
    checkpoint
        .verify(&key)
        .map_err(WitnessRefusal::BadSignature)?;
    let Some(p) = previous else {
        return Ok(checkpoint);
    };
    let head = checkpoint.head_hash.to_string();
    if checkpoint.length < p.length {
        return Err(WitnessRefusal::Rollback {
            witnessed: p.length,
            offered: checkpoint.length,
        });
    }
    if checkpoint.length == p.length && head != p.head_hash {
        return Err(WitnessRefusal::Fork {
            last: p.length.saturating_sub(1),
            witnessed: p.head_hash.clone(),
            offered: head,
        });
    }
    Ok(checkpoint)
}

/// What the witness answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WitnessReceipt {
    pub agreement_id: String,
    /// The length witnessed now.
    pub length: u64,
    pub head_hash: String,
    /// True when this checkpoint pinned the partner's audit key (the first one witnessed).
    pub pinned: bool,
}

/// A partner's newest audit checkpoint, to be witnessed under an agreement in force.
/// Refused, and recorded in this instance's audit log naming the agreement, when it rolls
/// back or forks what was witnessed before, or is signed by another key than the one
/// pinned at first sight; the one witnessed before is kept.
#[utoipa::path(post, path = "/federation/v1/checkpoints", request_body = CheckpointOffer, responses(
    (status = 200, body = WitnessReceipt),
    (status = 401, description = "unsigned, forged or stale request", body = ErrorBody),
    (status = 403, description = "the agreement is not in force", body = ErrorBody),
    (status = 409, description = "a rollback, a fork, another audit key, or a replayed request", body = ErrorBody),
    (status = 413, description = "larger than a checkpoint", body = ErrorBody),
    (status = 422, description = "unreadable, or its signature does not verify", body = ErrorBody)))]
pub async fn partner_checkpoint(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WitnessReceipt>, ApiError> {
    let v = verify(&state, &method, &uri, &headers, body).await?;
    let offer: CheckpointOffer = parse_json(&v.body)?;
    let details = json!({"agreement_id": v.record.id, "partner": v.partner_agency()});
    // every refusal is recorded, naming the agreement, before it is answered
    let record_refusal = async |extra: serde_json::Value| {
        let mut details = details.clone();
        if let (Some(d), Some(extra)) = (details.as_object_mut(), extra.as_object()) {
            d.extend(extra.clone());
        }
        audit_partner(
            &state,
            &v,
            "",
            "federation.checkpoint.refused",
            candor_audit::Outcome::Denied,
            details,
        )
        .await
    };
    if let Err(d) = v.doc.check_in_force(revoked_at(&v.record), Utc::now()) {
        record_refusal(json!({"denial": d.code(), "reason": d.to_string()})).await?;
        return Err(denied(&d));
    }
    let previous = state
        .store
        .latest_witnessed_checkpoint(&v.record.id)
        .await?;
    let checkpoint = match judge(previous.as_ref(), &offer) {
        Ok(c) => c,
        Err(refusal) => {
            // Both statements (the refused one within MAX_STATEMENT, or left out): the
            // evidence stays in this chain after the partner's next checkpoints move the
            // witnessed one on.
            let within = !matches!(refusal, WitnessRefusal::TooLarge { .. });
            record_refusal(json!({
                "refusal": refusal.code(),
                "reason": refusal.to_string(),
                "refused": within.then_some(&offer.checkpoint),
                "kept": previous.as_ref().map(|p| &p.statement),
            }))
            .await?;
            return Err(
                ApiError::new(refusal.status(), refusal.code(), refusal.to_string())
                    .already_audited(),
            );
        }
    };
    let pinned = previous.is_none();
    let witnessed = WitnessedCheckpoint {
        agreement_id: v.record.id.clone(),
        partner_agency: v.partner_agency().to_string(),
        public_key: offer.public_key.trim().to_ascii_lowercase(),
        length: checkpoint.length,
        head_hash: checkpoint.head_hash.to_string(),
        signed_at: checkpoint.time.timestamp_millis(),
        statement: checkpoint.to_text(),
        witnessed_at: candor_store::now_ms(),
    };
    state.store.put_witnessed_checkpoint(&witnessed).await?;
    if pinned {
        let mut details = details;
        details["public_key"] = json!(witnessed.public_key);
        details["length"] = json!(witnessed.length);
        audit_partner(
            &state,
            &v,
            "",
            "federation.checkpoint.key_pinned",
            candor_audit::Outcome::Success,
            details,
        )
        .await?;
    }
    Ok(Json(WitnessReceipt {
        agreement_id: witnessed.agreement_id,
        length: witnessed.length,
        head_hash: witnessed.head_hash,
        pinned,
    }))
}

/// What was last offered to each partner: (agreement, (length, head)). Held by the outbox
/// worker; after a restart the newest checkpoint is offered once more, which a witness
/// takes as already witnessed.
pub type Offered = HashMap<String, (u64, String)>;

/// Queues this instance's newest checkpoint for every partner under an agreement in force
/// that has not been offered it yet, superseding an older one still undelivered.
pub async fn offer_newest(state: &AppState, offered: &mut Offered) -> Result<(), ApiError> {
    let Some(checkpoint) = state.store.latest_audit_checkpoint().await? else {
        return Ok(());
    };
    let newest = (checkpoint.length, checkpoint.head_hash.to_string());
    let now = Utc::now();
    let mut queued = false;
    // Made once, for the first partner that has not been offered this checkpoint.
    let mut body: Option<Vec<u8>> = None;
    for record in state.store.agreements().await? {
        if offered.get(&record.id) == Some(&newest) {
            continue;
        }
        let doc = document(&record)?;
        let Some(us) = our_index(state, &doc) else {
            continue;
        };
        if doc.check_in_force(revoked_at(&record), now).is_err() {
            continue;
        }
        let body = match &mut body {
            Some(body) => body,
            None => body.insert(offer_body(state, &checkpoint)?),
        };
        let now_ms = now.timestamp_millis();
        state
            .store
            .supersede_outbox(&record.id, OUTBOX_KIND, now_ms)
            .await?;
        state
            .store
            .enqueue_outbox(
                &state.keys,
                &NewOutboxMessage {
                    agreement_id: &record.id,
                    kind: OUTBOX_KIND,
                    url: &doc.agreement.other(us).instance_url,
                    body,
                    created_at: now_ms,
                    expires_at: now_ms + OUTBOX_KEEP_MS,
                },
            )
            .await?;
        offered.insert(record.id.clone(), newest.clone());
        queued = true;
    }
    if queued {
        state.federation.outbox_ready.notify_one();
    }
    Ok(())
}

/// The message that offers `checkpoint`, with the audit public key that verifies it.
fn offer_body(state: &AppState, checkpoint: &Checkpoint) -> Result<Vec<u8>, ApiError> {
    let key = crate::routes::audit::audit_signing_key(&state.config.key_dir())
        .map_err(|e| ApiError::internal(format!("the audit signing key is unavailable: {e}")))?;
    serde_json::to_vec(&CheckpointOffer {
        checkpoint: checkpoint.to_text(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
    })
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// One checkpoint witnessed for a partner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WitnessedView {
    pub agreement_id: String,
    pub partner_agency: String,
    /// The partner's audit public key (hex), pinned at first sight.
    pub public_key: String,
    pub length: u64,
    pub head_hash: String,
    /// When the partner signed it (Unix ms).
    pub signed_at: i64,
    /// When this instance witnessed it (Unix ms).
    pub witnessed_at: i64,
    /// The signed statement as received: what `candor audit verify --against` takes at the
    /// partner's side (this answer saved as a file works too).
    pub text: String,
}

impl From<WitnessedCheckpoint> for WitnessedView {
    fn from(w: WitnessedCheckpoint) -> Self {
        WitnessedView {
            agreement_id: w.agreement_id,
            partner_agency: w.partner_agency,
            public_key: w.public_key,
            length: w.length,
            head_hash: w.head_hash,
            signed_at: w.signed_at,
            witnessed_at: w.witnessed_at,
            text: w.statement,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WitnessedList {
    pub witnessed: Vec<WitnessedView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct WitnessedQuery {
    /// Only those under this agreement.
    pub agreement: Option<String>,
    /// Most to list, 1–1000 (default 100).
    pub limit: Option<i64>,
}

/// Checkpoints witnessed for partners, newest first: the newest of each day per agreement.
#[utoipa::path(get, path = "/api/v1/federation/witnessed", params(WitnessedQuery), responses(
    (status = 200, body = WitnessedList), (status = 403, body = ErrorBody)))]
pub async fn list_witnessed(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<WitnessedQuery>,
) -> Result<Json<WitnessedList>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    let rows = state
        .store
        .witnessed_checkpoints(
            q.agreement.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(WitnessedList {
        witnessed: rows.into_iter().map(WitnessedView::from).collect(),
    }))
}

/// The newest checkpoint witnessed under agreement `id`.
#[utoipa::path(get, path = "/api/v1/federation/witnessed/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = WitnessedView), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)))]
pub async fn latest_witnessed(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<WitnessedView>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    let latest = state.store.latest_witnessed_checkpoint(&id).await?;
    latest.map(|w| Json(w.into())).ok_or_else(|| {
        ApiError::not_found(format!(
            "no checkpoint has been witnessed under agreement {:?}",
            candor_audit::bounded(&id)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candor_audit::{ChainHash, SigningKey};

    fn offer(key: &SigningKey, length: u64, head: u8) -> CheckpointOffer {
        let c = Checkpoint::sign(length, ChainHash([head; 32]), Utc::now(), key);
        CheckpointOffer {
            checkpoint: c.to_text(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
        }
    }

    fn witnessed(o: &CheckpointOffer) -> WitnessedCheckpoint {
        let c = Checkpoint::from_text(&o.checkpoint).unwrap();
        WitnessedCheckpoint {
            agreement_id: "agr".into(),
            partner_agency: "P".into(),
            public_key: o.public_key.clone(),
            length: c.length,
            head_hash: c.head_hash.to_string(),
            signed_at: 0,
            statement: o.checkpoint.clone(),
            witnessed_at: 0,
        }
    }

    #[test]
    fn longer_or_same_checkpoints_are_witnessed_shorter_or_forked_ones_refused() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let first = offer(&key, 10, 1);
        assert_eq!(judge(None, &first).unwrap().length, 10);
        let seen = witnessed(&first);
        assert!(judge(Some(&seen), &first).is_ok());
        assert_eq!(judge(Some(&seen), &offer(&key, 12, 2)).unwrap().length, 12);
        let rollback = judge(Some(&seen), &offer(&key, 9, 1)).unwrap_err();
        assert_eq!(rollback.code(), "checkpoint_rollback");
        assert!(
            rollback
                .to_string()
                .contains("vouches for 9 records, but 10")
        );
        let fork = judge(Some(&seen), &offer(&key, 10, 7)).unwrap_err();
        assert_eq!(fork.code(), "checkpoint_fork");
        assert!(fork.to_string().contains("record 9"), "{fork}");
    }

    #[test]
    fn the_key_is_pinned_and_the_signature_checked_and_size_bounded() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let seen = witnessed(&offer(&key, 10, 1));
        let other = SigningKey::from_bytes(&[4; 32]);
        let refused = judge(Some(&seen), &offer(&other, 11, 1)).unwrap_err();
        assert_eq!(refused.code(), "audit_key_changed");
        let mut forged = offer(&key, 11, 1);
        forged.checkpoint = forged.checkpoint.replace("length: 11", "length: 12");
        assert_eq!(
            judge(Some(&seen), &forged).unwrap_err().code(),
            "checkpoint_bad_signature"
        );
        let mut big = offer(&key, 11, 1);
        big.checkpoint.push_str(&"x".repeat(MAX_STATEMENT));
        assert_eq!(
            judge(None, &big).unwrap_err().code(),
            "checkpoint_too_large"
        );
    }
}
