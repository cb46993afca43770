//! End-to-end scenarios: the real `hookgate` binary, a real receiver, real components.
//!
//! Prerequisites: `cargo build -p hookgate` and `guest-examples/build.sh`.
//! Every test has its own gateway process and data directory.

use std::collections::BTreeSet;
use std::time::Duration;

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

const ADOBE_INPUT: &str = r#"{"data":{"uid":"u1","event":"be-observer.catalog_product_create","value":{"sku":"S1","name":"N"}}}"#;

fn has_failed_attempt(msg: &Value) -> bool {
    attempts(msg, 0)
        .iter()
        .any(|a| a["error"]["code"].is_string())
}

/// Deterministic junk that is not wasm.
fn junk_bytes(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Basics
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_is_ok() {
    let gw = Gateway::new();
    gw.get("/healthz").await.assert_status(200);
}

#[tokio::test]
async fn announces_its_address_on_stdout() {
    let gw = Gateway::new();
    assert_eq!(
        gw.announced_on, "stdout",
        "the `listening on http://...` line must be printed on stdout"
    );
    assert!(gw.addr().ip().is_loopback());
    assert_ne!(gw.addr().port(), 0);
}

#[tokio::test]
async fn admin_api_requires_the_bearer_token() {
    let gw = Gateway::new();
    let c = gw.client();
    let cases: Vec<(reqwest::Method, &str)> = vec![
        (reqwest::Method::GET, "/v1/admin/components"),
        (reqwest::Method::GET, "/v1/admin/events"),
        (reqwest::Method::GET, "/v1/admin/messages"),
        (reqwest::Method::PUT, "/v1/admin/events/ev"),
        (reqwest::Method::PUT, "/v1/admin/components/comp"),
        (reqwest::Method::DELETE, "/v1/admin/events/ev"),
        (reqwest::Method::POST, "/v1/admin/messages/msg_x/retry"),
    ];
    let body = json!({"targets": [{"id": "t1", "url": "http://127.0.0.1:9/hook"}]}).to_string();
    for (method, path) in &cases {
        // No credentials at all.
        let r = gw
            .send(
                c.request(method.clone(), gw.url(path))
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(r.status, 401, "{method} {path} without token: {}", r.text());
        r.error();
        // Wrong bearer.
        let r = gw
            .send(
                c.request(method.clone(), gw.url(path))
                    .bearer_auth("not-the-token")
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(r.status, 401, "{method} {path} with wrong token: {}", r.text());
        r.error();
        // Right token, wrong scheme.
        let r = gw
            .send(
                c.request(method.clone(), gw.url(path))
                    .header("authorization", format!("Basic {ADMIN_TOKEN}"))
                    .body(body.clone()),
            )
            .await;
        assert_eq!(r.status, 401, "{method} {path} with Basic scheme: {}", r.text());
        r.error();
    }
    // Nothing was created by the refused PUT.
    gw.event("ev").await.assert_status(404);
    // With the token the same reads succeed.
    let r = gw.admin_get("/v1/admin/components").await;
    r.assert_status(200);
    assert!(r.json()["components"].is_array(), "{}", r.text());
    let r = gw.admin_get("/v1/admin/events").await;
    r.assert_status(200);
    assert!(r.json()["events"].is_array(), "{}", r.text());
    let r = gw.admin_get("/v1/admin/messages").await;
    r.assert_status(200);
    assert!(r.json()["messages"].is_array(), "{}", r.text());
}

// ------------------------------------------------------------------------------------------------
// Components and configuration
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn component_upload_reports_name_hash_world_and_size() {
    let gw = Gateway::new();
    for (name, world) in [
        ("adobe-to-json", "transformer"),
        ("hmac-auth", "authenticator"),
        ("json-ok-condition", "condition"),
    ] {
        let bytes = std::fs::read(component_path(name)).unwrap();
        let r = gw.put_component_bytes(name, bytes.clone()).await;
        r.assert_status(201);
        let v = r.json();
        assert_eq!(v["name"], name, "{v}");
        assert_eq!(v["sha256"], sha256_hex(&bytes), "{v}");
        assert_eq!(v["world"], world, "{v}");
        assert_eq!(v["size"], bytes.len() as u64, "{v}");
        assert!(!v["version"].is_null(), "no version in {v}");

        let got = gw.component(name).await;
        got.assert_status(200);
        assert_eq!(got.json()["sha256"], sha256_hex(&bytes), "{}", got.text());
    }
    let list = gw.admin_get("/v1/admin/components").await.json();
    let names: BTreeSet<String> = list["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    for n in ["adobe-to-json", "hmac-auth", "json-ok-condition"] {
        assert!(names.contains(n), "{n} missing from {list}");
    }
}

#[tokio::test]
async fn invalid_components_and_configs_are_rejected() {
    let gw = Gateway::new();

    // Random bytes.
    gw.put_component_bytes("junk", junk_bytes(2048))
        .await
        .assert_error(400, "invalid_component");
    // Empty body.
    gw.put_component_bytes("empty", Vec::new())
        .await
        .assert_error(400, "invalid_component");
    // A core wasm module is not a component.
    let msg = gw
        .put_component_bytes("core", b"\0asm\x01\0\0\0".to_vec())
        .await
        .assert_error(400, "invalid_component");
    let lower = msg.to_lowercase();
    assert!(
        lower.contains("core") && lower.contains("component"),
        "message should say it is a core module, not a component: {msg:?}"
    );
    for n in ["junk", "empty", "core"] {
        gw.component(n)
            .await
            .assert_error(404, "component_not_found");
    }

    gw.install("adobe-to-json").await;
    gw.install("json-ok-condition").await;
    gw.install("hmac-auth").await;
    let url = "http://127.0.0.1:9/hook";

    // Unknown top-level field.
    let msg = gw
        .put_event(
            "e1",
            json!({"frobnicate": true, "targets": [{"id": "t1", "url": url}]}),
        )
        .await
        .assert_error(400, "invalid_config");
    assert!(msg.contains("frobnicate"), "message should name the field: {msg:?}");

    // Unknown field inside a target.
    let msg = gw
        .put_event(
            "e1",
            json!({"targets": [{"id": "t1", "url": url, "retyr_policy": {}}]}),
        )
        .await
        .assert_error(400, "invalid_config");
    assert!(msg.contains("retyr_policy"), "message should name the field: {msg:?}");

    // Unknown component.
    let msg = gw
        .put_event(
            "e1",
            json!({"targets": [{"id": "t1", "url": url,
                "transformer": {"component": "no-such-component"}}]}),
        )
        .await
        .assert_error(400, "invalid_config");
    assert!(
        msg.contains("no-such-component"),
        "message should name the component: {msg:?}"
    );

    // Wrong world: a condition where a transformer is expected.
    gw.put_event(
        "e1",
        json!({"targets": [{"id": "t1", "url": url,
            "transformer": {"component": "json-ok-condition"}}]}),
    )
    .await
    .assert_error(400, "invalid_config");
    // A transformer as authenticator.
    gw.put_event(
        "e1",
        json!({"authenticator": {"component": "adobe-to-json"},
            "targets": [{"id": "t1", "url": url}]}),
    )
    .await
    .assert_error(400, "invalid_config");
    // An authenticator as condition.
    gw.put_event(
        "e1",
        json!({"targets": [{"id": "t1", "url": url,
            "condition": {"component": "hmac-auth"}}]}),
    )
    .await
    .assert_error(400, "invalid_config");

    // Bad URLs.
    for bad in ["not a url", "", "127.0.0.1:9/hook"] {
        gw.put_event("e1", json!({"targets": [{"id": "t1", "url": bad}]}))
            .await
            .assert_error(400, "invalid_config");
    }
    // Missing required target fields.
    gw.put_event("e1", json!({"targets": [{"id": "t1"}]}))
        .await
        .assert_error(400, "invalid_config");
    gw.put_event("e1", json!({"targets": [{"url": url}]}))
        .await
        .assert_error(400, "invalid_config");
    // Not JSON at all.
    let r = gw
        .send(
            gw.admin(reqwest::Method::PUT, "/v1/admin/events/e1")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    r.error();

    // None of it was stored.
    gw.event("e1").await.assert_status(404);
    let list = gw.admin_get("/v1/admin/events").await.json();
    assert_eq!(list["events"], json!([]), "{list}");
}

#[tokio::test]
async fn events_can_be_created_read_listed_updated_and_deleted() {
    let gw = Gateway::new();
    let url = "http://127.0.0.1:9/hook";
    let stored = gw
        .put_event_ok("orders", json!({"targets": [{"id": "t1", "url": url}]}))
        .await;
    assert_eq!(stored["enabled"], true, "enabled defaults to true: {stored}");
    assert_eq!(stored["targets"][0]["id"], "t1", "{stored}");
    assert_eq!(stored["targets"][0]["url"], url, "{stored}");

    let got = gw.event("orders").await;
    got.assert_status(200);
    let got = got.json();
    assert_eq!(got["targets"][0]["url"], url, "{got}");

    let list = gw.admin_get("/v1/admin/events").await.json();
    let events = list["events"].as_array().expect("events array");
    assert_eq!(events.len(), 1, "{list}");
    assert!(events[0].to_string().contains("orders"), "{list}");

    // Update.
    let stored = gw
        .put_event_ok(
            "orders",
            json!({"enabled": false, "targets": [{"id": "t2", "url": url}]}),
        )
        .await;
    assert_eq!(stored["enabled"], false, "{stored}");
    assert_eq!(gw.event("orders").await.json()["targets"][0]["id"], "t2");

    // Delete.
    gw.delete_event("orders").await.assert_success();
    gw.event("orders").await.assert_status(404);
    gw.fire("orders", "{}", "application/json")
        .await
        .assert_error(404, "unknown_event");
}

#[tokio::test]
async fn deleting_a_component_in_use_is_refused() {
    let gw = Gateway::new();
    gw.install("adobe-to-json").await;
    gw.put_event_ok(
        "ev",
        json!({"targets": [{"id": "t1", "url": "http://127.0.0.1:9/hook",
            "transformer": {"component": "adobe-to-json", "config": {}}}]}),
    )
    .await;
    gw.delete_component("adobe-to-json")
        .await
        .assert_error(409, "component_in_use");
    gw.component("adobe-to-json").await.assert_status(200);

    gw.delete_event("ev").await.assert_success();
    gw.delete_component("adobe-to-json").await.assert_status(204);
    gw.component("adobe-to-json")
        .await
        .assert_error(404, "component_not_found");
    gw.delete_component("adobe-to-json")
        .await
        .assert_error(404, "component_not_found");
}

// ------------------------------------------------------------------------------------------------
// Ingest
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn ingest_errors_and_accepted_body() {
    let gw = Gateway::new();
    let rx = Receiver::start();

    gw.fire("nope", "{}", "application/json")
        .await
        .assert_error(404, "unknown_event");

    gw.put_event_ok(
        "off",
        json!({"enabled": false, "targets": [{"id": "t1", "method": "POST", "url": rx.url("/off")}]}),
    )
    .await;
    gw.fire("off", "{}", "application/json")
        .await
        .assert_error(409, "event_disabled");
    assert!(gw.messages_of("off").await.is_empty());

    gw.put_event_ok(
        "two",
        json!({"targets": [
            {"id": "t1", "method": "POST", "url": rx.url("/one"), "retry": fast_retry(3)},
            {"id": "t2", "method": "POST", "url": rx.url("/two"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let r = gw.fire("two", r#"{"n":1}"#, "application/json").await;
    r.assert_status(202);
    let v = r.json();
    let id = v["message_id"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(id.starts_with("msg_"), "message_id should look like msg_...: {v}");
    assert_eq!(v["deliveries"], 2, "{v}");

    let m = gw.wait_message_status(id, "delivered", DEADLINE).await;
    assert_eq!(m["message_id"], id, "{m}");
    assert_eq!(m["event_id"], "two", "{m}");
    let targets: BTreeSet<String> = m["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "delivered", "{m}");
            d["target"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(targets, BTreeSet::from(["t1".into(), "t2".into()]));
    assert_eq!(rx.requests_to("/one").len(), 1);
    assert_eq!(rx.requests_to("/two").len(), 1);
    assert!(rx.requests_to("/off").is_empty());

    // Re-enabled, the event accepts messages again.
    gw.put_event_ok(
        "off",
        json!({"enabled": true, "targets": [{"id": "t1", "method": "POST", "url": rx.url("/off")}]}),
    )
    .await;
    let r = gw.fire("off", "{}", "application/json").await;
    r.assert_status(202);
    assert_eq!(r.json()["deliveries"], 1, "{}", r.text());
}

// ------------------------------------------------------------------------------------------------
// Delivery
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn transformed_delivery_arrives_with_body_and_headers() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("adobe-to-json").await;
    gw.put_event_ok(
        "adobe",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "transformer": {"component": "adobe-to-json", "config": {}},
            "retry": fast_retry(3)}]}),
    )
    .await;

    let r = gw.fire("adobe", ADOBE_INPUT, "application/json").await;
    let id = accepted_message_id(&r);
    assert_eq!(r.json()["deliveries"], 1, "{}", r.text());

    let reqs = rx.wait_requests(1, DEADLINE).await;
    let got = &reqs[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hook");
    assert_eq!(
        got.json(),
        json!({"sku": "S1", "name": "N", "uid": "u1",
            "event": "be-observer.catalog_product_create"})
    );
    let ct = got.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
    assert_eq!(
        got.header("x-hookgate-event"),
        Some("be-observer.catalog_product_create"),
        "{:?}",
        got.headers
    );

    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["message_id"], id.as_str(), "{m}");
    assert_eq!(m["event_id"], "adobe", "{m}");
    assert!(!m["received_at"].is_null(), "{m}");
    let ds = m["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 1, "{m}");
    assert_eq!(ds[0]["target"], "t1", "{m}");
    assert_eq!(ds[0]["status"], "delivered", "{m}");
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 200, "{m}");
    assert!(a[0]["error"].is_null(), "{m}");
    assert!(a[0]["duration_ms"].is_number(), "{m}");
    assert!(!a[0]["at"].is_null(), "{m}");
    assert!(a[0]["guest_logs"].is_array(), "{m}");
    // Exactly one request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn untransformed_delivery_uses_target_method_headers_and_raw_body() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "raw",
        json!({"targets": [{"id": "t1", "url": rx.url("/in?q=1"), "method": "PUT",
            "headers": {"x-a": "b"}, "retry": fast_retry(3)}]}),
    )
    .await;
    let body: Vec<u8> = b"hello \x00\xff raw".to_vec();
    let id = accepted_message_id(&gw.fire("raw", body.clone(), "application/octet-stream").await);
    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].path, "/in?q=1");
    assert_eq!(reqs[0].header("x-a"), Some("b"), "{:?}", reqs[0].headers);
    assert_eq!(reqs[0].body.as_ref(), body.as_slice());
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
}

#[tokio::test]
async fn hmac_authenticator_refuses_bad_signatures_and_admits_good_ones() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("hmac-auth").await;
    gw.put_event_ok(
        "signed",
        json!({"authenticator": {"component": "hmac-auth", "config": {"secret": "s3cret"}},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "retry": fast_retry(3)}]}),
    )
    .await;
    let body = r#"{"order":42}"#;

    // No signature.
    let r = gw
        .fire_with("signed", body, &[("content-type", "application/json")])
        .await;
    let reason = r.assert_error(401, "unauthorized");
    assert!(!reason.is_empty(), "the deny reason should be returned");

    // Wrong signatures.
    for sig in [
        hmac_sha256_hex(b"wrong", body.as_bytes()),
        hmac_sha256_hex(b"s3cret", b"another body"),
        "zz-not-hex".to_string(),
        String::new(),
    ] {
        let r = gw
            .fire_with(
                "signed",
                body,
                &[("content-type", "application/json"), ("x-signature", sig.as_str())],
            )
            .await;
        let reason = r.assert_error(401, "unauthorized");
        assert!(!reason.is_empty(), "the deny reason should be returned");
    }

    // Nothing stored, nothing sent.
    assert!(gw.messages_of("signed").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);

    // Correct signature.
    let sig = hmac_sha256_hex(b"s3cret", body.as_bytes());
    let r = gw
        .fire_with(
            "signed",
            body,
            &[("content-type", "application/json"), ("x-signature", sig.as_str())],
        )
        .await;
    let id = accepted_message_id(&r);
    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(reqs[0].text(), body);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let all = gw.messages_of("signed").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["message_id"], id.as_str());
}

#[tokio::test]
async fn condition_retries_until_the_target_says_ok() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("json-ok-condition").await;
    gw.put_event_ok(
        "cond",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "condition": {"component": "json-ok-condition"},
            "retry": fast_retry(5)}]}),
    )
    .await;
    rx.push(Reply::json(200, json!({"ok": false})));
    rx.push(Reply::json(200, json!({"ok": false})));
    rx.set_default(Reply::json(200, json!({"ok": true})));

    let id = gw.fire_json("cond", &json!({"x": 1})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["deliveries"][0]["status"], "delivered", "{m}");
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 3, "{m}");
    for (i, at) in a.iter().enumerate() {
        assert_eq!(at["status_code"], 200, "attempt {i}: {m}");
    }
    assert!(!a[0]["error"].is_null(), "a refused attempt records why: {m}");
    assert!(!a[1]["error"].is_null(), "a refused attempt records why: {m}");
    assert!(a[2]["error"].is_null(), "{m}");
    assert_eq!(rx.count(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_fail_at_once() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| if r.path == "/down" { Reply::status(503) } else { Reply::status(404) });
    for (event, path) in [("ev5xx", "/down"), ("ev4xx", "/gone")] {
        gw.put_event_ok(
            event,
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(path),
                "success": {"status": ["2xx"]}, "retry": fast_retry(2)}]}),
        )
        .await;
    }
    let retried = gw.fire_json("ev5xx", &json!({})).await;
    let refused = gw.fire_json("ev4xx", &json!({})).await;
    for (id, code, tries) in [(retried, 503, 2), (refused, 404, 1)] {
        let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
        let a = attempts(&m, 0);
        assert_eq!(a.len(), tries, "status {code}: {m}");
        for at in &a {
            assert_eq!(at["status_code"], code, "{m}");
            assert_eq!(at["error"]["code"], "http_status", "{m}");
        }
    }
    assert_eq!(rx.requests_to("/down").len(), 2);
    assert_eq!(rx.requests_to("/gone").len(), 1);
}

