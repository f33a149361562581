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

impl OpsEvent {
    /// An action by a signed-in person.
    pub fn by(actor: &Actor, action: &'static str, target: String, details: Value) -> Self {
        OpsEvent {
            actor: Some(actor.clone()),
            action,
            target,
            details,
        }
    }

    /// An action by the system itself (scheduled purge, CLI).
    pub fn system(action: &'static str, target: String, details: Value) -> Self {
        OpsEvent {
            actor: None,
            action,
            target,
            details,
        }
    }
}

/// Records `event` in the hash-chained audit log; durable before this returns, so the
/// caller answers only after its action is on record. The details never carry plate text.
pub async fn record(state: &AppState, event: OpsEvent) -> Result<(), ApiError> {
    let (actor, source) = match &event.actor {
        Some(a) => (
            candor_audit::Actor::User {
                id: a.user_id.to_string(),
                name: a.username.clone(),
            },
            "api",
        ),
        None => (
            candor_audit::Actor::System {
                component: "ops".into(),
            },
            "system",
        ),
    };
    crate::auth::append_audit_record(
        state,
        actor,
        event.action,
        &event.target,
        "success",
        source,
        event.details,
    )
    .await
}
