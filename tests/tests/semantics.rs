//! Delivery semantics shops ask for: payload schemas, rate limits, bulk recovery, ordering
//! keys.

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
    // The last one waits its turn (about 2 s), pending, and its log says why.
    let waiting = to_erp(&gw.message(&ids[11]).await);
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert!(waiting["reason"].as_str().is_some_and(|r| r.contains("rate limit (5/s, burst 2)")), "{waiting}");
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

/// The deliveries a receiver took (answered 2xx), in the order it answered them, as
/// `(key, n)` read from bodies `{"key": ..., "n": ...}`; it fails `fail_percent` of all
/// requests, picked by a seeded generator so that a run can be repeated.
#[derive(Clone, Default)]
struct Taken(std::sync::Arc<std::sync::Mutex<Vec<(String, u64)>>>);

impl Taken {
    fn serve(rx: &Receiver, fail_percent: u64, seed: u64) -> Taken {
        let taken = Taken::default();
        let (list, state) = (taken.0.clone(), std::sync::Mutex::new(seed));
        rx.respond_with(move |request| {
            let mut x = state.lock().unwrap();
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            if *x % 100 < fail_percent {
                return Reply::status(503);
            }
            let body = request.json();
            list.lock().unwrap().push((body["key"].as_str().unwrap_or_default().to_string(), body["n"].as_u64().unwrap_or(u64::MAX)));
            Reply::ok()
        });
        taken
    }

    fn list(&self) -> Vec<(String, u64)> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until every `(key, n)` of `keys` x `0..per_key` was taken at least once.
    async fn wait_all(&self, keys: usize, per_key: u64, deadline: std::time::Duration) -> std::time::Instant {
        let end = std::time::Instant::now() + deadline;
        loop {
            let distinct: std::collections::HashSet<_> = self.list().into_iter().collect();
            if distinct.len() as u64 == keys as u64 * per_key {
                return std::time::Instant::now();
            }
            assert!(std::time::Instant::now() < end, "{} of {} deliveries taken within {deadline:?}", distinct.len(), keys as u64 * per_key);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// For every key, the order in which its deliveries were first taken.
    fn first_order(&self) -> std::collections::BTreeMap<String, Vec<u64>> {
        let mut seen = std::collections::HashSet::new();
        let mut order: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        for (key, n) in self.list() {
            if seen.insert((key.clone(), n)) {
                order.entry(key).or_default().push(n);
            }
        }
        order
    }
}

/// Fires `per_key` messages for each of `keys` keys: one key's messages one after the
/// other, each once the previous one was accepted (the order a shop gives them), the keys
/// at once. Returns the message ids, key by key.
async fn fire_keyed(gw: &Gateway, event: &str, keys: usize, per_key: u64) -> Vec<String> {
    let (client, url) = (gw.client().clone(), gw.url(&format!("/v1/events/{event}")));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..keys {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..per_key {
                let body = json!({"key": format!("order-{k}"), "n": n});
                let response = client.post(&url).json(&body).send().await.expect("fire");
                assert_eq!(response.status().as_u16(), 202, "{}", response.text().await.unwrap_or_default());
                ids.push(response.json::<Value>().await.expect("json")["message_id"].as_str().expect("id").to_string());
            }
            (k, ids)
        });
    }
    let mut ids = vec![Vec::new(); keys];
    while let Some(fired) = tasks.join_next().await {
        let (k, fired) = fired.expect("a firing task");
        ids[k] = fired;
    }
    ids.concat()
}

fn ordered_event(ordered: &Receiver, unordered: &Receiver, on_failure: &str, max_attempts: u32) -> Value {
    json!({"targets": [
        {"id": "erp", "method": "POST", "url": ordered.url("/erp"),
         "retry": {"max_attempts": max_attempts, "initial_delay_ms": 200, "max_delay_ms": 400, "timeout_ms": 5000},
         "circuit_breaker": {"failure_threshold": 0},
         "ordering": {"key": "#key#", "on_failure": on_failure}},
        {"id": "crm", "method": "POST", "url": unordered.url("/crm"), "retry": fast_retry(max_attempts),
         "circuit_breaker": {"failure_threshold": 0}}]})
}

fn assert_in_order(taken: &Taken, keys: usize, per_key: u64) {
    let order = taken.first_order();
    assert_eq!(order.len(), keys, "every key was delivered");
    for (key, ns) in order {
        assert_eq!(ns, (0..per_key).collect::<Vec<_>>(), "key {key} was first taken in this order");
    }
}

