//! Shared application state handed to every handler.

use std::sync::Arc;

use candor_store::Store;
use candor_store::keys::KeyRing;

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
    /// Hot-list matcher over every active entry.
    pub matcher: Arc<Matcher>,
    pub webhooks: Webhooks,
    /// The federation key and the outgoing client to partner instances.
    pub federation: crate::federation::Federation,
    /// Failed sign-ins per address and per username, for throttling.
    pub sign_in_throttle: Arc<crate::auth::throttle::SignInThrottle>,
    /// The recognition engine, loaded on the first image upload.
    pub engine: Arc<tokio::sync::OnceCell<Result<Arc<candor_vision::Engine>, String>>>,
    /// Image recognitions at once, and those waiting (see `[ingest]` in the configuration).
    pub recognitions: Arc<crate::recognition_queue::RecognitionQueue>,
    /// Refusals (403) seen lately, for grouping their audit records.
    pub refusals: Arc<crate::refusals::RefusalLog>,
    /// The camera streams being watched.
    pub streams: Arc<crate::streams::StreamWorkers>,
}

impl AppState {
    /// The recognition engine, loading it (once) from the configured models folder.
    pub async fn engine(&self) -> Result<Arc<candor_vision::Engine>, String> {
        let dir = self.config.models_path();
        let data_dir = self.config.data_dir.clone();
        let regions = self.config.plate_regions();
        self.engine
            .get_or_init(|| async move {
                let Some(dir) = dir else {
                    return Err(format!(
                        "no models folder found: copy the release's models/ folder to {}, \
                         or set models_dir in candor.toml or CANDOR_MODELS",
                        data_dir.join(crate::config::MODELS_DIR).display()
                    ));
                };
                let regions = regions.map_err(|e| e.to_string())?;
                tokio::task::spawn_blocking(move || {
                    let options = candor_vision::EngineOptions {
                        regions,
                        ..Default::default()
                    };
                    candor_vision::Engine::load(&dir)
                        .map(|engine| Arc::new(engine.with_options(options)))
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())?
            })
            .await
            .clone()
    }

    /// Opens the store and the key ring named by `config`.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let store = Store::open(&config.database_url()).await?;
        let keys = KeyRing::open(&config.key_dir(), config.retention.key_window_secs * 1000)?;
        let sealed = store.seal_legacy_totp_secrets(&keys).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed TOTP secrets stored in clear by an earlier version"
            );
        }
        // Empty until `serve` (or the caller) loads the lists with `matcher.rebuild`.
        let matcher = Matcher::new(&config.matching);
        // Data directories made before federation get their key on first open.
        let federation = crate::federation::Federation::new(
            crate::federation::signing::instance_key(&config.key_dir())?,
            crate::http_client::outbound(
                config.outbound_ca_path().as_deref(),
                crate::federation::PARTNER_TIMEOUT,
            )?,
        );
        Ok(AppState {
            store,
            keys: Arc::new(keys),
            alerts: AlertHub::new(1024),
            matcher: Arc::new(matcher),
            webhooks: Webhooks::start(
                config.webhooks.clone(),
                crate::http_client::outbound(
                    config.outbound_ca_path().as_deref(),
                    crate::webhooks::TIMEOUT,
                )?,
            ),
            federation,
            sign_in_throttle: Arc::default(),
            refusals: Arc::default(),
            streams: Arc::default(),
            recognitions: Arc::new(crate::recognition_queue::RecognitionQueue::new(
                config.ingest.recognitions_at_once,
                config.ingest.recognition_queue,
            )),
            engine: Arc::new(tokio::sync::OnceCell::new()),
            config: Arc::new(config),
        })
    }
}
