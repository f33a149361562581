//! Messages to partners — hit notifications, revocations and audit checkpoints to be
//! witnessed ([`super::witness`]) — through a durable outbox:
//! queued in the store in the same breath as the event, delivered by one worker, retried
//! with exponential back-off across restarts, given up (and the body dropped) after
//! [`ATTEMPTS`] tries or a refusal. Each attempt is signed afresh (new timestamp, nonce).
//!
//! Unlike webhooks (best effort, in memory), a partner must not miss a revocation or a
//! shared hit because this server restarted, hence the store.

use std::time::Duration;

use candor_store::agreements::NewOutboxMessage;
use chrono::Utc;
use serde_json::json;

use super::agreements::{document, our_index, revoked_at};
use super::partner::{HITS_PATH, HitNotification, REVOCATIONS_PATH, RevocationNotice};
use super::signing::sign_request;
use super::witness;
use crate::alerts::Alert;
use crate::state::AppState;

/// Attempts per message; back-off 1 s, 2 s, 4 s, … capped at [`MAX_BACKOFF`].
pub const ATTEMPTS: i64 = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long an undelivered message is kept at most (its sealing window).
const OUTBOX_KEEP_MS: i64 = 7 * 86_400_000;

/// Sends one signed request to a partner and returns the response.
pub async fn send_signed(
    state: &AppState,
    agreement_id: &str,
    url: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<reqwest::Response, reqwest::Error> {
    let sig = sign_request(&state.federation.key, "POST", path, agreement_id, &body);
    let mut req = state
        .federation
        .client
        .post(format!("{}{path}", url.trim_end_matches('/')))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    req.send().await
}

/// Queues the new hits for every partner whose agreement (in force) shares their type.
/// The hits are stored already; a failure here is logged, not returned to the camera.
pub async fn queue_hits(state: &AppState, alerts: &[Alert]) {
    if alerts.is_empty() {
        return;
    }
    if let Err(e) = try_queue_hits(state, alerts).await {
        tracing::error!(error = %e, "could not queue hit notifications for partners");
    }
}

async fn try_queue_hits(state: &AppState, alerts: &[Alert]) -> Result<(), crate::ApiError> {
    let now = Utc::now();
    let mut queued = 0;
    let locations: std::collections::HashMap<String, String> =
        state.store.camera_locations().await?;
    // A hit on a list received from a partner goes back to that partner only: the list
    // is never passed on through a hit notification (no onward sharing).
    let partner_lists: std::collections::HashMap<String, String> = state
        .store
        .partner_hot_lists()
        .await?
        .into_iter()
        .map(|l| (l.list_name, l.agreement_id))
        .collect();
    for record in state.store.agreements().await? {
        let doc = document(&record)?;
        let Some(us) = our_index(state, &doc) else {
            continue;
        };
        let ours = &doc.agreement.parties[us];
        let partner = doc.agreement.other(us);
        for alert in alerts {
            if !candor_policy::shares_hit_type(&doc, revoked_at(&record), &alert.hit_type, now)
                || partner_lists
                    .get(&alert.list_name)
                    .is_some_and(|origin| *origin != record.id)
            {
                continue;
            }
            let note = HitNotification {
                origin_instance: ours.instance_url.clone(),
                origin_agency: ours.agency_name.clone(),
                hit_id: alert.hit_id,
                hit_type: alert.hit_type.clone(),
                plate: alert.plate.clone(),
                captured_at: Some(alert.captured_at),
                list_name: alert.list_name.clone(),
                camera_location: locations.get(&alert.camera_id).cloned(),
            }
            .limited_to(&doc.agreement.sharing.fields);
            let body =
                serde_json::to_vec(&note).map_err(|e| crate::ApiError::internal(e.to_string()))?;
            let now_ms = now.timestamp_millis();
            state
                .store
                .enqueue_outbox(
                    &state.keys,
                    &NewOutboxMessage {
                        agreement_id: &record.id,
                        kind: "hit",
                        url: &partner.instance_url,
                        body: &body,
                        created_at: now_ms,
                        expires_at: now_ms + OUTBOX_KEEP_MS,
                    },
                )
                .await?;
            crate::audit::record(
                state,
                crate::audit::OpsEvent::system(
                    "federation.hit.queued",
                    format!("agreement:{}", record.id),
                    json!({"hit_id": alert.hit_id, "hit_type": alert.hit_type, "partner": partner.agency_name}),
                ),
            )
            .await?;
            queued += 1;
        }
    }
    if queued > 0 {
        state.federation.outbox_ready.notify_one();
    }
    Ok(())
}

/// Queues a revocation notice to the partner.
pub async fn queue_revocation(
    state: &AppState,
    agreement_id: &str,
    partner_url: &str,
    notice: &RevocationNotice,
) -> Result<(), crate::ApiError> {
    let now = candor_store::now_ms();
    let body = serde_json::to_vec(notice).map_err(|e| crate::ApiError::internal(e.to_string()))?;
    state
        .store
        .enqueue_outbox(
            &state.keys,
            &NewOutboxMessage {
                agreement_id,
                kind: "revocation",
                url: partner_url,
                body: &body,
                created_at: now,
                expires_at: now + OUTBOX_KEEP_MS,
            },
        )
        .await?;
    state.federation.outbox_ready.notify_one();
    Ok(())
}

fn backoff(attempts: i64) -> Duration {
    let secs = 1u64 << attempts.clamp(0, 20);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// Tries every due message once.
pub async fn deliver_due(state: &AppState) -> Result<(), candor_store::StoreError> {
    let now = candor_store::now_ms();
    for item in state.store.due_outbox(&state.keys, now, 100).await? {
        if item.body.is_empty() {
            state
                .store
                .outbox_failed(item.id, now, "the message's key window is gone", None)
                .await?;
            continue;
        }
        let path = match item.kind.as_str() {
            "revocation" => REVOCATIONS_PATH,
            witness::OUTBOX_KIND => witness::CHECKPOINTS_PATH,
            _ => HITS_PATH,
        };
        let res = send_signed(state, &item.agreement_id, &item.url, path, item.body).await;
        let now = candor_store::now_ms();
        let (error, permanent) = match res {
            Ok(r) if r.status().is_success() => {
                state.store.outbox_delivered(item.id, now).await?;
                continue;
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                // A refusal by the partner (its agreement or policy) will not change on a
                // retry; a server error or overload might.
                let permanent = status.is_client_error() && status.as_u16() != 429;
                (
                    format!(
                        "HTTP {}: {}",
                        status.as_u16(),
                        text.chars().take(500).collect::<String>()
                    ),
                    permanent,
                )
            }
            Err(e) => (e.without_url().to_string(), false),
        };
        let attempts = item.attempts + 1;
        let retry_at = (!permanent && attempts < ATTEMPTS)
            .then(|| now + backoff(item.attempts).as_millis() as i64);
        tracing::warn!(outbox_id = item.id, kind = %item.kind, attempts, error = %error, "federation delivery failed");
        state
            .store
            .outbox_failed(item.id, now, &error, retry_at)
            .await?;
    }
    Ok(())
}

/// Runs for the life of the server: queues the newest audit checkpoint for partners to
/// witness, delivers due messages when woken or every second, and drops received hits
/// past their retention.
pub fn spawn_worker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut offered = witness::Offered::new();
        loop {
            if let Err(e) = witness::offer_newest(&state, &mut offered).await {
                tracing::error!(error = %e, "could not queue the audit checkpoint for partners");
            }
            if let Err(e) = deliver_due(&state).await {
                tracing::error!(error = %e, "federation outbox delivery failed");
            }
            if let Err(e) = state
                .store
                .purge_received_hits(candor_store::now_ms())
                .await
            {
                tracing::error!(error = %e, "could not purge expired partner hits");
            }
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                state.federation.outbox_ready.notified(),
            )
            .await;
        }
    })
}
