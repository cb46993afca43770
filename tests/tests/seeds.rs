//! End-to-end tests of the seed semantics: WEBSALE ASSE (fire, data as given, subshops,
//! success criteria, retries, delivery log), Ellity webhooks (templates, method default,
//! API key in the URL) and the Adobe Commerce ingestion webhook, plus the Adobe Commerce
//! example catalog in `examples/adobe-commerce/`.
//!
//! Every test runs the real gateway binary against a real receiver and checks the exact
//! method, path and query, headers and body the receiver got.
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

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: fire
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn asse_fire_answers_202_at_once_while_the_receiver_is_slow() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(Duration::from_secs(3)));
    gw.put_event_ok(
        "myevent",
        json!({"targets": [{"id": "newsletter", "method": "POST", "url": rx.url("/nl"),
            "retry": retry(1, 10_000)}]}),
    )
    .await;

    let started = Instant::now();
    let r = gw.fire("myevent", "userid=42", "text/plain").await;
    let took = started.elapsed();
    r.assert_status(202);
    let v = r.json();
    assert_eq!(keys(&v), ["deliveries", "message_id"], "{v}");
    assert_eq!(v["deliveries"], 1, "{v}");
    let id = accepted_message_id(&r);
    assert!(id.starts_with("msg_"), "{v}");
    assert!(
        took < Duration::from_millis(1500),
        "the 202 took {took:?} while the receiver answers after 3 s"
    );
    // The 202 is there, the receiver's answer is not: the delivery is still pending.
    let m = gw.message(&id).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "too slow to check"
    );
    assert_eq!(m["status"], "pending", "{m}");
    assert_eq!(m["deliveries"][0]["status"], "pending", "{m}");

    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_request(
        &reqs[0],
        "POST",
        "/nl",
        &[("content-type", "text/plain")],
        b"userid=42",
    );
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 200, "{m}");
    let ms = a[0]["duration_ms"].as_u64().unwrap_or(0);
    assert!(
        ms >= 2900,
        "the attempt took {ms} ms, the receiver 3 s: {m}"
    );
}

