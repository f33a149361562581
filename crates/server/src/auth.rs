//! Who is calling: sign-in, sessions and the signed-in person behind a request.
//!
//! A person signs in with username, password (argon2id) and a TOTP code, either with the
//! console form (`POST /login`) or the JSON API (`POST /api/v1/session`). The session token is
//! a 256-bit random value sent back as an HttpOnly, SameSite=Strict cookie (Secure under TLS)
//! and also in the JSON answer, for API clients that send `Authorization: Bearer <token>`.
//! The database keeps only its SHA-256 digest.
//!
//! Handlers take [`Actor`] (fully signed in, active, not locked) and call
//! [`Actor::require`]; the few routes of the sign-in flow itself take [`SessionUser`].
//!
//! CSRF: every state-changing request authenticated by the cookie must carry the session's
//! CSRF token, in the `X-CSRF-Token` header or a `csrf_token` form field (read by
//! [`csrf_form_layer`]). Bearer-token requests need none: browsers never attach that header
//! on their own.
//!
//! Strangers reach the sign-in routes, so those are fenced: a body larger than a sign-in
//! needs is refused before it is read ([`sign_in_body_limit`]), failed sign-ins lock an
//! account from the source that made them and are throttled per address and per username
//! ([`throttle`], where every number of that lives), and the name someone claimed is
//! recorded only bounded ([`candor_audit::bounded`]).

pub mod credentials;
pub mod throttle;

use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use candor_store::sessions::{Session, SessionStage};
use candor_store::users::User;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub use candor_policy::{Permission, Role};
pub use throttle::{LOCKOUT_MS, MAX_FAILED_SIGN_INS};

/// Cookie carrying the session token.
pub const SESSION_COOKIE: &str = "candor_session";
/// Cookie carrying the sign-in form's CSRF token (double submit: no session exists yet).
pub const LOGIN_CSRF_COOKIE: &str = "candor_login_csrf";
/// Header carrying the session's CSRF token on cookie-authenticated API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token on console forms.
pub const CSRF_FIELD: &str = "csrf_token";
/// A session ends after this long without a request (CJIS 5.5.5).
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// Activity is written back at most this often per session, to spare the database a write
/// on every request.
const TOUCH_EVERY_MS: i64 = 15 * 1000;
/// Largest form body the CSRF layer buffers.
const MAX_FORM_BYTES: usize = 1024 * 1024;
/// The JSON API's sign-in route.
pub const API_SIGN_IN_PATH: &str = "/api/v1/session";
/// The console's sign-in form.
pub const CONSOLE_SIGN_IN_PATH: &str = "/login";
/// Largest body a sign-in reads: a username, a password and a code fit many times over.
pub const MAX_SIGN_IN_BYTES: usize = 8 * 1024;

/// The signed-in person making a request: both factors accepted, account active, not locked
/// from the request's address and not idle past the policy's limit, session live, current policy acknowledged.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The session's CSRF token, for forms the console renders.
    pub csrf_token: String,
    /// Client address, for audit records.
    pub remote_addr: String,
    /// The policy version in force for this request (recorded with each query).
    pub policy_version: i64,
    /// Latest training certificate expiry (Unix ms), if any.
    pub training_expires: Option<i64>,
    /// Whether a program manager has granted access to plate data.
    pub access_granted: bool,
}

impl Actor {
    /// Refuses with 403 unless the actor's role allows `p` and, when `p` exposes plate data,
    /// the actor holds a current training certificate and a program manager's grant.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        self.check(p)
            .map_err(|e| e.for_user(self.user_id, &self.username))
    }

    fn check(&self, p: Permission) -> Result<(), ApiError> {
        if !self.role.allows(p) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!(
                    "your role ({}) does not allow this ({}); ask a program manager if your work needs it",
                    role_name(self.role),
                    p.code()
                ),
            ));
        }
        if p.exposes_plate_data() {
            self.require_plate_access(now_ms())?;
        }
        Ok(())
    }

    /// Like [`Actor::require`], for an action that any of `ps` allows.
    pub fn require_any(&self, ps: &[Permission]) -> Result<(), ApiError> {
        match ps.iter().find(|p| self.role.allows(**p)).or(ps.first()) {
            Some(p) => self.require(*p),
            None => Err(ApiError::internal("no permission named for this action")),
        }
    }

    /// The gates in front of plate data: a current training certificate, then a program
    /// manager's grant.
    fn require_plate_access(&self, now: i64) -> Result<(), ApiError> {
        match self.training_expires {
            None => {
                return Err(ApiError::forbidden(
                    "training_missing",
                    "no ALPR training certificate is on record for you: complete the training and ask a program manager to record it",
                ));
            }
            Some(expiry) if expiry <= now => {
                return Err(ApiError::forbidden(
                    "training_expired",
                    format!(
                        "your ALPR training certificate expired on {}: renew the training and ask a program manager to record it",
                        date_text(expiry)
                    ),
                ));
            }
            Some(_) => {}
        }
        if !self.access_granted {
            return Err(ApiError::forbidden(
                "access_not_granted",
                "a program manager has not granted you access to plate data yet",
            ));
        }
        Ok(())
    }
}

