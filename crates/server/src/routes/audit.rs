//! The audit log over HTTP (reading, checkpoints, verification) and the server's audit
//! chores: the checkpoint signing key, checkpoints at a fixed interval and soon after plate
//! access ([`audit_chores`]), and pruning under the retention policy with a signed anchor.

use std::path::Path;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use candor_audit::{AuditRecord, Checkpoint, SigningKey, TamperFinding, VerifyReport};
use candor_store::audit_log::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// File (in the key directory) holding the Ed25519 seed that signs audit checkpoints and
/// anchors, mode 0600.
pub const AUDIT_KEY_FILE: &str = "audit-signing.key";
/// Its public half, hex, for anyone who verifies published checkpoints.
pub const AUDIT_PUBLIC_KEY_FILE: &str = "audit-signing.pub";

#[derive(OpenApi)]
#[openapi(
    paths(list_audit, list_checkpoints, create_checkpoint, verify_audit),
    components(schemas(AuditRecordView, CheckpointView, CheckpointList, VerifyAnswer))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(list_audit))
        .route(
            "/api/v1/audit/checkpoints",
            get(list_checkpoints).post(create_checkpoint),
        )
        .route("/api/v1/audit/verify", get(verify_audit))
}

/// Loads the audit signing key from `key_dir`, creating it (and its public half) on first
/// use.
pub fn audit_signing_key(key_dir: &Path) -> anyhow::Result<SigningKey> {
    crate::keyfile::ed25519_key(key_dir, AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE)
}

fn signing_key(state: &AppState) -> Result<SigningKey, ApiError> {
    audit_signing_key(&state.config.key_dir())
        .map_err(|e| ApiError::internal(format!("the audit signing key is unavailable: {e}")))
}

/// Signs a checkpoint now, unless the chain is empty or has not grown since the last one
/// (then returns `None`).
pub async fn checkpoint_if_grown(state: &AppState) -> Result<Option<Checkpoint>, ApiError> {
    let (length, _) = state.store.audit_head().await?;
    let last = state
        .store
        .latest_audit_checkpoint()
        .await?
        .map(|c| c.length);
    if length == 0 || last == Some(length) {
        return Ok(None);
    }
    let key = signing_key(state)?;
    Ok(Some(
        state
            .store
            .checkpoint_audit(&key, chrono::Utc::now())
            .await?,
    ))
}

/// Audit actions that open plate data (searches, exports, reads, images, hits and their
/// verdicts, alert streams, and the same to and from partners): a checkpoint follows each
/// soon ([`audit_chores`]), so the record of an access cannot quietly be cut off with the
/// tail of the log.
pub const PLATE_ACCESS_ACTIONS: &[&str] = &[
    "search.reads",
    "search.hits",
    "search.export",
    "read.view",
    "image.view",
    "hit.view",
    "hits.list",
    "hit.disposition",
    "hit.action",
    "hit.amendment",
    "alerts.stream",
    "federation.search.outgoing",
    "federation.query.incoming",
    "federation.hits.view",
    "federation.hit.incoming",
];

/// How often the chores look for plate access that no checkpoint covers yet.
pub const ACCESS_WATCH: Duration = Duration::from_secs(5);

/// The least time between the newest checkpoint and one signed for plate access: with
/// [`ACCESS_WATCH`], an access is under a checkpoint within a minute, and busy hours add
/// at most one checkpoint a minute (about 70 an hour, with the interval's).
pub const ACCESS_CHECKPOINT_GAP: Duration = Duration::from_secs(50);

/// Runs for the life of the server: a checkpoint every `interval` when the chain grew; a
/// checkpoint within a minute of plate access ([`PLATE_ACCESS_ACTIONS`]), at most one per
/// [`ACCESS_CHECKPOINT_GAP`] counting every checkpoint of this chain (other processes' and
/// the interval's too); and pruning of audit records past the retention period (leaving a
/// signed anchor).
pub async fn audit_chores(state: AppState, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    let mut watch = tokio::time::interval(ACCESS_WATCH);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut access = AccessWatch::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = checkpoint_if_grown(&state).await {
                    tracing::error!(error = %e, "could not sign the audit checkpoint");
                }
                if let Err(e) = prune_expired(&state).await {
                    tracing::error!(error = %e, "could not prune expired audit records");
                }
            }
            _ = watch.tick() => {
                if let Err(e) = access.step(&state).await {
                    tracing::error!(error = %e, "could not sign the checkpoint after plate access");
                }
            }
        }
    }
}

