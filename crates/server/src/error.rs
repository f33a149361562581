//! API errors: a status and a JSON body
//! `{"error": {"code": "...", "message": "what is wrong and what to do"}}`, with a
//! `Retry-After` header when waiting is the answer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use candor_store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Seconds to wait before trying again, sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// For a refusal: the signed-in person refused (id, username), when known.
    pub refused_user: Option<(i64, String)>,
    /// For a refusal: true when the handler already put it in the audit log itself.
    pub audited: bool,
}

/// What a 403 response carries for `crate::refusals`, which records it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: String,
    pub user: Option<(i64, String)>,
    pub audited: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
            refused_user: None,
            audited: false,
        }
    }
    /// Names the signed-in person this refusal is for (for its audit record).
    pub fn for_user(mut self, id: i64, username: &str) -> Self {
        if self.refused_user.is_none() {
            self.refused_user = Some((id, username.to_string()));
        }
        self
    }
    /// Marks a refusal the handler has already recorded in the audit log.
    pub fn already_audited(mut self) -> Self {
        self.audited = true;
        self
    }
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unprocessable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    pub fn forbidden(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    /// A refusal the person can put right in the form they sent (a conflict or invalid
    /// content): console pages show it next to the form instead of an error page.
    pub fn is_correctable(&self) -> bool {
        matches!(
            self.status,
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 429: the caller must wait `retry_after_secs` before trying again.
    pub fn too_many_requests(
        code: impl Into<String>,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Adds the `Retry-After` header this error calls for (any response: the console's
    /// pages show the same error as HTML).
    pub fn add_retry_after(&self, res: &mut Response) {
        set_retry_after(res, self.retry_after_secs);
        if self.status == StatusCode::FORBIDDEN {
            res.extensions_mut().insert(Refusal {
                code: self.code.clone(),
                user: self.refused_user.clone(),
                audited: self.audited,
            });
        }
    }
}

fn set_retry_after(res: &mut Response, secs: Option<u64>) {
    if let Some(secs) = secs {
        res.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        self.add_retry_after(&mut res);
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(m) => ApiError::conflict("conflict", m),
            StoreError::Verification(r) => ApiError::conflict(r.code(), r.to_string()),
            StoreError::Invalid(m) => ApiError::unprocessable("invalid", m),
            other => {
                // Details go to the log, not to the client.
                tracing::error!(error = %other, "store error");
                ApiError::internal(
                    "the server could not complete the request; try again, and tell the administrator if it persists",
                )
            }
        }
    }
}

/// The most of a framework rejection's text kept in the envelope's message.
const REJECTION_TEXT_LIMIT: usize = 300;

/// Puts every error answer of the API (`/api/…`, `/federation/…`) in the JSON envelope,
/// including those the handlers never see: axum's rejections (malformed JSON, wrong content
/// type, body too large, a path or query that does not parse), unknown routes and methods.
/// Console pages keep their HTML.
pub async fn json_envelope(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let api = path.starts_with("/api/") || path.starts_with("/federation/");
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4 * REJECTION_TEXT_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route: see /api/openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take this method: see /api/openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body with the content type the route documents",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the request body does not fit"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request was not sent in time"),
        s if s.is_server_error() => ("internal", "the server could not complete the request"),
        _ => ("bad_request", "the request could not be read"),
    };
    let message = if text.is_empty() {
        fallback.to_string()
    } else {
        text.chars().take(REJECTION_TEXT_LIMIT).collect()
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let mut res = (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        }),
    )
        .into_response();
    for (name, value) in parts.headers.iter() {
        res.headers_mut().insert(name, value.clone());
    }
    res
}