#[tokio::test]
async fn slow_target_times_out() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(Duration::from_secs(5)));
    gw.put_event_ok(
        "slow",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "retry": {"max_attempts": 1, "initial_delay_ms": 50, "max_delay_ms": 200,
                      "timeout_ms": 300}}]}),
    )
    .await;
    let id = gw.fire_json("slow", &json!({})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["error"]["code"], "timeout", "{m}");
    assert!(a[0]["status_code"].is_null(), "{m}");
}

#[tokio::test]
async fn receiver_down_then_back_gets_the_message() {
    let gw = Gateway::new();
    let mut rx = Receiver::down_reserved();
    gw.put_event_ok(
        "ev",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "retry": {"max_attempts": 100, "initial_delay_ms": 50, "max_delay_ms": 200,
                      "timeout_ms": 2000}}]}),
    )
    .await;
    let id = gw.fire_json("ev", &json!({"hello": "world"})).await;

    let m = gw
        .wait_message(&id, DEADLINE, "with a failed attempt", has_failed_attempt)
        .await;
    assert_eq!(m["deliveries"][0]["status"], "pending", "{m}");
    assert_eq!(m["status"], "pending", "{m}");
    let a = attempts(&m, 0);
    assert_eq!(a[0]["error"]["code"], "connect_error", "{m}");
    assert!(a[0]["status_code"].is_null(), "{m}");

    rx.up();
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert!(a.len() >= 2, "{m}");
    assert_eq!(a.last().unwrap()["status_code"], 200, "{m}");
    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(reqs[0].json(), json!({"hello": "world"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1, "delivered exactly once");
}

#[tokio::test]
async fn pending_message_survives_a_gateway_kill() {
    let mut gw = Gateway::new();
    let mut rx = Receiver::down_reserved();
    gw.install("adobe-to-json").await;
    gw.put_event_ok(
        "adobe",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "transformer": {"component": "adobe-to-json"},
            "retry": {"max_attempts": 100, "initial_delay_ms": 50, "max_delay_ms": 200,
                      "timeout_ms": 2000}}]}),
    )
    .await;
    let id = accepted_message_id(&gw.fire("adobe", ADOBE_INPUT, "application/json").await);
    // Each attempt's record is flushed before the next attempt starts: once a second
    // attempt shows, the first is on disk.
    gw.wait_message(&id, DEADLINE, "with two failed attempts", |m| attempts(m, 0).len() >= 2)
        .await;

    gw.kill(); // SIGKILL
    rx.up();
    gw.start_again(); // same data dir, new process
    assert_eq!(gw.generation, 2);

    // Configuration and components survived.
    gw.component("adobe-to-json").await.assert_status(200);
    gw.event("adobe").await.assert_status(200);

    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert!(a.len() >= 2, "attempts before the kill are kept: {m}");
    assert_eq!(a[0]["error"]["code"], "connect_error", "{m}");
    assert_eq!(a.last().unwrap()["status_code"], 200, "{m}");
    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(
        reqs[0].json(),
        json!({"sku": "S1", "name": "N", "uid": "u1",
            "event": "be-observer.catalog_product_create"})
    );
}

