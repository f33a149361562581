//! Shared application state handed to every handler.

use std::sync::Arc;

use candor_store::Store;
use candor_store::keys::KeyRing;
use candor_store::retention::RetentionPolicy;

use crate::alerts::AlertHub;
use crate::config::Config;
use crate::matcher::Matcher;
use crate::webhooks::Webhooks;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub keys: Arc<KeyRing>,
    pub alerts: AlertHub,
    /// The retention policy in force.
    pub retention: Arc<RetentionPolicy>,
    /// Hot-list matcher over every active entry.
    pub matcher: Arc<Matcher>,
    pub webhooks: Webhooks,
}

impl AppState {
    /// Opens the store and the key ring named by `config`.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let store = Store::open(&config.database_url()).await?;
        let keys = KeyRing::open(&config.key_dir(), config.retention.key_window_secs * 1000)?;
        let retention = config.retention_policy()?;
        // Empty until `serve` (or the caller) loads the lists with `matcher.rebuild`.
        let matcher = Matcher::new(&config.matching);
        Ok(AppState {
            store,
            keys: Arc::new(keys),
            alerts: AlertHub::new(1024),
            retention: Arc::new(retention),
            matcher: Arc::new(matcher),
            webhooks: Webhooks::start(config.webhooks.clone()),
            config: Arc::new(config),
        })
    }
}