#[tokio::test]
async fn asse_fire_unknown_and_disabled_events_are_refused() {
    let gw = Gateway::new();
    let rx = Receiver::start();

    let r = gw.fire("no-such-event", "userid=1", "text/plain").await;
    r.assert_error(404, "unknown_event");
    assert_eq!(keys(&r.json()), ["error"], "{}", r.text());
    assert_eq!(
        keys(&r.json()["error"]),
        ["code", "message"],
        "{}",
        r.text()
    );

    gw.put_event_ok(
        "off",
        json!({"enabled": false,
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/off"), "retry": fast_retry(2)}]}),
    )
    .await;
    let r = gw.fire("off", "userid=1", "text/plain").await;
    r.assert_error(409, "event_disabled");
    assert_eq!(keys(&r.json()), ["error"], "{}", r.text());
    assert_eq!(
        keys(&r.json()["error"]),
        ["code", "message"],
        "{}",
        r.text()
    );

    assert!(gw.messages_of("off").await.is_empty());
    assert!(gw.messages_of("no-such-event").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: data as given
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_is_the_body_for_post_put_and_patch_as_given() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    for event in ["text", "json"] {
        gw.put_event_ok(
            event,
            json!({"targets": [
                {"id": "post", "method": "POST", "url": rx.url(&format!("/{event}/post")), "retry": fast_retry(3)},
                {"id": "put", "method": "PUT", "url": rx.url(&format!("/{event}/put?x=1")), "retry": fast_retry(3)},
                {"id": "patch", "method": "PATCH", "url": rx.url(&format!("/{event}/patch")), "retry": fast_retry(3)}
            ]}),
        )
        .await;
    }

    let text = "a=1&b=hello world";
    let r = gw.fire("text", text, "text/plain").await;
    assert_eq!(r.json()["deliveries"], 3, "{}", r.text());
    let text_id = accepted_message_id(&r);
    let json_body =
        r#"{"customer": {"id": 7, "name": "Jo \"JJ\""}, "items": [1, 2.5, null], "ok": true}"#;
    let r = gw.fire("json", json_body, "application/json").await;
    assert_eq!(r.json()["deliveries"], 3, "{}", r.text());
    let json_id = accepted_message_id(&r);
    gw.wait_message_status(&text_id, "delivered", DEADLINE)
        .await;
    gw.wait_message_status(&json_id, "delivered", DEADLINE)
        .await;

    for (method, path, query) in [
        ("POST", "post", ""),
        ("PUT", "put", "?x=1"),
        ("PATCH", "patch", ""),
    ] {
        let got = only_request_to(&rx, &format!("/text/{path}"));
        assert_request(
            &got,
            method,
            &format!("/text/{path}{query}"),
            &[("content-type", "text/plain")],
            text.as_bytes(),
        );
        let got = only_request_to(&rx, &format!("/json/{path}"));
        assert_eq!(got.method, method, "{got:#?}");
        assert_eq!(got.path, format!("/json/{path}{query}"), "{got:#?}");
        assert_eq!(
            app_headers(&got),
            sorted_headers(&[("content-type", "application/json")]),
            "{got:#?}"
        );
        assert_eq!(
            got.json(),
            hookgate_tests::serde_json::from_str::<Value>(json_body).unwrap(),
            "{got:#?}"
        );
    }
    assert_eq!(rx.count(), 6);
}

#[tokio::test]
async fn data_goes_into_the_query_string_for_get_and_delete() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "q",
        json!({"targets": [
            {"id": "get-q", "method": "GET", "url": rx.url("/hook?x=1"), "retry": fast_retry(3)},
            {"id": "get", "method": "GET", "url": rx.url("/plain"), "retry": fast_retry(3)},
            {"id": "del-q", "method": "DELETE", "url": rx.url("/del?x=1"), "retry": fast_retry(3)},
            {"id": "del", "method": "DELETE", "url": rx.url("/del2"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let r = gw.fire("q", "a=1&b=2", "text/plain").await;
    assert_eq!(r.json()["deliveries"], 4, "{}", r.text());
    let id = accepted_message_id(&r);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    assert_request(
        &only_request_to(&rx, "/hook"),
        "GET",
        "/hook?x=1&a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/plain"),
        "GET",
        "/plain?a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/del"),
        "DELETE",
        "/del?x=1&a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/del2"),
        "DELETE",
        "/del2?a=1&b=2",
        &[],
        b"",
    );
    assert_eq!(rx.count(), 4);
}

#[tokio::test]
async fn url_template_variables_take_the_data_instead_of_the_query() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "vars",
        json!({"targets": [
            {"id": "get", "method": "GET", "url": rx.url("/c/#customer.id#?e=#customer.email#"),
             "retry": fast_retry(3)},
            {"id": "del", "method": "DELETE", "url": rx.url("/d/#customer.id#"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let id = gw
        .fire_json("vars", &json!({"customer": {"id": 7, "email": "a@b.cz"}}))
        .await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_request(
        &only_request_to(&rx, "/c/7"),
        "GET",
        "/c/7?e=a%40b.cz",
        &[],
        b"",
    );
    assert_request(&only_request_to(&rx, "/d/7"), "DELETE", "/d/7", &[], b"");
    assert_eq!(rx.count(), 2);
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: list events, subshops
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_event_list_shows_enabled_ids_only() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let target = json!({"id": "t1", "method": "POST", "url": rx.url("/secret-path?key=#config.api_key#"),
        "headers": {"Authorization": "Bearer header-token-zz"},
        "config": {"api_key": "top-secret-value"}});
    gw.put_event_ok("pub.a", json!({"targets": [target.clone()]}))
        .await;
    gw.put_event_ok(
        "pub.b",
        json!({"enabled": false, "targets": [target.clone()]}),
    )
    .await;
    gw.put_event_ok(
        "pub.c",
        json!({"subshops": {"de": true, "ch": false}, "targets": [target.clone()]}),
    )
    .await;
    gw.put_event_ok(
        "pub.d",
        json!({"enabled": false, "subshops": {"ch": true}, "targets": [target.clone()]}),
    )
    .await;

    for (query, expected) in [
        ("", vec!["pub.a", "pub.c"]),
        ("?subshop=ch", vec!["pub.a"]),
        ("?subshop=de", vec!["pub.a", "pub.c"]),
    ] {
        // No credentials.
        let r = gw.get(&format!("/v1/events{query}")).await;
        r.assert_status(200);
        let v = r.json();
        assert_eq!(keys(&v), ["events"], "{query}: {v}");
        let got: BTreeSet<String> = v["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: events is not an array: {v}"))
            .iter()
            .map(|e| {
                e.as_str()
                    .unwrap_or_else(|| panic!("{query}: an event id is not a string: {v}"))
                    .to_string()
            })
            .collect();
        assert_eq!(
            v["events"].as_array().unwrap().len(),
            got.len(),
            "{query}: duplicates in {v}"
        );
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, expected, "{query}: {v}");
        let text = r.text();
        for leak in [
            "secret-path",
            "top-secret-value",
            "header-token-zz",
            "127.0.0.1",
            "targets",
        ] {
            assert!(
                !text.contains(leak),
                "{query}: `{leak}` in the public list: {text}"
            );
        }
    }
}

#[tokio::test]
async fn per_subshop_enablement_and_the_subshop_variable() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "shop.ev",
        json!({"subshops": {"de": true, "ch": false},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/shop?s=#subshop#"),
                "headers": {"X-Shop": "[#subshop#]"}, "retry": fast_retry(3)}]}),
    )
    .await;

    // Switched off for ch: by query and by header.
    let r = gw
        .post_raw(
            "/v1/events/shop.ev?subshop=ch",
            "n=0",
            &[("content-type", "text/plain")],
        )
        .await;
    r.assert_error(409, "event_disabled");
    let r = gw
        .post_raw(
            "/v1/events/shop.ev",
            "n=0",
            &[("content-type", "text/plain"), ("X-Hookgate-Subshop", "ch")],
        )
        .await;
    r.assert_error(409, "event_disabled");

    // de by query, de by header, no subshop: accepted.
    let by_query = gw
        .post_raw(
            "/v1/events/shop.ev?subshop=de",
            "n=1",
            &[("content-type", "text/plain")],
        )
        .await;
    let by_query = accepted_message_id(&by_query);
    let by_header = gw
        .post_raw(
            "/v1/events/shop.ev",
            "n=2",
            &[("content-type", "text/plain"), ("X-Hookgate-Subshop", "de")],
        )
        .await;
    let by_header = accepted_message_id(&by_header);
    let none = accepted_message_id(&gw.fire("shop.ev", "n=3", "text/plain").await);
    for id in [&by_query, &by_header, &none] {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let by_body = |body: &str| {
        reqs.iter()
            .find(|r| r.text() == body)
            .unwrap_or_else(|| panic!("no request with body {body}: {reqs:#?}"))
    };
    for (body, subshop) in [("n=1", "de"), ("n=2", "de"), ("n=3", "")] {
        assert_request(
            by_body(body),
            "POST",
            &format!("/shop?s={subshop}"),
            &[
                ("content-type", "text/plain"),
                ("x-shop", &format!("[{subshop}]")),
            ],
            body.as_bytes(),
        );
    }
    // The refused fires stored nothing.
    let stored: BTreeSet<String> = gw
        .messages_of("shop.ev")
        .await
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, set(&[&by_query, &by_header, &none]));
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: success criteria and retries
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn success_criteria_json_pointer_retries_until_ok() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "crit",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "success": {"status": ["200-204"], "content_type": "application/json",
                        "body_contains": "result", "body_json": {"pointer": "/result/ok", "equals": true}},
            "retry": fast_retry(5)}]}),
    )
    .await;
    rx.push(Reply::json(200, json!({"result": {"ok": false}})));
    rx.set_default(Reply::json(200, json!({"result": {"ok": true}})));

    let id = gw.fire_json("crit", &json!({"n": 1})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 2, "{m}");
    assert_eq!(a[0]["status_code"], 200, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    let why = a[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("/result/ok"),
        "the message should name the pointer: {m}"
    );
    assert_eq!(a[1]["status_code"], 200, "{m}");
    assert!(a[1]["error"].is_null(), "{m}");
    assert_eq!(m["deliveries"][0]["status"], "delivered", "{m}");

    let reqs = rx.wait_requests(2, DEADLINE).await;
    for r in &reqs {
        assert_request(
            r,
            "POST",
            "/hook",
            &[("content-type", "application/json")],
            br#"{"n":1}"#,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn every_success_criterion_is_checked_and_retried() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "crit",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "success": {"status": ["200-204"], "content_type": "application/json",
                        "body_contains": "accepted", "body_json": {"pointer": "/result/ok", "equals": true}},
            "retry": fast_retry(6)}]}),
    )
    .await;
    let good = json!({"accepted": 1, "result": {"ok": true}});
    // Status outside 200-204.
    rx.push(Reply::json(207, good.clone()));
    // Wrong content type.
    rx.push(Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: good.to_string().into(),
        delay: None,
    });
    // Body lacks the text.
    rx.push(Reply::json(200, json!({"result": {"ok": true}})));
    // JSON pointer has the wrong value.
    rx.push(Reply::json(
        200,
        json!({"accepted": 1, "result": {"ok": false}}),
    ));
    rx.set_default(Reply::json(200, good.clone()).header("x-extra", "1"));

    let id = gw.fire_json("crit", &json!({"n": 2})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 5, "{m}");
    let codes: Vec<Value> = a.iter().map(|x| x["status_code"].clone()).collect();
    assert_eq!(
        codes,
        [json!(207), json!(200), json!(200), json!(200), json!(200)],
        "{m}"
    );
    for (i, at) in a[..4].iter().enumerate() {
        assert_eq!(at["error"]["code"], "http_status", "attempt {i}: {m}");
    }
    assert!(
        a[3]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/result/ok"),
        "{m}"
    );
    assert!(a[4]["error"].is_null(), "{m}");
    assert_eq!(rx.count(), 5);
}

