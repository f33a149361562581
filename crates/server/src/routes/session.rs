//! Sign-in and sessions: the JSON API (`/api/v1/session…`) and the console's server-rendered
//! sign-in pages (`/login`, `/login/enrol`, `/logout`, `/account`).

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{
    self, Actor, ClientAddr, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SessionUser, SignInAttempt,
    SignedIn, credentials,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use candor_store::sessions::SessionStage;

#[derive(OpenApi)]
#[openapi(
    paths(
        create_session,
        get_session,
        delete_session,
        begin_totp,
        confirm_totp,
        change_password
    ),
    components(schemas(
        SignInRequest,
        SessionCreated,
        SessionInfo,
        UserSummary,
        TotpEnrolmentBody,
        TotpConfirm,
        RecoveryCodes,
        PasswordChange
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/session",
            post(create_session).get(get_session).delete(delete_session),
        )
        .route("/api/v1/session/totp", post(begin_totp))
        .route("/api/v1/session/totp/confirm", post(confirm_totp))
        .route("/api/v1/session/password", post(change_password))
        .route("/login", get(login_page).post(login_form))
        .route("/login/enrol", get(enrol_page).post(enrol_form))
        .route("/logout", post(logout_form))
        .route("/account", get(account_page))
}

/// Sign-in with both factors. Send `totp_code` (6 digits) or, if the authenticator is lost,
/// one `recovery_code`. An account without an authenticator yet gets a session at stage
/// `enrol`, good only for enrolling one.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionCreated {
    /// Bearer token for API clients (also set as an HttpOnly cookie). Shown once.
    pub token: String,
    /// Send as `X-CSRF-Token` on state-changing requests authenticated by the cookie.
    pub csrf_token: String,
    /// `full`, or `enrol` when an authenticator must be set up first.
    pub stage: String,
    pub user: UserSummary,
    /// The session ends after this many seconds without a request.
    pub idle_timeout_secs: i64,
    /// Set after signing in with a recovery code.
    pub recovery_codes_left: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub stage: String,
    pub user: UserSummary,
    pub csrf_token: String,
    pub created_at: i64,
    pub idle_timeout_secs: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpEnrolmentBody {
    /// Base32 secret, for typing into an authenticator app.
    pub secret_base32: String,
    /// `otpauth://` URL, for a QR code or a link on a phone.
    pub otpauth_url: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpConfirm {
    pub code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// One-time codes for signing in without the authenticator. Shown once: store them safely.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

fn summary(user: &candor_store::users::User) -> UserSummary {
    UserSummary {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
    }
}

fn session_cookie(token: &str, headers: &HeaderMap) -> String {
    auth::strict_cookie(SESSION_COOKIE, token, auth::over_tls(headers), None)
}

/// Signs in (password and TOTP code); audited, success or failure.
#[utoipa::path(post, path = "/api/v1/session", request_body = SignInRequest, responses(
    (status = 200, body = SessionCreated),
    (status = 401, description = "wrong username, password or code", body = ErrorBody),
    (status = 403, description = "account locked or disabled", body = ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: SignInRequest = auth::parse_body(body)?;
    let signed = auth::sign_in(
        &state,
        SignInAttempt {
            username: req.username,
            password: req.password,
            totp_code: req.totp_code,
            recovery_code: req.recovery_code,
            remote_addr: remote,
            channel: "api",
        },
    )
    .await?;
    let cookie = session_cookie(&signed.token, &headers);
    let body = SessionCreated {
        stage: signed.stage.as_str().to_string(),
        user: summary(&signed.user),
        idle_timeout_secs: auth::SESSION_IDLE_MS / 1000,
        recovery_codes_left: signed.recovery_codes_left,
        token: signed.token,
        csrf_token: signed.csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The caller's session.
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn get_session(su: SessionUser) -> Json<SessionInfo> {
    Json(SessionInfo {
        stage: su.session.stage.as_str().to_string(),
        user: summary(&su.user),
        csrf_token: su.session.csrf_token.clone(),
        created_at: su.session.created_at,
        idle_timeout_secs: auth::SESSION_IDLE_MS / 1000,
    })
}

/// Signs out (ends the session); audited.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    su: SessionUser,
) -> Result<Response, ApiError> {
    auth::sign_out(&state, &su).await?;
    let cleared = auth::cleared_cookie(SESSION_COOKIE, auth::over_tls(&headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// Starts authenticator enrolment (session at stage `enrol` only): returns a new secret.
#[utoipa::path(post, path = "/api/v1/session/totp", responses((status = 200, body = TotpEnrolmentBody), (status = 409, body = ErrorBody)))]
pub async fn begin_totp(
    State(state): State<AppState>,
    su: SessionUser,
) -> Result<Json<TotpEnrolmentBody>, ApiError> {
    let e = auth::begin_totp_enrolment(&state, &su).await?;
    Ok(Json(TotpEnrolmentBody {
        secret_base32: e.secret_base32,
        otpauth_url: e.otpauth_url,
    }))
}

/// Confirms enrolment with a code from the app; the session becomes fully signed in and the
/// answer carries the recovery codes (shown once).
#[utoipa::path(post, path = "/api/v1/session/totp/confirm", request_body = TotpConfirm, responses(
    (status = 200, body = RecoveryCodes), (status = 422, body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    su: SessionUser,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let req: TotpConfirm = auth::parse_body(body)?;
    let codes = auth::confirm_totp_enrolment(&state, &su, &req.code).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Changes the caller's own password (the current one is required); other sessions end.
#[utoipa::path(post, path = "/api/v1/session/password", request_body = PasswordChange, responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let req: PasswordChange = auth::parse_body(body)?;
    auth::change_own_password(&state, &actor, &req.current_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Console pages ----------------------------------------------------------------------

fn esc(s: &str) -> String {
    html_escape::encode_safe(s).into_owned()
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Candor</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem;font-size:1rem}}\
         button{{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}}.error{{color:#a00;border:1px solid #a00;padding:.5rem}}\
         code{{font-size:1.1rem}}</style></head><body>{}</body></html>",
        esc(title),
        body
    ))
}

fn login_html(agency: &str, csrf: &str, error: Option<&str>, username: &str) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to Candor</h1><p>{agency}</p>{error}\
             <form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <label for=\"username\">Username</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{username}\">\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <label for=\"code\">Authenticator code (or a recovery code; leave empty on your first sign-in)</label>\
             <input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" inputmode=\"text\">\
             <button type=\"submit\">Sign in</button></form>\
             <p><small>Access is for trained, authorised users only; every sign-in and search is recorded.</small></p>",
            agency = esc(agency),
            csrf = esc(csrf),
            username = esc(username),
        ),
    )
}

/// The sign-in form. Sets a fresh CSRF cookie that the form must echo (double submit).
pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = credentials::random_token();
    let cookie = auth::strict_cookie(
        LOGIN_CSRF_COOKIE,
        &csrf,
        auth::over_tls(&headers),
        Some(3600),
    );
    (
        [(header::SET_COOKIE, cookie)],
        login_html(&state.config.agency_name, &csrf, None, ""),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub csrf_token: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub code: String,
}

/// The sign-in form's submission.
pub async fn login_form(
    State(state): State<AppState>,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tls = auth::over_tls(&headers);
    let fresh_csrf = credentials::random_token();
    let rerender = |status: StatusCode, message: &str| {
        let cookie = auth::strict_cookie(LOGIN_CSRF_COOKIE, &fresh_csrf, tls, Some(3600));
        (
            status,
            [(header::SET_COOKIE, cookie)],
            login_html(
                &state.config.agency_name,
                &fresh_csrf,
                Some(message),
                &form.username,
            ),
        )
            .into_response()
    };
    let cookie_csrf = auth::cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie_csrf.is_empty() || !credentials::secrets_equal(&cookie_csrf, &form.csrf_token) {
        return rerender(
            StatusCode::FORBIDDEN,
            "The form expired or was not sent from this page. Please sign in again.",
        );
    }
    let code = form.code.trim();
    let is_totp = code.len() == 6 && code.chars().all(|c| c.is_ascii_digit());
    let attempt = SignInAttempt {
        username: form.username.clone(),
        password: form.password.clone(),
        totp_code: is_totp.then(|| code.to_string()),
        recovery_code: (!is_totp && !code.is_empty()).then(|| code.to_string()),
        remote_addr: remote,
        channel: "console",
    };
    match auth::sign_in(&state, attempt).await {
        Ok(SignedIn { token, stage, .. }) => {
            let next = if stage == SessionStage::Enrol {
                "/login/enrol"
            } else {
                "/account"
            };
            let mut resp = Redirect::to(next).into_response();
            let h = resp.headers_mut();
            if let Ok(v) = session_cookie(&token, &headers).parse() {
                h.append(header::SET_COOKIE, v);
            }
            if let Ok(v) = auth::cleared_cookie(LOGIN_CSRF_COOKIE, tls).parse() {
                h.append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => rerender(e.status, &e.message),
    }
}

/// Authenticator enrolment page: a new secret for a session at stage `enrol`.
pub async fn enrol_page(
    State(state): State<AppState>,
    su: SessionUser,
) -> Result<Response, ApiError> {
    if su.session.stage != SessionStage::Enrol {
        return Ok(Redirect::to("/account").into_response());
    }
    let e = auth::begin_totp_enrolment(&state, &su).await?;
    Ok(enrol_html(&su.session.csrf_token, &e, None).into_response())
}

fn enrol_html(csrf: &str, e: &credentials::TotpEnrolment, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Set up your authenticator",
        &format!(
            "<h1>Set up your authenticator</h1>{error}\
             <p>Every Candor account needs a second factor. Add this account to an authenticator app \
             (open the link on your phone, or type the key), then enter the 6-digit code it shows.</p>\
             <p><a href=\"{url}\">Add to authenticator app</a></p>\
             <p>Key: <code>{secret}</code></p>\
             <form method=\"post\" action=\"/login/enrol\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <label for=\"code\">Code from the app</label><input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required>\
             <button type=\"submit\">Confirm</button></form>",
            url = esc(&e.otpauth_url),
            secret = esc(&e.secret_base32),
            csrf = esc(csrf),
        ),
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    pub code: String,
}

/// Confirms enrolment; shows the recovery codes once.
pub async fn enrol_form(
    State(state): State<AppState>,
    su: SessionUser,
    Form(form): Form<CodeForm>,
) -> Result<Response, ApiError> {
    match auth::confirm_totp_enrolment(&state, &su, &form.code).await {
        Ok(codes) => {
            let list: String = codes
                .iter()
                .map(|c| format!("<li><code>{}</code></li>", esc(c)))
                .collect();
            Ok(page(
                "Recovery codes",
                &format!(
                    "<h1>Your authenticator is set up</h1>\
                     <p>These recovery codes sign you in if you lose the authenticator, each once. \
                     They are shown only now: print them or store them safely.</p><ul>{list}</ul>\
                     <p><a href=\"/account\">Continue</a></p>"
                ),
            )
            .into_response())
        }
        Err(e) if e.code == "wrong_code" => {
            // Show the same secret again so the user can retry with the next code.
            let user = state
                .store
                .user_by_id(su.user.id)
                .await?
                .ok_or_else(|| ApiError::unauthenticated("sign in again"))?;
            let secret = user.totp_secret(&state.keys)?.unwrap_or_default();
            let enrolment = credentials::totp_enrolment(
                &secret,
                &format!("Candor {}", state.config.agency_name),
                &user.username,
            )
            .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                enrol_html(&su.session.csrf_token, &enrolment, Some(&e.message)),
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

/// Signs out from the console.
pub async fn logout_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    su: SessionUser,
) -> Result<Response, ApiError> {
    auth::sign_out(&state, &su).await?;
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = auth::cleared_cookie(SESSION_COOKIE, auth::over_tls(&headers)).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The signed-in person's account page (the console's landing page after sign-in).
pub async fn account_page(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Html<String>, ApiError> {
    let codes_left = state.store.recovery_codes_left(actor.user_id).await?;
    Ok(page(
        "Account",
        &format!(
            "<h1>Signed in</h1><p>{name} — role: {role}</p><p>Recovery codes left: {codes_left}</p>\
             <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <button type=\"submit\">Sign out</button></form>",
            name = esc(&actor.username),
            role = esc(&auth::role_name(actor.role)),
            csrf = esc(&actor.csrf_token),
        ),
    ))
}
