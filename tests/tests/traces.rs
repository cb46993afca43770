//! Traces (`serve --otlp-endpoint`): a real OTLP/HTTP collector in the test takes the spans
//! the gateway exports (protobuf, decoded with the OpenTelemetry protocol's own types), and
//! a real receiver shows the `traceparent` the delivery carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookgate_tests::serde_json::json;
use hookgate_tests::*;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// The shop's span: the trace every span of the event must be in.
const SHOP_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SHOP_SPAN: &str = "00f067aa0ba902b7";

/// One span as the collector got it, ids in hex.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP collector on 127.0.0.1: it keeps every span of every `POST /v1/traces`.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route("/v1/traces", axum::routing::post(take)).with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { url, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until spans named `names` all arrived; panics after `deadline`.
    async fn wait_for(&self, names: &[&str], deadline: Duration, gw: &Gateway) -> Vec<Span> {
        let end = Instant::now() + deadline;
        loop {
            let spans = self.spans();
            if names.iter().all(|name| spans.iter().any(|s| s.name == *name)) {
                return spans;
            }
            if Instant::now() >= end {
                panic!("the collector did not get spans {names:?} within {deadline:?}; it got {spans:#?}\n{}", gw.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn take(State(spans): State<Arc<Mutex<Vec<Span>>>>, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/x-protobuf"));
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export in protobuf");
    let mut taken = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?));
        assert_eq!(service.as_deref(), Some("hookgate"), "the resource names the service");
        for span in resource.scope_spans.into_iter().flat_map(|scope| scope.spans) {
            let attributes = span
                .attributes
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?)?)))
                .collect();
            taken.push(Span {
                name: span.name,
                trace_id: hex::encode(span.trace_id),
                span_id: hex::encode(span.span_id),
                parent_id: hex::encode(span.parent_span_id),
                attributes,
            });
        }
    }
    (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

fn text(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The one span named `name` (and with `role`, for guest calls).
#[track_caller]
fn one<'a>(spans: &'a [Span], name: &str, role: Option<&str>) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == name && role.is_none_or(|role| s.attributes.get("role").map(String::as_str) == Some(role)))
        .collect();
    assert_eq!(found.len(), 1, "one span {name} {role:?}, got {found:#?} in {spans:#?}");
    found[0]
}

#[track_caller]
fn assert_child(child: &Span, parent: &Span) {
    assert_eq!(
        child.parent_id, parent.span_id,
        "{} should be a child of {}: {child:#?} {parent:#?}",
        child.name, parent.name
    );
}

/// An event with an authenticator, a transformer and a condition, all real components, and
/// one target: `rx`.
async fn traced_event(gw: &Gateway, rx: &Receiver) {
    for name in ["hmac-auth", "adobe-to-json", "json-ok-condition"] {
        gw.install(name).await;
    }
    gw.put_event_ok(
        "orders",
        json!({
            "authenticator": {"component": "hmac-auth", "config": {"secret": "s3cret"}},
            "targets": [{
                "id": "erp",
                "url": rx.url("/hook"),
                "transformer": {"component": "adobe-to-json"},
                "condition": {"component": "json-ok-condition"},
                "retry": fast_retry(3)
            }]
        }),
    )
    .await;
}

const BODY: &str = r#"{"data":{"uid":"u1","event":"orders","value":{"sku":"S1"}}}"#;

/// Fires `orders` as a shop inside its span `SHOP_SPAN`; returns the message id.
async fn fire_traced(gw: &Gateway) -> String {
    let signature = hmac_sha256_hex(b"s3cret", BODY.as_bytes());
    let traceparent = format!("00-{SHOP_TRACE}-{SHOP_SPAN}-01");
    let r = gw
        .fire_with(
            "orders",
            BODY,
            &[("content-type", "application/json"), ("x-signature", &signature), ("traceparent", &traceparent)],
        )
        .await;
    r.assert_status(202);
    r.json()["message_id"].as_str().expect("a message id").to_string()
}

