//! The OpenAPI document, merged from each route module's own `Doc`, then completed with
//! what applies to whole classes of routes: how each class proves who is calling (security
//! schemes, [`caller`]) and the refusals that proof can bring (401/403 with the JSON error
//! envelope). Path parameters are declared by each route's own `#[utoipa::path]`.

use serde_json::{Value, json};
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

/// Who may call a route, as far as the document is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Anyone: no credentials.
    Anyone,
    /// A signed-in person's session (bearer token or cookie).
    Session,
    /// A camera, with its API key.
    Camera,
    /// A partner instance, with a request signed under a sharing agreement.
    Partner,
}

/// Routes that need no session, by method and path template; every other route needs one.
const NOT_SESSION: &[(&str, &str, Caller)] = &[
    ("get", "/health", Caller::Anyone),
    ("get", "/api/openapi.json", Caller::Anyone),
    ("post", "/api/v1/session", Caller::Anyone),
    ("get", "/api/v1/retention", Caller::Anyone),
    ("get", "/transparency.json", Caller::Anyone),
    ("post", "/api/v1/reads", Caller::Camera),
    ("post", "/api/v1/openalpr", Caller::Camera),
    ("post", "/api/v1/cameras/{id}/images", Caller::Camera),
];

/// Who may call `method` (lower case) on `path` (the document's template).
pub fn caller(method: &str, path: &str) -> Caller {
    if path.starts_with("/federation/") {
        return Caller::Partner;
    }
    NOT_SESSION
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map_or(Caller::Session, |(_, _, c)| *c)
}

/// The whole API document. Each route module adds its `Doc` here, one line each.
pub fn document() -> Value {
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
    doc.merge(crate::federation::witness::Doc::openapi());
    let mut doc = serde_json::to_value(doc).expect("the document serialises");
    complete(&mut doc);
    doc
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Adds the security schemes, each operation's security requirement and its 401/403.
fn complete(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "session_bearer": {
            "type": "http", "scheme": "bearer",
            "description": "The session token from POST /api/v1/session."
        },
        "session_cookie": {
            "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
            "description": format!(
                "The console's session cookie; a request that changes anything also sends the session's CSRF token in {}.",
                crate::auth::CSRF_HEADER
            )
        },
        "camera_key": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key",
            "description": "The camera's API key (or 'Authorization: Bearer <key>'); never in the URL."
        },
        "partner_signature": {
            "type": "apiKey", "in": "header", "name": crate::federation::signing::H_SIGNATURE,
            "description": format!(
                "A partner instance's Ed25519 signature of the request under a sharing agreement, with {}, {}, {} and {}.",
                crate::federation::signing::H_AGREEMENT,
                crate::federation::signing::H_KEY,
                crate::federation::signing::H_TIMESTAMP,
                crate::federation::signing::H_NONCE
            )
        }
    });
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            // What the framework answers before a handler runs, for what the request carries.
            let takes_body = op.get("requestBody").is_some();
            if takes_body || op.get("parameters").is_some() {
                add_missing(
                    op,
                    "400",
                    error(
                        "The request could not be read: a path or query parameter that does not parse, or a body that is not well-formed.",
                    ),
                );
            }
            if takes_body {
                add_missing(
                    op,
                    "415",
                    error("The body is not of the content type documented."),
                );
                add_missing(
                    op,
                    "422",
                    error("The body does not fit the schema or the rules."),
                );
            }
            let (security, refusals) = match caller(method, path) {
                Caller::Anyone => continue,
                Caller::Session => (
                    json!([{"session_bearer": []}, {"session_cookie": []}]),
                    vec![
                        ("401", "No session, or it has ended: sign in."),
                        (
                            "403",
                            "Refused: the role lacks the permission, the policy is not acknowledged, training has expired, or the account is locked.",
                        ),
                    ],
                ),
                Caller::Camera => (
                    json!([{"camera_key": []}]),
                    vec![
                        ("401", "No API key, or one no registered camera holds."),
                        (
                            "403",
                            "The camera may not send reads (disabled or not approved).",
                        ),
                    ],
                ),
                Caller::Partner => (
                    json!([{"partner_signature": []}]),
                    vec![(
                        "401",
                        "Not signed by a partner instance under an agreement in force.",
                    )],
                ),
            };
            op["security"] = security;
            for (status, description) in refusals {
                add_missing(op, status, error(description));
            }
        }
    }
}

/// Documents `response` under `status` unless the route documents that status itself.
fn add_missing(op: &mut Value, status: &str, response: Value) {
    if op["responses"].get(status).is_none() {
        op["responses"][status] = response;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parameter_is_declared() {
        let doc = document();
        let mut undeclared = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let names: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                for name in &names {
                    let declared = op["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["in"] == "path" && p["name"] == *name && p["required"] == true
                        })
                    });
                    if !declared {
                        undeclared.push(format!("{method} {path} {{{name}}}"));
                    }
                }
            }
        }
        assert!(undeclared.is_empty(), "undeclared: {undeclared:?}");
    }

    #[test]
    fn every_route_but_the_public_ones_names_its_credentials_and_refusals() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let public = caller(method, path) == Caller::Anyone;
                assert_eq!(op["security"].is_null(), public, "{method} {path}");
                if !public {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                    let scheme = op["security"][0]
                        .as_object()
                        .unwrap()
                        .keys()
                        .next()
                        .unwrap();
                    assert!(
                        doc["components"]["securitySchemes"][scheme].is_object(),
                        "{method} {path}: {scheme}"
                    );
                }
            }
        }
    }
}