#[tokio::test]
async fn accepted_message_survives_an_immediate_kill() {
    let mut gw = Gateway::new();
    let mut rx = Receiver::down_reserved();
    gw.put_event_ok(
        "ev",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "retry": {"max_attempts": 100, "initial_delay_ms": 50, "max_delay_ms": 200,
                      "timeout_ms": 2000}}]}),
    )
    .await;
    // 202 means stored: kill -9 right after it.
    let id = gw.fire_json("ev", &json!({"durable": true})).await;
    gw.kill();
    rx.up();
    gw.start_again();
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_eq!(reqs[0].json(), json!({"durable": true}));
}

#[tokio::test]
async fn hostile_guests_fail_only_their_own_delivery() {
    // A budget roomy enough that growing to the 64 MiB cap ends in the memory limit even on
    // a loaded machine, and short enough for the loop to end in the time limit.
    let gw = Gateway::start(GatewayOpts::default().args(["--guest-time-ms", "1000"]));
    let rx = Receiver::start();
    gw.install("hostile-loop").await;
    gw.install("hostile-alloc").await;
    gw.put_event_ok(
        "loop",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/loop"),
            "transformer": {"component": "hostile-loop"}, "retry": fast_retry(1)}]}),
    )
    .await;
    gw.put_event_ok(
        "alloc",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/alloc"),
            "transformer": {"component": "hostile-alloc"}, "retry": fast_retry(1)}]}),
    )
    .await;
    gw.put_event_ok(
        "normal",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/normal"), "retry": fast_retry(3)}]}),
    )
    .await;

    let (one, two, three) = (json!({"n": 1}), json!({"n": 2}), json!({"n": 3}));
    let (l, a, n) = tokio::join!(
        gw.fire_json("loop", &one),
        gw.fire_json("alloc", &two),
        gw.fire_json("normal", &three),
    );

    let nm = gw.wait_message_status(&n, "delivered", DEADLINE).await;
    assert_eq!(attempts(&nm, 0).len(), 1, "{nm}");

    let lm = gw.wait_message_status(&l, "failed", DEADLINE).await;
    assert_eq!(lm["deliveries"][0]["status"], "failed", "{lm}");
    let la = attempts(&lm, 0);
    assert_eq!(la.len(), 1, "{lm}");
    assert_eq!(la[0]["error"]["code"], "guest_timeout", "{lm}");
    assert!(la[0]["status_code"].is_null(), "{lm}");
    let ms = la[0]["duration_ms"].as_u64().unwrap_or(0);
    assert!(ms < 5000, "a 1000 ms guest budget took {ms} ms: {lm}");

    let am = gw.wait_message_status(&a, "failed", DEADLINE).await;
    assert_eq!(am["deliveries"][0]["status"], "failed", "{am}");
    let aa = attempts(&am, 0);
    assert_eq!(aa.len(), 1, "{am}");
    assert_eq!(aa[0]["error"]["code"], "guest_memory_limit", "{am}");

    assert!(rx.requests_to("/loop").is_empty());
    assert!(rx.requests_to("/alloc").is_empty());
    assert_eq!(rx.requests_to("/normal").len(), 1);

    // The gateway is still healthy and keeps delivering.
    gw.get("/healthz").await.assert_status(200);
    let again = gw.fire_json("normal", &json!({"n": 4})).await;
    gw.wait_message_status(&again, "delivered", DEADLINE).await;
    assert_eq!(rx.requests_to("/normal").len(), 2);
}

