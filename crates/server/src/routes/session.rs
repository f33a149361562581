//! Sign-in and sessions: the JSON API (`/api/v1/session…`). The console's sign-in pages
//! (`/login`, `/login/enrol`, `/login/policy`, `/logout`, `/account`) are in
//! `crate::console::signin`, on the same checks in `crate::auth`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{self, Actor, ClientAddr, SESSION_COOKIE, SessionUser, SignInAttempt};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

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
            auth::API_SIGN_IN_PATH,
            post(create_session).get(get_session).delete(delete_session),
        )
        .route("/api/v1/session/totp", post(begin_totp))
        .route("/api/v1/session/totp/confirm", post(confirm_totp))
        .route("/api/v1/session/password", post(change_password))
}

/// Sign-in with both factors. Send `totp_code` (6 digits) or, if the authenticator is lost,
/// one `recovery_code`. An account without an authenticator yet gets a session at stage
/// `enrol`, good only for enrolling one.
/// Unknown fields are refused (a misspelt `code` must not pass as "no code").
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
    /// Required (428 `password_change_required` without it) when an administrator set the
    /// password: the person's own new password, which replaces it.
    #[serde(default)]
    pub new_password: Option<String>,
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

/// Signs in (password and TOTP code); audited, success or failure. The body may be at most
/// 8 KB. After repeated failures from one address or for one username, sign-ins from it are
/// refused for a while (429, with `Retry-After` in seconds).
#[utoipa::path(post, path = "/api/v1/session", request_body = SignInRequest, responses(
    (status = 200, body = SessionCreated),
    (status = 401, description = "wrong username, password or code", body = ErrorBody),
    (status = 403, description = "account locked or disabled", body = ErrorBody),
    (status = 413, description = "body larger than a sign-in needs (8 KB)", body = ErrorBody),
    (status = 429, description = "too many failed sign-ins from this address or for this username recently",
        body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
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
            new_password: req.new_password,
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
    (status = 200, body = RecoveryCodes), (status = 409, description = "already enrolled, or enrolment not started", body = ErrorBody),
    (status = 422, body = ErrorBody)))]
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

/// Changes the caller's own password (the current one is required); every session of the
/// caller ends, this one too.
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
