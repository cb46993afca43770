//! The delivery log: list and show messages with their deliveries and attempts, and
//! re-run failed deliveries.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ErrorBody;
use crate::api::openapi::{Forbidden, StorageError, Unauthorized};
use crate::api::{Api, ApiError, ErrorCode};
use crate::model::{message_id_floor, message_id_time_ms, now_ms, rfc3339_now, DeliveryRecord, DeliveryStatus, MessageRecord, TargetConfig};
use crate::store::{delivery_key, MessageQuery};
use crate::App;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(retry))
        .routes(routes!(skip))
        .routes(routes!(recover))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only messages of this event.
    event_id: Option<String>,
    /// Only messages in this state (with `target`: whose delivery to that target is in it);
    /// empty means any.
    #[param(pattern = "^(pending|delivered|failed|skipped)?$")]
    status: Option<String>,
    /// Only messages with a delivery to this target.
    target: Option<String>,
    /// Received at or after: RFC 3339 (`2026-11-23T10:00:00Z`) or Unix milliseconds.
    since: Option<String>,
    /// Received at or before: RFC 3339 or Unix milliseconds.
    until: Option<String>,
    /// At most this many, newest first (clamped to 1-500; default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A message of the delivery log with its deliveries and every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub message_id: String,
    pub event_id: String,
    /// Pending while any delivery is, failed when any failed, skipped when all were skipped,
    /// delivered otherwise.
    pub status: DeliveryStatus,
    /// RFC 3339.
    pub received_at: String,
    pub content_type: Option<String>,
    /// Bytes.
    pub body_size: usize,
    pub deliveries: Vec<DeliveryRecord>,
}

/// One page of the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Where the next page starts (pass it as `cursor`); null at the end of the log.
    pub next_cursor: Option<String>,
}

/// Why a due delivery may still wait, told when its log is read rather than written on
/// every wait: a rate limit would make that a write per delivery per token.
fn waiting_reason(delivery: &DeliveryRecord, target: &TargetConfig, now_ms: u64) -> Option<String> {
    if delivery.status != DeliveryStatus::Pending || delivery.next_attempt_at_ms.is_some_and(|at| at > now_ms) {
        return None;
    }
    if !target.enabled {
        return Some("waiting: the target is disabled; its deliveries go when it is enabled again".into());
    }
    let mut why = Vec::new();
    if let Some(key) = &delivery.ordering_key {
        why.push(format!("goes after the earlier deliveries of ordering key {key:?}"));
    }
    if let Some(rate) = &target.rate_limit {
        why.push(format!("takes its turn under the target's rate limit ({}/s, burst {})", rate.per_second, rate.burst));
    }
    (!why.is_empty()).then(|| format!("waiting: {}", why.join("; ")))
}

/// What a retry queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub message_id: String,
    /// How many failed deliveries were queued again.
    pub retried: usize,
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
        .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidRequest, format!("{field} `{text}` is neither an RFC 3339 time nor Unix milliseconds")))
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

async fn view(app: &App, message: &MessageRecord) -> Result<MessageView, ApiError> {
    let mut deliveries = app.store.deliveries_of(&message.message_id).await?;
    if let Some(event) = app.store.event(&message.event_id) {
        let now = now_ms();
        for delivery in deliveries.iter_mut().filter(|d| d.reason.is_none()) {
            if let Some(target) = event.target(&delivery.target) {
                delivery.reason = waiting_reason(delivery, target, now);
            }
        }
    }
    Ok(MessageView {
        message_id: message.message_id.clone(),
        event_id: message.event_id.clone(),
        status: DeliveryStatus::of_message(deliveries.iter().map(|d| d.status)),
        received_at: message.received_at.clone(),
        content_type: message.content_type.clone(),
        body_size: message.body_size,
        deliveries,
    })
}