/// What the chores know of plate access between their looks at the log.
#[derive(Default)]
struct AccessWatch {
    /// Records before this seq were looked at (none yet: from the newest checkpoint on).
    looked_to: Option<u64>,
    /// A plate access was seen that no checkpoint covers yet.
    pending: bool,
}

impl AccessWatch {
    /// Looks at the records appended since the last look, and signs a checkpoint when one
    /// of them (or an earlier one) was plate access and the newest checkpoint is at least
    /// [`ACCESS_CHECKPOINT_GAP`] old.
    async fn step(&mut self, state: &AppState) -> Result<(), ApiError> {
        let (length, _) = state.store.audit_head().await?;
        let latest = state.store.latest_audit_checkpoint().await?;
        let from = self
            .looked_to
            .unwrap_or_else(|| latest.as_ref().map_or(0, |c| c.length));
        if length > from
            && state
                .store
                .audit_has_action(from, length, PLATE_ACCESS_ACTIONS)
                .await?
        {
            self.pending = true;
        }
        self.looked_to = Some(length.max(from));
        if !self.pending {
            return Ok(());
        }
        let gap = chrono::Duration::from_std(ACCESS_CHECKPOINT_GAP).unwrap_or_default();
        if latest.is_some_and(|c| chrono::Utc::now() - c.time < gap) {
            return Ok(());
        }
        // Signed, or the newest checkpoint already covers the whole chain.
        checkpoint_if_grown(state).await?;
        self.pending = false;
        Ok(())
    }
}

/// Removes audit records older than the policy in force's audit retention (never less than a
/// year: the policy document enforces it), leaving a signed anchor; the pruning is itself
/// audited.
pub async fn prune_expired(state: &AppState) -> Result<u64, ApiError> {
    let audit_secs = crate::retention::in_force(state).await?.audit_secs;
    let now = chrono::Utc::now();
    let cutoff = now - chrono::Duration::seconds(audit_secs);
    let key = signing_key(state)?;
    let removed = state.store.prune_audit_before(cutoff, &key, now).await?;
    if removed > 0 {
        auth::append_audit_record(
            state,
            candor_audit::Actor::System {
                component: "audit retention".into(),
            },
            "audit.prune",
            "audit",
            "success",
            "server",
            json!({"records_removed": removed, "cutoff_ms": cutoff.timestamp_millis()}),
        )
        .await?;
    }
    Ok(removed)
}

/// One audit record as served.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditRecordView {
    pub seq: u64,
    /// Unix ms UTC.
    pub time: i64,
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub source: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub hash: String,
    pub prev_hash: String,
}

