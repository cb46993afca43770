//! The delivery log: list and show messages with their deliveries and attempts, and
//! re-run failed deliveries.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiError;
use crate::model::{now_ms, DeliveryStatus, MessageRecord};
use crate::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{message_id}", get(show))
        .route("/messages/{message_id}/retry", post(retry))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    event_id: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

fn view(app: &App, message: &MessageRecord) -> Result<(DeliveryStatus, Value), ApiError> {
    let deliveries = app.store.deliveries_of(&message.message_id)?;
    let status = DeliveryStatus::of_message(deliveries.iter().map(|d| d.status));
    let value = json!({
        "message_id": message.message_id,
        "event_id": message.event_id,
        "status": status,
        "received_at": message.received_at,
        "content_type": message.content_type,
        "body_size": message.body_size,
        "deliveries": deliveries,
    });
    Ok((status, value))
}

async fn list(State(app): State<Arc<App>>, query: Result<Query<ListQuery>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let wanted = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_request", format!("status `{s}` is not one of pending, delivered, failed, skipped"))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let event_id = query.event_id.as_deref().filter(|s| !s.is_empty());
    let cursor = query.cursor.as_deref().filter(|s| !s.is_empty());
    let mut messages = Vec::new();
    let mut last_seen = None;
    for id in app.store.message_ids_newest_first(event_id, cursor) {
        let id = id?;
        last_seen = Some(id.clone());
        let Some(message) = app.store.message(&id)? else { continue };
        let (status, value) = view(&app, &message)?;
        if wanted.is_none_or(|w| w == status) {
            messages.push(value);
            if messages.len() == limit {
                break;
            }
        }
    }
    let next_cursor = if messages.len() == limit { last_seen } else { None };
    Ok(Json(json!({ "messages": messages, "next_cursor": next_cursor })))
}

async fn show(State(app): State<Arc<App>>, Path(message_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let message = app.store.message(&message_id)?.ok_or_else(|| not_found(&message_id))?;
    Ok(Json(view(&app, &message)?.1))
}

async fn retry(State(app): State<Arc<App>>, Path(message_id): Path<String>) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.store.message(&message_id)?.ok_or_else(|| not_found(&message_id))?;
    let retried = app.store.requeue_failed(&message_id, now_ms())?;
    app.store.flush().await?;
    app.queue_changed.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "message_id": message_id, "retried": retried }))))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("message_not_found", format!("message `{id}` does not exist"))
}
