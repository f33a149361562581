//! Sign-in pages: password and code (`/login`), authenticator enrolment with a QR code
//! (`/login/enrol`), policy acknowledgement (`/login/policy`), sign-out and the account page.
//! The checks themselves live in `crate::auth`, shared with the JSON API.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::sessions::SessionStage;
use serde::Deserialize;

use super::{Console, Layout, PageError, render, render_status, time_text};
use crate::auth::{
    self, ClientAddr, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SessionUser, SignInAttempt, SignedIn,
    credentials,
};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(auth::CONSOLE_SIGN_IN_PATH, get(login_page).post(login_form))
        .route("/login/enrol", get(enrol_page).post(enrol_form))
        .route("/login/policy", get(policy_page).post(policy_form))
        .route("/logout", post(logout_form))
        .route("/account", get(account_page))
        .route("/account/password", post(password_form))
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    username: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// What a session refused because its address is locked out is told, from the lockout's
/// numbers.
static LOCKED_TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "Your account is locked from this address after {} failed sign-ins in a row. Wait {} minutes and try again, sign in from another address, or ask an administrator to unlock it.",
        crate::auth::MAX_FAILED_SIGN_INS,
        crate::auth::LOCKOUT_MS / 60_000
    )
});

/// Why someone was sent back to the sign-in form, in words that say what to do.
fn reason_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "signed_out" => "Sign in to continue.",
        "password_changed" => {
            "Your password is changed and every session of yours has ended: sign in with the new one."
        }
        "session_ended" => {
            "Your session has ended (signed out, 30 minutes without activity, or closed by an administrator). Sign in again."
        }
        "account_locked" => LOCKED_TEXT.as_str(),
        "account_disabled" => "Your account is disabled. Ask an administrator.",
        "account_idle" => {
            "Your account was not used for longer than the policy allows and has lapsed. Ask an administrator to reactivate it."
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct LoginQuery {
    reason: Option<String>,
}

fn login_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    // Double-submit CSRF token for the form: no session exists yet.
    let csrf = credentials::random_token();
    let cookie = auth::strict_cookie(
        LOGIN_CSRF_COOKIE,
        &csrf,
        auth::over_tls(headers),
        Some(3600),
    );
    let page = LoginPage {
        layout: Layout::anonymous(state),
        csrf,
        username: username.to_string(),
        notice,
        error,
    };
    let mut res = render_status(status, &page);
    if let Ok(v) = cookie.parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The sign-in form.
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = q.reason.as_deref().and_then(reason_text);
    login_response(&state, &headers, StatusCode::OK, "", notice, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub csrf_token: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub code: String,
    /// A new password of one's own, when an administrator set the current one.
    #[serde(default)]
    pub new_password: String,
}

/// The sign-in form's submission.
pub async fn login_form(
    State(state): State<AppState>,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tls = auth::over_tls(&headers);
    let cookie_csrf = auth::cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie_csrf.is_empty() || !credentials::secrets_equal(&cookie_csrf, &form.csrf_token) {
        return login_response(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &form.username,
            None,
            Some("The form expired or was not sent from this page. Please sign in again.".into()),
        );
    }
    let code = form.code.trim();
    let is_totp = code.len() == 6 && code.chars().all(|c| c.is_ascii_digit());
    let attempt = SignInAttempt {
        username: form.username.clone(),
        password: form.password.clone(),
        totp_code: is_totp.then(|| code.to_string()),
        recovery_code: (!is_totp && !code.is_empty()).then(|| code.to_string()),
        new_password: Some(form.new_password.clone()).filter(|p| !p.is_empty()),
        remote_addr: remote,
        channel: "console",
    };
    match auth::sign_in(&state, attempt).await {
        Ok(SignedIn { token, stage, .. }) => {
            let next = if stage == SessionStage::Enrol {
                "/login/enrol"
            } else {
                "/console"
            };
            let mut resp = Redirect::to(next).into_response();
            let h = resp.headers_mut();
            if let Ok(v) = auth::strict_cookie(SESSION_COOKIE, &token, tls, None).parse() {
                h.append(header::SET_COOKIE, v);
            }
            if let Ok(v) = auth::cleared_cookie(LOGIN_CSRF_COOKIE, tls).parse() {
                h.append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            let mut res = login_response(
                &state,
                &headers,
                e.status,
                &form.username,
                None,
                Some(e.message.clone()),
            );
            e.add_retry_after(&mut res);
            res
        }
    }
}

#[derive(Template)]
#[template(path = "console/enrol.html")]
struct EnrolPage {
    layout: Layout,
    csrf: String,
    qr_svg: String,
    otpauth_url: String,
    secret: String,
    error: Option<String>,
}

/// An SVG QR code of `text`, for inline use in a page.
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal(format!("could not draw the QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline SVG in HTML takes no XML declaration.
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |i| svg[i..].to_string()))
}

fn enrol_response(
    state: &AppState,
    su: &SessionUser,
    e: &credentials::TotpEnrolment,
    error: Option<String>,
) -> Result<Response, ApiError> {
    let page = EnrolPage {
        layout: Layout::anonymous(state),
        csrf: su.session.csrf_token.clone(),
        qr_svg: qr_svg(&e.otpauth_url)?,
        otpauth_url: e.otpauth_url.clone(),
        secret: e.secret_base32.clone(),
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render_status(status, &page))
}

/// Authenticator enrolment: a new secret, as a QR code and as text.
pub async fn enrol_page(
    State(state): State<AppState>,
    su: Result<SessionUser, ApiError>,
) -> Response {
    let su = match su {
        Ok(su) => su,
        Err(e) => return super::signin_redirect(e),
    };
    if su.session.stage != SessionStage::Enrol {
        return Redirect::to("/console").into_response();
    }
    match auth::begin_totp_enrolment(&state, &su).await {
        Ok(e) => enrol_response(&state, &su, &e, None)
            .unwrap_or_else(|e| PageError::from(e).into_response()),
        Err(e) => PageError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    pub code: String,
}

#[derive(Template)]
#[template(path = "console/recovery.html")]
struct RecoveryPage {
    layout: Layout,
    codes: Vec<String>,
}

/// Confirms enrolment; shows the recovery codes once.
pub async fn enrol_form(
    State(state): State<AppState>,
    su: Result<SessionUser, ApiError>,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let su = match su {
        Ok(su) => su,
        Err(e) => return Ok(super::signin_redirect(e)),
    };
    match auth::confirm_totp_enrolment(&state, &su, &form.code).await {
        Ok(codes) => Ok(render(&RecoveryPage {
            layout: Layout::anonymous(&state),
            codes,
        })),
        Err(e) if e.code == "wrong_code" => {
            // Show the same secret again so the person can retry with the next code.
            let user = state
                .store
                .user_by_id(su.user.id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| ApiError::unauthenticated("sign in again"))?;
            let secret = user
                .totp_secret(&state.keys)
                .map_err(ApiError::from)?
                .unwrap_or_default();
            let enrolment = credentials::totp_enrolment(
                &secret,
                &format!("Candor {}", state.config.agency_name),
                &user.username,
            )
            .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(enrol_response(&state, &su, &enrolment, Some(e.message))?)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/policy_ack.html")]
struct PolicyAckPage {
    layout: Layout,
    csrf: String,
    version: i64,
    agency: String,
    statement: String,
    purposes: String,
    case_example: String,
    max_range: String,
    results_cap: u32,
    retention_reads: String,
    retention_hits: String,
    hot_plate_max: String,
    error: Option<String>,
    /// The version this person accepted last, and what changed since (none on a first
    /// acknowledgement).
    accepted: Option<i64>,
    changes: Vec<candor_policy::PolicyChange>,
}

/// The version `user_id` accepted last, and what differs from it in the policy in force.
async fn changes_since_accepted(
    state: &AppState,
    user_id: i64,
    in_force: &candor_policy::PolicyDocument,
) -> Result<(Option<i64>, Vec<candor_policy::PolicyChange>), ApiError> {
    let Some(accepted) = state.store.acknowledged_policy_version(user_id).await? else {
        return Ok((None, Vec::new()));
    };
    let earlier = state
        .store
        .policy_versions()
        .await?
        .into_iter()
        .find(|v| v.version == accepted)
        .and_then(|v| candor_policy::PolicyDocument::from_json(&v.document).ok());
    Ok(match earlier {
        Some(earlier) => (Some(accepted), in_force.changes_since(&earlier)),
        None => (Some(accepted), Vec::new()),
    })
}

pub use candor_policy::duration_words;

async fn policy_response(
    state: &AppState,
    su: &SessionUser,
    error: Option<String>,
) -> Result<Response, PageError> {
    let policy = crate::routes::policy::policy_in_force(state).await?;
    let d = &policy.document;
    let (accepted, changes) = changes_since_accepted(state, su.user.id, d).await?;
    let page = PolicyAckPage {
        accepted,
        changes,
        layout: Layout::anonymous(state),
        csrf: su.session.csrf_token.clone(),
        version: policy.version,
        agency: d.agency_name.clone(),
        statement: d.statement_of_purpose.clone(),
        purposes: d
            .purpose_categories
            .iter()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        case_example: d.case_number_example.clone(),
        max_range: duration_words(d.max_search_range),
        results_cap: d.results_cap,
        retention_reads: duration_words(d.retention.non_hit_reads),
        retention_hits: duration_words(d.retention.hits),
        hot_plate_max: duration_words(d.user_hot_plate_max_expiry),
        error,
    };
    Ok(render(&page))
}

/// The policy in force, to read and acknowledge.
pub async fn policy_page(
    State(state): State<AppState>,
    su: Result<SessionUser, ApiError>,
) -> Result<Response, PageError> {
    let su = match su {
        Ok(su) if su.session.stage == SessionStage::Full => su,
        Ok(_) => return Ok(Redirect::to("/login/enrol").into_response()),
        Err(e) => return Ok(super::signin_redirect(e)),
    };
    policy_response(&state, &su, None).await
}

#[derive(Deserialize)]
pub struct AckForm {
    pub version: i64,
}

/// Acknowledges the version read, through the API's handler (same checks, same audit).
pub async fn policy_form(
    State(state): State<AppState>,
    su: Result<SessionUser, ApiError>,
    Form(form): Form<AckForm>,
) -> Result<Response, PageError> {
    let su = match su {
        Ok(su) => su,
        Err(e) => return Ok(super::signin_redirect(e)),
    };
    let body = serde_json::json!({ "version": form.version });
    match crate::routes::policy::acknowledge_policy(State(state.clone()), su.clone(), Json(body))
        .await
    {
        Ok(_) => Ok(Redirect::to("/console").into_response()),
        Err(e) if e.code == "policy_changed" => policy_response(&state, &su, Some(e.message)).await,
        Err(e) => Err(e.into()),
    }
}

/// Signs out from the console.
pub async fn logout_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    su: Result<SessionUser, ApiError>,
) -> Result<Response, PageError> {
    let su = match su {
        Ok(su) => su,
        Err(e) => return Ok(super::signin_redirect(e)),
    };
    auth::sign_out(&state, &su).await?;
    let mut resp = Redirect::to("/login?reason=signed_out").into_response();
    if let Ok(v) = auth::cleared_cookie(SESSION_COOKIE, auth::over_tls(&headers)).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    layout: Layout,
    username: String,
    role: String,
    training: String,
    access: &'static str,
    codes_left: i64,
    policy_version: i64,
    /// What went wrong with a password change just sent, shown beside its form.
    password_error: Option<String>,
}

/// The signed-in person's account.
pub async fn account_page(
    State(state): State<AppState>,
    c: Console,
) -> Result<Response, PageError> {
    Ok(render(&account(&state, c, None).await?))
}

async fn account(
    state: &AppState,
    c: Console,
    password_error: Option<String>,
) -> Result<AccountPage, PageError> {
    let codes_left = state
        .store
        .recovery_codes_left(c.actor.user_id)
        .await
        .map_err(ApiError::from)?;
    let now = candor_store::now_ms();
    let training = match c.actor.training_expires {
        None => "none on record: complete the training and ask a program manager to record it"
            .to_string(),
        Some(t) if t <= now => format!("expired on {}: renew it", time_text(t)),
        Some(t) => format!("current until {}", time_text(t)),
    };
    Ok(AccountPage {
        username: c.actor.username.clone(),
        role: c.actor.role.label().to_string(),
        training,
        access: if c.actor.access_granted {
            "granted by a program manager"
        } else {
            "not granted"
        },
        codes_left,
        policy_version: c.actor.policy_version,
        layout: c.layout,
        password_error,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    repeat_password: String,
}

/// Changes the signed-in person's own password (the API's rule: the current one first, a
/// strong new one), which ends every session of theirs, this one too: the person signs in
/// again with the new one. A refusal is shown beside the form.
pub async fn password_form(
    State(state): State<AppState>,
    c: Console,
    Form(f): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let changed = if f.new_password != f.repeat_password {
        Err(ApiError::unprocessable(
            "passwords_differ",
            "the new password and its repetition differ: type the same new password twice",
        ))
    } else {
        auth::change_own_password(&state, &c.actor, &f.current_password, &f.new_password).await
    };
    match changed {
        Ok(()) => Ok(Redirect::to("/login?reason=password_changed").into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let page = account(&state, c, Some(e.message)).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}
