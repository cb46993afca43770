//! Dry runs against real traffic: run a candidate version of a component over the last
//! stored messages of an event, beside the version in use, and show where they differ.
//! Nothing is sent and nothing is stored.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::delivery::request;
use crate::model::{Binding, ErrorInfo, EventConfig, MessageRecord};
use crate::runtime::json::{auth_json, transform_json};
use crate::runtime::{GuestCall, IncomingRequest, Prepared, ResolveError};
use crate::store::{MessageQuery, StoreError};
use crate::App;

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("event `{0}` is not configured")]
    UnknownEvent(String),
    #[error("event `{event}` does not use component `{component}` as an authenticator or transformer")]
    NotUsed { event: String, component: String },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a dry run found.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunReport {
    pub component: String,
    pub version: u32,
    pub event_id: String,
    /// How many (message, binding) pairs were compared.
    pub compared: usize,
    /// How many of them differ.
    pub differing: usize,
    pub results: Vec<DryRunResult>,
}

/// One message through one binding: both outcomes, or why there was nothing to compare.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunResult {
    pub message_id: String,
    /// `authenticator` or `targets.<id>.transformer`.
    pub binding: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs: Option<bool>,
    /// The bound version's outcome: its decision or request, or `{"failure": {code, message}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
    /// The candidate's outcome, in the same form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
    /// The request could not be drafted for this message (so neither version ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// Where the component is bound in the event: the authenticator, or a target's transformer.
enum Role<'a> {
    Authenticator(&'a Binding),
    Transformer(&'a crate::model::TargetConfig, &'a Binding),
}

fn component_name(reference: &str) -> &str {
    reference.split_once('@').map_or(reference, |(name, _)| name)
}

fn roles<'a>(event: &'a EventConfig, component: &str) -> Vec<Role<'a>> {
    let auth = event.authenticator.iter().map(Role::Authenticator);
    let transformers =
        event.targets.iter().filter_map(|t| t.transformer.as_ref().map(|b| Role::Transformer(t, b)));
    auth.chain(transformers)
        .filter(|role| {
            let binding = match role {
                Role::Authenticator(b) | Role::Transformer(_, b) => b,
            };
            component_name(&binding.component) == component
        })
        .collect()
}

fn outcome<T>(call: GuestCall<T>, to_json: impl Fn(&T) -> Value) -> Value {
    match call.result {
        Ok(value) => to_json(&value),
        Err(e) => json!({ "failure": { "code": e.code(), "message": e.to_string() } }),
    }
}

/// Waits for a store read on the blocking thread a dry run takes.
fn wait<T>(read: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(read)
}

/// Runs `component@version` beside the bound version on the last `last` messages of
/// `event_id`. Blocking: it runs guests (on the blocking pool of the gateway's runtime).
pub fn run(app: &App, component: &str, version: u32, event_id: &str, last: usize) -> Result<DryRunReport, DryRunError> {
    let event = app.store.event(event_id).ok_or_else(|| DryRunError::UnknownEvent(event_id.to_string()))?;
    let roles = roles(&event, component);
    if roles.is_empty() {
        return Err(DryRunError::NotUsed { event: event_id.to_string(), component: component.to_string() });
    }
    let candidate = app.components.load(&format!("{component}@{version}"))?;
    let runtime = app.components.runtime();
    let mut results = Vec::new();
    let of_event = MessageQuery { event_id: Some(event_id.to_string()), ..MessageQuery::default() };
    for id in wait(app.store.message_ids(&of_event, last))? {
        let Some((message, body)) = wait(app.store.message_with_body(&id))? else { continue };
        for role in &roles {
            let (place, current, proposed) = match role {
                Role::Authenticator(binding) => {
                    let request = incoming(&message, &body);
                    let compare = |prepared: &Prepared| {
                        outcome(runtime.authenticate(prepared, binding.config.clone(), &request), auth_json)
                    };
                    ("authenticator".to_string(), compare(&app.components.load(&binding.component)?), compare(&candidate))
                }
                Role::Transformer(target, binding) => {
                    let place = format!("targets.{}.transformer", target.id);
                    let draft = match request::draft(target, &message, &body, app.settings.max_request_bytes) {
                        Ok(draft) => draft,
                        Err(error) => {
                            results.push(DryRunResult {
                                message_id: id.clone(),
                                binding: place,
                                differs: None,
                                current: None,
                                candidate: None,
                                error: Some(error),
                            });
                            continue;
                        }
                    };
                    let guest_message = request::guest_message(&message, &body);
                    let compare = |prepared: &Prepared| {
                        let call = runtime.transform(prepared, binding.config.clone(), &guest_message, &draft);
                        outcome(call, transform_json)
                    };
                    (place, compare(&app.components.load(&binding.component)?), compare(&candidate))
                }
            };
            results.push(DryRunResult {
                message_id: id.clone(),
                binding: place,
                differs: Some(current != proposed),
                current: Some(current),
                candidate: Some(proposed),
                error: None,
            });
        }
    }
    let differing = results.iter().filter(|r| r.differs == Some(true)).count();
    Ok(DryRunReport {
        component: component.to_string(),
        version,
        event_id: event_id.to_string(),
        compared: results.len(),
        differing,
        results,
    })
}

/// The ingest request as far as it was stored (credential headers are never stored, so an
/// authenticator that reads them sees them missing).
fn incoming(message: &MessageRecord, body: &[u8]) -> IncomingRequest {
    IncomingRequest {
        method: "POST".into(),
        path: format!("/v1/events/{}", message.event_id),
        query: String::new(),
        headers: message.headers.clone(),
        body: body.to_vec(),
    }
}