/// List the delivery log
///
/// Newest first. `status=failed` reads an index of the failures; otherwise a page looks at
/// no more than 5,000 messages, so a rare filter can give a short or empty page with a
/// `next_cursor`.
#[utoipa::path(
    get,
    path = "/messages",
    tag = "messages",
    params(ListQuery),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "One page.", body = MessagePage),
        (status = 400, description = "`invalid_request`: a filter does not parse (names it).", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 500, response = StorageError),
    ),
)]
async fn list(State(app): State<Arc<App>>, Api(Query(query)): Api<Query<ListQuery>>) -> Result<Json<MessagePage>, ApiError> {
    let wanted = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(ErrorCode::InvalidRequest, format!("status `{s}` is not one of pending, delivered, failed, skipped"))
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
    let query = MessageQuery {
        event_id: event_id.clone(),
        // Failures are rare: the store keeps an index of them.
        failed: wanted == Some(DeliveryStatus::Failed),
        before: start,
        since: since.map(message_id_floor),
    };
    let (app, event_id, target) = (app.as_ref(), event_id.as_deref(), target.as_deref());
    let ids = |query: MessageQuery, size| async move { app.store.message_ids(&query, size).await.map_err(ApiError::from) };
    let keep = move |id| listed(app, id, event_id, target, wanted);
    let (messages, next_cursor) = page(ids, query, limit, MAX_SCANNED, keep).await?;
    Ok(Json(MessagePage { messages, next_cursor }))
}

/// The view of message `id` if it passes the list's filters.
async fn listed(
    app: &App,
    id: String,
    event_id: Option<&str>,
    target: Option<&str>,
    wanted: Option<DeliveryStatus>,
) -> Result<Option<MessageView>, ApiError> {
    let Some(message) = app.store.message(&id).await? else { return Ok(None) };
    if event_id.is_some_and(|event| event != message.event_id) {
        return Ok(None);
    }
    let value = view(app, &message).await?;
    let status = match target {
        None => Some(value.status),
        Some(target) => app.store.delivery(&delivery_key(&id, target)).await?.map(|d| d.status),
    };
    Ok(status.is_some_and(|s| wanted.is_none_or(|w| w == s)).then_some(value))
}

/// Most messages one page looks at. A filter that rarely matches answers with fewer than
/// `limit` messages and a `next_cursor` to go on from, rather than reading the whole log in
/// one request.
const MAX_SCANNED: usize = 5_000;

/// One page of the ids `query` selects (newest first, read from `ids` up to `limit` at a
/// time): up to `limit` of them that `keep` keeps, looking at no more than `max_scanned`,
/// and the cursor to continue from when the page ended first.
async fn page<T, E, Ids, Kept>(
    mut ids: impl FnMut(MessageQuery, usize) -> Ids,
    mut query: MessageQuery,
    limit: usize,
    max_scanned: usize,
    mut keep: impl FnMut(String) -> Kept,
) -> Result<(Vec<T>, Option<String>), E>
where
    Ids: Future<Output = Result<Vec<String>, E>>,
    Kept: Future<Output = Result<Option<T>, E>>,
{
    let mut kept = Vec::new();
    let mut scanned = 0;
    loop {
        let size = limit.min(max_scanned - scanned);
        let fetched = ids(query.clone(), size).await?;
        let ended = fetched.len() < size;
        for id in fetched {
            scanned += 1;
            kept.extend(keep(id.clone()).await?);
            if kept.len() == limit || scanned == max_scanned {
                return Ok((kept, Some(id)));
            }
            query.before = Some(id);
        }
        if ended {
            return Ok((kept, None));
        }
    }
}

/// Show a message
///
/// With its deliveries and every attempt (requests masked, response excerpts, guest logs).
#[utoipa::path(
    get,
    path = "/messages/{message_id}",
    tag = "messages",
    params(("message_id" = String, Path, description = "`msg_...`")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The message.", body = MessageView),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`message_not_found`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn show(State(app): State<Arc<App>>, Api(Path(message_id)): Api<Path<String>>) -> Result<Json<MessageView>, ApiError> {
    let message = app.store.message(&message_id).await?.ok_or_else(|| not_found(&message_id))?;
    Ok(Json(view(&app, &message).await?))
}

