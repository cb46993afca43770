//! Several gateways on one PostgreSQL database: the load split over both nodes, a node
//! killed with `kill -9` mid-load, configuration and components made on one node used by
//! the other, lease takeover, idempotency across nodes, the list of nodes, the schema's
//! migrations, moving a single node's embedded store into PostgreSQL, and TLS to the database.
//!
//! Needs the test PostgreSQL server (`tests/run.sh` starts one; see `tests/postgres.sh`).

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use hookgate_tests::*;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// A node of a cluster on `store`, named `name`, with a short lease so that takeovers
/// happen within the tests' time.
fn node(store: &str, name: &str) -> Gateway {
    Gateway::start(GatewayOpts::default().store(store).args(["--node-id", name, "--lease-ms", "2000"]))
}

/// The nodes that made the attempts of `ids`, counted.
async fn attempts_by_node(gw: &Gateway, ids: &[String]) -> HashMap<String, usize> {
    let mut by_node = HashMap::new();
    for id in ids {
        let message = gw.message(id).await;
        for attempt in attempts(&message, 0) {
            let node = attempt["node"].as_str().unwrap_or_else(|| panic!("an attempt without its node: {attempt}"));
            *by_node.entry(node.to_string()).or_insert(0) += 1;
        }
    }
    by_node
}

/// Fires `{}` with an idempotency key; the message id answered.
async fn fire_keyed(gw: &Gateway, key: &str) -> String {
    accepted_message_id(&gw.fire_with("orders", "{}", &[("content-type", "application/json"), ("idempotency-key", key)]).await)
}

/// `GET /v1/admin/cluster`'s nodes.
async fn cluster_nodes(gw: &Gateway) -> Vec<Value> {
    let r = gw.admin_get("/v1/admin/cluster").await;
    r.assert_status(200);
    r.json()["nodes"].as_array().cloned().unwrap_or_default()
}

/// Waits until `check` holds on `gw`'s view, returning how long it took.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_load_and_a_kill_9_mid_load_loses_nothing() {
    let store = fresh_postgres_database();
    let mut a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let rx = Receiver::start();
    // Slow enough that both nodes have attempts in flight when one dies.
    rx.set_default(Reply::ok().delay(Duration::from_millis(20)));
    a.put_event_ok("orders", json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/erp"), "retry": fast_retry(10)}]}))
        .await;
    within(Duration::from_secs(2), || async { b.event("orders").await.status == 200 }).await;

    let mut accepted = Vec::new();
    for i in 0..300 {
        // Both nodes take ingest until node A dies a third of the way through.
        if i == 100 {
            a.kill();
        }
        let gw = if i % 2 == 0 && i < 100 { &a } else { &b };
        let r = gw.fire("orders", format!("{{\"n\":{i}}}"), "application/json").await;
        accepted.push(accepted_message_id(&r));
    }
    for id in &accepted {
        b.wait_message_status(id, "delivered", DEADLINE).await;
    }
    let received: HashSet<String> = rx.requests().iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect();
    let missing: Vec<&String> = accepted.iter().filter(|id| !received.contains(*id)).collect();
    assert!(missing.is_empty(), "accepted, logged as delivered, never received: {missing:?}");
    let by_node = attempts_by_node(&b, &accepted).await;
    assert!(by_node.get("node-a").is_some_and(|n| *n > 0), "node A made attempts before it died: {by_node:?}");
    assert!(by_node.get("node-b").is_some_and(|n| *n > 0), "node B made attempts: {by_node:?}");
}