impl From<&AuditRecord> for AuditRecordView {
    fn from(r: &AuditRecord) -> Self {
        AuditRecordView {
            seq: r.seq,
            time: r.entry.time.timestamp_millis(),
            actor: serde_json::to_value(&r.entry.actor).unwrap_or_default(),
            action: r.entry.action.clone(),
            target: r.entry.target.clone(),
            outcome: serde_json::to_value(r.entry.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            source: r.entry.source.clone(),
            details: r.entry.details.clone(),
            hash: r.hash.to_string(),
            prev_hash: r.prev_hash.to_string(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Action prefix, e.g. `login.` or `search.`.
    pub action: Option<String>,
    /// Exact target, e.g. `user:42`.
    pub target: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub from: Option<i64>,
    /// Until this time (Unix ms, exclusive).
    pub to: Option<i64>,
    /// Next page: records before this seq.
    pub before: Option<u64>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
}

/// Reads the audit log, newest first (auditors, supervisors, program managers). The
/// reading is itself audited.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), responses(
    (status = 200, body = Vec<AuditRecordView>), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditRecordView>>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    let filter = AuditFilter {
        action_prefix: q.action.clone(),
        target: q.target.clone(),
        from_ms: q.from,
        to_ms: q.to,
        before_seq: q.before,
        limit: q.limit.unwrap_or(100),
    };
    let records = state.store.search_audit(&filter).await?;
    auth::record_action(
        &state,
        &actor,
        "audit.read",
        "audit",
        json!({"action": q.action, "target": q.target, "from": q.from, "to": q.to, "before": q.before, "results": records.len()}),
    )
    .await?;
    Ok(Json(records.iter().map(AuditRecordView::from).collect()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    pub length: u64,
    pub head_hash: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub key_id: String,
    /// The signed statement, as published.
    pub statement: String,
}

impl From<&Checkpoint> for CheckpointView {
    fn from(c: &Checkpoint) -> Self {
        CheckpointView {
            length: c.length,
            head_hash: c.head_hash.to_string(),
            time: c.time.to_rfc3339(),
            key_id: c.key_id.clone(),
            statement: c.to_text(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckpointList {
    /// Ed25519 public key (hex) that verifies the statements.
    pub public_key: String,
    pub checkpoints: Vec<CheckpointView>,
}

/// The signed checkpoints, oldest first, with the public key that verifies them.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", responses(
    (status = 200, body = CheckpointList), (status = 403, body = ErrorBody)))]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<CheckpointList>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    let key = signing_key(&state)?;
    let checkpoints = state.store.audit_checkpoints().await?;
    Ok(Json(CheckpointList {
        public_key: hex::encode(key.verifying_key().to_bytes()),
        checkpoints: checkpoints.iter().map(CheckpointView::from).collect(),
    }))
}

/// Signs a checkpoint of the chain now (on demand). Audited.
#[utoipa::path(post, path = "/api/v1/audit/checkpoints", responses(
    (status = 200, body = CheckpointView), (status = 403, body = ErrorBody)))]
pub async fn create_checkpoint(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<CheckpointView>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    auth::record_action(&state, &actor, "audit.checkpoint", "audit", json!({})).await?;
    let key = signing_key(&state)?;
    let checkpoint = state
        .store
        .checkpoint_audit(&key, chrono::Utc::now())
        .await?;
    Ok(Json(CheckpointView::from(&checkpoint)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifyAnswer {
    pub intact: bool,
    /// Records checked, chain length (the next seq), first and last seq checked (when
    /// intact).
    pub records: Option<u64>,
    pub length: Option<u64>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// What was checked, in words: "228 records checked (sequence 0 to 227)".
    pub summary: Option<String>,
    pub checkpoints_matched: Option<usize>,
    /// The first bad record (when not intact).
    pub tampered_seq: Option<u64>,
    /// What is wrong, in words.
    pub finding: Option<String>,
}

impl VerifyAnswer {
    pub fn from_verdict(v: &Result<VerifyReport, TamperFinding>) -> Self {
        match v {
            Ok(r) => VerifyAnswer {
                intact: true,
                records: Some(r.records),
                length: Some(r.length),
                first_seq: Some(r.first_seq),
                last_seq: r.last_seq(),
                summary: Some(r.summary()),
                checkpoints_matched: Some(r.checkpoints_matched),
                tampered_seq: None,
                finding: None,
            },
            Err(f) => VerifyAnswer {
                intact: false,
                records: None,
                length: None,
                first_seq: None,
                last_seq: None,
                summary: None,
                checkpoints_matched: None,
                tampered_seq: f.seq,
                finding: Some(f.to_string()),
            },
        }
    }
}

/// Verifies the whole chain against its checkpoints and anchor. Audited.
#[utoipa::path(get, path = "/api/v1/audit/verify", responses(
    (status = 200, body = VerifyAnswer), (status = 403, body = ErrorBody)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<VerifyAnswer>, ApiError> {
    actor.require(Permission::ReadAudit)?;
    let key = signing_key(&state)?;
    let verdict = state.store.verify_audit(&key.verifying_key()).await?;
    let answer = VerifyAnswer::from_verdict(&verdict);
    auth::record_action(
        &state,
        &actor,
        "audit.verify",
        "audit",
        json!({"intact": answer.intact, "tampered_seq": answer.tampered_seq}),
    )
    .await?;
    Ok(Json(answer))
}
