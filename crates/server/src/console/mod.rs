//! The operator console: server-rendered pages on the same server as the API.
//!
//! Pages are askama templates (`templates/console/`, auto-escaped) on one layout whose nav
//! shows only what the signed-in person's role permits. Pages hold no business logic: they
//! call the same handlers and store functions as the API, so permission checks and audit
//! records are the same whichever way a person works. Every page is sent with
//! `Cache-Control: no-store`; a request without a usable session is sent to `/login` with
//! a message that says why.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::{Actor, Permission, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub mod alerts;
pub mod audit;
pub mod cameras;
pub mod holds;
pub mod hotlists;
pub mod partner_search;
pub mod people;
pub mod policy;
pub mod search;
pub mod sharing;
pub mod signin;

/// The console's pages, the sign-in pages and the static files.
pub fn routes() -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(root))
        .route("/console", get(home))
        .merge(signin::routes())
        .merge(alerts::routes())
        .merge(search::routes())
        .merge(partner_search::routes())
        .merge(hotlists::routes())
        .merge(audit::routes())
        .merge(cameras::routes())
        .merge(people::routes())
        .merge(policy::routes())
        .merge(holds::routes())
        .merge(sharing::routes())
        .layer(axum::middleware::from_fn(no_store));
    Router::new()
        .merge(pages)
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(console_js))
        .route("/static/alerts.js", get(alerts_js))
}

/// Pages carry plate data and tokens: the browser must keep no copy, and scripts run only
/// from our own files.
async fn no_store(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/console.css"),
    )
}

async fn console_js() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/console.js"),
    )
}

async fn alerts_js() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/alerts.js"),
    )
}

/// One entry of the main navigation: shown when the role allows any of `needs` (all roles
/// when empty).
struct NavEntry {
    label: &'static str,
    href: &'static str,
    needs: &'static [Permission],
}

const NAV: &[NavEntry] = &[
    NavEntry {
        label: "Alerts",
        href: "/console/alerts",
        needs: &[Permission::ViewAlerts],
    },
    NavEntry {
        label: "Search",
        href: "/console/search",
        needs: &[Permission::SearchReads],
    },
    NavEntry {
        label: "Partner search",
        href: "/console/search/partners",
        needs: &[Permission::SearchReads],
    },
    NavEntry {
        label: "Hot lists",
        href: "/console/hotlists",
        needs: &[
            Permission::ManageHotLists,
            Permission::EnterUserHotPlates,
            Permission::ApproveUserHotPlates,
        ],
    },
    NavEntry {
        label: "Audit",
        href: "/console/audit",
        needs: &[Permission::ReadAudit],
    },
    NavEntry {
        label: "Reviews",
        href: "/console/audit/reviews",
        needs: &[Permission::ReviewQueries],
    },
    NavEntry {
        label: "Reports",
        href: "/console/reports",
        needs: &[Permission::ViewReports],
    },
    NavEntry {
        label: "Sharing",
        href: "/console/sharing",
        needs: &[Permission::ManageSharing],
    },
    NavEntry {
        label: "Cameras",
        href: "/console/cameras",
        needs: &[Permission::ManageCameras],
    },
    NavEntry {
        label: "People",
        href: "/console/people",
        needs: &[Permission::ManageUsers, Permission::GrantAccess],
    },
    NavEntry {
        label: "Policy",
        href: "/console/policy",
        needs: &[Permission::ManagePolicy],
    },
    NavEntry {
        label: "Holds",
        href: "/console/holds",
        needs: &[Permission::ManagePolicy],
    },
    NavEntry {
        label: "Account",
        href: "/account",
        needs: &[],
    },
];

fn nav_allows(role: Role, entry: &NavEntry) -> bool {
    entry.needs.is_empty() || entry.needs.iter().any(|p| role.allows(*p))
}

/// A link in the main navigation.
pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// Who is signed in, as the layout shows it.
pub struct UserBadge {
    pub name: String,
    pub role: String,
}

/// What the base layout needs: the agency's name, the nav and the signed-in person.
pub struct Layout {
    pub agency: String,
    pub nav: Vec<NavLink>,
    pub user: Option<UserBadge>,
    /// The session's CSRF token, for every form on the page.
    pub csrf: String,
}

impl Layout {
    /// The layout for someone not (fully) signed in: no nav.
    pub fn anonymous(state: &AppState) -> Layout {
        Layout {
            agency: state.config.agency_name.clone(),
            nav: Vec::new(),
            user: None,
            csrf: String::new(),
        }
    }

    fn for_actor(state: &AppState, actor: &Actor, path: &str) -> Layout {
        // The longest matching prefix is the current page ("Reviews" under "Audit").
        let current = NAV
            .iter()
            .filter(|e| path == e.href || path.starts_with(&format!("{}/", e.href)))
            .map(|e| e.href)
            .max_by_key(|h| h.len());
        Layout {
            agency: state.config.agency_name.clone(),
            nav: NAV
                .iter()
                .filter(|e| nav_allows(actor.role, e))
                .map(|e| NavLink {
                    label: e.label,
                    href: e.href,
                    current: Some(e.href) == current,
                })
                .collect(),
            user: Some(UserBadge {
                name: actor.username.clone(),
                role: actor.role.label().to_string(),
            }),
            csrf: actor.csrf_token.clone(),
        }
    }
}

/// A fully signed-in person on a console page, with the page's layout. Without a usable
/// session the request is redirected to the sign-in step it needs.
pub struct Console {
    pub actor: Actor,
    pub layout: Layout,
}