fn date_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Refuses an account unused for longer than the policy's idle limit (CJIS: disable
/// inactive accounts); an administrator reactivates it.
pub fn check_idle(
    user: &User,
    policy: &candor_policy::PolicyDocument,
    now: i64,
) -> Result<(), ApiError> {
    let last = user.last_active_at.unwrap_or(user.created_at);
    let limit_ms = i64::try_from(policy.idle_account_limit.as_millis()).unwrap_or(i64::MAX);
    if now.saturating_sub(last) >= limit_ms {
        return Err(ApiError::forbidden(
            "account_idle",
            format!(
                "this account has not been used since {} (longer than the policy allows) and has lapsed: ask an administrator to reactivate it",
                date_text(last)
            ),
        ));
    }
    Ok(())
}

/// A live session at any stage of sign-in (used by the sign-in flow itself: TOTP enrolment,
/// sign-out, session info).
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub session: Session,
    pub role: Role,
    pub remote_addr: String,
}

/// The stored name of a role (`program_manager`, …).
pub fn role_name(role: Role) -> String {
    role.code().to_string()
}

/// Parses a stored or typed role name.
pub fn parse_role(name: &str) -> Result<Role, ApiError> {
    name.trim().to_ascii_lowercase().parse::<Role>().map_err(|_| {
        ApiError::unprocessable(
            "invalid_role",
            format!(
                "unknown role {name:?}: use one of administrator, program_manager, supervisor, investigator, officer, auditor"
            ),
        )
    })
}

/// Current time, Unix milliseconds UTC.
fn now_ms() -> i64 {
    candor_store::now_ms()
}

