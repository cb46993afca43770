//! Configure, list, show and delete events.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{Api, ApiError};
use crate::model::EventConfig;
use crate::{secrets, validate, App};

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/events", get(list)).route("/events/{event_id}", get(show).put(put).delete(remove))
}

fn masked_view(id: &str, mut config: EventConfig) -> Value {
    secrets::mask(&mut config);
    view(id, &config)
}

fn view(id: &str, config: &EventConfig) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("id".into(), json!(id));
    }
    value
}

async fn put(
    State(app): State<Arc<App>>,
    Api(Path(event_id)): Api<Path<String>>,
    Api(Json(config)): Api<Json<serde_json::Map<String, Value>>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    validate::name("event id", &event_id)?;
    let mut config = event_config(config)?;
    secrets::fill(&mut config, app.store.event(&event_id).as_deref());
    validate::event_config(&config, &app.components, app.settings.allow_http)?;
    let created = app.store.put_event(&event_id, &config).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    // The only answer that shows the signing secrets.
    Ok((status, Json(view(&event_id, &config))))
}

async fn list(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let events: Vec<Value> = app.store.events().into_iter().map(|(id, c)| masked_view(&id, (*c).clone())).collect();
    Ok(Json(json!({ "events": events })))
}

async fn show(State(app): State<Arc<App>>, Api(Path(event_id)): Api<Path<String>>) -> Result<Json<Value>, ApiError> {
    let config = app.store.event(&event_id).ok_or_else(|| not_found(&event_id))?;
    Ok(Json(masked_view(&event_id, (*config).clone())))
}

async fn remove(State(app): State<Arc<App>>, Api(Path(event_id)): Api<Path<String>>) -> Result<StatusCode, ApiError> {
    if app.store.delete_event(&event_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&event_id))
    }
}

/// An event config from a JSON object (serde alone would also take an array, field by
/// field), with the path of a field that does not fit.
fn event_config(object: serde_json::Map<String, Value>) -> Result<EventConfig, ApiError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let field = e.path().to_string();
        let at = if field == "." { String::new() } else { format!("{field}: ") };
        ApiError::bad_request("invalid_config", format!("{at}{}", e.inner()))
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("unknown_event", format!("event `{id}` is not configured"))
}