impl Console {
    /// The actor's permission check, refused as a page inside the person's own layout.
    // The handlers calling it already return `PageError` by value; boxing here would only move
    // the allocation.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, p: Permission) -> Result<(), PageError> {
        self.actor
            .require(p)
            .map_err(|e| PageError::within(alerts::layout_copy(&self.layout), e))
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = Actor::from_request_parts(parts, state)
            .await
            .map_err(signin_redirect)?;
        let layout = Layout::for_actor(state, &actor, parts.uri.path());
        Ok(Console { actor, layout })
    }
}

/// Where a refused session goes: the sign-in step it lacks, or the sign-in form with the
/// reason (as a code, so nothing the client sent is shown back).
pub fn signin_redirect(e: ApiError) -> Response {
    match e.code.as_str() {
        "mfa_enrolment_required" => Redirect::to("/login/enrol").into_response(),
        "policy_ack_required" => Redirect::to("/login/policy").into_response(),
        code @ ("session_ended" | "account_disabled" | "account_locked" | "account_idle") => {
            Redirect::to(&format!("/login?reason={code}")).into_response()
        }
        _ if e.status == StatusCode::UNAUTHORIZED => {
            Redirect::to("/login?reason=signed_out").into_response()
        }
        _ => PageError::from(e).into_response(),
    }
}

/// Renders a template, or a plain error page if rendering fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be shown. Reload it; tell the administrator if it persists.</p>".to_string()),
            )
                .into_response()
        }
    }
}

/// Renders a template with a status other than 200.
pub fn render_status(status: StatusCode, t: &impl Template) -> Response {
    let mut res = render(t);
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

/// An error shown as a page: the API's message, in the layout, with the API's status.
pub struct PageError {
    error: ApiError,
    layout: Option<Layout>,
}

impl PageError {
    /// The error shown inside the person's own layout (with the nav).
    pub fn within(layout: Layout, error: ApiError) -> PageError {
        PageError {
            error,
            layout: Some(layout),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError {
            error,
            layout: None,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let layout = self.layout.unwrap_or(Layout {
            agency: String::new(),
            nav: Vec::new(),
            user: None,
            csrf: String::new(),
        });
        let mut res = render_status(
            self.error.status,
            &ErrorPage {
                layout,
                status: self.error.status.as_u16(),
                message: self.error.message.clone(),
            },
        );
        self.error.add_retry_after(&mut res);
        res
    }
}

/// `/console`: the first area the person's role opens.
/// The site's front door leads to the console (its sign-in, for someone not signed in),
/// whose sign-in page links to the public transparency page.
async fn root() -> Redirect {
    Redirect::to("/console")
}

async fn home(c: Console) -> Redirect {
    let first = c.layout.nav.first().map(|l| l.href).unwrap_or("/account");
    Redirect::to(first)
}

/// The vehicle as the camera described it, in words: `silver-gray toyota camry 2010-2014,
/// sedan`, or the colour Candor named with how sure it was; empty when nothing is known.
/// Used by the alert card and the read page.
pub fn vehicle_text(d: &candor_store::reads::ReadDetails) -> String {
    let main = [
        d.vehicle_color.as_deref(),
        d.vehicle_make.as_deref(),
        d.vehicle_model.as_deref(),
        d.vehicle_year.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let described = match d.vehicle_body.as_deref() {
        Some(body) if main.is_empty() => body.to_string(),
        Some(body) => format!("{main}, {body}"),
        None => main,
    };
    match d.vehicle_color_confidence {
        Some(c) => format!(
            "{described} (colour named by Candor, {:.0} % sure)",
            100.0 * c
        ),
        None => described,
    }
}

/// Where the camera was when it read the plate (GPS it sent), in degrees; `None` when it
/// sent none.
pub fn position_text(d: &candor_store::reads::ReadDetails) -> Option<String> {
    Some(format!("{:.5}, {:.5}", d.latitude?, d.longitude?))
}

/// Time for people: `2026-11-28 16:30:05 UTC`.
pub fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A `datetime-local` value (UTC) for a form field.
pub fn datetime_local(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// Reads a `datetime-local` field as UTC Unix milliseconds.
pub fn parse_datetime_local(text: &str) -> Option<i64> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_round_trips_as_utc() {
        let ms = parse_datetime_local("2026-11-28T16:30").unwrap();
        assert_eq!(datetime_local(ms), "2026-11-28T16:30");
        assert_eq!(time_text(ms), "2026-11-28 16:30:00 UTC");
        assert!(parse_datetime_local("yesterday").is_none());
    }

    #[test]
    fn nav_shows_only_what_the_role_permits() {
        let officer: Vec<_> = NAV
            .iter()
            .filter(|e| nav_allows(Role::Officer, e))
            .map(|e| e.label)
            .collect();
        assert!(officer.contains(&"Alerts"));
        assert!(!officer.contains(&"Search"));
        assert!(!officer.contains(&"Partner search"));
        assert!(!officer.contains(&"Audit"));
        let auditor: Vec<_> = NAV
            .iter()
            .filter(|e| nav_allows(Role::Auditor, e))
            .map(|e| e.label)
            .collect();
        assert!(auditor.contains(&"Audit"));
        assert!(auditor.contains(&"Reports"));
        assert!(!auditor.contains(&"Alerts"));
        assert!(!auditor.contains(&"Sharing"));
    }
}
