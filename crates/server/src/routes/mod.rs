//! HTTP routes, one module per concern. Each module exposes `routes()` and an OpenAPI `Doc`.

use axum::Router;

use crate::state::AppState;

pub mod approvals;
pub mod audit;
pub mod cameras;
pub mod health;
pub mod hits;
pub mod hotlists;
pub mod images;
pub mod ingest;
pub mod policy;
pub mod reports;
pub mod retention;
pub mod reviews;
pub mod search;
pub mod session;
pub mod transparency;
pub mod users;

/// All routes on one router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(session::routes())
        .merge(audit::routes())
        .merge(policy::routes())
        .merge(search::routes())
        .merge(reviews::routes())
        .merge(users::routes())
        .merge(approvals::routes())
        .merge(cameras::routes())
        .merge(ingest::routes())
        .merge(images::routes())
        .merge(hotlists::routes())
        .merge(hits::routes())
        .merge(retention::routes())
        .merge(reports::routes())
        .merge(transparency::routes())
        .merge(crate::federation::routes())
        .merge(crate::console::routes())
        .layer(axum::middleware::from_fn(crate::auth::csrf_form_layer))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::refusals::record_refusals,
        ))
        // Outermost: a sign-in body is capped before the CSRF layer would buffer a form.
        .layer(axum::middleware::from_fn(crate::auth::sign_in_body_limit))
        // A slow client's body fails after listen::BODY_READ_TIMEOUT.
        .layer(axum::middleware::from_fn(crate::listen::body_deadline))
        .with_state(state)
}