/// The client's address: the connection's peer; or, when the peer is one of the configured
/// `trusted_proxies`, the nearest address in its `X-Forwarded-For` that is not a trusted
/// proxy — what the proxy itself saw, not what a client wrote further left. Only a parsed
/// IP address is ever returned (never the header's text); "unknown" when the server was
/// started without connect info.
pub fn remote_addr(parts: &Parts, trusted_proxies: &[std::net::IpAddr]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return "unknown".to_string();
    };
    if !trusted_proxies.contains(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    forwarded
        .iter()
        .rev()
        .map_while(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .find(|ip| !trusted_proxies.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// True when the request reached us over TLS (directly or through a proxy that says so); the
/// session cookie is then marked Secure.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` value for a cookie the browser must not expose to scripts nor send cross-site.
pub fn strict_cookie(name: &str, value: &str, secure: bool, max_age_secs: Option<i64>) -> String {
    let mut c = cookie::Cookie::build((name.to_string(), value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure);
    if let Some(secs) = max_age_secs {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    c.build().to_string()
}

/// `Set-Cookie` value that removes a cookie.
pub fn cleared_cookie(name: &str, secure: bool) -> String {
    strict_cookie(name, "", secure, Some(0))
}

/// Where a request's session token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Bearer,
    Cookie,
}

fn session_token(headers: &HeaderMap) -> Option<(String, TokenSource)> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut it = auth.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (it.next(), it.next())
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some((token.trim().to_string(), TokenSource::Bearer));
        }
    }
    cookie_value(headers, SESSION_COOKIE)
        .filter(|t| !t.is_empty())
        .map(|t| (t, TokenSource::Cookie))
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF token found in a console form body by [`csrf_form_layer`].
#[derive(Debug, Clone)]
pub struct FormCsrfToken(pub String);

/// Middleware for console forms: when a state-changing, cookie-authenticated request carries
/// a URL-encoded form, lifts its `csrf_token` field into the request extensions so that the
/// extractors can check it. The body is passed on unchanged.
pub async fn csrf_form_layer(req: Request, next: Next) -> Result<Response, ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_safe_method(req.method()) || !is_form {
        return Ok(next.run(req).await);
    }
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ApiError::payload_too_large("the form is too large"))?;
    if let Some((_, v)) = form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD) {
        parts.extensions.insert(FormCsrfToken(v.into_owned()));
    }
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// Middleware in front of every other (the CSRF layer buffers forms up to 1 MiB): the body of
/// a sign-in (`POST` to [`API_SIGN_IN_PATH`] or [`CONSOLE_SIGN_IN_PATH`]) is read only up to
/// [`MAX_SIGN_IN_BYTES`]; a larger one is refused with 413 before anything of it is parsed,
/// recorded or stored — as the API's JSON error, or as a page for the console's form.
pub async fn sign_in_body_limit(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() != Method::POST || (path != API_SIGN_IN_PATH && path != CONSOLE_SIGN_IN_PATH) {
        return next.run(req).await;
    }
    let console = path == CONSOLE_SIGN_IN_PATH;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match declared {
        Some(n) if n > MAX_SIGN_IN_BYTES => None,
        _ => axum::body::to_bytes(body, MAX_SIGN_IN_BYTES).await.ok(),
    };
    let Some(bytes) = bytes else {
        let e = ApiError::payload_too_large(format!(
            "the sign-in is too large: a username, password and code fit in {} KB; send only those",
            MAX_SIGN_IN_BYTES / 1024
        ));
        return if console {
            axum::response::IntoResponse::into_response(crate::console::PageError::from(e))
        } else {
            axum::response::IntoResponse::into_response(e)
        };
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn csrf_rejection() -> ApiError {
    ApiError::forbidden(
        "csrf",
        "the request lacks a valid CSRF token: reload the page and submit the form again (API clients: send the X-CSRF-Token header from the sign-in answer, or use the bearer token)",
    )
}

/// Checks the CSRF token of a cookie-authenticated, state-changing request.
fn check_csrf(parts: &Parts, expected: &str) -> Result<(), ApiError> {
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.extensions.get::<FormCsrfToken>().map(|t| t.0.clone()));
    match presented {
        Some(t) if credentials::secrets_equal(&t, expected) => Ok(()),
        _ => Err(csrf_rejection()),
    }
}

/// Finds the live session behind a request, applying the idle timeout, the account's state
/// and the CSRF check. Any sign-in stage.
async fn resolve_session(parts: &Parts, state: &AppState) -> Result<SessionUser, ApiError> {
    let (token, source) = session_token(&parts.headers).ok_or_else(|| {
        ApiError::unauthenticated("sign in first: this route needs a signed-in user")
    })?;
    let digest = credentials::token_digest(&token);
    let now = now_ms();
    let remote = remote_addr(parts, &state.config.trusted_proxies);
    let ended = || {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "session_ended",
            "your session has ended (signed out, timed out after 30 idle minutes, or closed by an administrator): sign in again",
        )
    };
    let session = state.store.session(&digest).await?.ok_or_else(ended)?;
    if session.ended_at.is_some() {
        return Err(ended());
    }
    let idle_cutoff = now - SESSION_IDLE_MS;
    if session.last_seen_at < idle_cutoff {
        if state.store.end_session(&digest, now, "idle").await? {
            record(
                state,
                session.user_id,
                None,
                "session.timeout",
                "success",
                &remote,
                json!({}),
            )
            .await?;
        }
        return Err(ended());
    }
    if now - session.last_seen_at >= TOUCH_EVERY_MS
        && !state.store.touch_session(&digest, now, idle_cutoff).await?
    {
        return Err(ended());
    }
    let user = state
        .store
        .user_by_id(session.user_id)
        .await?
        .ok_or_else(ended)?;
    if user.disabled {
        state
            .store
            .end_user_sessions(user.id, now, "account disabled")
            .await?;
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "account_disabled",
            "this account is disabled: ask an administrator",
        ));
    }
    // A session is refused from an address the account is locked from, as a sign-in is.
    if let Some(until) = state
        .store
        .source_locked_until(user.id, &throttle::source_key(&remote), now)
        .await?
    {
        return Err(locked_error(until));
    }
    if source == TokenSource::Cookie && !is_safe_method(&parts.method) {
        check_csrf(parts, &session.csrf_token)?;
    }
    let role = parse_role(&user.role).map_err(|_| {
        ApiError::internal(
            "the account's stored role is unknown; an administrator must set a valid role",
        )
    })?;
    Ok(SessionUser {
        user,
        session,
        role,
        remote_addr: remote,
    })
}

fn locked_error(until_ms: i64) -> ApiError {
    let when = chrono::DateTime::from_timestamp_millis(until_ms)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_else(|| "later".into());
    ApiError::forbidden(
        "account_locked",
        format!(
            "the account is locked from this address after {MAX_FAILED_SIGN_INS} failed sign-ins in a row: try again after {when}, sign in from another address, or ask an administrator to unlock it"
        ),
    )
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        resolve_session(parts, state).await
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let su = resolve_session(parts, state).await?;
        let (id, name) = (su.user.id, su.user.username.clone());
        full_actor(su, state)
            .await
            .map_err(|e| e.for_user(id, &name))
    }
}

