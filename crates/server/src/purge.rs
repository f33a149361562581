//! Running the purge: on demand (API, `candor purge`) and on a schedule inside `serve`.

use std::time::Duration;

use candor_store::retention::SignedReceipt;

use crate::audit::{self, OpsEvent};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

/// Purges everything expired now, records the run in the audit trail, returns the receipt
/// (which names the policy version in force).
pub async fn run_purge(state: &AppState, actor: Option<&Actor>) -> Result<SignedReceipt, ApiError> {
    let retention = crate::retention::in_force(state).await?;
    let now = candor_store::now_ms();
    let receipt = state
        .store
        .purge(&state.keys, &state.config.image_dir(), &retention, now)
        .await?;
    let details = serde_json::json!({
        "receipt_id": receipt.id,
        "counts": receipt.receipt.counts,
        "windows_destroyed": receipt.receipt.windows_destroyed.len(),
        "policy_version": receipt.receipt.policy_version,
    });
    let event = match actor {
        Some(a) => OpsEvent::by(
            a,
            "retention.purge",
            format!("purge_receipt:{}", receipt.id),
            details,
        ),
        None => OpsEvent::system(
            "retention.purge",
            format!("purge_receipt:{}", receipt.id),
            details,
        ),
    };
    audit::record(state, event).await?;
    Ok(receipt)
}

/// Runs the purge every `retention.purge_interval_secs` until the process ends. A failed run
/// is logged as an error and retried at the next tick: never skipped silently.
pub fn spawn_scheduler(state: AppState) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(state.config.retention.purge_interval_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first run comes one interval after start.
        tick.tick().await;
        loop {
            tick.tick().await;
            match run_purge(&state, None).await {
                Ok(r) => tracing::info!(
                    receipt = r.id,
                    non_hit_reads = r.receipt.counts.non_hit_reads,
                    hit_reads = r.receipt.counts.hit_reads,
                    images = r.receipt.counts.images,
                    windows_destroyed = r.receipt.windows_destroyed.len(),
                    "scheduled purge done"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "scheduled purge failed; will retry at the next interval")
                }
            }
        }
    })
}
