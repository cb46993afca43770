//! The local component runner behind `hookgate component run` and `component inspect`:
//! one component, outside the server, in the same sandbox with the same limits, on input
//! described in JSON. What an integrator uses to try a component before uploading it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::delivery::request;
use crate::model::{MessageRecord, TargetConfig, World};
use crate::runtime::json::{self, InputError};
use crate::runtime::{ComponentError, GuestCall, GuestError, GuestMessage, Inspection, OutgoingRequest, Prepared, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// What `component inspect` prints.
pub fn inspect(runtime: &Runtime, wasm: &[u8], compile_cache: Option<&Path>) -> Result<Value, ComponentError> {
    let (inspection, _) = compile(runtime, wasm, compile_cache)?;
    Ok(json!({
        "world": inspection.world,
        "contract": format!("hookgate:plugin@{}", inspection.contract_version),
        "imports": inspection.imports,
        "exports": inspection.exports,
        "size": wasm.len(),
        "sha256": crate::runtime::sha256_hex(wasm),
    }))
}

/// The outcome of one run: the report to print and the guest's error, if it failed.
pub struct Ran {
    pub report: Value,
    pub error: Option<GuestError>,
}

/// Compiles `wasm`, or loads from `compile_cache` what an earlier run (or a gateway sharing
/// the directory) compiled from the same bytes in the same engine.
fn compile(runtime: &Runtime, wasm: &[u8], compile_cache: Option<&Path>) -> Result<(Inspection, Prepared), ComponentError> {
    let key = runtime.artifact_key(&crate::runtime::sha256_hex(wasm));
    let (inspection, prepared, _) = crate::runtime::compile_cached(runtime, wasm, &key, compile_cache)?;
    Ok((inspection, prepared))
}

/// Where `component run` and `inspect` keep compiled code between runs, unless
/// `HOOKGATE_COMPILE_CACHE` says otherwise: `$XDG_CACHE_HOME/hookgate/compiled`, else
/// `~/.cache/hookgate/compiled`.
pub fn user_compile_cache() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache_home = non_empty("XDG_CACHE_HOME").or_else(|| non_empty("HOME").map(|home| home.join(".cache")))?;
    Some(cache_home.join("hookgate").join("compiled"))
}

/// Runs `wasm` (named `component_name`, after its file) on `input`, shaped by the component's world:
/// - authenticator: `{"request": {method, path, query, headers, body}}`
/// - transformer: `{"message": {event_id, message_id, received_at, headers, content_type, body, subshop}, "draft": {method, url, headers, body}}`
///   (without `draft`, the gateway builds it from a target config: `"target": {url, method,
///   headers, body, config}`, by default `http://127.0.0.1:9000/hook` with this component
///   bound as its transformer)
/// - condition: `{"request": {...}, "response": {status, headers, body}, "attempt": 1}`
///   (without `request`: POST to `https://example.com/` with no body)
///
/// and in every world an optional `"config": {...}`, what the `config` import reads.
pub fn run(runtime: &Runtime, wasm: &[u8], component_name: &str, input: &Value, compile_cache: Option<&Path>) -> Result<Ran, RunError> {
    let (inspection, prepared) = compile(runtime, wasm, compile_cache)?;
    let field = |name: &str| input.get(name).cloned().unwrap_or(Value::Null);
    let config: BTreeMap<String, Value> = match field("config") {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map.into_iter().collect(),
        _ => return Err(InputError { field: "config".into(), problem: "must be an object".into() }.into()),
    };
    let mut draft_given = None;
    let (output, report, duration, error) = match inspection.world {
        World::Authenticator => {
            let request = json::incoming_request(&field("request"), "request")?;
            split(runtime.authenticate(&prepared, config, &request), json::auth_json)
        }
        World::Transformer => {
            let message = json::message(&field("message"), "message")?;
            let draft = match field("draft") {
                Value::Null => {
                    let subshop = field("message").get("subshop").and_then(Value::as_str).map(str::to_string);
                    gateway_draft(field("target"), component_name, &message, subshop)?
                }
                draft => json::outgoing_request(&draft, "draft")?,
            };
            draft_given = Some(json::request_json(&draft));
            split(runtime.transform(&prepared, config, &message, &draft), json::transform_json)
        }
        World::Condition => {
            let request = match field("request") {
                Value::Null => json::outgoing_request(&json!({}), "request")?,
                request => json::outgoing_request(&request, "request")?,
            };
            let response = json::response(&field("response"), "response")?;
            let attempt = field("attempt").as_u64().and_then(|a| u32::try_from(a).ok()).unwrap_or(1);
            split(runtime.evaluate(&prepared, config, &request, &response, attempt), json::verdict_json)
        }
    };
    let mut report = json!({
        "world": inspection.world,
        "logs": report.logs,
        "duration_ms": duration.as_secs_f64() * 1000.0,
        "peak_memory_bytes": report.peak_memory,
    });
    if let Some(draft) = draft_given {
        report["draft"] = draft;
    }
    match (&output, &error) {
        (Some(output), _) => report["output"] = output.clone(),
        (None, Some(e)) => report["error"] = json!({ "code": e.code(), "message": e.to_string() }),
        (None, None) => {}
    }
    Ok(Ran { report, error })
}

/// The draft the gateway would hand the transformer for `message`, built by the gateway's
/// own rule from `target` (a target config as in an event config; the id, URL and this
/// component as the transformer are filled in when not given).
fn gateway_draft(target: Value, component: &str, message: &GuestMessage, subshop: Option<String>) -> Result<OutgoingRequest, InputError> {
    let bad = |problem: String| InputError { field: "target".into(), problem };
    let mut config = json!({"id": "local", "url": "http://127.0.0.1:9000/hook", "transformer": {"component": component}});
    match (target, config.as_object_mut()) {
        (Value::Null, _) => {}
        (Value::Object(given), Some(defaults)) => defaults.extend(given),
        _ => return Err(bad("must be an object (a target config as in an event config)".into())),
    }
    let target: TargetConfig = serde_json::from_value(config).map_err(|e| bad(e.to_string()))?;
    let record = MessageRecord {
        message_id: message.message_id.clone(),
        event_id: message.event_id.clone(),
        received_at: humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(message.received_at)).to_string(),
        received_at_ms: message.received_at,
        headers: message.headers.clone(),
        content_type: message.content_type.clone(),
        body_size: message.body.len(),
        subshop,
        idempotency_key: None,
        traceparent: None,
    };
    request::draft(&target, &record, &message.body, crate::settings::DEFAULT_MAX_REQUEST_BYTES)
        .map_err(|e| bad(format!("{}: {}", e.code, e.message)))
}

type Split = (Option<Value>, crate::runtime::CallReport, std::time::Duration, Option<GuestError>);

fn split<T>(call: GuestCall<T>, to_json: impl Fn(&T) -> Value) -> Split {
    match call.result {
        Ok(value) => (Some(to_json(&value)), call.report, call.duration, None),
        Err(error) => (None, call.report, call.duration, Some(error)),
    }
}
