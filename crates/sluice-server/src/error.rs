//! Errors as HTTP answers, mapped in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_store::StoreError;

/// An error answer of the management API: a status and a JSON body naming what is wrong.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A machine-readable code.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// Details (e.g. every located error of a model file).
    pub details: Option<serde_json::Value>,
    /// Seconds to wait before retrying (the `Retry-After` header).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409: the request conflicts with the current state (e.g. a stage move not allowed).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422: well-formed, but not valid (e.g. a model file with errors).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 429: over a rate limit; retry after `seconds`.
    pub fn rate_limited(message: impl Into<String>, seconds: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        error.retry_after = Some(seconds);
        error
    }

    /// A request the framework could not read (a path, query or body that does not parse, a
    /// wrong content type, a body too large): its status, and a code named after it.
    pub fn rejected(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, code_of(status), message)
    }

    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// With details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// The code of an error answer that only has its status (a request the framework could not
/// read): named after the status.
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if sluice_store::is_bad_cursor(&e) {
            return ApiError::bad_request(e.to_string());
        }
        tracing::error!(error = %e, "storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage is unavailable; retry",
        )
    }
}

impl From<crate::trust::TrustError> for ApiError {
    fn from(e: crate::trust::TrustError) -> Self {
        use crate::trust::TrustError;
        match e {
            TrustError::Invalid { field, .. } => {
                ApiError::unprocessable(e.to_string()).with_details(json!({"field": field}))
            }
            TrustError::Conflict(m) => ApiError::conflict(m),
            TrustError::NotFound(m) => ApiError::not_found(m),
            TrustError::Store(e) => e.into(),
        }
    }
}

/// The body of every error answer of the API, as the OpenAPI document declares it.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// A machine-readable code, e.g. `not_found`, `forbidden`, `invalid`.
    code: String,
    /// What is wrong, for people.
    message: String,
    /// Details, e.g. every located error of a model file.
    details: Option<serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
