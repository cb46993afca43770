//! The first half of the pipeline: a fired event is routed, authenticated and persisted
//! with one pending delivery per enabled target. Nothing is acknowledged before it is on
//! disk; nothing is stored for a caller the authenticator refuses.

pub mod auth;
pub mod envelope;

use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use crate::model::{now_ms, rfc3339_now, DeliveryRecord, DeliveryStatus, EventConfig, FailureCode, MessageRecord, OrderingPolicy, TargetConfig};
use crate::template::{Place, Template, Variables};
use sha2::Digest;
use crate::runtime::{AuthDecision, IncomingRequest};
use crate::store::{Inserted, NewMessage, StoreError};
use crate::App;

/// An HTTP request that fires an event, as the API received it.
#[derive(Debug, Clone)]
pub struct FireRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// A repeat with the same key creates nothing and gets the first answer.
    pub idempotency_key: Option<String>,
    /// Where in the body the payload is (a JSON pointer: `""` for the whole body,
    /// `/data/value` in an Adobe envelope); what the event's schema checks.
    pub payload_at: &'static str,
}

impl FireRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The subshop the caller fires for: the `X-Hookgate-Subshop` header, else the
    /// `subshop` query parameter.
    pub fn subshop(&self) -> Option<String> {
        let from_query = || {
            form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == "subshop").map(|(_, v)| v.into_owned())
        };
        self.header("x-hookgate-subshop").map(str::to_string).or_else(from_query).filter(|s| !s.is_empty())
    }
}

/// A message accepted and on disk.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// `msg_` and a time-ordered id.
    pub message_id: String,
    /// How many deliveries were queued (one per enabled target).
    pub deliveries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("event `{0}` is not configured")]
    UnknownEvent(String),
    #[error("event `{0}` is disabled")]
    Disabled(String),
    #[error("event `{event}` is disabled for subshop `{subshop}`")]
    DisabledForSubshop { event: String, subshop: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error(transparent)]
    InvalidPayload(#[from] crate::schema::Mismatch),
    /// The authenticator itself failed (trap, timeout, ...): the caller may try again.
    #[error("the authenticator failed: {message}")]
    Authenticator { code: FailureCode, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Headers that carry the caller's credentials are used by the authenticator but never
/// stored with the message.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Fires `event_id`: route, authenticate, persist durably, wake the delivery workers.
pub async fn fire(app: &Arc<App>, event_id: &str, request: FireRequest) -> Result<Accepted, IngestError> {
    let event = app.store.event(event_id).ok_or_else(|| IngestError::UnknownEvent(event_id.to_string()))?;
    if !event.enabled {
        return Err(IngestError::Disabled(event_id.to_string()));
    }
    let subshop = request.subshop();
    if let Some(subshop) = subshop.as_deref().filter(|s| !event.enabled_for(Some(s))) {
        return Err(IngestError::DisabledForSubshop { event: event_id.to_string(), subshop: subshop.to_string() });
    }
    if let Some(ingest_auth) = &event.ingest_auth {
        auth::check(ingest_auth, &request, std::time::SystemTime::now()).map_err(IngestError::Unauthorized)?;
    }
    if event.authenticator.is_some() {
        authenticate(app, event_id, &event, &request)
            .instrument(tracing::info_span!("authenticate", event = event_id))
            .await?;
    }
    if let Some(schema) = &event.schema {
        crate::schema::check(schema, &event.compiled_schema, &request.body, request.payload_at)?;
    }
    // The ingest span's: the deliveries' spans, later and maybe on another node, join it.
    let traceparent = crate::telemetry::traceparent(&tracing::Span::current());
    let accepted = persist(app, event_id, &event, subshop, traceparent, request)
        .instrument(tracing::info_span!("persist", event = event_id))
        .await?;
    app.queue_changed.notify_one();
    Ok(accepted)
}

async fn authenticate(app: &Arc<App>, event_id: &str, event: &EventConfig, request: &FireRequest) -> Result<(), IngestError> {
    let Some(binding) = &event.authenticator else { return Ok(()) };
    let guest_request = IncomingRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers: request.headers.clone(),
        body: request.body.to_vec(),
    };
    let call = app
        .call_guest(binding, "authenticator", move |app, prepared, config| {
            app.components.runtime().authenticate(prepared, config, &guest_request)
        })
        .await
        .map_err(|failed| IngestError::Authenticator { code: failed.code, message: failed.message })?;
    for log in &call.report.logs {
        tracing::info!(target: "hookgate::guest", event = event_id, level = %log.level, "authenticator: {}", log.message);
    }
    match call.result {
        Ok(AuthDecision::Allow) => Ok(()),
        Ok(AuthDecision::Deny(reason)) => Err(IngestError::Unauthorized(reason)),
        Err(e) => Err(IngestError::Authenticator { code: e.code(), message: e.to_string() }),
    }
}

/// Longest ordering key kept as it is; a longer one is replaced by its sha256, as two keys
/// that collide are only ordered together, never out of order.
const MAX_KEY_BYTES: usize = 200;

/// A target's ordering key for a message: its template rendered like a header value.
/// `None` when it renders empty (the delivery is unordered).
fn ordering_key(ordering: &OrderingPolicy, target: &TargetConfig, data: Option<&serde_json::Value>, message: &MessageRecord) -> Option<String> {
    // Checked when the event was configured.
    let template = Template::parse(&ordering.key, Place::Header).ok()?;
    let vars = Variables {
        data,
        message_id: "", // named later, by the store
        event_id: &message.event_id,
        subshop: message.subshop.as_deref().unwrap_or(""),
        config: &target.config,
    };
    let key = match template.render(&vars, MAX_KEY_BYTES) {
        Ok(key) => key,
        Err(_) => {
            let long = template.render(&vars, usize::MAX).unwrap_or_default();
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(long.as_bytes())))
        }
    };
    (!key.is_empty()).then_some(key)
}

