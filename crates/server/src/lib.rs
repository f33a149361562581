//! Server: HTTP API, web console, live alerts, transparency page.
//!
//! [`router`] builds the whole API on one [`AppState`]; [`serve`] runs it with the
//! background jobs (scheduled purge, webhook delivery) until shutdown.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod config;
pub mod datadir;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod state;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// The full HTTP API on one router.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let chores = tokio::spawn(routes::audit::audit_chores(
        state.clone(),
        routes::audit::CHECKPOINT_INTERVAL,
    ));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    chores.abort();
    served?;
    Ok(())
}