/// The gates after a live session: both factors, not idle, the policy acknowledged.
async fn full_actor(su: SessionUser, state: &AppState) -> Result<Actor, ApiError> {
    if su.session.stage != SessionStage::Full {
        return Err(ApiError::forbidden(
            "mfa_enrolment_required",
            "set up your authenticator app first: POST /api/v1/session/totp, then confirm a code at POST /api/v1/session/totp/confirm (console: /login/enrol)",
        ));
    }
    let now = now_ms();
    let policy = crate::routes::policy::policy_in_force(state).await?;
    check_idle(&su.user, &policy.document, now)?;
    let acknowledged = state.store.acknowledged_policy_version(su.user.id).await?;
    if acknowledged != Some(policy.version) {
        return Err(ApiError::forbidden(
            "policy_ack_required",
            format!(
                "policy version {} is in force and you have not acknowledged it: read it (GET /api/v1/policy) and acknowledge it (POST /api/v1/policy/acknowledge) before anything else",
                policy.version
            ),
        ));
    }
    if su
        .user
        .last_active_at
        .is_none_or(|t| now - t >= TOUCH_EVERY_MS)
    {
        state.store.touch_user(su.user.id, now).await?;
    }
    let training_expires = state.store.training_expiry(su.user.id).await?;
    Ok(Actor {
        user_id: su.user.id,
        username: su.user.username,
        role: su.role,
        csrf_token: su.session.csrf_token,
        remote_addr: su.remote_addr,
        policy_version: policy.version,
        training_expires,
        access_granted: su.user.access_granted_at.is_some(),
    })
}

/// Who an audit record is about: a known account, or the name someone typed at sign-in.
#[derive(Debug, Clone)]
pub enum AuthSubject {
    User { id: i64, username: String },
    Claimed(String),
}

/// Appends an authentication event (sign-in success or failure, sign-out, timeout, MFA
/// enrolment) to the audit log; it is durable before the caller answers.
pub async fn record_auth_event(
    state: &AppState,
    subject: AuthSubject,
    action: &'static str,
    outcome: &'static str,
    remote: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let (actor, target) = match subject {
        AuthSubject::User { id, username } => (
            candor_audit::Actor::User {
                id: id.to_string(),
                name: username,
            },
            format!("user:{id}"),
        ),
        AuthSubject::Claimed(claimed) => (
            candor_audit::Actor::Anonymous {
                claimed: candor_audit::bounded(&claimed).into_owned(),
            },
            "user:unknown".to_string(),
        ),
    };
    append_audit_record(state, actor, action, &target, outcome, remote, details).await
}

/// Appends one record to the hash-chained audit log; it is committed (durable) before this
/// returns, so the caller answers only after its action is on record.
pub async fn append_audit_record(
    state: &AppState,
    actor: candor_audit::Actor,
    action: &str,
    target: &str,
    outcome: &str,
    source: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let outcome = match outcome {
        "success" => candor_audit::Outcome::Success,
        "denied" => candor_audit::Outcome::Denied,
        _ => candor_audit::Outcome::Failure,
    };
    let entry = candor_audit::AuditEntry::new(chrono::Utc::now(), actor, action, target, outcome)
        .with_source(source)
        .with_details(details);
    state.store.append_audit(entry).await?;
    Ok(())
}

async fn record(
    state: &AppState,
    user_id: i64,
    username: Option<&str>,
    action: &'static str,
    outcome: &'static str,
    remote: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let username = match username {
        Some(u) => u.to_string(),
        None => state
            .store
            .user_by_id(user_id)
            .await?
            .map(|u| u.username)
            .unwrap_or_else(|| format!("user {user_id}")),
    };
    record_auth_event(
        state,
        AuthSubject::User {
            id: user_id,
            username,
        },
        action,
        outcome,
        remote,
        details,
    )
    .await
}

/// A sign-in attempt, from the console form or the JSON API.
#[derive(Debug, Clone)]
pub struct SignInAttempt {
    pub username: String,
    pub password: String,
    /// 6-digit code from the authenticator app.
    pub totp_code: Option<String>,
    /// One-time recovery code, instead of the TOTP code.
    pub recovery_code: Option<String>,
    /// A new password of the person's own, required when an administrator set the current
    /// one (a new account, a reset); ignored otherwise.
    pub new_password: Option<String>,
    pub remote_addr: String,
    /// "console" or "api", recorded in the audit log.
    pub channel: &'static str,
}

