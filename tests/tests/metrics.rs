//! `GET /metrics`: scraped after real traffic, the counts match what happened.

use hookgate_tests::serde_json::json;
use hookgate_tests::*;

/// The value of the sample `name` whose labels include every `labels` pair.
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        if !labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
            return None;
        }
        rest.rsplit(' ').next()?.parse().ok()
    })
}

#[tokio::test]
async fn metrics_count_ingests_deliveries_attempts_and_guest_calls() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("adobe-to-json").await;
    gw.install("hmac-auth").await;
    gw.put_event_ok(
        "products",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "transformer": {"component": "adobe-to-json"}}]}),
    )
    .await;
    gw.put_event_ok(
        "signed",
        json!({"authenticator": {"component": "hmac-auth", "config": {"secret": "s"}},
               "targets": [{"id": "t1", "method": "POST", "url": rx.url("/signed")}]}),
    )
    .await;
    for uid in ["a", "b", "c"] {
        let id = gw.fire_json("products", &json!({"data": {"uid": uid, "event": "e", "value": {}}})).await;
        gw.wait_message_status(&id, "delivered", DEADLINE).await;
    }
    let body = b"{}".to_vec();
    let good = gw.fire_with("signed", body.clone(), &[("x-signature", &hmac_sha256_hex(b"s", &body))]).await;
    gw.wait_message_status(&accepted_message_id(&good), "delivered", DEADLINE).await;
    gw.fire_with("signed", body, &[("x-signature", "00")]).await.assert_error(401, "unauthorized");
    gw.fire("no-such-event", "{}", "application/json").await.assert_error(404, "unknown_event");

    gw.send(gw.client().get(gw.url("/metrics"))).await.assert_error(401, "unauthorized");
    let scraped = gw.send(gw.client().get(gw.url("/metrics")).bearer_auth(ADMIN_TOKEN)).await;
    scraped.assert_status(200);
    let text = scraped.text();
    let expect = |name: &str, labels: &[(&str, &str)], value: f64| {
        assert_eq!(sample(&text, name, labels), Some(value), "{name} {labels:?} in:\n{text}");
    };
    expect("hookgate_ingest_requests_total", &[("event", "products"), ("outcome", "accepted")], 3.0);
    expect("hookgate_ingest_requests_total", &[("event", "signed"), ("outcome", "accepted")], 1.0);
    expect("hookgate_ingest_requests_total", &[("event", "signed"), ("outcome", "unauthorized")], 1.0);
    expect("hookgate_ingest_requests_total", &[("event", "unknown"), ("outcome", "unknown_event")], 1.0);
    expect("hookgate_ingest_duration_seconds_count", &[("event", "products"), ("outcome", "accepted")], 3.0);
    expect("hookgate_deliveries_total", &[("event", "products"), ("target", "t1"), ("outcome", "delivered")], 3.0);
    expect("hookgate_attempts_total", &[("event", "products"), ("target", "t1"), ("outcome", "ok")], 3.0);
    expect("hookgate_attempt_duration_seconds_count", &[("event", "signed"), ("outcome", "ok")], 1.0);
    expect("hookgate_guest_calls_total", &[("component", "adobe-to-json"), ("role", "transformer"), ("outcome", "ok")], 3.0);
    expect("hookgate_guest_calls_total", &[("component", "hmac-auth"), ("role", "authenticator"), ("outcome", "ok")], 2.0);
    expect("hookgate_queue_depth", &[], 0.0);
    expect("hookgate_oldest_pending_age_seconds", &[], 0.0);
    assert!(sample(&text, "hookgate_store_size_bytes", &[]).is_some_and(|b| b > 0.0), "{text}");
}
