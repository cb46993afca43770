//! The shop-facing side: fire an event (`POST /v1/events/{event_id}`), list what can be
//! fired (`GET /v1/events`), and the Adobe Commerce ingestion webhook (`POST /v1/ingest`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tracing::Instrument;

use super::error::ErrorBody;
use super::extract::Api;
use super::{ApiError, ErrorCode};
use crate::ingest::{self, envelope, Accepted, FireRequest};
use crate::{telemetry, App};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(fire)).routes(routes!(adobe_ingest))
}

fn fire_request(method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> FireRequest {
    FireRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: header_pairs(headers),
        body,
        idempotency_key: None,
        payload_at: "",
    }
}

/// Fire an event
///
/// ASSE's `fire(eventId, data)`: the body is the data, in any content type, forwarded as
/// given. The answer comes once the message and its deliveries are on disk; it never waits
/// for a target. Who may fire is the event's `ingest_auth` (a bearer token or a Standard
/// Webhooks signature) and its authenticator component; an event with neither is open.
#[utoipa::path(
    post,
    path = "/v1/events/{event_id}",
    tag = "ingest",
    params(
        ("event_id" = String, Path, description = "The event to fire."),
        ("subshop" = Option<String>, Query, description = "Fire for this subshop (also `X-Hookgate-Subshop`)."),
        ("X-Hookgate-Subshop" = Option<String>, Header, description = "Fire for this subshop; wins over the query parameter."),
        ("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key gets the first answer and creates nothing."),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: with `--otlp-endpoint`, the gateway's spans of this event and its deliveries continue this trace."),
    ),
    request_body(
        // Optional (an event may be fired without data): see `openapi::body_optional`.
        description = "The event's data, any content type (e.g. JSON, form data, XML); may be empty.",
        content(
            (serde_json::Value = "application/json"),
            (super::openapi::Binary = "application/octet-stream"),
            (String = "text/plain"),
        ),
    ),
    security((), ("ingestBearer" = []), ("standardWebhooks" = [])),
    responses(
        (status = 202, description = "Accepted and on disk; delivery is asynchronous.", body = Accepted),
        (status = 400, description = "`invalid_payload`: the data does not match the event's schema (names the JSON pointer); `invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the event's `ingest_auth` or authenticator refused the caller; nothing is stored.", body = ErrorBody),
        (status = 404, description = "`unknown_event`: no such event is configured.", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the request was not received within the ingest timeout.", body = ErrorBody),
        (status = 409, description = "`event_disabled`: the event (or the subshop's switch) is off.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is larger than `--max-body-kb`.", body = ErrorBody),
        (status = 500, response = super::openapi::StorageError),
        (status = 503, description = "`guest_trap`, `guest_timeout`, `guest_memory_limit`, ...: the authenticator component itself failed; the caller may try again.", body = ErrorBody),
    ),
)]
async fn fire(
    State(app): State<Arc<App>>,
    Api(Path(event_id)): Api<Path<String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let mut request = fire_request(&method, &uri, &headers, body?);
    request.idempotency_key = request.header("idempotency-key").map(|key| format!("key\0{event_id}\0{key}"));
    let started = std::time::Instant::now();
    let span = ingest_span(&headers);
    span.record("event", event_id.as_str());
    let accepted = ingest::fire(&app, &event_id, request).instrument(span.clone()).await.map_err(ApiError::from);
    if let Ok(accepted) = &accepted {
        span.record("message_id", accepted.message_id.as_str());
    }
    observe(&app, &event_id, &accepted, started);
    Ok((StatusCode::ACCEPTED, Json(accepted?)))
}

/// The span of one ingest, a child of the caller's span when it sent a `traceparent`.
fn ingest_span(headers: &HeaderMap) -> tracing::Span {
    let span = tracing::info_span!("ingest", otel.kind = "server", event = tracing::field::Empty, message_id = tracing::field::Empty);
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    telemetry::continue_trace(&span, header("traceparent"), header("tracestate"));
    span
}

/// Counts an ingest by event and outcome (an unknown event id is counted as `unknown`, so
/// callers cannot grow the label set).
fn observe<T>(app: &App, event_id: &str, result: &Result<T, ApiError>, started: std::time::Instant) {
    let (event, outcome) = match result {
        Ok(_) => (event_id, "accepted"),
        Err(e) if e.code == ErrorCode::UnknownEvent => ("unknown", e.code.as_str()),
        Err(e) => (event_id, e.code.as_str()),
    };
    app.metrics.ingest(event, outcome, started.elapsed());
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the events that can be fired for this subshop.
    subshop: Option<String>,
}

/// The ids of the events that can be fired.
#[derive(Debug, Serialize, ToSchema)]
pub struct FireableEvents {
    pub events: Vec<String>,
}