#[tokio::test]
async fn a_change_on_one_node_is_used_by_the_other_within_a_second() {
    let store = fresh_postgres_database();
    let a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let (first, second) = (Receiver::start(), Receiver::start());
    let config = |rx: &Receiver| json!({"targets": [{"id": "t", "method": "POST", "url": rx.url("/hook"), "retry": fast_retry(3)}]});

    a.put_event_ok("changing", config(&first)).await;
    let took = within(Duration::from_secs(1), || async { b.event("changing").await.status == 200 }).await;
    eprintln!("a new event reached the other node in {took:?}");
    let id = accepted_message_id(&b.fire("changing", "{}", "application/json").await);
    b.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(first.count(), 1);

    a.put_event_ok("changing", config(&second)).await;
    let url = second.url("/hook");
    let took = within(Duration::from_secs(1), || async { b.event("changing").await.json()["targets"][0]["url"] == url.as_str() }).await;
    eprintln!("a changed event reached the other node in {took:?}");
    let id = accepted_message_id(&b.fire("changing", "{}", "application/json").await);
    a.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!((first.count(), second.count()), (1, 1), "the second message went to the new URL");

    a.put_event_ok("changing", json!({"enabled": false, "targets": []})).await;
    within(Duration::from_secs(1), || async { b.fire("changing", "{}", "application/json").await.status == 409 }).await;
    assert_eq!(a.delete_event("changing").await.status, 204);
    within(Duration::from_secs(1), || async { b.fire("changing", "{}", "application/json").await.status == 404 }).await;
}

#[tokio::test]
async fn a_component_uploaded_on_one_node_runs_on_the_other() {
    let store = fresh_postgres_database();
    let a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let rx = Receiver::start();
    let uploaded = a.install("hmac-auth").await;
    a.put_event_ok(
        "signed",
        json!({"authenticator": {"component": "hmac-auth", "config": {"secret": "s3cret"}},
               "targets": [{"id": "t", "method": "POST", "url": rx.url("/hook"), "retry": fast_retry(3)}]}),
    )
    .await;
    within(Duration::from_secs(1), || async { b.event("signed").await.status == 200 }).await;
    let listed = b.component("hmac-auth").await.json();
    assert_eq!(listed["versions"][0]["sha256"], uploaded["sha256"], "the other node lists the component: {listed}");

    // Node B runs the authenticator it never received an upload of.
    let body = r#"{"order":7}"#;
    let bad = b.fire_with("signed", body, &[("content-type", "application/json"), ("x-signature", "00")]).await;
    bad.assert_error(401, "unauthorized");
    let signature = hmac_sha256_hex(b"s3cret", body.as_bytes());
    let good = b.fire_with("signed", body, &[("content-type", "application/json"), ("x-signature", &signature)]).await;
    let id = accepted_message_id(&good);
    b.wait_message_status(&id, "delivered", DEADLINE).await;
}

