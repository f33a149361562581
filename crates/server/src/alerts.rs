//! Live alerts: every hit is published here at once, for the SSE stream and the webhooks;
//! hits partners push here are announced on a channel of their own (the SSE stream only:
//! they are never passed on).

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

/// A hit a partner agency pushed here, as the stream announces it: no plate data (the
/// console fetches the card, and that view is audited).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartnerAlert {
    /// The received hit's id here.
    pub received_id: i64,
    pub agreement_id: String,
    pub partner_agency: String,
    pub hit_type: String,
    pub received_at: i64,
}

/// Fan-out of alerts to any number of listeners. Sending never blocks; a listener that
/// falls too far behind is told how many alerts it missed.
#[derive(Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<Alert>,
    partner_tx: broadcast::Sender<PartnerAlert>,
}

impl AlertHub {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        let (partner_tx, _) = broadcast::channel(capacity);
        AlertHub { tx, partner_tx }
    }

    pub fn publish_partner(&self, alert: PartnerAlert) {
        let _ = self.partner_tx.send(alert);
    }

    pub fn subscribe_partner(&self) -> broadcast::Receiver<PartnerAlert> {
        self.partner_tx.subscribe()
    }

    pub fn publish(&self, alert: Alert) {
        // No listener is not an error: the hit is stored either way.
        let _ = self.tx.send(alert);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.tx.subscribe()
    }
}