/// Retry a message's failed deliveries
///
/// Re-runs them from the stored data with the current config and components.
#[utoipa::path(
    post,
    path = "/messages/{message_id}/retry",
    tag = "messages",
    params(("message_id" = String, Path, description = "`msg_...`")),
    security(("adminToken" = [])),
    responses(
        (status = 202, description = "Queued again (`retried` may be 0).", body = Retried),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`message_not_found`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn retry(State(app): State<Arc<App>>, Api(Path(message_id)): Api<Path<String>>) -> Result<(StatusCode, Json<Retried>), ApiError> {
    app.store.message(&message_id).await?.ok_or_else(|| not_found(&message_id))?;
    let retried = app.store.requeue_failed(&message_id, None, now_ms()).await?;
    app.queue_changed.notify_one();
    Ok((StatusCode::ACCEPTED, Json(Retried { message_id, retried })))
}

/// What a skip let go.
#[derive(Debug, Serialize, ToSchema)]
pub struct Skipped {
    pub message_id: String,
    pub target: String,
    /// The ordering key that goes on without the delivery.
    pub ordering_key: String,
}

/// Let an ordering key go on without its failed head
///
/// For a target with `"ordering": {"on_failure": "block"}`: the failed delivery that holds
/// its key stays failed (a retry can still send it), and the key's next delivery goes.
#[utoipa::path(
    post,
    path = "/messages/{message_id}/deliveries/{target_id}/skip",
    tag = "messages",
    params(("message_id" = String, Path, description = "`msg_...`"), ("target_id" = String, Path)),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The key goes on.", body = Skipped),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`message_not_found`, `delivery_not_found`", body = ErrorBody),
        (status = 409, description = "`not_held`: the delivery does not hold its ordering key.", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn skip(
    State(app): State<Arc<App>>,
    Api(Path((message_id, target))): Api<Path<(String, String)>>,
) -> Result<Json<Skipped>, ApiError> {
    app.store.message(&message_id).await?.ok_or_else(|| not_found(&message_id))?;
    let delivery = app.store.delivery(&delivery_key(&message_id, &target)).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::DeliveryNotFound, format!("message `{message_id}` has no delivery to target `{target}`"))
    })?;
    let ordering_key = delivery.ordering_key.unwrap_or_default();
    let note = format!("skipped by an operator at {}, so ordering key {ordering_key:?} went on", rfc3339_now());
    if !app.store.skip_held(&message_id, &target, &note).await? {
        let message = format!("the delivery of `{message_id}` to `{target}` does not hold its ordering key");
        return Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::NotHeld, message));
    }
    app.queue_changed.notify_one();
    Ok(Json(Skipped { message_id, target, ordering_key }))
}

/// A time: RFC 3339 text or Unix milliseconds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum When {
    UnixMs(u64),
    Rfc3339(String),
}