/// The gateway's log lines that contain `text`.
fn log_lines(gw: &Gateway, text: &str) -> usize {
    gw.logs().lines().filter(|line| line.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fired_event_is_one_trace_from_the_shop_to_the_receiver() {
    let collector = Collector::start().await;
    let rx = Receiver::start();
    let mut opts = GatewayOpts::default().args(["--otlp-endpoint", &collector.url]);
    // No export on a timer within the test: the spans leave when the gateway stops, which
    // is what this test checks too.
    opts.env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into()));
    let mut gw = Gateway::start(opts);
    traced_event(&gw, &rx).await;

    let message_id = fire_traced(&gw).await;
    let received = rx.wait_requests(1, DEADLINE).await;
    gw.wait_message_status(&message_id, "delivered", DEADLINE).await;
    assert_eq!(received[0].json(), json!({"sku": "S1", "uid": "u1", "event": "orders"}), "transformed");
    assert!(collector.spans().is_empty(), "spans are exported in batches, not one by one");

    assert!(gw.terminate(), "a clean stop:\n{}", gw.logs());
    let names = ["ingest", "authenticate", "persist", "deliver", "transform", "send", "evaluate", "guest_call"];
    let spans = collector.wait_for(&names, Duration::from_secs(5), &gw).await;

    for span in &spans {
        assert_eq!(span.trace_id, SHOP_TRACE, "every span is in the shop's trace: {span:#?}");
    }
    let ingest = one(&spans, "ingest", None);
    assert_eq!(ingest.parent_id, SHOP_SPAN, "ingest continues the shop's span");
    assert_eq!(ingest.attributes.get("message_id"), Some(&message_id));
    assert_eq!(ingest.attributes.get("event").map(String::as_str), Some("orders"));

    let authenticate = one(&spans, "authenticate", None);
    assert_child(authenticate, ingest);
    assert_child(one(&spans, "guest_call", Some("authenticator")), authenticate);
    assert_child(one(&spans, "persist", None), ingest);

    // The delivery ran in another task, from the stored message: its attempt joins the trace
    // under the span that accepted the message.
    let deliver = one(&spans, "deliver", None);
    assert_child(deliver, ingest);
    assert_eq!(deliver.attributes.get("message"), Some(&message_id));
    let transform = one(&spans, "transform", None);
    assert_child(transform, deliver);
    assert_child(one(&spans, "guest_call", Some("transformer")), transform);
    let send = one(&spans, "send", None);
    assert_child(send, deliver);
    assert_eq!(send.attributes.get("http.response.status_code").map(String::as_str), Some("200"));
    let evaluate = one(&spans, "evaluate", None);
    assert_child(evaluate, deliver);
    assert_child(one(&spans, "guest_call", Some("condition")), evaluate);
    assert_eq!(spans.len(), 10, "nothing else: {spans:#?}");

    // The receiver is the send span's child.
    assert_eq!(received[0].header("traceparent"), Some(format!("00-{SHOP_TRACE}-{}-01", send.span_id).as_str()));
    assert_eq!(log_lines(&gw, "cannot export spans"), 0, "{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_one_log_line_and_nothing_else() {
    // A port of ours that nothing listens on: every export is refused.
    let collector = Receiver::down_reserved();
    let rx = Receiver::start();
    let mut opts = GatewayOpts::default().args(["--otlp-endpoint", &collector.url("")]);
    opts.env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "50".into()));
    let mut gw = Gateway::start(opts);
    traced_event(&gw, &rx).await;

    for round in 1..=3 {
        let started = Instant::now();
        let message_id = fire_traced(&gw).await;
        assert!(started.elapsed() < Duration::from_secs(2), "ingest is not held up: {:?}", started.elapsed());
        gw.wait_message_status(&message_id, "delivered", DEADLINE).await;
        // Several export rounds (every 50 ms) fail between two events.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = rx.wait_requests(round, DEADLINE).await;
        let traceparent = received[round - 1].header("traceparent").unwrap_or_default().to_string();
        assert!(traceparent.starts_with(&format!("00-{SHOP_TRACE}-")), "still propagated: {traceparent:?}");
    }
    assert_eq!(log_lines(&gw, "cannot export spans"), 1, "said once:\n{}", gw.logs());

    let stopping = Instant::now();
    assert!(gw.terminate(), "a clean stop:\n{}", gw.logs());
    assert!(stopping.elapsed() < Duration::from_secs(8), "the stop is not held up: {:?}", stopping.elapsed());
}

#[tokio::test]
async fn without_a_collector_no_trace_context_is_sent() {
    let rx = Receiver::start();
    let gw = Gateway::new();
    traced_event(&gw, &rx).await;
    let message_id = fire_traced(&gw).await;
    gw.wait_message_status(&message_id, "delivered", DEADLINE).await;
    let received = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(received[0].header("traceparent"), None);
    assert!(gw.logs().contains("traces=\"off\"") || gw.logs().contains("traces=off"), "the start log says so:\n{}", gw.logs());
}

/// The process log, without a collector: a line logged for a delivery names its message and
/// target itself (the log formats the pipeline's spans only when asked for debug detail, which
/// then shows them as the lines' context).
#[tokio::test]
async fn a_delivery_that_failed_is_logged_with_its_message_and_target() {
    let down = Receiver::down_reserved();
    for (rust_log, spans) in [("info", false), ("info,hookgate=debug", true)] {
        let gw = Gateway::start(GatewayOpts { env: vec![("RUST_LOG".into(), rust_log.into())], ..Default::default() });
        gw.put_event_ok("orders", json!({"targets": [{"id": "erp", "url": down.url("/hook"), "retry": fast_retry(1)}]}))
            .await;
        let r = gw.fire("orders", BODY, "application/json").await;
        r.assert_status(202);
        let message_id = accepted_message_id(&r);
        gw.wait_message_status(&message_id, "failed", DEADLINE).await;
        let logs = gw.logs();
        let line = logs.lines().find(|line| line.contains("attempt recorded")).unwrap_or_else(|| panic!("no line for the attempt:\n{logs}"));
        assert!(line.contains(&format!("message_id={message_id}")) && line.contains("target=erp") && line.contains("Failed"), "RUST_LOG={rust_log}: {line}");
        assert_eq!(line.contains("deliver{"), spans, "RUST_LOG={rust_log}: the span as context: {line}");
    }
}