#[tokio::test]
async fn an_ordering_key_delivers_each_keys_messages_in_order_through_failures_and_holds_back_no_other_target() {
    let gw = Gateway::new();
    let (erp, crm) = (Receiver::start(), Receiver::start());
    let (erp_taken, crm_taken) = (Taken::serve(&erp, 30, 0x9e37_79b9_7f4a_7c15), Taken::serve(&crm, 0, 1));
    gw.put_event_ok("orders", ordered_event(&erp, &crm, "next", 100)).await;
    let bad = json!({"targets": [{"id": "erp", "url": erp.url("/erp"), "ordering": {"key": "#key"}}]});
    let message = gw.put_event("refused", bad).await.assert_error(400, "invalid_config");
    assert!(message.contains("ordering.key"), "{message}");

    let (keys, per_key) = (20, 25);
    let fired = std::time::Instant::now();
    let ids = fire_keyed(&gw, "orders", keys, per_key).await;
    let all_accepted = std::time::Instant::now();
    let crm_done = crm_taken.wait_all(keys, per_key, DEADLINE).await;
    let erp_done = erp_taken.wait_all(keys, per_key, 4 * DEADLINE).await;
    assert_in_order(&erp_taken, keys, per_key);
    let failed = erp.count() - erp_taken.list().len();
    assert!(failed > 50, "the receiver failed {failed} of {} requests: about 30% were meant to", erp.count());
    assert_eq!(erp_taken.list().len(), ids.len(), "each delivery was taken once");
    // The ordered target waits out a retry (200-400 ms) per failure, one at a time per key;
    // the unordered one beside it keeps up with the firing and is done long before.
    let (crm_took, erp_took) = (crm_done - fired, erp_done - fired);
    let crm_behind = crm_done.saturating_duration_since(all_accepted);
    let times = format!("firing took {:?}, the unordered target {crm_took:?}, the ordered one {erp_took:?}", all_accepted - fired);
    assert!(crm_behind < std::time::Duration::from_secs(3) && crm_done < erp_done, "{times}");
    let message = gw.message(&ids[0]).await;
    assert!(to_erp(&message)["ordering_key"].as_str().is_some_and(|k| k.starts_with("order-")), "{message}");
}

