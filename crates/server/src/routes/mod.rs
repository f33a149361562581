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

/// Sets `X-Content-Type-Options: nosniff`: a stored image or a CSV is never run as HTML
/// or script because a browser guessed its type.
async fn no_sniffing(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    res
}

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
        // Every API error in the JSON envelope, the framework's own rejections included.
        .layer(axum::middleware::from_fn(crate::error::json_envelope))
        // Every answer, errors included: browsers must not guess a type.
        .layer(axum::middleware::map_response(no_sniffing))
        .with_state(state)
}