#[tokio::test]
async fn a_delivery_leased_by_a_killed_node_is_taken_over_when_the_lease_runs_out() {
    let store = fresh_postgres_database();
    let mut a = node(&store, "node-a");
    let rx = Receiver::start();
    // The first request hangs: node A is mid-attempt when it dies.
    rx.push(Reply::ok().delay(Duration::from_secs(30)));
    a.put_event_ok(
        "slow",
        json!({"targets": [{"id": "t", "method": "POST", "url": rx.url("/hook"),
                            "retry": {"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 10, "timeout_ms": 60000}}]}),
    )
    .await;
    let id = accepted_message_id(&a.fire("slow", "{}", "application/json").await);
    rx.wait_requests(1, DEADLINE).await;
    a.kill();
    let killed_at = Instant::now();

    // Node B starts after the death and finds the delivery leased, then free.
    let b = node(&store, "node-b");
    let message = b.wait_message_status(&id, "delivered", DEADLINE).await;
    let took = killed_at.elapsed();
    assert!(took >= Duration::from_millis(1500), "taken over after the lease ran out, not before: {took:?}");
    let attempts = attempts(&message, 0);
    assert_eq!(attempts.len(), 1, "node A never recorded its attempt: {message}");
    assert_eq!(attempts[0]["node"], "node-b");
    assert_eq!(rx.count(), 2, "one request from each node");
}

#[tokio::test]
async fn an_idempotency_key_holds_across_nodes() {
    let store = fresh_postgres_database();
    let a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let rx = Receiver::start();
    a.put_event_ok("orders", json!({"targets": [{"id": "t", "method": "POST", "url": rx.url("/hook")}]})).await;
    within(Duration::from_secs(1), || async { b.event("orders").await.status == 200 }).await;

    let first = fire_keyed(&a, "order-1").await;
    assert_eq!(fire_keyed(&b, "order-1").await, first, "the other node answers with the same message");
    // Both nodes at once, twenty keys: one message per key.
    for k in 0..20 {
        let key = format!("race-{k}");
        let (on_a, on_b) = tokio::join!(fire_keyed(&a, &key), fire_keyed(&b, &key));
        assert_eq!(on_a, on_b, "one key, one message");
    }
    assert_eq!(b.messages_of("orders").await.len(), 21);

    // The Adobe envelope's uid deduplicates the same way.
    a.put_event_ok("catalog_product_save_after", json!({"targets": [{"id": "t", "method": "POST", "url": rx.url("/adobe")}]})).await;
    within(Duration::from_secs(1), || async { b.event("catalog_product_save_after").await.status == 200 }).await;
    let envelope = json!({"data": {"uid": "u-1", "event": "catalog_product_save_after", "value": {"sku": "x"}}}).to_string();
    for gw in [&a, &b] {
        let r = gw.client().post(gw.url("/v1/ingest")).header("content-type", "application/json").body(envelope.clone()).send().await;
        assert_eq!(r.expect("ingest").status().as_u16(), 200);
    }
    assert_eq!(b.messages_of("catalog_product_save_after").await.len(), 1, "one message for one uid");
}

#[tokio::test]
async fn the_cluster_lists_every_node_and_shows_a_dead_one() {
    let store = fresh_postgres_database();
    let mut a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let ids = |nodes: &[Value]| nodes.iter().map(|n| (n["id"].as_str().unwrap_or("").to_string(), n["state"].clone())).collect::<Vec<_>>();
    within(Duration::from_secs(3), || async { cluster_nodes(&b).await.len() == 2 }).await;
    let seen = cluster_nodes(&b).await;
    assert_eq!(ids(&seen), [("node-a".to_string(), json!("alive")), ("node-b".to_string(), json!("alive"))]);
    for node in &seen {
        for field in ["started_at", "last_seen_at", "version"] {
            assert!(node[field].as_str().is_some_and(|v| !v.is_empty()), "{field} in {node}");
        }
    }
    assert_eq!(seen.iter().find(|n| n["this_node"] == true).map(|n| n["id"].clone()), Some(json!("node-b")));

    a.kill();
    within(Duration::from_secs(15), || async { ids(&cluster_nodes(&b).await).contains(&("node-a".to_string(), json!("silent"))) }).await;
    assert_eq!(cluster_nodes(&b).await.len(), 2, "a dead node is shown, not dropped");
}

#[test]
fn migrate_creates_the_schema_once_and_a_newer_schema_is_refused() {
    let store = fresh_postgres_database();
    let migrate = || {
        let out = Command::new(gateway_bin()).args(["migrate", "--store", &store]).output().expect("hookgate migrate");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(migrate(), "migrated the schema from version 0 to 2");
    assert_eq!(migrate(), "the schema is up to date (version 2)");

    let psql = Command::new("psql").args(["-X", "-q", "-d", &store, "-c", "UPDATE hookgate_schema SET version = 99"]).status();
    assert!(psql.is_ok_and(|s| s.success()));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(gateway_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store, "--data-dir"])
        .arg(dir.path())
        .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("hookgate serve");
    assert!(!out.status.success(), "a node refuses a schema it does not know");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schema is version 99, newer than this hookgate knows (2)"), "{stderr}");
    assert!(!stderr.contains("postgres@"), "the URL is not in the message: {stderr}");
}

#[tokio::test]
async fn a_single_node_moves_to_postgres_with_its_history_and_pending_deliveries() {
    let mut rx = Receiver::down_reserved();
    let mut single = Gateway::new();
    single.install("hmac-auth").await;
    single
        .put_event_ok(
            "orders",
            json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/erp"),
                                "retry": {"max_attempts": 50, "initial_delay_ms": 200, "max_delay_ms": 500}}]}),
        )
        .await;
    // Ten messages wait for the receiver; one with an idempotency key.
    let mut ids = Vec::new();
    for i in 0..10 {
        let headers = [("content-type", "application/json"), ("idempotency-key", "kept-key")];
        let r = single.fire_with("orders", format!("{{\"n\":{i}}}"), if i == 0 { &headers[..] } else { &headers[..1] }).await;
        ids.push(accepted_message_id(&r));
    }
    // The first is attempted (the breaker may hold the others back, without attempts).
    single.wait_message(&ids[0], DEADLINE, "a first attempt", |m| !attempts(m, 0).is_empty()).await;
    assert!(single.terminate(), "a clean stop");

    let store = fresh_postgres_database();
    let copy = |to: &str| Command::new(gateway_bin()).args(["store", "copy", "--from"]).arg(single.data_dir()).args(["--to", to]).output().expect("store copy");
    let out = copy(&store);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("copied 1 events, 1 components and 10 messages (10 deliveries pending)"), "{said}");
    let again = copy(&store);
    assert!(!again.status.success(), "a second copy into the same database is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty (1 events, 1 components, 10 messages)"));

    let moved = node(&store, "moved");
    assert_eq!(moved.component("hmac-auth").await.status, 200, "components came along");
    let history = moved.message(&ids[0]).await;
    assert!(!attempts(&history, 0).is_empty(), "attempts made before the move are kept: {history}");
    let repeat = moved.fire_with("orders", "{}", &[("content-type", "application/json"), ("idempotency-key", "kept-key")]).await;
    assert_eq!(accepted_message_id(&repeat), ids[0], "idempotency keys came along");
    rx.up();
    for id in &ids {
        moved.wait_message_status(id, "delivered", DEADLINE).await;
    }
    assert!(rx.count() >= 10);
}

