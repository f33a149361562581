//! Federation: sharing with partner agencies under signed agreements.
//!
//! - [`signing`]: the instance's Ed25519 federation key and signed requests.
//! - [`agreements`]: helpers over stored agreements (the signed document, which party we
//!   are, whether it is in force).
//! - [`partner`]: the partner-facing endpoints (`/federation/v1/…`), authenticated by
//!   signature; each checks signature, agreement and this agency's policy before it
//!   touches plate data, and audits what it answered or refused.
//! - [`outbox`]: hit notifications and revocations to partners, through a durable outbox
//!   with retries.
//! - [`hotlists`]: pulling a partner's named hot list into a local one.
//! - [`witness`]: partners witness each other's audit checkpoints (sent through the outbox,
//!   checked and kept per agreement), so a rollback of either audit log is caught outside.
//! - [`manage`]: the management API (`/api/v1/agreements`) and a local user's federated
//!   search (`/api/v1/federation/search`).
//!
//! What the agreement allows is decided in `candor_policy::agreement`; this module only
//! gathers the facts and carries out the decision.

pub mod agreements;
pub mod hotlists;
pub mod manage;
pub mod outbox;
pub mod partner;
pub mod signing;
pub mod witness;

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::Notify;

/// Time allowed for one request to a partner instance.
pub const PARTNER_TIMEOUT: Duration = Duration::from_secs(20);

/// The instance's federation identity and outgoing machinery. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    pub key: Arc<SigningKey>,
    pub client: reqwest::Client,
    /// Wakes the outbox worker when a message is queued.
    pub outbox_ready: Arc<Notify>,
}

impl Federation {
    /// `client` is the outbound client (`crate::http_client::outbound`): TLS with the
    /// system's and the agency's CAs.
    pub fn new(key: SigningKey, client: reqwest::Client) -> Federation {
        Federation {
            key: Arc::new(key),
            client,
            outbox_ready: Arc::new(Notify::new()),
        }
    }

    /// This instance's public key, hex.
    pub fn public_key(&self) -> String {
        signing::public_key_hex(&self.key)
    }
}

/// All federation routes: partner-facing and management.
pub fn routes() -> axum::Router<crate::state::AppState> {
    partner::routes()
        .merge(manage::routes())
        .merge(hotlists::routes())
        .merge(witness::routes())
}
