//! Upload, list, show and delete components.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ErrorBody;
use crate::api::openapi::{Binary, Forbidden, StorageError, Unauthorized};
use crate::api::{Api, ApiError, ErrorCode};
use crate::dry_run::DryRunReport;
use crate::model::{ComponentEntry, ComponentVersion, EventConfig, World};
use crate::{validate, App};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show, upload, remove)).routes(routes!(dry_run))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// The candidate version of the component.
    version: u32,
    /// The event whose stored messages it runs over.
    event_id: String,
    /// How many of the event's latest messages (1-1000).
    #[serde(default = "default_last")]
    #[schema(default = 50)]
    last: usize,
}

/// A component: its latest version's facts and every version, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentView {
    pub name: String,
    pub version: Option<u32>,
    pub sha256: Option<String>,
    pub world: Option<World>,
    pub size: Option<usize>,
    pub versions: Vec<ComponentVersion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentList {
    pub components: Vec<ComponentView>,
}

/// The version an upload made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentUploaded {
    pub name: String,
    /// Hex SHA-256 of the bytes uploaded.
    pub sha256: String,
    pub world: World,
    /// Bytes.
    pub size: usize,
    /// The new version's number (bind `name@N` to pin it).
    pub version: u32,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
}

fn default_last() -> usize {
    50
}

/// Dry-run a component version over stored traffic
///
/// Runs version `version` beside the bound version over the event's last stored messages:
/// per message and binding, `current`, `candidate` and `differs`. Nothing is sent or stored.
#[utoipa::path(
    post,
    path = "/components/{name}/dry-run",
    tag = "components",
    params(("name" = String, Path, description = "The component.")),
    request_body = DryRunRequest,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The comparison.", body = DryRunReport),
        (status = 400, description = "`invalid_config`: the body does not fit; `invalid_request`: the event does not bind the component, or the path is not valid; `invalid_component`.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_event`, `component_not_found`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn dry_run(
    State(app): State<Arc<App>>,
    Api(Path(name)): Api<Path<String>>,
    Api(Json(request)): Api<Json<DryRunRequest>>,
) -> Result<Json<DryRunReport>, ApiError> {
    let last = request.last.clamp(1, 1000);
    let report = tokio::task::spawn_blocking(move || crate::dry_run::run(&app, &name, request.version, &request.event_id, last))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, e.to_string()))??;
    Ok(Json(report))
}

fn view(entry: &ComponentEntry) -> ComponentView {
    let latest = entry.latest();
    ComponentView {
        name: entry.name.clone(),
        version: latest.map(|v| v.version),
        sha256: latest.map(|v| v.sha256.clone()),
        world: latest.map(|v| v.world),
        size: latest.map(|v| v.size),
        versions: entry.versions.clone(),
    }
}

/// Upload a component version
///
/// Validates the component (a component, not a core module; exactly one world of the
/// contract; imports only the contract and WASI), compiles it once and stores it as a new
/// version.
#[utoipa::path(
    put,
    path = "/components/{name}",
    tag = "components",
    params(("name" = String, Path, description = "1-200 letters, digits, `.`, `_`, `-` or `:`.")),
    request_body(
        description = "The component's bytes (`.wasm`).",
        content((Binary = "application/wasm"), (Binary = "application/octet-stream")),
    ),
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Stored as a new version.", body = ComponentUploaded),
        (status = 400, description = "`invalid_component` says what is wrong; `invalid_request`: the name is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`: more than 64 MiB.", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn upload(
    State(app): State<Arc<App>>,
    Api(Path(name)): Api<Path<String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ComponentUploaded>), ApiError> {
    validate::name("component name", &name).map_err(|e| ApiError::bad_request(ErrorCode::InvalidRequest, e.0))?;
    let wasm = body?;
    let uploader = app.clone();
    let uploaded = tokio::task::spawn_blocking(move || uploader.components.upload(&name, &wasm).map(|r| (name, r)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, e.to_string()))?;
    let (name, (version, inspection)) = uploaded?;
    tracing::info!(component = %name, version = version.version, world = %inspection.world, "component uploaded");
    let body = ComponentUploaded {
        name,
        sha256: version.sha256,
        world: version.world,
        size: version.size,
        version: version.version,
        imports: inspection.imports,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// List the components
#[utoipa::path(
    get,
    path = "/components",
    tag = "components",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Every component with its versions.", body = ComponentList),
        (status = 401, response = Unauthorized),
        (status = 500, response = StorageError),
    ),
)]
async fn list(State(app): State<Arc<App>>) -> Result<Json<ComponentList>, ApiError> {
    let components = app.store.components()?.iter().map(view).collect();
    Ok(Json(ComponentList { components }))
}

/// Show a component
#[utoipa::path(
    get,
    path = "/components/{name}",
    tag = "components",
    params(("name" = String, Path, description = "The component.")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The component and its versions.", body = ComponentView),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`component_not_found`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn show(State(app): State<Arc<App>>, Api(Path(name)): Api<Path<String>>) -> Result<Json<ComponentView>, ApiError> {
    let entry = app.store.component(&name)?.ok_or_else(|| not_found(&name))?;
    Ok(Json(view(&entry)))
}

/// Delete a component
///
/// Every version; refused while an event binds it.
#[utoipa::path(
    delete,
    path = "/components/{name}",
    tag = "components",
    params(("name" = String, Path, description = "The component.")),
    security(("adminToken" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`component_not_found`", body = ErrorBody),
        (status = 409, description = "`component_in_use` names the events that bind it.", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn remove(State(app): State<Arc<App>>, Api(Path(name)): Api<Path<String>>) -> Result<StatusCode, ApiError> {
    let users: Vec<String> =
        app.store.events().into_iter().filter(|(_, config)| uses(config, &name)).map(|(id, _)| id).collect();
    if !users.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ComponentInUse,
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
    ApiError::not_found(ErrorCode::ComponentNotFound, format!("component `{name}` does not exist"))
}

/// Whether an event binds any version of component `name`.
fn uses(config: &EventConfig, name: &str) -> bool {
    let bindings = config
        .authenticator
        .iter()
        .chain(config.targets.iter().flat_map(|t| t.transformer.iter().chain(t.condition.iter())));
    bindings.map(|b| b.component.split('@').next().unwrap_or("")).any(|n| n == name)
}