#[tokio::test]
async fn an_ordering_key_keeps_its_order_across_a_kill_and_restart() {
    let mut gw = Gateway::new();
    let erp = Receiver::start();
    let crm = Receiver::start();
    let erp_taken = Taken::serve(&erp, 30, 0x2545_f491_4f6c_dd1d);
    Taken::serve(&crm, 0, 1);
    gw.put_event_ok("orders", ordered_event(&erp, &crm, "next", 100)).await;
    let (keys, per_key) = (20, 25);
    fire_keyed(&gw, "orders", keys, per_key).await;
    // Kill it once about a third of the ordered deliveries went through.
    let end = std::time::Instant::now() + DEADLINE;
    while erp_taken.list().len() < 150 {
        assert!(std::time::Instant::now() < end, "only {} deliveries within {DEADLINE:?}", erp_taken.list().len());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    gw.kill();
    let before_restart = erp_taken.list().len();
    assert!(before_restart < 500, "the kill came before the end ({before_restart} taken)");
    gw.start_again();
    erp_taken.wait_all(keys, per_key, 4 * DEADLINE).await;
    // At least once: a delivery taken just before the kill may be taken again after it,
    // but never one of a key before the key's earlier ones.
    assert_in_order(&erp_taken, keys, per_key);
}

#[tokio::test]
async fn a_blocking_key_waits_for_an_operator_to_retry_or_skip_its_failed_head() {
    let gw = Gateway::new();
    let (erp, crm) = (Receiver::start(), Receiver::start());
    // Message 1 of each key fails until the switch is turned.
    let healed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let taken = Taken::default();
    let (list, switch) = (taken.0.clone(), healed.clone());
    erp.respond_with(move |request| {
        let body = request.json();
        if body["n"] == 1 && !switch.load(std::sync::atomic::Ordering::SeqCst) {
            return Reply::status(500);
        }
        list.lock().unwrap().push((body["key"].as_str().unwrap_or_default().to_string(), body["n"].as_u64().unwrap_or(u64::MAX)));
        Reply::ok()
    });
    gw.put_event_ok("orders", ordered_event(&erp, &crm, "block", 2)).await;
    let ids = fire_keyed(&gw, "orders", 2, 4).await;
    let id_of = |key: usize, n: usize| ids[key * 4 + n].clone();
    for (key, n) in [(0, 1), (1, 1)] {
        let failed = gw.wait_message_status(&id_of(key, n), "failed", DEADLINE).await;
        let erp_delivery = to_erp(&failed);
        assert_eq!(erp_delivery["holds_key"], true, "{failed}");
        assert!(erp_delivery["reason"].as_str().is_some_and(|r| r.contains("holds its ordering key")), "{failed}");
    }
    crm.wait_requests(8, DEADLINE).await;
    // Nothing after a held head goes, however long one waits.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let mut keys_taken = taken.first_order();
    assert_eq!(keys_taken.remove("order-0"), Some(vec![0]));
    assert_eq!(keys_taken.remove("order-1"), Some(vec![0]));
    let waiting = to_erp(&gw.wait_message_status(&id_of(0, 2), "pending", DEADLINE).await);
    assert!(waiting["reason"].as_str().is_some_and(|r| r.contains("ordering key \"order-0\"")), "{waiting}");

    // Only a held delivery can be skipped.
    let skip = |key: usize, n: usize| {
        let (gw, path) = (&gw, format!("/v1/admin/messages/{}/deliveries/erp/skip", id_of(key, n)));
        async move { gw.admin_post(&path).await }
    };
    skip(0, 0).await.assert_error(409, "not_held");
    gw.admin_post(&format!("/v1/admin/messages/{}/deliveries/nope/skip", id_of(0, 1))).await.assert_error(404, "delivery_not_found");

    // Key 0: the operator skips its head; the head stays failed, the rest go in order.
    let skipped = skip(0, 1).await;
    skipped.assert_status(200);
    assert_eq!(skipped.json()["ordering_key"], "order-0");
    gw.wait_message_status(&id_of(0, 3), "delivered", DEADLINE).await;
    let head = gw.message(&id_of(0, 1)).await;
    assert_eq!(head["status"], "failed", "{head}");
    assert!(head.to_string().contains("skipped by an operator"), "{head}");
    // Key 1: the receiver is mended and the operator retries the head, which goes first.
    healed.store(true, std::sync::atomic::Ordering::SeqCst);
    gw.retry(&id_of(1, 1)).await.assert_status(202);
    gw.wait_message_status(&id_of(1, 3), "delivered", DEADLINE).await;
    let order = taken.first_order();
    assert_eq!(order["order-0"], vec![0, 2, 3]);
    assert_eq!(order["order-1"], vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn a_dead_target_is_disabled_after_its_window_and_delivers_again_once_enabled() {
    let gw = Gateway::new();
    let (mut erp, crm) = (Receiver::down_reserved(), Receiver::start());
    let bad = json!({"targets": [{"id": "erp", "url": erp.url("/erp"), "disable_after_failing_ms": 10}]});
    let message = gw.put_event("refused", bad).await.assert_error(400, "invalid_config");
    assert!(message.contains("disable_after_failing_ms"), "{message}");
    gw.put_event_ok(
        "orders",
        json!({"targets": [
            {"id": "erp", "method": "POST", "url": erp.url("/erp"), "retry": fast_retry(100),
             "circuit_breaker": {"failure_threshold": 0}, "disable_after_failing_ms": 1500},
            {"id": "crm", "method": "POST", "url": crm.url("/crm")}]}),
    )
    .await;
    let fired = std::time::Instant::now();
    let first = gw.fire_json("orders", &json!({"n": 1})).await;

    // Disabled once every attempt failed for 1.5 s, with the reason, in the config and the metrics.
    let end = std::time::Instant::now() + DEADLINE;
    let config = loop {
        let config = gw.event("orders").await.json();
        if config["targets"][0]["enabled"] == false {
            break config;
        }
        assert!(std::time::Instant::now() < end, "not disabled within {DEADLINE:?}: {config}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(fired.elapsed() >= std::time::Duration::from_millis(1500), "disabled after {:?}", fired.elapsed());
    let disabled = &config["targets"][0]["disabled"];
    assert!(disabled["reason"].as_str().is_some_and(|r| r.contains("every attempt failed")), "{config}");
    assert!(disabled["at"].as_str().is_some_and(|at| at.starts_with("20")), "{config}");
    assert_eq!(config["targets"][1]["enabled"], true, "the other target stays on");
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(metrics.contains(r#"hookgate_target_disabled{event="orders",target="erp"} 1"#), "{metrics}");
    // The waiting delivery is kept, not failed, and is not attempted while disabled.
    let attempts = to_erp(&gw.message(&first).await)["attempts"].as_array().map_or(0, Vec::len);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let message = gw.message(&first).await;
    assert_eq!(to_erp(&message)["status"], "pending", "{message}");
    assert!(to_erp(&message)["reason"].as_str().is_some_and(|r| r.contains("the target is disabled")), "{message}");
    assert_eq!(to_erp(&message)["attempts"].as_array().map_or(0, Vec::len), attempts, "no attempt while disabled");
    let second = gw.fire_json("orders", &json!({"n": 2})).await;
    gw.wait_message_status(&second, "delivered", DEADLINE).await;

    // Enabled again (the config as read, with `enabled` turned on): the waiting one flows.
    erp.up();
    let mut config = config;
    config["targets"][0]["enabled"] = json!(true);
    let stored = gw.put_event_ok("orders", config).await;
    assert!(stored["targets"][0].get("disabled").is_none(), "enabling forgets why it was off: {stored}");
    gw.wait_message_status(&first, "delivered", DEADLINE).await;
    assert_eq!(erp.wait_requests(1, DEADLINE).await[0].json()["n"], 1);
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(!metrics.contains("hookgate_target_disabled{"), "{metrics}");
}

/// A message's delivery to the target `erp`.
fn to_erp(message: &Value) -> Value {
    let deliveries = message["deliveries"].as_array().cloned().unwrap_or_default();
    deliveries.into_iter().find(|d| d["target"] == "erp").unwrap_or_else(|| panic!("no erp delivery: {message}"))
}
