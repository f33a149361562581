//! HTTP routes, one module per concern. Each module exposes `routes()` and an OpenAPI `Doc`.

use axum::Router;

use crate::state::AppState;

pub mod health;

/// All routes on one router.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
