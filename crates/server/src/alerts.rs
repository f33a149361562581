//! Live alerts: every hit is published here at once, for the SSE stream and the webhooks.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One hit, as officers see it before verifying it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub hit_id: i64,
    pub read_id: i64,
    pub camera_id: String,
    pub captured_at: i64,
    pub plate: String,
    pub listed_plate: String,
    pub list_name: String,
    pub hit_type: String,
    pub priority: i64,
    pub match_kind: String,
    /// Always "unverified" when published: a person must verify the hit before acting.
    pub status: String,
}

/// Fan-out of alerts to any number of listeners. Sending never blocks; a listener that
/// falls too far behind is told how many alerts it missed.
#[derive(Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<Alert>,
}

impl AlertHub {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        AlertHub { tx }
    }

    pub fn publish(&self, alert: Alert) {
        // No listener is not an error: the hit is stored either way.
        let _ = self.tx.send(alert);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.tx.subscribe()
    }
}