/// A node reaches its database over TLS, verifying the server against the URL's
/// `sslrootcert`, and refuses to start on a server it cannot verify, saying why.
#[tokio::test]
async fn a_node_talks_to_its_database_over_verified_tls() {
    let ca = std::env::var("HOOKGATE_TEST_POSTGRES_CA").expect("HOOKGATE_TEST_POSTGRES_CA: start the server with tests/postgres.sh");
    let store = fresh_postgres_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(gateway_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &format!("{store}?sslmode=verify-full"), "--data-dir"])
        .arg(dir.path())
        .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("hookgate serve");
    assert!(!out.status.success(), "the system's roots do not know the test CA");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    let rx = Receiver::start();
    let gw = node(&format!("{store}?sslmode=verify-full&sslrootcert={ca}"), "tls");
    gw.put_event_ok("orders", json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/erp")}]})).await;
    let id = gw.fire_json("orders", &json!({"n": 1})).await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let psql = Command::new("psql")
        .args(["-X", "-At", "-d", &store, "-c", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                WHERE a.datname = current_database() AND s.ssl AND a.pid <> pg_backend_pid()"])
        .output()
        .expect("psql");
    let encrypted: u32 = String::from_utf8_lossy(&psql.stdout).trim().parse().unwrap_or(0);
    assert!(encrypted > 0, "the node's connections are encrypted: {}", String::from_utf8_lossy(&psql.stdout));
    // Backups of a shared database are PostgreSQL's own business.
    let message = gw.admin_post("/v1/admin/backup").await.assert_error(409, "unsupported_by_store");
    assert!(message.contains("pg_dump"), "{message}");
}