/// A successful sign-in: the new session's token (shown once) and CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub stage: SessionStage,
    pub user: User,
    pub role: Role,
    /// Recovery codes left, when one was just used.
    pub recovery_codes_left: Option<i64>,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        format!(
            "the username, password or authenticator code is wrong; after {MAX_FAILED_SIGN_INS} failures in a row from one address the account is locked from that address for {} minutes",
            LOCKOUT_MS / 60_000
        ),
    )
}

/// Checks a sign-in attempt and opens a session. The session starts at stage `Enrol` when the
/// account has no TOTP authenticator yet.
///
/// An address or username with too many recent failures is refused first (429, see
/// [`throttle`]), before the password is checked; those refusals are not recorded one by one
/// (that would hand the log back to whoever floods it), but the failure that starts a
/// throttle is (`login.throttled`). Every attempt past the throttle is audited.
pub async fn sign_in(state: &AppState, attempt: SignInAttempt) -> Result<SignedIn, ApiError> {
    let throttle = &state.sign_in_throttle;
    if let Err(t) = throttle.check(&attempt.remote_addr, &attempt.username) {
        return Err(ApiError::too_many_requests(
            "too_many_sign_ins",
            t.to_string(),
            t.retry_after_secs(),
        ));
    }
    let (remote, claimed) = (attempt.remote_addr.clone(), attempt.username.clone());
    let outcome = check_sign_in(state, attempt).await;
    match &outcome {
        Ok(_) => throttle.clear_username(&claimed),
        Err(e)
            if e.status == axum::http::StatusCode::UNAUTHORIZED
                || e.status == axum::http::StatusCode::FORBIDDEN =>
        {
            for by in throttle.failed(&remote, &claimed) {
                record_auth_event(
                    state,
                    AuthSubject::Claimed(claimed.clone()),
                    "login.throttled",
                    "denied",
                    &remote,
                    json!({
                        "by": by.code(),
                        "window_secs": throttle::WINDOW.as_secs(),
                    }),
                )
                .await?;
            }
        }
        Err(_) => {}
    }
    outcome
}

