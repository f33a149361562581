//! Server: HTTP API, web console, live alerts, transparency page, federation.
//!
//! [`router`] builds the whole API on one [`AppState`]; [`serve`] runs it with the
//! background jobs (scheduled purge, webhook delivery, camera streams) until shutdown.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod datadir;
pub mod error;
pub mod extract;
pub mod federation;
pub mod http_client;
pub mod ingest;
pub mod keyfile;
pub mod listen;
pub mod matcher;
pub mod openapi;
pub mod purge;
pub mod read_access;
pub mod recognition_queue;
pub mod refusals;
pub mod retention;
pub mod routes;
pub mod search;
pub mod state;
pub mod streams;
pub mod webhooks;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// The full HTTP API on one router.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves the API on `listener` until `shutdown` completes, with the background jobs: the
/// scheduled purge, matcher refresh, audit chores, the federation outbox and the camera
/// streams.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    state.matcher.rebuild(&state.store).await?;
    let chores = tokio::spawn(routes::audit::audit_chores(
        state.clone(),
        state.config.audit.checkpoint_interval(),
    ));
    let purge = purge::spawn_scheduler(state.clone());
    let refresh = spawn_matcher_refresh(state.clone());
    let outbox = federation::outbox::spawn_worker(state.clone());
    let streams = streams::spawn_supervisor(state.clone());
    // Live alert streams never end on their own: at shutdown, requests in flight get a few
    // seconds (listen::SHUTDOWN_GRACE), then stop.
    listen::serve(listener, router(state.clone()), shutdown).await;
    // The camera streams stop after the API, and the passes they were following are stored.
    streams.abort();
    streams::stop_all(&state).await;
    chores.abort();
    purge.abort();
    refresh.abort();
    outbox.abort();
    Ok(())
}

/// Rebuilds the matcher when the lists change outside this process (`candor import`) and
/// every five minutes regardless, so expired entries leave memory.
fn spawn_matcher_refresh(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        let mut last = state.store.hot_list_fingerprint().await.ok();
        let mut last_full = std::time::Instant::now();
        loop {
            tick.tick().await;
            let now = state.store.hot_list_fingerprint().await.ok();
            if now == last && last_full.elapsed() < std::time::Duration::from_secs(300) {
                continue;
            }
            match state.matcher.rebuild(&state.store).await {
                Ok(()) => {
                    last = now;
                    last_full = std::time::Instant::now();
                }
                Err(e) => {
                    tracing::error!(error = %e, "matcher refresh failed; keeping the previous index")
                }
            }
        }
    })
}