async fn persist(
    app: &App,
    event_id: &str,
    event: &EventConfig,
    subshop: Option<String>,
    traceparent: Option<String>,
    request: FireRequest,
) -> Result<Accepted, IngestError> {
    let content_type = request.header("content-type").map(str::to_string);
    let headers = request
        .headers
        .into_iter()
        .filter(|(k, _)| !UNSTORED_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)))
        .collect();
    let message = MessageRecord {
        message_id: String::new(), // named by the store
        event_id: event_id.to_string(),
        received_at: rfc3339_now(),
        received_at_ms: now_ms(),
        headers,
        content_type,
        body_size: request.body.len(),
        subshop,
        idempotency_key: request.idempotency_key.clone(),
        traceparent,
    };
    let targets: Vec<&TargetConfig> = event.targets.iter().filter(|t| t.enabled).collect();
    // The data is parsed only when a target orders by it (it may be a large body).
    let data = targets
        .iter()
        .any(|t| t.ordering.is_some())
        .then(|| serde_json::from_slice::<serde_json::Value>(&request.body).ok())
        .flatten();
    // A key's variables are the payload's envelope: a fire's body, an Adobe envelope's
    // `data` (`#value.order_id#`).
    let envelope = request.payload_at.rsplit_once('/').map_or("", |(parent, _)| parent);
    let data = data.as_ref().and_then(|data| data.pointer(envelope));
    let deliveries: Vec<DeliveryRecord> = targets
        .iter()
        .map(|t| DeliveryRecord {
            message_id: String::new(),
            target: t.id.clone(),
            status: DeliveryStatus::Pending,
            reason: None,
            next_attempt_at_ms: Some(message.received_at_ms),
            attempts: Vec::new(),
            ordering_key: t.ordering.as_ref().and_then(|ordering| ordering_key(ordering, t, data, &message)),
            holds_key: false,
        })
        .collect();
    let deliveries_count = deliveries.len();
    let inserted = app
        .store
        .append(NewMessage {
            idempotency_key: request.idempotency_key,
            message,
            body: request.body,
            deliveries,
        })
        .await?;
    match inserted {
        Inserted::New(message_id) => Ok(Accepted { message_id, deliveries: deliveries_count }),
        Inserted::Existing(message_id) => {
            let deliveries = app.store.deliveries_of(&message_id).await?.len();
            Ok(Accepted { message_id, deliveries })
        }
    }
}