#[tokio::test]
async fn client_errors_fail_at_once_except_408_and_429() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| match r.path.as_str() {
        "/refuse" => Reply::status(422),
        _ => Reply::ok(),
    });
    gw.put_event_ok(
        "busy",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/busy"), "retry": fast_retry(5)}]}),
    )
    .await;
    gw.put_event_ok(
        "refuse",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/refuse"), "retry": fast_retry(5)}]}),
    )
    .await;
    rx.push(Reply::status(429));
    rx.push(Reply::status(408));
    let busy = gw.fire_json("busy", &json!({"b": 1})).await;
    let m = gw.wait_message_status(&busy, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    let codes: Vec<Value> = a.iter().map(|x| x["status_code"].clone()).collect();
    assert_eq!(codes, [json!(429), json!(408), json!(200)], "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    assert_eq!(a[1]["error"]["code"], "http_status", "{m}");

    let refused = gw.fire_json("refuse", &json!({"r": 1})).await;
    let m = gw.wait_message_status(&refused, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 422, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    assert_eq!(m["deliveries"][0]["status"], "failed", "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests_to("/busy").len(), 3);
    assert_eq!(rx.requests_to("/refuse").len(), 1);
}

#[tokio::test]
async fn slower_than_timeout_ms_gives_timeout_attempts() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(Duration::from_millis(1500)));
    gw.put_event_ok(
        "slow",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/slow"),
            "retry": {"max_attempts": 2, "initial_delay_ms": 50, "max_delay_ms": 100, "timeout_ms": 300}}]}),
    )
    .await;
    let id = gw.fire_json("slow", &json!({"s": 1})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 2, "{m}");
    for at in &a {
        assert_eq!(at["error"]["code"], "timeout", "{m}");
        assert!(at["status_code"].is_null(), "{m}");
        let ms = at["duration_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            ms < 1400,
            "an attempt with timeout_ms 300 took {ms} ms: {m}"
        );
    }
    assert_eq!(m["deliveries"][0]["status"], "failed", "{m}");
    let reqs = rx.wait_requests(2, DEADLINE).await;
    for r in &reqs {
        assert_request(
            r,
            "POST",
            "/slow",
            &[("content-type", "application/json")],
            br#"{"s":1}"#,
        );
    }
}

