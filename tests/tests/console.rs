//! The console, in a real browser: headless Chromium from Debian's packages, driven by
//! Playwright for Python (`tests/tools/console_browser.py`, installed by tests/setup.sh),
//! against the real gateway and a real receiver. The browser side checks what an operator
//! sees; this side sets the scene and checks what the gateway did.

use std::process::Command;

use hookgate_tests::serde_json::json;
use hookgate_tests::*;

const READ_TOKEN: &str = "console-read-token-0123";
const NODE: &str = "console-node";

/// Polls `GET /v1/admin/targets` until the target's breaker is open; returns its entry.
async fn wait_breaker_open(gw: &Gateway, event: &str, target: &str) -> hookgate_tests::serde_json::Value {
    let end = std::time::Instant::now() + DEADLINE;
    loop {
        let answer = gw.admin_get("/v1/admin/targets").await;
        answer.assert_status(200);
        let answer = answer.json();
        assert_eq!(answer["node"], NODE, "{answer}");
        let entry = answer["targets"]
            .as_array()
            .and_then(|targets| targets.iter().find(|t| t["event_id"] == event && t["target_id"] == target).cloned())
            .unwrap_or_else(|| panic!("{event}/{target} is not listed: {answer}"));
        if entry["breaker"] == "open" {
            return entry;
        }
        assert!(std::time::Instant::now() < end, "the breaker of {event}/{target} did not open: {entry}\n{}", gw.logs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_operator_finds_retries_toggles_edits_and_uploads_in_the_console() {
    let dir = tempfile::tempdir().expect("tmp");
    let tokens = dir.path().join("tokens.json");
    std::fs::write(&tokens, json!([{"name": "dashboard", "token": READ_TOKEN, "scope": "read"}]).to_string()).expect("write");
    let gw = Gateway::start(GatewayOpts::default().args([
        "--admin-tokens-file".to_string(),
        tokens.display().to_string(),
        "--node-id".to_string(),
        NODE.to_string(),
    ]));
    let rx = Receiver::start();
    // Every first attempt to /flaky fails; the retry from the console then succeeds.
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    rx.respond_with(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        let first = r.path == "/flaky" && seen.lock().expect("lock").insert(id);
        if first { Reply::status(500) } else { Reply::ok() }
    });
    gw.put_event_ok("orders", json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/flaky"), "retry": fast_retry(1)}]}))
        .await;
    gw.put_event_ok("catalog", json!({"targets": [{"id": "shop", "method": "POST", "url": rx.url("/ok")}]})).await;
    // An ordering key held by its failed head, with a delivery behind it.
    gw.put_event_ok(
        "shipments",
        json!({"targets": [{"id": "carrier", "method": "POST", "url": rx.url("/flaky"), "retry": fast_retry(1),
            "ordering": {"key": "#order#", "on_failure": "block"}}]}),
    )
    .await;
    let held = gw.fire_json("shipments", &json!({"order": "A"})).await;
    let behind = gw.fire_json("shipments", &json!({"order": "A"})).await;
    gw.wait_message_status(&held, "failed", DEADLINE).await;
    assert_eq!(gw.message(&behind).await["status"], "pending", "held back by the failed head");
    let failed = gw.fire_json("orders", &json!({"order": 1})).await;
    let read_failed = gw.fire_json("orders", &json!({"order": 2})).await;
    for id in [&failed, &read_failed] {
        gw.wait_message_status(id, "failed", DEADLINE).await;
    }
    // A target that is down: two attempts in a row find nothing listening and open its
    // breaker for longer than the test runs.
    let down = Receiver::down_reserved();
    gw.put_event_ok(
        "inventory",
        json!({"targets": [{"id": "warehouse", "method": "POST", "url": down.url("/stock"), "retry": fast_retry(5),
            "circuit_breaker": {"failure_threshold": 2, "pause_ms": 600_000, "max_pause_ms": 600_000}}]}),
    )
    .await;
    let waiting = gw.fire_json("inventory", &json!({"sku": "S1"})).await;
    let breaker = wait_breaker_open(&gw, "inventory", "warehouse").await;
    assert_eq!(breaker["consecutive_failures"], 2, "{breaker}");
    assert!(breaker["probe_at"].is_string(), "{breaker}");
    assert_eq!(gw.message(&waiting).await["status"], "pending", "a paused target's delivery waits");

    let screenshots = repo_root().join("target/console-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let scenario = dir.path().join("scenario.json");
    let scene = json!({
        "base_url": gw.base_url(), "admin_token": ADMIN_TOKEN, "read_token": READ_TOKEN,
        "failed_message": failed, "read_failed_message": read_failed, "held_message": held,
        "toggle_event": "catalog", "edit_event": "orders",
        "upload_name": "uploaded-in-console", "upload_file": component_path("adobe-to-json"),
        "open_breaker": "inventory/warehouse", "closed_breaker": "orders/erp", "node_id": NODE,
        "screenshots": screenshots,
    });
    std::fs::write(&scenario, scene.to_string()).expect("scenario");
    let browser = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(repo_root().join("tests/tools/console_browser.py"))
            .arg(&scenario)
            .env("PYTHONPATH", repo_root().join("target/test-tools/python"))
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("joined");
    assert!(
        browser.status.success(),
        "the browser run failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr),
        gw.logs()
    );

    gw.wait_message_status(&failed, "delivered", DEADLINE).await;
    gw.wait_message(&behind, DEADLINE, "an attempt once the head was skipped", |m| !attempts(m, 0).is_empty()).await;
    gw.wait_message_status(&read_failed, "failed", DEADLINE).await;
    assert_eq!(gw.event("catalog").await.json()["enabled"], true, "turned off and on again");
    assert_eq!(gw.event("orders").await.json()["targets"][0]["retry"]["max_attempts"], 1, "the refused edit changed nothing");
    gw.component("uploaded-in-console").await.assert_status(200);
}