/// [`sign_in`] past the throttle: every outcome is audited.
async fn check_sign_in(state: &AppState, attempt: SignInAttempt) -> Result<SignedIn, ApiError> {
    let now = now_ms();
    let remote = attempt.remote_addr.clone();
    let channel = attempt.channel;
    let Some(user) = state
        .store
        .user_by_username(attempt.username.trim())
        .await?
    else {
        credentials::verify_password_against_nothing(&attempt.password);
        record_auth_event(
            state,
            AuthSubject::Claimed(attempt.username.clone()),
            "login.failure",
            "failure",
            &remote,
            json!({"reason": "unknown_user", "channel": channel}),
        )
        .await?;
        return Err(invalid_credentials());
    };
    let subject = AuthSubject::User {
        id: user.id,
        username: user.username.clone(),
    };
    let failure = |reason: &'static str| FailedSignIn {
        state,
        user: &user,
        now,
        reason,
        channel,
        remote: &remote,
    };
    let password = attempt.password.clone();
    let phc = user.password_hash.clone();
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let password_ok =
        tokio::task::spawn_blocking(move || credentials::verify_password(&password, &phc))
            .await
            .map_err(|_| ApiError::internal("password check failed to run"))?;
    // An account locked from this source says so only to someone who knows its password: to
    // anyone else it answers as a name that is no account does, so "locked" tells no stranger
    // a name exists. The argon2 check above ran either way, so the timing is alike too.
    let source = throttle::source_key(&remote);
    if let Some(until) = state
        .store
        .source_locked_until(user.id, &source, now)
        .await?
    {
        failure("locked")
            .audit(json!({"locked_until": until}))
            .await?;
        return Err(if password_ok {
            locked_error(until)
        } else {
            invalid_credentials()
        });
    }
    if !password_ok {
        return Err(failure("bad_password").count().await?);
    }
    let policy = crate::routes::policy::policy_in_force(state).await?;
    if let Err(e) = check_idle(&user, &policy.document, now) {
        failure("idle").audit(json!({})).await?;
        return Err(e);
    }
    if user.disabled {
        failure("disabled").audit(json!({})).await?;
        return Err(ApiError::forbidden(
            "account_disabled",
            "this account is disabled: ask an administrator",
        ));
    }
    // A password an administrator chose is replaced before any session opens. Asked for
    // before the second factor, so that a one-time code is not spent on a refused attempt.
    let new_password_hash = if user.password_must_change {
        let Some(new) = attempt.new_password.as_deref().filter(|p| !p.is_empty()) else {
            return Err(ApiError::new(
                axum::http::StatusCode::PRECONDITION_REQUIRED,
                "password_change_required",
                "an administrator set this password: sign in again with a new password of your own (new_password)",
            ));
        };
        if new == attempt.password {
            return Err(ApiError::unprocessable(
                "weak_password",
                "choose a password different from the one an administrator set",
            ));
        }
        Some(hash_new_password(&user.username, new).await?)
    } else {
        None
    };
    let mut recovery_codes_left = None;
    let stage = if user.totp_enabled {
        let secret = user.totp_secret(&state.keys)?.unwrap_or_default();
        if let Some(code) = attempt
            .totp_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            let unix_secs = u64::try_from(now / 1000).unwrap_or(0);
            let step = credentials::check_totp(&secret, code, unix_secs, user.totp_last_step)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            match step {
                Some(step) if state.store.use_totp_step(user.id, step).await? => {}
                _ => return Err(failure("bad_totp").count().await?),
            }
        } else if let Some(code) = attempt
            .recovery_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            let digest = credentials::recovery_code_digest(code);
            if !state.store.use_recovery_code(user.id, &digest, now).await? {
                return Err(failure("bad_recovery_code").count().await?);
            }
            recovery_codes_left = Some(state.store.recovery_codes_left(user.id).await?);
        } else {
            return Err(failure("missing_totp").count().await?);
        }
        SessionStage::Full
    } else {
        SessionStage::Enrol
    };
    let role = parse_role(&user.role)?;
    if let Some(hash) = &new_password_hash {
        state.store.set_password_hash(user.id, hash).await?;
        record(
            state,
            user.id,
            Some(&user.username),
            "password.change",
            "success",
            &remote,
            json!({"required": "set by an administrator", "channel": channel}),
        )
        .await?;
    }
    state
        .store
        .record_login_success(user.id, &source, now)
        .await?;
    let token = credentials::random_token();
    let csrf_token = credentials::random_token();
    state
        .store
        .create_session(
            &credentials::token_digest(&token),
            user.id,
            &csrf_token,
            stage,
            &remote,
            now,
        )
        .await?;
    record_auth_event(
        state,
        subject.clone(),
        "login.success",
        "success",
        &remote,
        json!({
            "channel": channel,
            "stage": stage.as_str(),
            "second_factor": if recovery_codes_left.is_some() { "recovery_code" } else if stage == SessionStage::Full { "totp" } else { "none_yet" },
            "recovery_codes_left": recovery_codes_left,
        }),
    )
    .await?;
    Ok(SignedIn {
        token,
        csrf_token,
        stage,
        user,
        role,
        recovery_codes_left,
    })
}

/// A failed sign-in of a known account, to be audited and (mostly) counted.
struct FailedSignIn<'a> {
    state: &'a AppState,
    user: &'a User,
    now: i64,
    reason: &'static str,
    channel: &'static str,
    remote: &'a str,
}

impl FailedSignIn<'_> {
    async fn audit(&self, extra: serde_json::Value) -> Result<(), ApiError> {
        let mut details = json!({"reason": self.reason, "channel": self.channel});
        if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        record(
            self.state,
            self.user.id,
            Some(&self.user.username),
            "login.failure",
            "failure",
            self.remote,
            details,
        )
        .await
    }

    /// Counts the failure against its source (the fifth in a row locks the account from
    /// that source) and gives the answer.
    async fn count(&self) -> Result<ApiError, ApiError> {
        let source = throttle::source_key(self.remote);
        let f = self
            .state
            .store
            .record_login_failure(
                self.user.id,
                &source,
                self.now,
                MAX_FAILED_SIGN_INS,
                LOCKOUT_MS,
            )
            .await?;
        self.audit(json!({"failed_in_a_row": f.failed_in_a_row, "locked_until": f.locked_until}))
            .await?;
        if let Some(until) = f.locked_until {
            record(
                self.state,
                self.user.id,
                Some(&self.user.username),
                "account.locked",
                "success",
                self.remote,
                json!({
                    "until": until,
                    "after_failures": MAX_FAILED_SIGN_INS,
                    "source": candor_store::lockouts::bounded_source(&source),
                }),
            )
            .await?;
        }
        // The same answer as every other wrong guess, lock or not (see `check_sign_in`).
        Ok(invalid_credentials())
    }
}

/// Ends the caller's session (sign-out).
pub async fn sign_out(state: &AppState, su: &SessionUser) -> Result<(), ApiError> {
    if state
        .store
        .end_session(&su.session.id_digest, now_ms(), "signed out")
        .await?
    {
        record(
            state,
            su.user.id,
            Some(&su.user.username),
            "logout",
            "success",
            &su.remote_addr,
            json!({}),
        )
        .await?;
    }
    Ok(())
}

