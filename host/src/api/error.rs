//! The one error type of the HTTP API: a status and a stable code, rendered as
//! `{"error": {"code": "...", "message": "..."}}`. Every layer's error maps here once.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::ingest::IngestError;
use crate::model::FailureCode;
use crate::runtime::ResolveError;
use crate::store::StoreError;
use crate::validate::ConfigError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

/// The `code` of an error answer. Clients branch on it, so a name, once shipped, stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // The request.
    InvalidRequest,
    InvalidBody,
    InvalidConfig,
    InvalidComponent,
    InvalidPayload,
    InvalidEnvelope,
    PayloadTooLarge,
    RequestTimeout,
    MethodNotAllowed,
    // Who may call.
    Unauthorized,
    Forbidden,
    // What the request names.
    NotFound,
    UnknownEvent,
    EventDisabled,
    ComponentNotFound,
    ComponentInUse,
    MessageNotFound,
    DeliveryNotFound,
    NotHeld,
    // The gateway.
    StorageError,
    UnsupportedByStore,
    /// Every connection the listener allows is open and busy (`--max-connections`).
    TooManyConnections,
    InternalError,
    /// The event's authenticator component failed (`guest_timeout`, `guest_trap`, ...).
    Guest(FailureCode),
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Guest(code) => code.as_str(),
            code => code.into(),
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
}

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, in snake_case (e.g. `unknown_event`, `invalid_config`).
    #[schema(pattern = "^[a-z0-9_]+$", example = "unknown_event")]
    pub code: &'static str,
    /// For people; its wording may change.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.as_str(), message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Unsupported(what) = e {
            return ApiError::new(StatusCode::CONFLICT, ErrorCode::UnsupportedByStore, what);
        }
        // The database's own words stay in the log: they are not the client's business.
        tracing::error!("storage error: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::StorageError, "the gateway's store failed; its log says why")
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        ApiError::bad_request(ErrorCode::InvalidConfig, e.0)
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound(_) | ResolveError::NoSuchVersion { .. } => {
                ApiError::not_found(ErrorCode::ComponentNotFound, e.to_string())
            }
            ResolveError::BadReference(_) => ApiError::bad_request(ErrorCode::InvalidRequest, e.to_string()),
            ResolveError::Component(c) => ApiError::bad_request(ErrorCode::InvalidComponent, c.to_string()),
            ResolveError::Store(s) => s.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::UnknownEvent(_) => ApiError::not_found(ErrorCode::UnknownEvent, message),
            IngestError::Disabled(_) | IngestError::DisabledForSubshop { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::EventDisabled, message)
            }
            IngestError::Unauthorized(_) => ApiError::unauthorized(message),
            IngestError::InvalidPayload(_) => ApiError::bad_request(ErrorCode::InvalidPayload, message),
            IngestError::Authenticator { code, .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Guest(code), message)
            }
            IngestError::Store(s) => s.into(),
        }
    }
}

impl From<crate::dry_run::DryRunError> for ApiError {
    fn from(e: crate::dry_run::DryRunError) -> Self {
        use crate::dry_run::DryRunError;
        match e {
            DryRunError::UnknownEvent(_) => ApiError::not_found(ErrorCode::UnknownEvent, e.to_string()),
            DryRunError::NotUsed { .. } => ApiError::bad_request(ErrorCode::InvalidRequest, e.to_string()),
            DryRunError::Resolve(r) => r.into(),
            DryRunError::Store(s) => s.into(),
        }
    }
}

/// A body the gateway could not read: too large (413) or broken off.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, e.body_text())
        } else {
            ApiError::new(e.status(), ErrorCode::InvalidBody, e.body_text())
        }
    }
}

/// A JSON body that does not parse or does not fit; worded in the API's terms (the
/// framework's text speaks of its own "target type"), naming the field where serde can.
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let message = match &e {
            JsonRejection::JsonDataError(e) => format!("the JSON body does not fit: {}", innermost(e)),
            JsonRejection::JsonSyntaxError(e) => format!("the body is not valid JSON: {}", innermost(e)),
            JsonRejection::MissingJsonContentType(_) => "send the body as `Content-Type: application/json`".into(),
            other => other.body_text(),
        };
        ApiError::bad_request(ErrorCode::InvalidConfig, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        let message = match &e {
            QueryRejection::FailedToDeserializeQueryString(e) => format!("the query string does not fit: {}", innermost(e)),
            other => other.body_text(),
        };
        ApiError::bad_request(ErrorCode::InvalidRequest, message)
    }
}

/// A path that does not decode (`%FF` is not UTF-8) or does not fit the route.
impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request(ErrorCode::InvalidRequest, format!("the URL path is not valid: {}", innermost(&e)))
    }
}

/// The deepest cause's text: the framework's wrappers add only their own wording.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_a_guest_failure_keeps_its_own_name() {
        assert_eq!(ErrorCode::UnknownEvent.as_str(), "unknown_event");
        assert_eq!(ErrorCode::UnsupportedByStore.as_str(), "unsupported_by_store");
        assert_eq!(ErrorCode::Guest(FailureCode::GuestTimeout).as_str(), "guest_timeout");
    }
}
