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

impl OpsEvent {
    /// The audit entry for this event, for a store function that appends it in its own
    /// transaction (so the action and its record commit together). Its source is the
    /// person's address, as for every other record of theirs, or `system`.
    pub fn entry(self) -> candor_audit::AuditEntry {
        let (actor, source) = match &self.actor {
            Some(a) => (
                candor_audit::Actor::User {
                    id: a.user_id.to_string(),
                    name: a.username.clone(),
                },
                a.remote_addr.as_str(),
            ),
            None => (
                candor_audit::Actor::System {
                    component: "ops".into(),
                },
                "system",
            ),
        };
        candor_audit::AuditEntry::new(
            chrono::Utc::now(),
            actor,
            self.action,
            self.target,
            candor_audit::Outcome::Success,
        )
        .with_source(source)
        .with_details(self.details)
    }
}

/// Records `event` in the hash-chained audit log; durable before this returns, so the
/// caller answers only after its action is on record. The details never carry plate text.
pub async fn record(state: &AppState, event: OpsEvent) -> Result<(), ApiError> {
    state.store.append_audit(event.entry()).await?;
    Ok(())
}