/// Starts (or restarts) TOTP enrolment for a session at stage `Enrol`: a fresh secret, shown
/// once, to be confirmed with [`confirm_totp_enrolment`].
pub async fn begin_totp_enrolment(
    state: &AppState,
    su: &SessionUser,
) -> Result<credentials::TotpEnrolment, ApiError> {
    if su.session.stage != SessionStage::Enrol {
        return Err(ApiError::conflict(
            "already_enrolled",
            "this account already has an authenticator; to replace it, ask an administrator to reset it",
        ));
    }
    let secret = credentials::new_totp_secret();
    let enrolment = credentials::totp_enrolment(
        &secret,
        &format!("Candor {}", state.config.agency_name),
        &su.user.username,
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .begin_totp_enrolment(&state.keys, su.user.id, &secret)
        .await?;
    record(
        state,
        su.user.id,
        Some(&su.user.username),
        "mfa.enrolment_started",
        "success",
        &su.remote_addr,
        json!({}),
    )
    .await?;
    Ok(enrolment)
}

/// Confirms TOTP enrolment with a code from the new authenticator; turns the factor on,
/// promotes the session to fully signed in and returns fresh recovery codes (shown once).
pub async fn confirm_totp_enrolment(
    state: &AppState,
    su: &SessionUser,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    if su.session.stage != SessionStage::Enrol {
        return Err(ApiError::conflict(
            "already_enrolled",
            "this session is already fully signed in",
        ));
    }
    // Re-read: the secret was stored after this request's session was resolved.
    let user = state
        .store
        .user_by_id(su.user.id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    let Some(secret) = user
        .totp_secret(&state.keys)?
        .filter(|_| !user.totp_enabled)
    else {
        return Err(ApiError::conflict(
            "enrolment_not_started",
            "start enrolment first (POST /api/v1/session/totp), then confirm a code from the app",
        ));
    };
    let now = now_ms();
    let unix_secs = u64::try_from(now / 1000).unwrap_or(0);
    let step = credentials::check_totp(&secret, code, unix_secs, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(step) = step else {
        record(
            state,
            user.id,
            Some(&user.username),
            "mfa.enrolment_failed",
            "failure",
            &su.remote_addr,
            json!({}),
        )
        .await?;
        return Err(ApiError::unprocessable(
            "wrong_code",
            "that code does not match the new authenticator: check that the device's clock is right and enter the code now shown",
        ));
    };
    let codes = credentials::new_recovery_codes();
    let digests: Vec<String> = codes
        .iter()
        .map(|c| credentials::recovery_code_digest(c))
        .collect();
    state
        .store
        .confirm_totp_enrolment(user.id, step, &digests, now)
        .await?;
    state.store.promote_session(&su.session.id_digest).await?;
    record(
        state,
        user.id,
        Some(&user.username),
        "mfa.enrolled",
        "success",
        &su.remote_addr,
        json!({"recovery_codes_issued": codes.len()}),
    )
    .await?;
    Ok(codes)
}

/// The client's address, for handlers that have no session yet.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(remote_addr(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

/// Hashes a new password after checking the account rules, off the async workers.
pub async fn hash_new_password(username: &str, password: &str) -> Result<String, ApiError> {
    credentials::check_new_password(username, password)
        .map_err(|e| ApiError::unprocessable("weak_password", e.to_string()))?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal("password hashing failed to run"))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Changes the actor's own password after checking the current one; every other session of
/// the account ends.
pub async fn change_own_password(
    state: &AppState,
    actor: &Actor,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    let user = state
        .store
        .user_by_id(actor.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    let phc = user.password_hash.clone();
    let current = current.to_string();
    let ok = tokio::task::spawn_blocking(move || credentials::verify_password(&current, &phc))
        .await
        .map_err(|_| ApiError::internal("password check failed to run"))?;
    if !ok {
        record(
            state,
            user.id,
            Some(&user.username),
            "password.change",
            "failure",
            &actor.remote_addr,
            json!({"reason": "bad_current_password"}),
        )
        .await?;
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    let hash = hash_new_password(&user.username, new).await?;
    state.store.set_password_hash(user.id, &hash).await?;
    let now = now_ms();
    let others = state
        .store
        .end_user_sessions(user.id, now, "password changed")
        .await?;
    record(
        state,
        user.id,
        Some(&user.username),
        "password.change",
        "success",
        &actor.remote_addr,
        json!({"sessions_ended": others}),
    )
    .await?;
    Ok(())
}

/// Appends a signed-in person's action (user, role, training, policy changes…) to the audit
/// log; durable before the caller answers.
pub async fn record_action(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    append_audit_record(
        state,
        candor_audit::Actor::User {
            id: actor.user_id.to_string(),
            name: actor.username.clone(),
        },
        action,
        target,
        "success",
        &actor.remote_addr,
        details,
    )
    .await
}

/// Creates the first administrator with the one-time bootstrap token from `candor init`
/// (there are no default credentials). Refused once any account exists or when the token
/// does not match; the token is spent on success. The administrator enrols a TOTP
/// authenticator at first sign-in.
pub async fn bootstrap_administrator(
    state: &AppState,
    token: &str,
    username: &str,
    display_name: &str,
    password: &str,
) -> Result<User, ApiError> {
    if state.store.count_users().await? > 0 {
        return Err(ApiError::conflict(
            "already_bootstrapped",
            "accounts already exist: the bootstrap token is only for the first administrator; ask an administrator to create your account",
        ));
    }
    let username = username.trim();
    candor_store::users::check_username(username)?;
    let password_hash = hash_new_password(username, password).await?;
    let token_ok = crate::datadir::consume_bootstrap_token(&state.config.data_dir, token.trim())
        .map_err(|e| ApiError::internal(format!("could not read the bootstrap token file: {e}")))?;
    if !token_ok {
        append_audit_record(
            state,
            candor_audit::Actor::Anonymous {
                claimed: candor_audit::bounded(username).into_owned(),
            },
            "user.bootstrap",
            "user:unknown",
            "failure",
            "cli",
            json!({"reason": "bad_or_spent_token"}),
        )
        .await?;
        return Err(ApiError::forbidden(
            "bad_bootstrap_token",
            "the bootstrap token does not match (or was already used): use the token printed by `candor init` for this data directory",
        ));
    }
    let user = state
        .store
        .create_user(
            &candor_store::users::NewUser {
                username: username.to_string(),
                display_name: display_name.trim().to_string(),
                role: role_name(Role::Administrator),
                password_hash,
                created_by: None,
            },
            now_ms(),
        )
        .await?;
    append_audit_record(
        state,
        candor_audit::Actor::System {
            component: "cli bootstrap".into(),
        },
        "user.bootstrap",
        &format!("user:{}", user.id),
        "success",
        "cli",
        json!({"username": user.username, "role": user.role}),
    )
    .await?;
    Ok(user)
}

/// Lifts every lock of an account, from whatever source, from the command line (audited as
/// the system).
pub async fn unlock_by_system(state: &AppState, user: &User) -> Result<(), ApiError> {
    let lifted = state.store.unlock_user(user.id, now_ms()).await?;
    append_audit_record(
        state,
        candor_audit::Actor::System {
            component: "cli".into(),
        },
        "user.unlock",
        &format!("user:{}", user.id),
        "success",
        "cli",
        json!({"locks_lifted": lifted}),
    )
    .await
}

/// Reads a JSON request body into `T` after the caller's permission was checked: handlers
/// take `Json<serde_json::Value>` and call this once `require` passed, so a refused caller
/// gets 403 rather than a validation error, and a bad body gets the API's error format.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        ApiError::unprocessable(
            "invalid_body",
            format!("the request body is not valid: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_from(peer: &str, forwarded: &[&str]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/login");
        for f in forwarded {
            req = req.header("x-forwarded-for", *f);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts.extensions.insert(axum::extract::ConnectInfo(
            format!("{peer}:40000")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        ));
        parts
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_a_trusted_proxy() {
        let proxy: Vec<std::net::IpAddr> = vec!["10.0.0.1".parse().unwrap()];
        // No proxy configured: the header is anyone's text and is ignored.
        let p = parts_from("10.0.0.1", &["203.0.113.9"]);
        assert_eq!(remote_addr(&p, &[]), "10.0.0.1");
        // From the proxy: the address it appended, not what the client wrote before it.
        let p = parts_from("10.0.0.1", &["1.2.3.4, 203.0.113.9"]);
        assert_eq!(remote_addr(&p, &proxy), "203.0.113.9");
        // Someone else sending the header is not believed.
        let p = parts_from("198.51.100.7", &["203.0.113.9"]);
        assert_eq!(remote_addr(&p, &proxy), "198.51.100.7");
        // Text that is no address stops the walk: the proxy's own address is used.
        let p = parts_from("10.0.0.1", &["203.0.113.9, <script>"]);
        assert_eq!(remote_addr(&p, &proxy), "10.0.0.1");
    }
}
