//! Configure, list, show and delete events.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ErrorBody;
use crate::api::openapi::{Forbidden, StorageError, Unauthorized};
use crate::api::{Api, ApiError, ErrorCode};
use crate::model::EventConfig;
use crate::{secrets, validate, App};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show, put, remove)).routes(routes!(validate))
}

/// What a PUT of a config would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The event does not exist yet.
    Created,
    /// The event exists with another configuration.
    Changed,
    /// The event exists with this very configuration (secrets included).
    Unchanged,
}

/// The answer of a validation: what a PUT would do and store.
#[derive(Debug, Serialize, ToSchema)]
pub struct Validated {
    pub outcome: Outcome,
    /// The configuration a PUT would store, secrets masked.
    pub event: EventView,
}

/// An event's configuration with its id.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: String,
    #[serde(flatten)]
    pub config: EventConfig,
}

/// The config's own schema plus `id`: an `allOf` would not do, since the config admits no
/// properties besides its own (`additionalProperties: false`).
impl utoipa::PartialSchema for EventView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        use utoipa::openapi::RefOr;
        let RefOr::T(Schema::Object(mut object)) = EventConfig::schema() else {
            unreachable!("a struct's schema is an object")
        };
        object.properties.insert("id".into(), ObjectBuilder::new().schema_type(Type::String).into());
        object.required.insert(0, "id".into());
        object.description = Some("An event's configuration with its id.".into());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for EventView {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        EventConfig::schemas(schemas);
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

fn masked_view(id: &str, mut config: EventConfig) -> EventView {
    secrets::mask(&mut config);
    EventView { id: id.to_string(), config }
}

/// Configure an event
///
/// Validates and stores the configuration. Secrets sent masked (as reads show them) keep
/// the stored ones; a signing target without a secret gets one, shown only in this answer.
#[utoipa::path(
    put,
    path = "/events/{event_id}",
    tag = "events",
    params(("event_id" = String, Path, description = "1-200 letters, digits, `.`, `_`, `-` or `:`.")),
    request_body = EventConfig,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Replaced; the stored configuration, secrets in full.", body = EventView),
        (status = 201, description = "Created; the stored configuration, secrets in full.", body = EventView),
        (status = 400, description = "`invalid_config` names the field that is wrong; `invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = StorageError),
    ),
)]
async fn put(
    State(app): State<Arc<App>>,
    Api(Path(event_id)): Api<Path<String>>,
    Api(Json(config)): Api<Json<serde_json::Map<String, Value>>>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    validate::name("event id", &event_id)?;
    let mut config = event_config(&event_id, config)?;
    secrets::fill(&mut config, app.store.event(&event_id).as_deref());
    validate::event_config(&config, &app.components, app.settings.allow_http)?;
    let created = app.store.put_event(&event_id, &config).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    // The only answer that shows the signing secrets.
    Ok((status, Json(EventView { id: event_id, config })))
}

/// Validate an event configuration
///
/// Checks a configuration exactly as `PUT` would (masked secrets take the stored ones back)
/// and says what a `PUT` would do, without storing anything. Also refuses a masked secret
/// that has no stored secret to take back (a `PUT` would store the mask itself). What
/// `hookgate config apply` checks every event of a file with before it changes any.
#[utoipa::path(
    post,
    path = "/events/{event_id}/validate",
    tag = "events",
    params(("event_id" = String, Path, description = "1-200 letters, digits, `.`, `_`, `-` or `:`.")),
    request_body = EventConfig,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Valid; what a PUT would do and store.", body = Validated),
        (status = 400, description = "`invalid_config` names the field that is wrong; `invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
async fn validate(
    State(app): State<Arc<App>>,
    Api(Path(event_id)): Api<Path<String>>,
    Api(Json(config)): Api<Json<serde_json::Map<String, Value>>>,
) -> Result<Json<Validated>, ApiError> {
    validate::name("event id", &event_id)?;
    let mut config = event_config(&event_id, config)?;
    let stored = app.store.event(&event_id);
    secrets::fill(&mut config, stored.as_deref());
    if let Some(field) = secrets::still_masked(&config) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidConfig,
            format!("{field} is masked and the gateway has no secret to keep for it: give the secret itself"),
        ));
    }
    validate::event_config(&config, &app.components, app.settings.allow_http)?;
    let outcome = match stored {
        None => Outcome::Created,
        Some(stored) if *stored == config => Outcome::Unchanged,
        Some(_) => Outcome::Changed,
    };
    Ok(Json(Validated { outcome, event: masked_view(&event_id, config) }))
}

/// List the events
///
/// Every event's configuration, secrets masked.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The events.", body = EventList),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list(State(app): State<Arc<App>>) -> Result<Json<EventList>, ApiError> {
    let events = app.store.events().into_iter().map(|(id, c)| masked_view(&id, (*c).clone())).collect();
    Ok(Json(EventList { events }))
}

/// Show an event
///
/// Its configuration, secrets masked.
#[utoipa::path(
    get,
    path = "/events/{event_id}",
    tag = "events",
    params(("event_id" = String, Path, description = "The event.")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The configuration.", body = EventView),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`unknown_event`", body = ErrorBody),
    ),
)]
async fn show(State(app): State<Arc<App>>, Api(Path(event_id)): Api<Path<String>>) -> Result<Json<EventView>, ApiError> {
    let config = app.store.event(&event_id).ok_or_else(|| not_found(&event_id))?;
    Ok(Json(masked_view(&event_id, (*config).clone())))
}

/// Delete an event
///
/// Its messages stay in the log; their pending deliveries end as `target_removed`.
#[utoipa::path(
    delete,
    path = "/events/{event_id}",
    tag = "events",
    params(("event_id" = String, Path, description = "The event.")),
    security(("adminToken" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`invalid_request`: the path is not valid.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_event`", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn remove(State(app): State<Arc<App>>, Api(Path(event_id)): Api<Path<String>>) -> Result<StatusCode, ApiError> {
    if app.store.delete_event(&event_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&event_id))
    }
}

/// The event config in a request's body: a JSON object (serde alone would also take an
/// array, field by field), refused with the path of a field that does not fit. The `id` an
/// event is read back with may come along (a config read, edited and put back), as long as
/// it is the path's.
fn event_config(event_id: &str, mut object: serde_json::Map<String, Value>) -> Result<EventConfig, ApiError> {
    match object.remove("id") {
        Some(Value::String(id)) if id == event_id => {}
        None => {}
        Some(other) => {
            let message = format!("id: {other} is not the event's id `{event_id}`, which the path names");
            return Err(ApiError::bad_request(ErrorCode::InvalidConfig, message));
        }
    }
    let mut config: EventConfig = serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let field = e.path().to_string();
        let at = if field == "." { String::new() } else { format!("{field}: ") };
        ApiError::bad_request(ErrorCode::InvalidConfig, format!("{at}{}", e.inner()))
    })?;
    // A target switched on again forgets why the gateway switched it off.
    config.targets.iter_mut().filter(|t| t.enabled).for_each(|t| t.disabled = None);
    Ok(config)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::UnknownEvent, format!("event `{id}` is not configured"))
}
