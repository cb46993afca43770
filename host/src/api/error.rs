//! The one error type of the HTTP API: a status and a stable code, rendered as
//! `{"error": {"code": "...", "message": "..."}}`. Every layer's error maps here once.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::ingest::IngestError;
use crate::runtime::ResolveError;
use crate::store::StoreError;
use crate::validate::ConfigError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
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
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Unsupported(what) = e {
            return ApiError::new(StatusCode::CONFLICT, "unsupported_by_store", what);
        }
        // The database's own words stay in the log: they are not the client's business.
        tracing::error!("storage error: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", "the gateway's store failed; its log says why")
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        ApiError::bad_request("invalid_config", e.0)
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound(_) | ResolveError::NoSuchVersion { .. } => {
                ApiError::not_found("component_not_found", e.to_string())
            }
            ResolveError::BadReference(_) => ApiError::bad_request("invalid_request", e.to_string()),
            ResolveError::Component(c) => ApiError::bad_request("invalid_component", c.to_string()),
            ResolveError::Store(s) => s.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::UnknownEvent(_) => ApiError::not_found("unknown_event", message),
            IngestError::Disabled(_) | IngestError::DisabledForSubshop { .. } => {
                ApiError::new(StatusCode::CONFLICT, "event_disabled", message)
            }
            IngestError::Unauthorized(_) => ApiError::unauthorized(message),
            IngestError::InvalidPayload(_) => ApiError::bad_request("invalid_payload", message),
            IngestError::Authenticator { code, .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message),
            IngestError::Store(s) => s.into(),
        }
    }
}

impl From<crate::dry_run::DryRunError> for ApiError {
    fn from(e: crate::dry_run::DryRunError) -> Self {
        use crate::dry_run::DryRunError;
        match e {
            DryRunError::UnknownEvent(_) => ApiError::not_found("unknown_event", e.to_string()),
            DryRunError::NotUsed { .. } => ApiError::bad_request("invalid_request", e.to_string()),
            DryRunError::Resolve(r) => r.into(),
            DryRunError::Store(s) => s.into(),
        }
    }
}

/// A body the gateway could not read: too large (413) or broken off.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.body_text())
        } else {
            ApiError::new(e.status(), "invalid_body", e.body_text())
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
        ApiError::bad_request("invalid_config", message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        let message = match &e {
            QueryRejection::FailedToDeserializeQueryString(e) => format!("the query string does not fit: {}", innermost(e)),
            other => other.body_text(),
        };
        ApiError::bad_request("invalid_request", message)
    }
}

/// A path that does not decode (`%FF` is not UTF-8) or does not fit the route.
impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request("invalid_request", format!("the URL path is not valid: {}", innermost(&e)))
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
