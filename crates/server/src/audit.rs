//! Audit records for ops actions (hot-list imports, camera changes, dispositions, purges,
//! legal holds), all through [`record`], so they reach the audit chain in one place.

use serde_json::Value;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

/// One auditable ops action.
#[derive(Debug, Clone)]
pub struct OpsEvent {
    /// The person, or `None` for the system (scheduled purge, CLI).
    pub actor: Option<Actor>,
    /// What happened, e.g. "camera.create", "hotlist.import", "hit.disposition".
    pub action: &'static str,
    /// What it happened to, e.g. "camera:cam-1".
    pub target: String,
    pub details: Value,
}

/// Records `event` in the audit trail before the caller returns its answer.
///
/// Until the hash-chained audit log (`Store::append_audit`) is merged in, events go to the
/// `candor::audit` log target; the details never carry plate text.
pub async fn record(state: &AppState, event: OpsEvent) -> Result<(), ApiError> {
    let _ = state;
    let actor = event
        .actor
        .as_ref()
        .map(|a| a.username.as_str())
        .unwrap_or("system");
    tracing::info!(target: "candor::audit", actor, action = event.action, target_ref = %event.target, details = %event.details, "ops event");
    Ok(())
}