/// List the events that can be fired
///
/// The ids of the events that can be fired now (for `subshop` when given): no targets, no
/// secrets.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "ingest",
    params(ListQuery),
    responses(
        (status = 200, description = "The event ids.", body = FireableEvents),
        (status = 400, description = "`invalid_request`: the query string does not fit.", body = ErrorBody),
    ),
)]
async fn list(State(app): State<Arc<App>>, Api(Query(query)): Api<Query<ListQuery>>) -> Result<Json<FireableEvents>, ApiError> {
    let subshop = query.subshop.as_deref().filter(|s| !s.is_empty());
    let events: Vec<String> =
        app.store.events().into_iter().filter(|(_, event)| event.enabled_for(subshop)).map(|(id, _)| id).collect();
    Ok(Json(FireableEvents { events }))
}

/// An error of `/v1/ingest`, shaped as the usual `{"error": {"code", "message"}}` plus the
/// starter kit's `statusCode` and `body.error`, so either kind of client understands it.
struct AdobeError(ApiError);

/// The error body of `/v1/ingest`: the usual error plus the starter kit's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdobeErrorBody {
    pub error: AdobeErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdobeErrorDetail {
    /// Stable and machine-readable, in snake_case.
    #[schema(pattern = "^[a-z0-9_]+$", example = "invalid_envelope")]
    pub code: &'static str,
    pub message: String,
    /// The HTTP status again, as the starter kit reads it.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub body: AdobeErrorText,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdobeErrorText {
    pub error: String,
}

impl IntoResponse for AdobeError {
    fn into_response(self) -> Response {
        let ApiError { status, code, message } = self.0;
        let body = AdobeErrorBody {
            error: AdobeErrorDetail { code: code.as_str(), message: message.clone(), status_code: status.as_u16(), body: AdobeErrorText { error: message } },
        };
        (status, Json(body)).into_response()
    }
}

/// The Adobe Commerce ingestion envelope.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // only described: the handler reads the raw body (envelope::parse)
pub struct AdobeEnvelope {
    pub data: AdobeEnvelopeData,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AdobeEnvelopeData {
    /// The idempotency key.
    #[schema(min_length = 1)]
    pub uid: String,
    /// The event to fire.
    #[schema(min_length = 1)]
    pub event: String,
    /// The payload (checked against the event's schema); not null.
    pub value: serde_json::Value,
}

/// The starter kit's success answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdobeAccepted {
    /// The event fired.
    #[serde(rename = "type")]
    pub event: String,
    pub response: AdobeAcceptedResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdobeAcceptedResponse {
    pub success: bool,
    pub message: &'static str,
    pub message_id: String,
}

impl<E: Into<ApiError>> From<E> for AdobeError {
    fn from(e: E) -> Self {
        AdobeError(e.into())
    }
}

/// The Adobe Commerce ingestion webhook
///
/// The starter kit's ingestion webhook: the envelope's `event` routes, its `uid` is the
/// idempotency key. An unknown event is a 400 so that the caller does not retry it.
#[utoipa::path(
    post,
    path = "/v1/ingest",
    tag = "ingest",
    params(
        ("traceparent" = Option<String>, Header, description = "W3C trace context: with `--otlp-endpoint`, the gateway's spans of this event and its deliveries continue this trace."),
    ),
    request_body = AdobeEnvelope,
    security((), ("ingestBearer" = []), ("standardWebhooks" = [])),
    responses(
        (status = 200, description = "Accepted and on disk.", body = AdobeAccepted),
        (status = 400, description = "`invalid_envelope` names the missing field; `unknown_event`; `invalid_payload`.", body = AdobeErrorBody),
        (status = 401, description = "`unauthorized`", body = AdobeErrorBody),
        (status = 408, description = "`request_timeout`", body = AdobeErrorBody),
        (status = 409, description = "`event_disabled`", body = AdobeErrorBody),
        (status = 413, description = "`payload_too_large`", body = AdobeErrorBody),
        (status = 500, description = "`storage_error`", body = AdobeErrorBody),
        (status = 503, description = "`guest_*`: the authenticator component failed.", body = AdobeErrorBody),
    ),
)]
async fn adobe_ingest(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AdobeAccepted>, AdobeError> {
    let started = std::time::Instant::now();
    let span = ingest_span(&headers);
    let body = body?;
    let envelope = match envelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(e) => {
            let error = ApiError::bad_request(ErrorCode::InvalidEnvelope, e.to_string());
            app.metrics.ingest("unknown", error.code.as_str(), started.elapsed());
            return Err(error.into());
        }
    };
    let mut request = fire_request(&method, &uri, &headers, body);
    request.idempotency_key = Some(format!("uid\0{}", envelope.uid));
    request.payload_at = "/data/value";
    span.record("event", envelope.event.as_str());
    let accepted = ingest::fire(&app, &envelope.event, request).instrument(span.clone()).await.map_err(|e| match e {
        ingest::IngestError::UnknownEvent(_) => ApiError::bad_request(ErrorCode::UnknownEvent, e.to_string()),
        other => other.into(),
    });
    if let Ok(accepted) = &accepted {
        span.record("message_id", accepted.message_id.as_str());
    }
    observe(&app, &envelope.event, &accepted, started);
    let accepted = accepted?;
    Ok(Json(AdobeAccepted {
        event: envelope.event,
        response: AdobeAcceptedResponse { success: true, message: "Event published successfully", message_id: accepted.message_id },
    }))
}

pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}
