//! End-to-end tests of the seed semantics: WEBSALE ASSE (fire, data as given, subshops,
//! success criteria, retries, delivery log), Ellity webhooks (templates, method default,
//! API key in the URL) and the Adobe Commerce ingestion webhook, plus the Adobe Commerce
//! example catalog in `examples/adobe-commerce/`.
//!
//! Every test runs the real gateway binary against a real receiver and checks the exact
//! method, path and query, headers and body the receiver got.
//!
//! One module per seed system (`websale.rs`, `ellity.rs`, `adobe.rs`); the helpers they
//! share are here.
//!
//! Prerequisites: `cargo build -p hookgate --bins` and `guest-examples/build.sh`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// Headers every HTTP client adds by itself; the rest is what the gateway chose to send.
const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "transfer-encoding",
    "te",
];

/// Whether a header is the gateway's own envelope rather than what the target config and
/// the data ask for: transport headers, and the Standard Webhooks signature headers
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`) the gateway may add to every
/// delivery.
fn is_envelope_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    TRANSPORT_HEADERS.contains(&name.as_str()) || name.starts_with("webhook-")
}

/// The request's headers without the envelope headers, names lower-cased, sorted.
fn app_headers(r: &Recorded) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !is_envelope_header(k))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    h.sort();
    h
}

fn sorted_headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    h.sort();
    h
}

/// Asserts the exact method, path+query, headers (apart from transport headers) and body.
#[track_caller]
fn assert_request(r: &Recorded, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    assert_eq!(r.method, method, "method of {r:#?}");
    assert_eq!(r.path, path, "path and query of {r:#?}");
    assert_eq!(app_headers(r), sorted_headers(headers), "headers of {r:#?}");
    assert_eq!(
        r.body.as_ref(),
        body,
        "body of {r:#?}: got {:?}, expected {:?}",
        r.text(),
        String::from_utf8_lossy(body)
    );
}

/// The only request the receiver got to `path` (path without query).
#[track_caller]
fn only_request_to(rx: &Receiver, path: &str) -> Recorded {
    let reqs = rx.requests_to(path);
    assert_eq!(
        reqs.len(),
        1,
        "expected exactly one request to {path}: {reqs:#?}"
    );
    reqs.into_iter().next().unwrap()
}

fn ids_of(page: &Value) -> BTreeSet<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array in {page}"))
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// `POST /v1/ingest` with a JSON body.
async fn ingest(gw: &Gateway, body: &str) -> Resp {
    gw.post_raw("/v1/ingest", body, &[("content-type", "application/json")])
        .await
}

/// Asserts the starter kit's success answer of `/v1/ingest`; returns the message id.
#[track_caller]
fn ingest_accepted(r: &Resp, event: &str) -> String {
    r.assert_status(200);
    let v = r.json();
    let id = v
        .pointer("/response/message_id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no response.message_id in {v}"))
        .to_string();
    assert!(id.starts_with("msg_"), "{v}");
    assert_eq!(
        v,
        json!({"type": event, "response": {
            "success": true, "message": "Event published successfully", "message_id": id}}),
        "ingest answer"
    );
    id
}

/// Asserts a `/v1/ingest` error: the status, `error.code`, `error.message`, `error.statusCode`
/// and `error.body.error`; returns the message.
#[track_caller]
fn ingest_error(r: &Resp, status: u16, code: &str) -> String {
    let message = r.assert_error(status, code);
    let v = r.json();
    assert_eq!(v["error"]["statusCode"], status, "error.statusCode in {v}");
    let body_error = v
        .pointer("/error/body/error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string error.body.error in {v}"));
    assert!(!body_error.is_empty(), "empty error.body.error in {v}");
    message
}

fn envelope(uid: &str, event: &str, value: Value) -> String {
    json!({"data": {"uid": uid, "event": event, "value": value}}).to_string()
}

fn retry(max_attempts: u32, timeout_ms: u64) -> Value {
    json!({"max_attempts": max_attempts, "initial_delay_ms": 50, "max_delay_ms": 200,
           "timeout_ms": timeout_ms})
}

mod adobe;
mod ellity;
mod websale;