#[tokio::test]
async fn deadline_ends_the_delivery_before_max_attempts() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::status(500));
    gw.put_event_ok(
        "late",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/late"),
            "retry": {"max_attempts": 50, "initial_delay_ms": 100, "max_delay_ms": 100,
                      "timeout_ms": 1000, "deadline_ms": 300}}]}),
    )
    .await;
    let id = gw.fire_json("late", &json!({"d": 1})).await;
    let m = gw
        .wait_message_status(&id, "failed", Duration::from_secs(5))
        .await;
    let d = &m["deliveries"][0];
    assert_eq!(d["status"], "failed", "{m}");
    let reason = d["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("deadline_exceeded"), "reason: {m}");
    let a = attempts(&m, 0);
    assert!(!a.is_empty() && a.len() < 50, "{} attempts: {m}", a.len());
    for at in &a {
        assert_eq!(at["status_code"], 500, "{m}");
        assert_eq!(at["error"]["code"], "http_status", "{m}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), a.len(), "one request per attempt");
    let spread = reqs.last().unwrap().at.duration_since(reqs[0].at);
    assert!(
        spread < Duration::from_millis(1300),
        "attempts went on for {spread:?} with a 300 ms deadline"
    );
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: delivery log
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn message_log_filters_by_target_and_its_delivery_status() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| {
        if r.path == "/crm" {
            Reply::status(400)
        } else {
            Reply::ok()
        }
    });
    gw.put_event_ok(
        "orders",
        json!({"targets": [
            {"id": "erp", "method": "POST", "url": rx.url("/erp"), "retry": fast_retry(3)},
            {"id": "crm", "method": "POST", "url": rx.url("/crm"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    gw.put_event_ok(
        "other",
        json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/other"), "retry": fast_retry(3)}]}),
    )
    .await;
    let o1 = gw.fire_json("orders", &json!({"o": 1})).await;
    let o2 = gw.fire_json("orders", &json!({"o": 2})).await;
    let x = gw.fire_json("other", &json!({"x": 1})).await;
    for id in [&o1, &o2] {
        let m = gw.wait_message_status(id, "failed", DEADLINE).await;
        let by_target: BTreeSet<(String, String)> = m["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["target"].as_str().unwrap().into(),
                    d["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            by_target,
            BTreeSet::from([
                ("crm".into(), "failed".into()),
                ("erp".into(), "delivered".into())
            ]),
            "{m}"
        );
    }
    gw.wait_message_status(&x, "delivered", DEADLINE).await;

    for (query, expected) in [
        ("target=crm", set(&[&o1, &o2])),
        ("target=crm&status=failed", set(&[&o1, &o2])),
        ("target=crm&status=delivered", set(&[])),
        // The status is the erp delivery's, not the message's (which is failed).
        ("target=erp&status=delivered", set(&[&o1, &o2, &x])),
        ("target=erp&status=failed", set(&[])),
        ("target=erp&event_id=other", set(&[&x])),
        (
            "target=erp&event_id=orders&status=delivered",
            set(&[&o1, &o2]),
        ),
        ("target=nosuch", set(&[])),
        ("status=failed", set(&[&o1, &o2])),
        ("status=delivered", set(&[&x])),
        ("status=pending", set(&[])),
    ] {
        let page = gw.messages(query).await;
        assert_eq!(ids_of(&page), expected, "{query}: {page}");
    }

    // Paging with a target filter.
    let p1 = gw.messages("target=erp&limit=2").await;
    assert_eq!(ids_of(&p1).len(), 2, "{p1}");
    let cursor = p1["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next_cursor is expected: {p1}"));
    let p2 = gw
        .messages(&format!("target=erp&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids_of(&p2).len(), 1, "{p2}");
    let all: BTreeSet<String> = ids_of(&p1).union(&ids_of(&p2)).cloned().collect();
    assert_eq!(all, set(&[&o1, &o2, &x]));
}

#[tokio::test]
async fn message_log_filters_by_arrival_time() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "timed",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/t"), "retry": fast_retry(3)}]}),
    )
    .await;
    let pause = Duration::from_millis(60);
    let a = gw.fire_json("timed", &json!({"n": "a"})).await;
    tokio::time::sleep(pause).await;
    let t1 = SystemTime::now();
    tokio::time::sleep(pause).await;
    let b = gw.fire_json("timed", &json!({"n": "b"})).await;
    tokio::time::sleep(pause).await;
    let t2 = SystemTime::now();
    tokio::time::sleep(pause).await;
    let c = gw.fire_json("timed", &json!({"n": "c"})).await;
    for id in [&a, &b, &c] {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    let (t1_ms, t2_ms) = (unix_ms(t1), unix_ms(t2));
    let (t1_rfc, t2_rfc) = (rfc3339_millis(t1), rfc3339_millis(t2));

    for (query, expected) in [
        (format!("since={t1_ms}"), set(&[&b, &c])),
        (format!("until={t1_ms}"), set(&[&a])),
        (format!("since={t1_ms}&until={t2_ms}"), set(&[&b])),
        (format!("since={t1_rfc}"), set(&[&b, &c])),
        (format!("until={t1_rfc}"), set(&[&a])),
        (format!("since={t1_rfc}&until={t2_rfc}"), set(&[&b])),
        (format!("since={t1_rfc}&until={t2_ms}"), set(&[&b])),
        (format!("since={t2_ms}&event_id=timed"), set(&[&c])),
        (
            format!("until={t2_rfc}&event_id=timed&status=delivered"),
            set(&[&a, &b]),
        ),
    ] {
        let page = gw.messages(&query).await;
        assert_eq!(ids_of(&page), expected, "{query}: {page}");
    }
}

#[tokio::test]
async fn attempt_log_shows_the_request_with_secrets_masked() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::json(200, json!({"received": true})));
    gw.put_event_ok(
        "masked",
        json!({"targets": [{"id": "t1", "method": "POST",
            "url": rx.url("/hook?key=#config.api_key#&p=#config.partner#&m=#message.id#"),
            "headers": {
                "Authorization": "Bearer tok-abcdef",
                "X-Api-Key": "plain-1",
                "X-Client-Secret": "plain-2",
                "X-Auth-Token": "plain-3",
                "X-Signature": "plain-4",
                "X-Password": "plain-5",
                "X-Partner": "#config.partner#",
                "X-Trace": "trace-visible-ab"
            },
            "config": {"api_key": "secret-key-123", "partner": "partner-secret-9", "short": "ab"},
            "retry": fast_retry(3)}]}),
    )
    .await;
    let data = r#"{"note":"partner-secret-9 and secret-key-123","short":"ab"}"#;
    let id = accepted_message_id(&gw.fire("masked", data, "application/json").await);
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;

    // The receiver gets everything in clear.
    let got = only_request_to(&rx, "/hook");
    assert_request(
        &got,
        "POST",
        &format!("/hook?key=secret-key-123&p=partner-secret-9&m={id}"),
        &[
            ("authorization", "Bearer tok-abcdef"),
            ("x-api-key", "plain-1"),
            ("x-client-secret", "plain-2"),
            ("x-auth-token", "plain-3"),
            ("x-signature", "plain-4"),
            ("x-password", "plain-5"),
            ("x-partner", "partner-secret-9"),
            ("x-trace", "trace-visible-ab"),
            ("content-type", "application/json"),
        ],
        data.as_bytes(),
    );

    // The log shows it masked.
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    let at = &a[0];
    assert_eq!(at["status_code"], 200, "{m}");
    assert_eq!(at["response_excerpt"], r#"{"received":true}"#, "{m}");
    assert!(at["error"].is_null(), "{m}");
    assert!(at["duration_ms"].is_u64(), "{m}");
    assert!(at["at"].as_str().is_some_and(|s| s.contains('T')), "{m}");
    assert!(at["guest_logs"].is_array(), "{m}");
    let req = &at["request"];
    assert_eq!(
        keys(req),
        ["body_excerpt", "headers", "method", "url"],
        "{m}"
    );
    assert_eq!(req["method"], "POST", "{m}");
    assert_eq!(
        req["url"],
        rx.url(&format!("/hook?key=***&p=***&m={id}")),
        "{m}"
    );
    let mut logged: Vec<(String, String)> = req["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("headers is not an array: {m}"))
        .iter()
        .map(|pair| {
            let pair = pair
                .as_array()
                .unwrap_or_else(|| panic!("a header is not [name, value]: {m}"));
            assert_eq!(pair.len(), 2, "{m}");
            (
                pair[0].as_str().unwrap().to_ascii_lowercase(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .filter(|(name, _)| !is_envelope_header(name))
        .collect();
    logged.sort();
    assert_eq!(
        logged,
        sorted_headers(&[
            ("authorization", "***"),
            ("x-api-key", "***"),
            ("x-client-secret", "***"),
            ("x-auth-token", "***"),
            ("x-signature", "***"),
            ("x-password", "***"),
            ("x-partner", "***"),
            ("x-trace", "trace-visible-ab"),
            ("content-type", "application/json"),
        ]),
        "{m}"
    );
    assert_eq!(
        req["body_excerpt"], r#"{"note":"*** and ***","short":"ab"}"#,
        "{m}"
    );

    // No secret anywhere in the log, one message or the list.
    let list = gw
        .admin_get("/v1/admin/messages?event_id=masked")
        .await
        .text();
    let one = gw
        .admin_get(&format!("/v1/admin/messages/{id}"))
        .await
        .text();
    for text in [&list, &one] {
        for secret in [
            "secret-key-123",
            "partner-secret-9",
            "tok-abcdef",
            "plain-1",
            "plain-2",
            "plain-3",
            "plain-4",
            "plain-5",
        ] {
            assert!(!text.contains(secret), "`{secret}` in the log: {text}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Ellity webhooks
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn ellity_disabled_target_gets_no_delivery() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.credit",
        json!({"targets": [
            {"id": "on", "method": "POST", "url": rx.url("/on"), "retry": fast_retry(3)},
            {"id": "off", "enabled": false, "method": "POST", "url": rx.url("/off"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let r = gw
        .fire("customer.credit", r#"{"c":1}"#, "application/json")
        .await;
    assert_eq!(r.json()["deliveries"], 1, "{}", r.text());
    let id = accepted_message_id(&r);
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let targets: Vec<&str> = m["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["on"], "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_request(
        &only_request_to(&rx, "/on"),
        "POST",
        "/on",
        &[("content-type", "application/json")],
        br#"{"c":1}"#,
    );
    assert!(rx.requests_to("/off").is_empty());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn ellity_templates_fill_url_headers_and_body() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let body = concat!(
        r###"{"eshop":"#account.eshopId#","email":"#customer.email#","name":"#customer.name#","###,
        r###""credit":"#customer.credit#","change":"#creditChange.value#","group":"#customer.group.id#","###,
        r###""first_sku":"#items.0.sku#","missing":"#customer.nope#","tag":"##vip","###,
        r###""msg":"#message.id#","event":"#event.id#","shop":"#subshop#","partner":"#config.partner#","###,
        r###""custom":{"field":"vlastni_pole"}}"###
    );
    gw.put_event_ok(
        "customer.updated",
        json!({"targets": [{"id": "crm", "method": "POST",
            "url": rx.url("/c/#customer.id#?email=#customer.email#&tier=#customer.tier.name#&sku=#items.1.sku#&none=#customer.nope#&shop=#subshop#"),
            "headers": {
                "X-Group": "#customer.group.name#",
                "X-Ids": "#message.id#|#event.id#|#subshop#",
                "X-Literal": "a##b",
                "X-Missing": "[#customer.nope#]",
                "X-Cfg": "#config.partner#"
            },
            "body": body,
            "config": {"partner": "acme"},
            "retry": fast_retry(3)}]}),
    )
    .await;
    let name = "Jan \"Honza\" \\ Novák";
    let data = json!({
        "customer": {"id": 7, "email": "jan novak@x.cz", "name": name, "credit": 12.5,
                     "group": {"id": 3, "name": "VIP"}, "tier": {"id": 2, "name": "Gold & Co"}},
        "creditChange": {"value": -5},
        "account": {"eshopId": "shop-1"},
        "items": [{"sku": "S-1"}, {"sku": "S/2"}]
    });
    let r = gw
        .fire_with(
            "customer.updated",
            data.to_string(),
            &[
                ("content-type", "application/json"),
                ("X-Hookgate-Subshop", "cz"),
            ],
        )
        .await;
    let id = accepted_message_id(&r);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    let got = only_request_to(&rx, "/c/7");
    assert_eq!(got.method, "POST", "{got:#?}");
    assert_eq!(
        got.path, "/c/7?email=jan%20novak%40x.cz&tier=Gold%20%26%20Co&sku=S%2F2&none=&shop=cz",
        "{got:#?}"
    );
    assert_eq!(
        app_headers(&got),
        sorted_headers(&[
            ("x-group", "VIP"),
            ("x-ids", &format!("{id}|customer.updated|cz")),
            ("x-literal", "a#b"),
            ("x-missing", "[]"),
            ("x-cfg", "acme"),
            ("content-type", "application/json"),
        ]),
        "{got:#?}"
    );
    let sent = got.json();
    assert_eq!(
        sent,
        json!({"eshop": "shop-1", "email": "jan novak@x.cz", "name": name, "credit": "12.5",
               "change": "-5", "group": "3", "first_sku": "S-1", "missing": "", "tag": "#vip",
               "msg": id, "event": "customer.updated", "shop": "cz", "partner": "acme",
               "custom": {"field": "vlastni_pole"}}),
        "{got:#?}"
    );
    assert_eq!(sent["name"].as_str(), Some(name));
}

#[tokio::test]
async fn ellity_body_template_that_is_not_json_is_refused() {
    let gw = Gateway::new();
    for body in [
        r##"{"email":"#customer.email#""##,
        r##"{"email":"#customer.email#",}"##,
        r##"{"email": #customer.email# "x"}"##,
    ] {
        let r = gw
            .put_event(
                "broken",
                json!({"targets": [{"id": "t1", "method": "POST", "url": "http://127.0.0.1:9/hook",
                    "body": body}]}),
            )
            .await;
        let msg = r.assert_error(400, "invalid_config");
        assert!(
            msg.contains("position"),
            "{body}: the message should give the position: {msg:?}"
        );
    }
    gw.event("broken").await.assert_status(404);
}

#[tokio::test]
async fn ellity_method_defaults_post_with_body_get_without() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.tier",
        json!({"targets": [
            {"id": "with-body", "url": rx.url("/post"),
             "body": r##"{"id":"#customer.id#","tier":"#customer.tier.name#"}"##, "retry": fast_retry(3)},
            {"id": "without", "url": rx.url("/get?id=#customer.id#"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let id = gw
        .fire_json(
            "customer.tier",
            &json!({"customer": {"id": 9, "tier": {"name": "Gold"}}}),
        )
        .await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    let post = only_request_to(&rx, "/post");
    assert_eq!(post.method, "POST", "{post:#?}");
    assert_eq!(post.path, "/post", "{post:#?}");
    assert_eq!(
        app_headers(&post),
        sorted_headers(&[("content-type", "application/json")]),
        "{post:#?}"
    );
    assert_eq!(post.json(), json!({"id": "9", "tier": "Gold"}), "{post:#?}");
    assert_request(&only_request_to(&rx, "/get"), "GET", "/get?id=9", &[], b"");
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn ellity_api_key_in_the_url_is_masked_in_the_log() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.vip",
        json!({"targets": [{"id": "t1", "method": "GET", "url": rx.url("/hook?key=#config.api_key#"),
            "config": {"api_key": "secret-key-123"}, "retry": fast_retry(3)}]}),
    )
    .await;
    let id = gw
        .fire_json("customer.vip", &json!({"customer": {"id": 1}}))
        .await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_request(
        &only_request_to(&rx, "/hook"),
        "GET",
        "/hook?key=secret-key-123",
        &[],
        b"",
    );
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["request"]["method"], "GET", "{m}");
    assert_eq!(a[0]["request"]["url"], rx.url("/hook?key=***"), "{m}");
    assert!(!m.to_string().contains("secret-key-123"), "{m}");
}

// ------------------------------------------------------------------------------------------------
// Adobe Commerce ingestion
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn adobe_ingest_routes_by_event_and_answers_like_the_starter_kit() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    for (event, path) in [
        ("be-observer.catalog_product_create", "/product/create"),
        ("be-observer.customer_create", "/customer/create"),
    ] {
        gw.put_event_ok(
            event,
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(path), "retry": fast_retry(3)}]}),
        )
        .await;
    }
    let body = envelope(
        "event_uid_1",
        "be-observer.catalog_product_create",
        json!({"sku": "PRODUCT_SKU", "name": "Product SKU", "price": 1,
               "description": "Product SKU description"}),
    );
    let r = ingest(&gw, &body).await;
    let id = ingest_accepted(&r, "be-observer.catalog_product_create");
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["event_id"], "be-observer.catalog_product_create", "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_request(
        &only_request_to(&rx, "/product/create"),
        "POST",
        "/product/create",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert!(rx.requests_to("/customer/create").is_empty());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn adobe_ingest_unknown_event_is_a_400() {
    let gw = Gateway::new();
    let r = ingest(&gw, &envelope("u1", "be-observer.nope", json!({"x": 1}))).await;
    ingest_error(&r, 400, "unknown_event");
    assert!(gw.messages("").await["messages"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn adobe_ingest_incomplete_envelope_is_a_400_naming_the_field() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "be-observer.customer_update",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/c"), "retry": fast_retry(3)}]}),
    )
    .await;
    let ev = "be-observer.customer_update";
    for (missing, body) in [
        ("uid", json!({"data": {"event": ev, "value": {"id": 1}}})),
        ("event", json!({"data": {"uid": "u1", "value": {"id": 1}}})),
        ("value", json!({"data": {"uid": "u1", "event": ev}})),
    ] {
        let r = ingest(&gw, &body.to_string()).await;
        let msg = ingest_error(&r, 400, "invalid_envelope");
        assert!(
            msg.contains(missing),
            "missing {missing}: the message should name it: {msg:?}"
        );
    }
    assert!(gw.messages_of(ev).await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);
}

#[tokio::test]
async fn adobe_ingest_same_uid_is_one_message_and_one_delivery() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let ev = "be-observer.sales_order_status_update";
    gw.put_event_ok(
        ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/order"), "retry": fast_retry(3)}]}),
    )
    .await;
    let body = envelope(
        "order-uid-7",
        ev,
        json!({"order_id": 7, "status": "complete"}),
    );
    let first = ingest_accepted(&ingest(&gw, &body).await, ev);
    let second = ingest_accepted(&ingest(&gw, &body).await, ev);
    assert_eq!(first, second);
    gw.wait_message_status(&first, "delivered", DEADLINE).await;
    // Again after the delivery.
    let third = ingest_accepted(&ingest(&gw, &body).await, ev);
    assert_eq!(first, third);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stored = gw.messages_of(ev).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0]["deliveries"].as_array().unwrap().len(),
        1,
        "{stored:?}"
    );
    assert_eq!(attempts(&stored[0], 0).len(), 1, "{stored:?}");
    assert_request(
        &only_request_to(&rx, "/order"),
        "POST",
        "/order",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );

    // Another uid is another message.
    let other = ingest_accepted(
        &ingest(&gw, &envelope("order-uid-8", ev, json!({"order_id": 8}))).await,
        ev,
    );
    assert_ne!(other, first);
    gw.wait_message_status(&other, "delivered", DEADLINE).await;
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn adobe_ingest_authenticator_denies_bad_signatures() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("hmac-auth").await;
    let ev = "be-observer.customer_delete";
    gw.put_event_ok(
        ev,
        json!({"authenticator": {"component": "hmac-auth", "config": {"secret": "adobe-s3cret"}},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/c"), "retry": fast_retry(3)}]}),
    )
    .await;
    let body = envelope("del-1", ev, json!({"id": 1}));
    for sig in [
        None,
        Some(hmac_sha256_hex(b"wrong-secret", body.as_bytes())),
        Some(hmac_sha256_hex(b"adobe-s3cret", b"another body")),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(s) = &sig {
            headers.push(("x-signature", s.as_str()));
        }
        let r = gw.post_raw("/v1/ingest", body.clone(), &headers).await;
        ingest_error(&r, 401, "unauthorized");
    }
    assert!(gw.messages_of(ev).await.is_empty());

    let sig = hmac_sha256_hex(b"adobe-s3cret", body.as_bytes());
    let r = gw
        .post_raw(
            "/v1/ingest",
            body.clone(),
            &[
                ("content-type", "application/json"),
                ("x-signature", sig.as_str()),
            ],
        )
        .await;
    let id = ingest_accepted(&r, ev);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let got = only_request_to(&rx, "/c");
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/c");
    assert_eq!(got.body.as_ref(), body.as_bytes());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn adobe_target_400_fails_at_once_and_500_is_retried() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| {
        if r.path == "/bad" {
            Reply::status(400)
        } else {
            Reply::status(500)
        }
    });
    let (bad_ev, down_ev) = (
        "be-observer.catalog_product_update",
        "be-observer.catalog_product_delete",
    );
    gw.put_event_ok(
        bad_ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/bad"), "retry": fast_retry(3)}]}),
    )
    .await;
    gw.put_event_ok(
        down_ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/down"), "retry": fast_retry(3)}]}),
    )
    .await;
    let bad = ingest_accepted(
        &ingest(&gw, &envelope("b1", bad_ev, json!({"sku": "B"}))).await,
        bad_ev,
    );
    let down = ingest_accepted(
        &ingest(&gw, &envelope("d1", down_ev, json!({"sku": "D"}))).await,
        down_ev,
    );

    let m = gw.wait_message_status(&bad, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 400, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");

    let m = gw.wait_message_status(&down, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 3, "{m}");
    for at in &a {
        assert_eq!(at["status_code"], 500, "{m}");
        assert_eq!(at["error"]["code"], "http_status", "{m}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests_to("/bad").len(), 1);
    assert_eq!(rx.requests_to("/down").len(), 3);
}

// ------------------------------------------------------------------------------------------------
// Adobe Commerce example catalog
// ------------------------------------------------------------------------------------------------

/// The seed's entities and events.
const CATALOG: &[(&str, &str)] = &[
    ("product", "be-observer.catalog_product_create"),
    ("product", "be-observer.catalog_product_update"),
    ("product", "be-observer.catalog_product_delete"),
    ("customer", "be-observer.customer_create"),
    ("customer", "be-observer.customer_update"),
    ("customer", "be-observer.customer_delete"),
    ("customer-group", "be-observer.customer_group_create"),
    ("customer-group", "be-observer.customer_group_update"),
    ("customer-group", "be-observer.customer_group_delete"),
    ("order", "be-observer.sales_order_status_update"),
    ("order", "be-observer.sales_order_shipment_create"),
    ("order", "be-observer.sales_order_shipment_update"),
    ("stock", "be-observer.catalog_stock_update"),
];

/// Runs `bash examples/adobe-commerce/load.sh ARGS` with no stdin, for at most 60 s.
async fn run_loader(args: &[&str]) -> (i32, String, String) {
    let script = repo_root()
        .join("examples")
        .join("adobe-commerce")
        .join("load.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let mut child = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait for load.sh").is_some() {
            break;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("load.sh did not finish within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().expect("load.sh output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn adobe_example_catalog_loads_and_routes_every_event() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let base = rx.url("/backoffice");

    // A wrong token: non-zero exit, nothing stored.
    let (code, _, err) = run_loader(&[&gw.base_url(), "not-the-token", &base]).await;
    assert_ne!(code, 0, "load.sh must fail on a 401: {err}");
    assert!(err.contains("401"), "stderr should show the answer: {err}");
    let listed = gw.admin_get("/v1/admin/events").await.json();
    assert_eq!(listed["events"], json!([]), "{listed}");

    let (code, out, err) = run_loader(&[&gw.base_url(), ADMIN_TOKEN, &base]).await;
    assert_eq!(code, 0, "load.sh failed:\n{out}\n{err}");

    // Exactly the catalog's events, each one target.
    let public = gw.get("/v1/events").await.json();
    let ids: BTreeSet<String> = public["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = CATALOG.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(ids, expected, "{public}");

    let mut bodies = Vec::new();
    for (i, (entity, event)) in CATALOG.iter().enumerate() {
        let body = envelope(
            &format!("uid-{i}"),
            event,
            json!({"entity": entity, "id": i, "name": format!("sample {i}")}),
        );
        let id = ingest_accepted(&ingest(&gw, &body).await, event);
        bodies.push((entity, event, body, id));
    }
    for (_, _, _, id) in &bodies {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (entity, event, body, _) in &bodies {
        let path = format!("/backoffice/{entity}/{event}");
        assert_request(
            &only_request_to(&rx, &path),
            "POST",
            &path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
    }
    assert_eq!(rx.count(), CATALOG.len());

    // Loading again replaces the configurations and succeeds.
    let (code, out, err) = run_loader(&[&gw.base_url(), ADMIN_TOKEN, &base]).await;
    assert_eq!(code, 0, "second load failed:\n{out}\n{err}");
}
