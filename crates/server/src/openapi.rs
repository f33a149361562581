//! The OpenAPI document, merged from each route module's own `Doc`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Candor API",
        description = "Licence-plate recognition with accountability built in."
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail))
)]
struct BaseDoc;

/// The whole API document. Each route module adds its `Doc` here, one line each.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.merge(crate::routes::health::Doc::openapi());
    doc.merge(crate::routes::session::Doc::openapi());
    doc.merge(crate::routes::users::Doc::openapi());
    doc.merge(crate::routes::approvals::Doc::openapi());
    doc.merge(crate::routes::audit::Doc::openapi());
    doc.merge(crate::routes::policy::Doc::openapi());
    doc.merge(crate::routes::search::Doc::openapi());
    doc.merge(crate::routes::reviews::Doc::openapi());
    doc.merge(crate::routes::cameras::Doc::openapi());
    doc.merge(crate::routes::ingest::Doc::openapi());
    doc.merge(crate::routes::images::Doc::openapi());
    doc.merge(crate::routes::hotlists::Doc::openapi());
    doc.merge(crate::routes::hits::Doc::openapi());
    doc.merge(crate::routes::retention::Doc::openapi());
    doc.merge(crate::routes::reports::Doc::openapi());
    doc.merge(crate::routes::transparency::Doc::openapi());
    doc.merge(crate::federation::partner::Doc::openapi());
    doc.merge(crate::federation::manage::Doc::openapi());
    doc.merge(crate::federation::hotlists::Doc::openapi());
    doc
}
