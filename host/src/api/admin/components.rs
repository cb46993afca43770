//! Upload, list, show and delete components.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{Api, ApiError};
use crate::model::{ComponentEntry, EventConfig};
use crate::{validate, App};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/components", get(list))
        .route("/components/{name}", get(show).put(upload).delete(remove))
        .route("/components/{name}/dry-run", axum::routing::post(dry_run))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRunRequest {
    version: u32,
    event_id: String,
    #[serde(default = "default_last")]
    last: usize,
}

fn default_last() -> usize {
    50
}

/// Runs version `version` beside the bound version over the event's last messages.
async fn dry_run(
    State(app): State<Arc<App>>,
    Api(Path(name)): Api<Path<String>>,
    Api(Json(request)): Api<Json<DryRunRequest>>,
) -> Result<Json<Value>, ApiError> {
    let last = request.last.clamp(1, 1000);
    let report = tokio::task::spawn_blocking(move || crate::dry_run::run(&app, &name, request.version, &request.event_id, last))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))??;
    Ok(Json(report))
}

fn view(entry: &ComponentEntry) -> Value {
    let latest = entry.latest();
    json!({
        "name": entry.name,
        "version": latest.map(|v| v.version),
        "sha256": latest.map(|v| &v.sha256),
        "world": latest.map(|v| v.world),
        "size": latest.map(|v| v.size),
        "versions": entry.versions,
    })
}

async fn upload(
    State(app): State<Arc<App>>,
    Api(Path(name)): Api<Path<String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    validate::name("component name", &name).map_err(|e| ApiError::bad_request("invalid_request", e.0))?;
    let wasm = body?;
    let uploader = app.clone();
    let uploaded = tokio::task::spawn_blocking(move || uploader.components.upload(&name, &wasm).map(|r| (name, r)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))?;
    let (name, (version, inspection)) = uploaded?;
    tracing::info!(component = %name, version = version.version, world = %inspection.world, "component uploaded");
    let body = json!({
        "name": name,
        "sha256": version.sha256,
        "world": version.world,
        "size": version.size,
        "version": version.version,
        "imports": inspection.imports,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let components: Vec<Value> = app.store.components()?.iter().map(view).collect();
    Ok(Json(json!({ "components": components })))
}

async fn show(State(app): State<Arc<App>>, Api(Path(name)): Api<Path<String>>) -> Result<Json<Value>, ApiError> {
    let entry = app.store.component(&name)?.ok_or_else(|| not_found(&name))?;
    Ok(Json(view(&entry)))
}

async fn remove(State(app): State<Arc<App>>, Api(Path(name)): Api<Path<String>>) -> Result<StatusCode, ApiError> {
    let users: Vec<String> =
        app.store.events().into_iter().filter(|(_, config)| uses(config, &name)).map(|(id, _)| id).collect();
    if !users.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "component_in_use",
            format!("component `{name}` is used by event(s) {}; change them first", users.join(", ")),
        ));
    }
    if app.store.delete_component(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found("component_not_found", format!("component `{name}` does not exist"))
}

/// Whether an event binds any version of component `name`.
fn uses(config: &EventConfig, name: &str) -> bool {
    let bindings = config
        .authenticator
        .iter()
        .chain(config.targets.iter().flat_map(|t| t.transformer.iter().chain(t.condition.iter())));
    bindings.map(|b| b.component.split('@').next().unwrap_or("")).any(|n| n == name)
}
