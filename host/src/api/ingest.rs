//! The shop-facing side: fire an event (`POST /v1/events/{event_id}`), list what can be
//! fired (`GET /v1/events`), and the Adobe Commerce ingestion webhook (`POST /v1/ingest`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::Api;
use super::ApiError;
use crate::ingest::{self, envelope, Accepted, FireRequest};
use crate::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{event_id}", post(fire))
        .route("/v1/ingest", post(adobe_ingest))
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
    let accepted = ingest::fire(&app, &event_id, request).await.map_err(ApiError::from);
    observe(&app, &event_id, &accepted, started);
    Ok((StatusCode::ACCEPTED, Json(accepted?)))
}

/// Counts an ingest by event and outcome (an unknown event id is counted as `unknown`, so
/// callers cannot grow the label set).
fn observe<T>(app: &App, event_id: &str, result: &Result<T, ApiError>, started: std::time::Instant) {
    let (event, outcome) = match result {
        Ok(_) => (event_id, "accepted"),
        Err(e) if e.code == "unknown_event" => ("unknown", e.code),
        Err(e) => (event_id, e.code),
    };
    app.metrics.ingest(event, outcome, started.elapsed());
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    subshop: Option<String>,
}

/// The ids of the events that can be fired now (for `subshop` when given): no targets,
/// no secrets.
async fn list(State(app): State<Arc<App>>, Api(Query(query)): Api<Query<ListQuery>>) -> Result<Json<Value>, ApiError> {
    let subshop = query.subshop.as_deref().filter(|s| !s.is_empty());
    let ids: Vec<String> =
        app.store.events().into_iter().filter(|(_, event)| event.enabled_for(subshop)).map(|(id, _)| id).collect();
    Ok(Json(json!({ "events": ids })))
}

/// An error of `/v1/ingest`, shaped as the usual `{"error": {"code", "message"}}` plus the
/// starter kit's `statusCode` and `body.error`, so either kind of client understands it.
struct AdobeError(ApiError);

impl IntoResponse for AdobeError {
    fn into_response(self) -> Response {
        let ApiError { status, code, message } = self.0;
        let body = json!({ "error": {
            "code": code,
            "message": message,
            "statusCode": status.as_u16(),
            "body": { "error": message },
        }});
        (status, Json(body)).into_response()
    }
}

impl<E: Into<ApiError>> From<E> for AdobeError {
    fn from(e: E) -> Self {
        AdobeError(e.into())
    }
}

/// The starter kit's ingestion webhook: the envelope's `event` routes, its `uid` is the
/// idempotency key. An unknown event is a 400 so that the caller does not retry it.
async fn adobe_ingest(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdobeError> {
    let started = std::time::Instant::now();
    let body = body?;
    let envelope = match envelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(e) => {
            let error = ApiError::bad_request("invalid_envelope", e.to_string());
            app.metrics.ingest("unknown", error.code, started.elapsed());
            return Err(error.into());
        }
    };
    let mut request = fire_request(&method, &uri, &headers, body);
    request.idempotency_key = Some(format!("uid\0{}", envelope.uid));
    request.payload_at = "/data/value";
    let accepted = ingest::fire(&app, &envelope.event, request).await.map_err(|e| match e {
        ingest::IngestError::UnknownEvent(_) => ApiError::bad_request("unknown_event", e.to_string()),
        other => other.into(),
    });
    observe(&app, &envelope.event, &accepted, started);
    let accepted = accepted?;
    Ok(Json(json!({
        "type": envelope.event,
        "response": {
            "success": true,
            "message": "Event published successfully",
            "message_id": accepted.message_id,
        },
    })))
}

pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}