impl When {
    fn ms(&self, field: &str) -> Result<u64, ApiError> {
        match self {
            When::UnixMs(ms) => Ok(*ms),
            When::Rfc3339(text) => parse_time(field, text),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Failed deliveries of messages received at or after this time.
    pub since: When,
    /// ... and before this time (default: now).
    #[serde(default)]
    pub until: Option<When>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed deliveries queued again, oldest message first.
    pub recovered: usize,
    /// Messages of the window looked at.
    pub scanned: usize,
    /// Whether the whole window was looked at. A call looks at the newest 10,000 failed
    /// messages of the window at most; when it stops short, call again with `until` set to
    /// `next_until` for the older ones (what was queued again is not failed any more, so
    /// nothing is sent twice).
    pub complete: bool,
    /// Unix ms: the `until` of the next call, when the window was not looked at whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_until: Option<u64>,
}

/// Messages one recover call looks at, at most.
const MAX_RECOVER_SCAN: usize = 10_000;

/// Re-send a target's failed deliveries of a time window
///
/// Queues again, oldest first, every failed delivery to the target of a message of the
/// event received in `[since, until)`. A second call while the first runs does not send
/// twice: a delivery queued again is pending, no longer failed.
#[utoipa::path(
    post,
    path = "/events/{event_id}/targets/{target_id}/recover",
    tag = "messages",
    params(("event_id" = String, Path), ("target_id" = String, Path)),
    request_body = RecoverRequest,
    security(("adminToken" = [])),
    responses(
        (status = 202, description = "Queued again.", body = Recovered),
        (status = 400, description = "`invalid_request`: a bad time or body.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_event`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn recover(
    State(app): State<Arc<App>>,
    Api(Path((event_id, target_id))): Api<Path<(String, String)>>,
    Api(Json(request)): Api<Json<RecoverRequest>>,
) -> Result<(StatusCode, Json<Recovered>), ApiError> {
    if app.store.event(&event_id).is_none() {
        return Err(ApiError::not_found(ErrorCode::UnknownEvent, format!("event `{event_id}` is not configured")));
    }
    let since = request.since.ms("since")?;
    let until = request.until.as_ref().map(|u| u.ms("until")).transpose()?.unwrap_or_else(|| now_ms() + 1);
    if until <= since {
        return Err(ApiError::bad_request(ErrorCode::InvalidRequest, "`until` must be after `since`"));
    }
    // The window's ids, newest first as the log pages them, then oldest first.
    let mut query = MessageQuery {
        event_id: Some(event_id.clone()),
        failed: true,
        before: Some(message_id_floor(until)),
        since: Some(message_id_floor(since)),
    };
    let mut ids = Vec::new();
    let complete = loop {
        let page = app.store.message_ids(&query, MAX_LIMIT).await?;
        let full = page.len() == MAX_LIMIT;
        query.before = page.last().cloned();
        ids.extend(page);
        if !full {
            break true;
        }
        if ids.len() >= MAX_RECOVER_SCAN {
            break false;
        }
    };
    let now = now_ms();
    let mut recovered = 0;
    for id in ids.iter().rev() {
        recovered += app.store.requeue_failed(id, Some(&target_id), now).await?;
    }
    app.queue_changed.notify_one();
    // The oldest message's millisecond is looked at again: others of it may not have been.
    let next_until = if complete { None } else { ids.last().and_then(|id| message_id_time_ms(id)).map(|ms| ms + 1) };
    Ok((StatusCode::ACCEPTED, Json(Recovered { recovered, scanned: ids.len(), complete, next_until })))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::MessageNotFound, format!("message `{id}` does not exist"))
}

#[cfg(test)]
mod tests {
    use super::{page, MessageQuery};

    /// A log of `n` ids, `m00` oldest, read as the store reads it.
    fn log(n: usize) -> impl FnMut(MessageQuery, usize) -> std::future::Ready<Result<Vec<String>, ()>> {
        move |query, size| {
            let ids = (0..n).rev().map(|i| format!("m{i:02}"));
            std::future::ready(Ok(ids.filter(|id| query.before.as_ref().is_none_or(|b| id < b)).take(size).collect()))
        }
    }

    fn even(id: String) -> std::future::Ready<Result<Option<String>, ()>> {
        std::future::ready(Ok(id.ends_with(['0', '2', '4', '6', '8']).then_some(id)))
    }

    #[tokio::test]
    async fn a_page_ends_at_the_limit_at_the_scan_bound_or_with_the_log() {
        let all = MessageQuery::default;
        let (kept, cursor) = page(log(20), all(), 3, 100, even).await.unwrap();
        assert_eq!((kept, cursor.as_deref()), (vec!["m18".to_string(), "m16".into(), "m14".into()], Some("m14")));
        let (kept, cursor) = page(log(20), all(), 10, 5, even).await.unwrap();
        assert_eq!((kept.len(), cursor.as_deref()), (2, Some("m15")), "stops after 5 looked at: m19..m15");
        let (kept, cursor) = page(log(4), all(), 10, 100, even).await.unwrap();
        assert_eq!((kept.len(), cursor), (2, None), "the log ended");
        let tens = |id: String| std::future::ready(Ok::<_, ()>(id.ends_with('0').then_some(id)));
        let (kept, cursor) = page(log(20), all(), 3, 100, tens).await.unwrap();
        assert_eq!((kept, cursor.as_deref()), (vec!["m10".to_string(), "m00".into()], None), "read on, a page at a time");
    }
}
