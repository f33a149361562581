//! Outbound webhooks: each alert is POSTed as JSON to every configured URL, signed with
//! HMAC-SHA256, retried with exponential back-off. Delivery runs on its own tasks behind a
//! bounded queue, so ingest never waits for a webhook.
//!
//! Signature header: `X-Candor-Signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Receivers recompute it over the raw body and reject stale timestamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

use crate::alerts::Alert;
use crate::config::WebhookConfig;

/// Queue length before alerts are dropped (and counted) rather than block ingest.
const QUEUE: usize = 10_000;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 32;
/// Attempts per delivery, with back-off 1 s, 2 s, 4 s, … between them.
pub const ATTEMPTS: u32 = 6;
/// Time allowed for one delivery attempt.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Webhooks {
    tx: Option<mpsc::Sender<Alert>>,
    dropped: Arc<AtomicU64>,
}

/// The signature header value for `body` sent at `t` (Unix ms).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhooks {
    /// Starts delivery to `targets` through `client` (no targets: alerts are not queued).
    pub fn start(targets: Vec<WebhookConfig>, client: reqwest::Client) -> Webhooks {
        let dropped = Arc::new(AtomicU64::new(0));
        if targets.is_empty() {
            return Webhooks { tx: None, dropped };
        }
        let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE);
        let targets = Arc::new(targets);
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(async move {
            while let Some(alert) = rx.recv().await {
                let body = match serde_json::to_vec(&alert) {
                    Ok(b) => Arc::new(b),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode alert for webhooks");
                        continue;
                    }
                };
                for target in targets.iter() {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    let (client, target, body) = (client.clone(), target.clone(), body.clone());
                    let hit_id = alert.hit_id;
                    tokio::spawn(async move {
                        deliver(&client, &target, &body, hit_id).await;
                        drop(permit);
                    });
                }
            }
        });
        Webhooks {
            tx: Some(tx),
            dropped,
        }
    }

    /// Queues an alert for delivery without waiting.
    pub fn enqueue(&self, alert: &Alert) {
        if let Some(tx) = &self.tx
            && tx.try_send(alert.clone()).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                hit_id = alert.hit_id,
                "webhook queue full; alert not sent to webhooks (it is stored and on the live stream)"
            );
        }
    }

    /// Alerts not delivered because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn deliver(client: &reqwest::Client, target: &WebhookConfig, body: &[u8], hit_id: i64) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        let t = candor_store::now_ms();
        let res = client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("x-candor-event", "hit")
            .header("x-candor-signature", signature(&target.secret, t, body))
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(
                hit_id,
                attempt,
                status = r.status().as_u16(),
                "webhook refused the alert"
            ),
            Err(e) => {
                tracing::warn!(hit_id, attempt, error = %e.without_url(), "webhook delivery failed")
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    tracing::error!(hit_id, attempts = ATTEMPTS, "webhook delivery gave up");
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_stable_and_keyed() {
        let a = super::signature("s1", 1000, b"{}");
        assert_eq!(a, super::signature("s1", 1000, b"{}"));
        assert_ne!(a, super::signature("s2", 1000, b"{}"));
        assert_ne!(a, super::signature("s1", 1001, b"{}"));
        assert!(a.starts_with("t=1000,v1="));
    }
}
