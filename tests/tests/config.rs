//! Configuration as code: `hookgate config export` and `hookgate config apply`, run as a user
//! would against real gateways.

use std::path::Path;
use std::process::{Command, Output};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

const INGEST_TOKEN: &str = "catalog-ingest-token-0123";

/// `hookgate config ARGS --url <gw> --token <admin token>`, none of the caller's settings.
fn config(gw: &Gateway, args: &[&str]) -> Output {
    let url = gw.base_url();
    Command::new(gateway_bin())
        .arg("config")
        .args(args)
        .args(["--url", &url, "--token", ADMIN_TOKEN])
        .env_remove("HOOKGATE_URL")
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .expect("hookgate runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{:?}\nstdout:\n{}\nstderr:\n{}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// stderr of a run that must fail with exit code 1.
#[track_caller]
fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stderr)
}

fn export(gw: &Gateway) -> Value {
    let out = config(gw, &["export"]);
    serde_json::from_str(&ok(&out)).unwrap_or_else(|e| panic!("export is not JSON ({e}): {}", text(&out.stdout)))
}

fn write(dir: &Path, name: &str, file: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(file).expect("json")).expect("write");
    path.display().to_string()
}

/// Every event of a gateway as the API shows it.
async fn events(gw: &Gateway) -> Value {
    gw.admin_get("/v1/admin/events").await.json()
}

#[tokio::test]
async fn export_then_apply_reproduces_a_gateway_and_a_second_apply_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = Gateway::new();
    let rx = Receiver::start();
    for name in ["adobe-to-json", "json-ok-condition"] {
        source.install(name).await;
    }
    source.install("adobe-to-json").await; // version 2, same code
    source
        .put_event_ok(
            "orders",
            json!({"targets": [
                {"id": "erp", "url": rx.url("/erp"), "transformer": {"component": "adobe-to-json@1"},
                 "condition": {"component": "json-ok-condition"}, "retry": fast_retry(3)},
                {"id": "crm", "url": "http://crm-user:crm-password@127.0.0.1:9/hook", "enabled": false, "headers": {"x-source": "hookgate"}}
            ]}),
        )
        .await;
    source
        .put_event_ok(
            "catalog",
            json!({"ingest_auth": {"type": "bearer", "token": INGEST_TOKEN}, "subshops": {"de": true, "ch": false},
                   "schema": {"type": "object", "required": ["sku"]},
                   "targets": [{"id": "shop", "url": rx.url("/shop"), "body": "{\"sku\": \"#sku#\"}"}]}),
        )
        .await;
    source.put_event_ok("paused", json!({"enabled": false})).await;

    let exported = export(&source);
    assert_eq!(exported["events"].as_object().map(|e| e.len()), Some(3), "{exported:#}");
    assert_eq!(exported["events"]["catalog"]["ingest_auth"]["token"], "***", "secrets masked as the API masks them");
    assert_eq!(exported["events"]["orders"]["targets"][0]["signing"]["secret"], "whsec_***");
    assert_eq!(exported["events"]["orders"]["targets"][1]["url"], "http://crm-user:***@127.0.0.1:9/hook");
    let adobe = source.component("adobe-to-json").await.json();
    assert_eq!(exported["components"]["adobe-to-json@1"]["sha256"], adobe["versions"][0]["sha256"]);
    assert_eq!(exported["components"]["json-ok-condition"]["sha256"], sha256_hex(&std::fs::read(component_path("json-ok-condition")).expect("read")));
    let masked_file = write(dir.path(), "hookgate.json", &exported);

    // Applied to the gateway it came from: nothing to do, and the masked secrets keep the
    // stored ones.
    let again = ok(&config(&source, &["apply", &masked_file]));
    assert!(again.contains("no change"), "{again}");
    assert_eq!(again.matches("unchanged").count(), 3, "{again}");
    let fired = source
        .send(source.client().post(source.url("/v1/events/catalog")).bearer_auth(INGEST_TOKEN).json(&json!({"sku": "S1"})))
        .await;
    fired.assert_status(202);

    // Into a gateway without the components: refused, naming them; nothing changed.
    let target = Gateway::new();
    target.put_event_ok("stale", json!({"targets": [{"id": "old", "url": rx.url("/old")}]})).await;
    let before = events(&target).await;
    let err = refused(&config(&target, &["apply", &masked_file, "--prune"]));
    assert!(err.contains("components.adobe-to-json@1: the gateway has no such component version"), "{err}");
    assert!(err.contains("components.json-ok-condition"), "{err}");
    assert_eq!(events(&target).await, before);

    // With the components but the file's secrets masked (the target has none to keep): refused.
    for name in ["adobe-to-json", "json-ok-condition", "adobe-to-json"] {
        target.install(name).await;
    }
    let err = refused(&config(&target, &["apply", &masked_file, "--prune"]));
    assert!(err.contains("events.catalog: invalid_config: ingest_auth.token is masked"), "{err}");
    assert!(err.contains("events.orders: invalid_config: targets[1].url is masked"), "{err}");
    assert_eq!(events(&target).await, before);

    // The secrets put in, as a user would: a dry run says what would happen and does nothing.
    let mut with_secrets = exported.clone();
    with_secrets["events"]["catalog"]["ingest_auth"]["token"] = json!(INGEST_TOKEN);
    with_secrets["events"]["orders"]["targets"][1]["url"] = json!("http://crm-user:crm-password@127.0.0.1:9/hook");
    let file = write(dir.path(), "with-secrets.json", &with_secrets);
    let planned = ok(&config(&target, &["apply", &file, "--prune", "--dry-run"]));
    for line in ["would create  event catalog", "would create  event orders", "would create  event paused", "would delete  event stale"] {
        assert!(planned.contains(line), "{line:?} in:\n{planned}");
    }
    assert!(planned.contains("nothing was changed"), "{planned}");
    assert_eq!(events(&target).await, before, "a dry run changes nothing");

    let applied = ok(&config(&target, &["apply", &file, "--prune"]));
    for line in ["created  event catalog", "created  event orders", "created  event paused", "deleted  event stale"] {
        assert!(applied.contains(line), "{line:?} in:\n{applied}");
    }
    assert!(applied.contains("3 created, 0 changed, 0 unchanged, 1 deleted"), "{applied}");
    assert_eq!(export(&target), exported, "the target now exports what the source did");

    let second = config(&target, &["apply", &file, "--prune", "--json"]);
    let report: Value = serde_json::from_str(&ok(&second)).expect("json report");
    assert_eq!(report, json!({"dry_run": false, "events": {"catalog": "unchanged", "orders": "unchanged", "paused": "unchanged"}}));
    let second = ok(&config(&target, &["apply", &file]));
    assert!(second.contains("no change: the gateway already matches the file (3 events)"), "{second}");

    // The secrets arrived: the catalog takes the shop's token on the target too.
    let fired = target
        .send(target.client().post(target.url("/v1/events/catalog")).bearer_auth(INGEST_TOKEN).json(&json!({"sku": "S1"})))
        .await;
    fired.assert_status(202);

    // A change to one event is applied to it alone.
    let mut edited = with_secrets.clone();
    edited["events"]["paused"]["enabled"] = json!(true);
    let file = write(dir.path(), "edited.json", &edited);
    let applied = ok(&config(&target, &["apply", &file]));
    assert!(applied.contains("changed    event paused") && applied.contains("0 created, 1 changed, 2 unchanged, 0 deleted"), "{applied}");
    assert_eq!(target.event("paused").await.json()["enabled"], true);
}

