//! Shared application state handed to every handler.

use std::sync::Arc;

use candor_store::Store;
use candor_store::keys::KeyRing;
use candor_store::retention::RetentionPolicy;

use crate::alerts::AlertHub;
use crate::config::Config;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub keys: Arc<KeyRing>,
    pub alerts: AlertHub,
    /// The retention policy in force.
    pub retention: Arc<RetentionPolicy>,
}

impl AppState {
    /// Opens the store and the key ring named by `config`.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let store = Store::open(&config.database_url()).await?;
        let keys = KeyRing::open(&config.key_dir(), config.retention.key_window_secs * 1000)?;
        let retention = config.retention_policy()?;
        Ok(AppState {
            store,
            keys: Arc::new(keys),
            alerts: AlertHub::new(1024),
            retention: Arc::new(retention),
            config: Arc::new(config),
        })
    }
}
