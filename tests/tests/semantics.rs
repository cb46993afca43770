//! Delivery semantics shops ask for: payload schemas refuse malformed payloads at the door.

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

#[tokio::test]
async fn a_payload_schema_refuses_malformed_payloads_with_the_pointer_and_stores_nothing() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let schema = json!({"type": "object", "required": ["order_id"],
        "properties": {"order_id": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}}});
    let message = gw
        .put_event("orders", json!({"schema": {"type": "no-such-type"}, "targets": []}))
        .await
        .assert_error(400, "invalid_config");
    assert!(message.starts_with("schema:"), "{message}");
    gw.put_event_ok("orders", json!({"schema": schema, "targets": [{"id": "erp", "method": "POST", "url": rx.url("/hook")}]}))
        .await;
    assert_eq!(gw.event("orders").await.json()["schema"], schema, "the schema is part of the config");

    let refused = gw.fire("orders", json!({"order_id": 7, "items": ["a", 2]}).to_string(), "application/json").await;
    let message = refused.assert_error(400, "invalid_payload");
    assert!(message.contains("`/items/1`") && message.contains("/properties/items/items/type"), "{message}");
    gw.fire("orders", "not json", "text/plain").await.assert_error(400, "invalid_payload");
    let accepted = gw.fire_json("orders", &json!({"order_id": 7, "items": ["a"]})).await;
    gw.wait_message_status(&accepted, "delivered", DEADLINE).await;
    assert_eq!(gw.messages_of("orders").await.len(), 1, "nothing stored for the refused payloads");
    assert_eq!(rx.count(), 1);

    // POST /v1/ingest applies the schema to the envelope's `value`.
    let envelope = |value: Value| json!({"data": {"uid": format!("u-{value}"), "event": "orders", "value": value}});
    let ingest = |body: Value| gw.send(gw.client().post(gw.url("/v1/ingest")).json(&body));
    let refused = ingest(envelope(json!({"order_id": "seven"}))).await;
    refused.assert_status(400);
    assert_eq!(refused.json()["error"]["code"], "invalid_payload", "{}", refused.text());
    assert!(refused.text().contains("/data/value/order_id"), "{}", refused.text());
    ingest(envelope(json!({"order_id": 8}))).await.assert_status(200);
}

#[tokio::test]
async fn a_rate_limited_target_gets_its_rate_and_holds_back_no_other_target() {
    let gw = Gateway::new();
    let (slow, fast) = (Receiver::start(), Receiver::start());
    gw.put_event_ok(
        "orders",
        json!({"targets": [
            {"id": "erp", "method": "POST", "url": slow.url("/erp"), "rate_limit": {"per_second": 5, "burst": 2}},
            {"id": "crm", "method": "POST", "url": fast.url("/crm")}]}),
    )
    .await;
    let bad = json!({"targets": [{"id": "erp", "url": slow.url("/erp"), "rate_limit": {"per_second": 0}}]});
    let message = gw.put_event("refused", bad).await.assert_error(400, "invalid_config");
    assert!(message.contains("rate_limit"), "{message}");

    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(gw.fire_json("orders", &json!({"n": i})).await);
    }
    let fired = std::time::Instant::now();
    fast.wait_requests(12, DEADLINE).await;
    let fast_took = fired.elapsed();
    let received = slow.wait_requests(12, DEADLINE).await;
    for id in &ids {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    // 2 at once, then one every 200 ms: the twelfth starts 2 s after the first.
    let times: Vec<_> = received.iter().map(|r| r.at).collect();
    let span = times[11].duration_since(times[0]);
    assert!(span >= std::time::Duration::from_millis(1_900), "12 requests at 5/s with a burst of 2 took only {span:?}");
    for (i, at) in times.iter().enumerate() {
        let in_a_second = times[i..].iter().filter(|t| t.duration_since(*at) < std::time::Duration::from_secs(1)).count();
        assert!(in_a_second <= 7, "{in_a_second} requests within a second of request {i}: more than 5/s plus the burst");
    }
    assert!(fast_took < span, "the other target was not held back: {fast_took:?} against {span:?}");
}

#[tokio::test]
async fn recover_resends_a_targets_failed_deliveries_of_a_window_once_in_order() {
    let gw = Gateway::new();
    let (mut erp, crm) = (Receiver::down_reserved(), Receiver::start());
    gw.put_event_ok(
        "orders",
        json!({"targets": [
            {"id": "erp", "method": "POST", "url": erp.url("/erp"), "retry": fast_retry(1), "max_in_flight": 1,
             "circuit_breaker": {"failure_threshold": 0}},
            {"id": "crm", "method": "POST", "url": crm.url("/crm")}]}),
    )
    .await;
    let before = unix_ms(std::time::SystemTime::now());
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = gw.fire_json("orders", &json!({"n": i})).await;
        gw.wait_message_status(&id, "failed", DEADLINE).await;
        ids.push(id);
    }
    let recover = |body: Value| gw.send(gw.admin(reqwest::Method::POST, "/v1/admin/events/orders/targets/erp/recover").json(&body));
    recover(json!({"since": "yesterday"})).await.assert_error(400, "invalid_request");
    gw.send(gw.admin(reqwest::Method::POST, "/v1/admin/events/nope/targets/erp/recover").json(&json!({"since": 0})))
        .await
        .assert_error(404, "unknown_event");

    // The window holds the last four messages only.
    let fourth = gw.message(&ids[2]).await["received_at"].as_str().expect("received_at").to_string();
    erp.up();
    let first_call = recover(json!({"since": fourth})).await;
    first_call.assert_status(202);
    let (again, third_call) = tokio::join!(recover(json!({"since": fourth})), recover(json!({"since": before - 60_000, "until": before})));
    let recovered = first_call.json()["recovered"].as_u64().unwrap() + again.json()["recovered"].as_u64().unwrap();
    assert_eq!(recovered, 4, "four deliveries in the window, each once: {} {}", first_call.text(), again.text());
    assert_eq!(third_call.json()["recovered"], 0, "nothing was received in that window");
    assert_eq!(first_call.json()["complete"], true);
    for id in &ids[2..] {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    let got: Vec<String> = erp.wait_requests(4, DEADLINE).await.iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect();
    assert_eq!(got, ids[2..], "once each, oldest first");
    for id in &ids[..2] {
        let message = gw.message(id).await;
        let erp_delivery = message["deliveries"].as_array().and_then(|d| d.iter().find(|d| d["target"] == "erp")).cloned();
        assert_eq!(erp_delivery.map(|d| d["status"].clone()), Some(json!("failed")), "outside the window: {message}");
    }
    assert_eq!(crm.count(), 6, "the other target is untouched");
}
