//! The delivery log: list and show messages with their deliveries and attempts, and
//! re-run failed deliveries.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{Api, ApiError};
use crate::model::{message_id_floor, now_ms, DeliveryStatus, MessageRecord};
use crate::store::delivery_key;
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
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `2026-11-23T10:00:00Z` or Unix milliseconds.
fn parse_time(field: &str, text: &str) -> Result<u64, ApiError> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| ApiError::bad_request("invalid_request", format!("{field} `{text}` is neither an RFC 3339 time nor Unix milliseconds")))
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

async fn list(State(app): State<Arc<App>>, Api(Query(query)): Api<Query<ListQuery>>) -> Result<Json<Value>, ApiError> {
    let wanted = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_request", format!("status `{s}` is not one of pending, delivered, failed, skipped"))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (event_id, target) = (non_empty(&query.event_id), non_empty(&query.target));
    let since = non_empty(&query.since).map(|t| parse_time("since", &t)).transpose()?;
    let until = non_empty(&query.until).map(|t| parse_time("until", &t)).transpose()?;
    // Ids are time-ordered, so a time range is a range of ids.
    let until_bound = until.map(|ms| message_id_floor(ms.saturating_add(1)));
    let start = match (non_empty(&query.cursor), until_bound) {
        (Some(cursor), Some(bound)) => Some(cursor.min(bound)),
        (cursor, bound) => cursor.or(bound),
    };
    let since_bound = since.map(message_id_floor);
    // Failures are rare: their index is read instead of the whole log.
    let ids: Box<dyn Iterator<Item = _>> = match wanted {
        Some(DeliveryStatus::Failed) => Box::new(app.store.failed_message_ids_newest_first(start.as_deref())),
        _ => app.store.message_ids_newest_first(event_id.as_deref(), start.as_deref()),
    };
    let ids = ids
        .map(|id| id.map_err(ApiError::from))
        .take_while(|id| !matches!((id, &since_bound), (Ok(id), Some(bound)) if id < bound));
    let (messages, next_cursor) = page(ids, limit, MAX_SCANNED, |id| {
        let Some(message) = app.store.message(id)? else { return Ok(None) };
        if event_id.as_ref().is_some_and(|event| *event != message.event_id) {
            return Ok(None);
        }
        let (status, value) = view(&app, &message)?;
        let status = match &target {
            None => Some(status),
            Some(target) => app.store.delivery(&delivery_key(id, target))?.map(|d| d.status),
        };
        Ok(status.is_some_and(|s| wanted.is_none_or(|w| w == s)).then_some(value))
    })?;
    Ok(Json(json!({ "messages": messages, "next_cursor": next_cursor })))
}

/// Most messages one page looks at. A filter that rarely matches answers with fewer than
/// `limit` messages and a `next_cursor` to go on from, rather than reading the whole log in
/// one request.
const MAX_SCANNED: usize = 5_000;

/// One page of `ids` (newest first): up to `limit` of them that `keep` keeps, looking at
/// no more than `max_scanned`, and the cursor to continue from when the page ended first.
fn page<T, E>(
    ids: impl Iterator<Item = Result<String, E>>,
    limit: usize,
    max_scanned: usize,
    mut keep: impl FnMut(&str) -> Result<Option<T>, E>,
) -> Result<(Vec<T>, Option<String>), E> {
    let mut kept = Vec::new();
    for (scanned, id) in ids.enumerate() {
        let id = id?;
        kept.extend(keep(&id)?);
        if kept.len() == limit || scanned + 1 == max_scanned {
            return Ok((kept, Some(id)));
        }
    }
    Ok((kept, None))
}

async fn show(State(app): State<Arc<App>>, Api(Path(message_id)): Api<Path<String>>) -> Result<Json<Value>, ApiError> {
    let message = app.store.message(&message_id)?.ok_or_else(|| not_found(&message_id))?;
    Ok(Json(view(&app, &message)?.1))
}

async fn retry(State(app): State<Arc<App>>, Api(Path(message_id)): Api<Path<String>>) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.store.message(&message_id)?.ok_or_else(|| not_found(&message_id))?;
    let retried = app.store.requeue_failed(&message_id, now_ms())?;
    app.store.flush().await?;
    app.queue_changed.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "message_id": message_id, "retried": retried }))))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("message_not_found", format!("message `{id}` does not exist"))
}

#[cfg(test)]
mod tests {
    use super::page;

    fn ids(n: usize) -> impl Iterator<Item = Result<String, ()>> {
        (0..n).rev().map(|i| Ok(format!("m{i:02}")))
    }

    fn even(id: &str) -> Result<Option<String>, ()> {
        Ok(id.ends_with(['0', '2', '4', '6', '8']).then(|| id.to_string()))
    }

    #[test]
    fn a_page_ends_at_the_limit_at_the_scan_bound_or_with_the_log() {
        let (kept, cursor) = page(ids(20), 3, 100, even).unwrap();
        assert_eq!((kept, cursor.as_deref()), (vec!["m18".to_string(), "m16".into(), "m14".into()], Some("m14")));
        let (kept, cursor) = page(ids(20), 10, 5, even).unwrap();
        assert_eq!((kept.len(), cursor.as_deref()), (2, Some("m15")), "stops after 5 looked at: m19..m15");
        let (kept, cursor) = page(ids(4), 10, 100, even).unwrap();
        assert_eq!((kept.len(), cursor), (2, None), "the log ended");
    }
}