#[tokio::test]
async fn an_invalid_file_is_refused_whole_naming_each_part_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok("orders", json!({"targets": [{"id": "erp", "url": rx.url("/erp")}]})).await;
    let before = events(&gw).await;
    let file = json!({
        "components": {},
        "events": {
            "fine": {"targets": [{"id": "a", "url": rx.url("/a")}]},
            "orders": {"targets": [{"id": "erp", "url": rx.url("/erp"), "retry": {"max_attempts": 0}}]},
            "bad-url": {"targets": [{"id": "b", "url": "not a url"}]},
            "unknown-field": {"targest": []},
            "unlisted": {"targets": [{"id": "c", "url": rx.url("/c"), "transformer": {"component": "adobe-to-json"}}]}
        }
    });
    let path = write(dir.path(), "bad.json", &file);
    let err = refused(&config(&gw, &["apply", &path, "--prune"]));
    assert!(err.contains("the file is refused and nothing was changed"), "{err}");
    assert!(err.contains("events.orders: invalid_config: targets[0].retry.max_attempts must be between 1 and 100"), "{err}");
    assert!(err.contains("events.bad-url: invalid_config: targets[0].url `not a url` is not a URL"), "{err}");
    assert!(err.contains("events.unknown-field: targest: unknown field `targest`"), "{err}");
    assert!(err.contains("events.unlisted.targets[0].transformer: component `adobe-to-json` is not listed under `components`"), "{err}");
    assert!(!err.contains("events.fine"), "the valid event is not named: {err}");
    assert_eq!(events(&gw).await, before, "nothing created, changed or pruned");

    let not_config = write(dir.path(), "other.json", &json!({"event": {}}));
    let err = refused(&config(&gw, &["apply", &not_config]));
    assert!(err.contains("is refused and nothing was changed") && err.contains("unknown field `event`"), "{err}");
    std::fs::write(dir.path().join("broken.json"), "{\"events\": ").expect("write");
    let err = refused(&config(&gw, &["apply", &dir.path().join("broken.json").display().to_string()]));
    assert!(err.contains("not a hookgate configuration"), "{err}");
    assert_eq!(events(&gw).await, before);
}

/// An event read back (with its `id`), edited and put back is taken; an `id` that is not
/// the path's is refused.
#[tokio::test]
async fn an_event_read_back_can_be_put_back_as_it_is() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok("orders", json!({"targets": [{"id": "erp", "method": "POST", "url": rx.url("/erp")}]})).await;
    let mut read = gw.event("orders").await.json();
    assert_eq!(read["id"], "orders");
    read["targets"][0]["enabled"] = json!(false);
    let stored = gw.put_event_ok("orders", read.clone()).await;
    assert_eq!(stored["targets"][0]["enabled"], false);
    let message = gw.put_event("billing", read).await.assert_error(400, "invalid_config");
    assert!(message.contains("is not the event's id `billing`"), "{message}");
}