// ------------------------------------------------------------------------------------------------
// Message log
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn manual_retry_redelivers_a_failed_message() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::status(500));
    gw.put_event_ok(
        "ev",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "retry": fast_retry(1)}]}),
    )
    .await;
    let id = gw.fire_json("ev", &json!({"try": "again"})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    assert_eq!(m["deliveries"][0]["status"], "failed", "{m}");
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 500, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");

    // Fix the receiver, retry by hand.
    rx.set_default(Reply::ok());
    let r = gw.retry(&id).await;
    r.assert_status(202);
    let v = r.json();
    assert_eq!(v["message_id"], id.as_str(), "{v}");
    assert_eq!(v["retried"], 1, "{v}");

    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["deliveries"][0]["status"], "delivered", "{m}");
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 2, "{m}");
    assert_eq!(a[1]["status_code"], 200, "{m}");
    assert_eq!(rx.count(), 2);

    // Unknown message.
    let r = gw.retry("msg_does_not_exist").await;
    assert_eq!(r.status, 404, "{}", r.text());
    r.error();
}

#[tokio::test]
async fn message_log_filters_and_paginates() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "a",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/a"), "retry": fast_retry(3)}]}),
    )
    .await;
    gw.put_event_ok(
        "b",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/b"), "retry": fast_retry(3)}]}),
    )
    .await;
    let mut a_ids = BTreeSet::new();
    for i in 0..3 {
        a_ids.insert(gw.fire_json("a", &json!({"i": i})).await);
    }
    let b_id = gw.fire_json("b", &json!({"i": 9})).await;
    for id in a_ids.iter().chain([&b_id]) {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }

    let p1 = gw.messages("event_id=a&limit=2").await;
    let m1 = p1["messages"].as_array().unwrap();
    assert_eq!(m1.len(), 2, "{p1}");
    let cursor = p1["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next_cursor is expected: {p1}"));
    let p2 = gw
        .messages(&format!("event_id=a&limit=2&cursor={cursor}"))
        .await;
    let m2 = p2["messages"].as_array().unwrap();
    assert_eq!(m2.len(), 1, "{p2}");
    assert!(p2["next_cursor"].is_null(), "{p2}");
    let seen: BTreeSet<String> = m1
        .iter()
        .chain(m2.iter())
        .map(|m| {
            assert_eq!(m["event_id"], "a", "{m}");
            m["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(seen, a_ids);

    let delivered = gw.messages("event_id=a&status=delivered").await;
    assert_eq!(delivered["messages"].as_array().unwrap().len(), 3, "{delivered}");
    let failed = gw.messages("event_id=a&status=failed").await;
    assert_eq!(failed["messages"].as_array().unwrap().len(), 0, "{failed}");
    let b = gw.messages_of("b").await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["message_id"], b_id.as_str());

    let r = gw.admin_get("/v1/admin/messages/msg_does_not_exist").await;
    assert_eq!(r.status, 404, "{}", r.text());
    r.error();
}
