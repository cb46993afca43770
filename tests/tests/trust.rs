//! Trust: signed deliveries (checked with the reference Standard Webhooks package), egress
//! rules, redirects, idempotent ingest, hostile guests and hostile input.

use std::io::Write;
use std::process::{Command, Stdio};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Runs one of the reference-package scripts in tests/tools with `input` on stdin.
fn reference_tool(script: &str, input: &Value) -> std::process::Output {
    let tools = repo_root().join("target/test-tools/python");
    assert!(tools.is_dir(), "{} is missing: run tests/setup.sh", tools.display());
    let mut child = Command::new("python3")
        .arg(repo_root().join("tests/tools").join(script))
        .env("PYTHONPATH", &tools)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    child.wait_with_output().expect("python3 ran")
}

/// Verifies a received request with the PyPI `standardwebhooks` package (installed by
/// tests/setup.sh), an implementation independent of the gateway's.
fn verify_with_reference(secret: &str, request: &Recorded) -> Result<(), String> {
    let headers: serde_json::Map<String, Value> =
        request.headers.iter().filter(|(k, _)| k.starts_with("webhook-")).map(|(k, v)| (k.clone(), json!(v))).collect();
    let out = reference_tool("verify_standard_webhook.py", &json!({"secret": secret, "headers": headers, "body": request.text()}));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn deliveries_are_signed_and_verify_with_the_reference_implementation() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    // The first attempt to /given fails: the retry must keep the id. (By path: a scripted
    // reply would go to whichever delivery came first.)
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    rx.respond_with(move |r| {
        let first = r.path == "/given" && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst);
        if first { Reply::status(503) } else { Reply::ok() }
    });
    let given = gw
        .put_event_ok(
            "given",
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/given"),
                "signing": {"secret": SECRET}, "retry": fast_retry(3)}]}),
        )
        .await;
    assert_eq!(given["targets"][0]["signing"]["secret"], SECRET);
    let generated = gw
        .put_event_ok("generated", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/generated")}]}))
        .await;
    let generated_secret = generated["targets"][0]["signing"]["secret"].as_str().expect("a generated secret").to_string();
    assert!(generated_secret.starts_with("whsec_"), "{generated}");
    // Shown once: reading the config back masks it, and re-sending what was read keeps it.
    let read = gw.event("generated").await.json();
    assert_eq!(read["targets"][0]["signing"]["secret"], "whsec_***", "{read}");
    let mut resent = read.clone();
    resent.as_object_mut().expect("object").remove("id");
    gw.put_event_ok("generated", resent).await;

    let first = gw.fire_json("given", &json!({"order": 1, "note": "é \"quoted\""})).await;
    let second = gw.fire_json("generated", &json!({"order": 2})).await;
    gw.wait_message_status(&first, "delivered", DEADLINE).await;
    gw.wait_message_status(&second, "delivered", DEADLINE).await;

    let given_requests = rx.requests_to("/given");
    assert_eq!(given_requests.len(), 2, "one failed attempt, one retry");
    for request in &given_requests {
        assert_eq!(request.header("webhook-id"), Some(first.as_str()), "the id is the message id on every attempt");
        verify_with_reference(SECRET, request).unwrap();
        assert!(verify_with_reference("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", request).is_err());
    }
    let generated_request = &rx.requests_to("/generated")[0];
    assert_eq!(generated_request.header("webhook-id"), Some(second.as_str()));
    verify_with_reference(&generated_secret, generated_request).unwrap();
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_until_the_old_one_expires() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let new_secret = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ=";
    gw.put_event_ok(
        "rotating",
        json!({"targets": [
            {"id": "overlap", "method": "POST", "url": rx.url("/overlap"),
             "signing": {"secret": new_secret, "previous_secret": SECRET, "previous_expires_at": "2999-01-01T00:00:00Z"}},
            {"id": "expired", "method": "POST", "url": rx.url("/expired"),
             "signing": {"secret": new_secret, "previous_secret": SECRET, "previous_expires_at": "2001-01-01T00:00:00Z"}}]}),
    )
    .await;
    let id = gw.fire_json("rotating", &json!({"x": 1})).await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let overlap = &rx.requests_to("/overlap")[0];
    assert_eq!(overlap.header("webhook-signature").unwrap_or("").split(' ').count(), 2);
    verify_with_reference(new_secret, overlap).unwrap();
    verify_with_reference(SECRET, overlap).unwrap();
    let expired = &rx.requests_to("/expired")[0];
    assert_eq!(expired.header("webhook-signature").unwrap_or("").split(' ').count(), 1);
    verify_with_reference(new_secret, expired).unwrap();
    assert!(verify_with_reference(SECRET, expired).is_err());
}

#[tokio::test]
async fn unsigned_targets_and_static_credentials_are_masked_in_the_log() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "plain",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "signing": {"enabled": false},
            "headers": {"Authorization": "Bearer receiver-credential"}}]}),
    )
    .await;
    let id = gw.fire_json("plain", &json!({})).await;
    let message = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let request = &rx.requests()[0];
    assert!(request.header("webhook-signature").is_none() && request.header("webhook-id").is_none());
    assert_eq!(request.header("authorization"), Some("Bearer receiver-credential"));
    let logged = &message["deliveries"][0]["attempts"][0]["request"];
    assert!(logged["headers"].to_string().contains(r#"["Authorization","***"]"#), "{logged}");
    assert!(!message.to_string().contains("receiver-credential"), "{message}");
}

#[tokio::test]
async fn loopback_and_private_targets_are_refused_by_default() {
    let gw = Gateway::start(GatewayOpts { default_egress: true, ..GatewayOpts::default() });
    let rx = Receiver::start();
    let port = rx.port();
    for (event, url) in [
        ("literal", format!("http://127.0.0.1:{port}/a")),
        ("named", format!("http://localhost:{port}/b")),
        ("mapped", format!("http://[::ffff:127.0.0.1]:{port}/c")),
        ("metadata", "http://169.254.169.254/latest/meta-data/".to_string()),
    ] {
        gw.put_event_ok(event, json!({"targets": [{"id": "t1", "method": "POST", "url": url, "retry": fast_retry(3)}]}))
            .await;
        let id = gw.fire_json(event, &json!({})).await;
        let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
        let attempts = m["deliveries"][0]["attempts"].as_array().cloned().unwrap_or_default();
        assert_eq!(attempts.len(), 1, "refused at once, not retried: {m}");
        assert_eq!(attempts[0]["error"]["code"], "forbidden_target", "{m}");
    }
    assert_eq!(rx.count(), 0, "nothing reached the loopback receiver");
}

#[tokio::test]
async fn redirects_are_followed_only_when_the_target_opts_in() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let final_url = rx.url("/final");
    rx.respond_with(move |r| {
        if r.path.starts_with("/moved") {
            Reply::status(307).header("location", &final_url)
        } else {
            Reply::ok()
        }
    });
    gw.put_event_ok("stay", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/moved-a"), "retry": fast_retry(1)}]}))
        .await;
    gw.put_event_ok(
        "follow",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/moved-b"), "follow_redirects": true}]}),
    )
    .await;
    let stay = gw.fire_json("stay", &json!({"n": 1})).await;
    let m = gw.wait_message_status(&stay, "failed", DEADLINE).await;
    assert_eq!(m["deliveries"][0]["attempts"][0]["status_code"], 307, "{m}");
    let follow = gw.fire_json("follow", &json!({"n": 2})).await;
    gw.wait_message_status(&follow, "delivered", DEADLINE).await;
    let finals = rx.requests_to("/final");
    assert_eq!(finals.len(), 1, "only the opted-in target followed");
    assert_eq!(finals[0].json(), json!({"n": 2}));
}

#[tokio::test]
async fn redirect_hops_are_checked_like_targets() {
    let gw = Gateway::start(GatewayOpts { default_egress: true, ..GatewayOpts::default() }.args(["--allow-target-net", "127.0.0.1/32"]));
    let rx = Receiver::start();
    // Only 127.0.0.1 is allow-listed; the redirect points to another loopback address.
    let port = rx.port();
    rx.respond_with(move |_| Reply::status(302).header("location", &format!("http://127.0.0.3:{port}/inner")));
    gw.put_event_ok(
        "hop",
        json!({"targets": [{"id": "t1", "method": "POST", "url": format!("http://127.0.0.1:{port}/outer"),
            "follow_redirects": true, "retry": fast_retry(1)}]}),
    )
    .await;
    let id = gw.fire_json("hop", &json!({})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let error = m["deliveries"][0]["attempts"][0]["error"].to_string();
    assert!(error.contains("127.0.0.3") && error.contains("loopback"), "the refused hop is named: {m}");
    assert_eq!(rx.requests_to("/outer").len(), 1);
    assert_eq!(rx.requests_to("/inner").len(), 0);
}

#[tokio::test]
async fn five_redirects_are_followed_and_a_sixth_is_refused() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let base = rx.url("");
    // /hop/N redirects to /hop/N-1; /hop/0 answers.
    rx.respond_with(move |r| match r.path.strip_prefix("/hop/").and_then(|n| n.parse::<u32>().ok()) {
        Some(n) if n > 0 => Reply::status(302).header("location", &format!("{base}/hop/{}", n - 1)),
        _ => Reply::ok(),
    });
    for hops in [5, 6] {
        gw.put_event_ok(
            &format!("hops-{hops}"),
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(&format!("/hop/{hops}")),
                "follow_redirects": true, "retry": fast_retry(1)}]}),
        )
        .await;
    }
    let five = gw.fire_json("hops-5", &json!({})).await;
    gw.wait_message_status(&five, "delivered", DEADLINE).await;
    let six = gw.fire_json("hops-6", &json!({})).await;
    let m = gw.wait_message_status(&six, "failed", DEADLINE).await;
    assert!(attempts(&m, 0)[0]["error"]["message"].as_str().unwrap_or("").contains("more than 5 redirects"), "{m}");
    assert_eq!(rx.requests_to("/hop/0").len(), 1, "only the chain of five reached its end");
}

#[tokio::test]
async fn user_info_in_target_urls_is_masked_when_read_and_kept_when_sent_back() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let url = format!("http://shop:pa55word-1@127.0.0.1:{}/hook", rx.port());
    gw.put_event_ok("creds", json!({"targets": [{"id": "t1", "method": "POST", "url": url}]})).await;
    let read = gw.event("creds").await.json();
    let masked = format!("http://shop:***@127.0.0.1:{}/hook", rx.port());
    assert_eq!(read["targets"][0]["url"], masked, "{read}");
    // The config as read, sent back: the password stays.
    let mut config = read.clone();
    config.as_object_mut().expect("object").remove("id");
    gw.put_event_ok("creds", config).await;
    let id = gw.fire_json("creds", &json!({})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(rx.requests()[0].header("authorization"), Some("Basic c2hvcDpwYTU1d29yZC0x"), "user:password as basic auth");
    assert_eq!(attempts(&m, 0)[0]["request"]["url"], masked, "{m}");
    let everything = format!("{}{m}", gw.admin_get("/v1/admin/events").await.text());
    assert!(!everything.contains("pa55word-1"), "{everything}");
}

#[tokio::test]
async fn an_amplifying_body_template_fails_the_delivery_without_growing_memory() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let body = format!("[{}]", vec!["#v#"; 10_000].join(","));
    gw.put_event_ok("amplify", json!({"targets": [{"id": "t1", "url": rx.url("/hook"), "body": body, "retry": fast_retry(1)}]}))
        .await;
    gw.put_event_ok("small", json!({"targets": [{"id": "t1", "url": rx.url("/small"), "body": "{\"v\": #v#}"}]})).await;
    let big = gw.fire_json("amplify", &json!({"v": "x".repeat(100_000)})).await;
    let m = gw.wait_message_status(&big, "failed", DEADLINE).await;
    let error = &attempts(&m, 0)[0]["error"];
    assert_eq!(error["code"], "request_too_large", "{m}");
    assert!(error["message"].as_str().unwrap_or("").contains("body"), "names the part: {m}");
    let small = gw.fire_json("small", &json!({"v": 1})).await;
    gw.wait_message_status(&small, "delivered", DEADLINE).await;
    assert_eq!(rx.requests_to("/hook").len(), 0);
    // 10,000 copies of 100 KB would be a 1 GB request; the cap is 4 MiB.
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid().expect("running"))).expect("proc status");
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(peak_kb < 400 * 1024, "peak RSS {peak_kb} kB");
}

#[tokio::test]
async fn framing_headers_are_refused_in_config_and_from_transformers() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    for header in ["Content-Length", "transfer-encoding", "Host", "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive", "Proxy-Authorization"] {
        let config = json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "headers": {header: "5"}}]});
        let message = gw.put_event("framing", config).await.assert_error(400, "invalid_config");
        assert!(message.contains(header), "{header}: {message}");
    }
    gw.install("hostile-retarget").await;
    gw.put_event_ok(
        "smuggle",
        json!({"targets": [{"id": "t1", "url": rx.url("/hook"), "retry": fast_retry(1),
            "transformer": {"component": "hostile-retarget", "config": {"header": "Content-Length", "header_value": "5"}}}]}),
    )
    .await;
    let id = gw.fire_json("smuggle", &json!({"a long enough body": "to be cut short by a Content-Length of 5"})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let error = &attempts(&m, 0)[0]["error"];
    assert_eq!(error["code"], "forbidden_header", "{m}");
    assert!(error["message"].as_str().unwrap_or("").contains("Content-Length"), "{m}");
    assert_eq!(rx.count(), 0);
}

#[tokio::test]
async fn every_error_answer_is_the_json_error_body() {
    let gw = Gateway::new();
    let admin = |method: reqwest::Method, path: &str| gw.admin(method, path);
    for (request, status, code) in [
        (admin(reqwest::Method::GET, "/v1/admin/events/%FF%FE"), 400, "invalid_request"),
        (admin(reqwest::Method::GET, "/v1/admin/messages?limit=many"), 400, "invalid_request"),
        (admin(reqwest::Method::GET, "/v1/admin/nothing-here"), 404, "not_found"),
        (gw.client().get(gw.url("/nothing-here")), 404, "not_found"),
        (admin(reqwest::Method::PATCH, "/v1/admin/events/x"), 405, "method_not_allowed"),
        (gw.client().delete(gw.url("/v1/events/x")), 405, "method_not_allowed"),
        (admin(reqwest::Method::PUT, "/v1/admin/events/x").json(&json!([])), 400, "invalid_config"),
        (admin(reqwest::Method::PUT, "/v1/admin/events/x").json(&json!("targets")), 400, "invalid_config"),
    ] {
        let resp = gw.send(request).await;
        resp.assert_error(status, code);
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
    let message = gw.put_event("x", json!({"targets": [{"id": "t1", "url": "https://h/", "retry": {"max_attempts": "many"}}]}))
        .await
        .assert_error(400, "invalid_config");
    assert!(message.contains("targets[0].retry.max_attempts") && !message.contains("target type"), "{message}");
    let message = gw.put_event("x", json!({"targets": [{"id": "t1", "url": "https://h/", "success": {"status": ["2xxx"]}}]}))
        .await
        .assert_error(400, "invalid_config");
    assert!(message.contains("`2xxx` is not a status code"), "{message}");
    // The scheme of `Authorization` is case-insensitive (RFC 9110).
    for scheme in ["bearer", "BEARER"] {
        let rb = gw.client().get(gw.url("/v1/admin/events")).header("authorization", format!("{scheme} {ADMIN_TOKEN}"));
        gw.send(rb).await.assert_status(200);
    }
}

#[tokio::test]
async fn an_idempotency_key_makes_a_repeat_return_the_first_answer() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok("orders", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook")}]})).await;
    let fire = |key: &'static str| {
        let rb = gw.client().post(gw.url("/v1/events/orders")).header("idempotency-key", key).body("{}");
        gw.send(rb)
    };
    let first = fire("order-1").await;
    first.assert_status(202);
    let again = fire("order-1").await;
    again.assert_status(202);
    assert_eq!(first.json(), again.json(), "the repeat gets the first answer");
    let other = fire("order-2").await;
    assert_ne!(other.json()["message_id"], first.json()["message_id"]);
    let id = accepted_message_id(&first);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    gw.wait_message_status(&accepted_message_id(&other), "delivered", DEADLINE).await;
    assert_eq!(gw.messages_of("orders").await.len(), 2);
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn hostile_guests_get_a_clear_error_of_their_own() {
    // A budget large enough that the 16 MiB output reaches the output cap before the clock.
    let gw = Gateway::start(GatewayOpts::default().args(["--guest-time-ms", "5000"]));
    let rx = Receiver::start();
    for name in ["hostile-recursion", "hostile-output", "hostile-panic", "hostile-escape"] {
        gw.install(name).await;
        gw.put_event_ok(
            name,
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(&format!("/{name}")),
                "transformer": {"component": name}, "retry": fast_retry(1)}]}),
        )
        .await;
    }
    gw.put_event_ok("normal", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/normal")}]})).await;
    let mut ids = Vec::new();
    for name in ["hostile-recursion", "hostile-output", "hostile-panic", "hostile-escape", "normal"] {
        ids.push((name, gw.fire_json(name, &json!({"n": 1})).await));
    }
    for (name, id) in &ids {
        let expected = if matches!(*name, "hostile-escape" | "normal") { "delivered" } else { "failed" };
        let m = gw.wait_message_status(id, expected, DEADLINE).await;
        let error = &m["deliveries"][0]["attempts"][0]["error"];
        match *name {
            "hostile-recursion" => assert_eq!(error["code"], "guest_trap", "{m}"),
            "hostile-output" => assert_eq!(error["code"], "guest_output_too_large", "{m}"),
            "hostile-panic" => {
                assert_eq!(error["code"], "guest_trap", "{m}");
                assert!(error["message"].as_str().unwrap_or("").contains("hostile-panic: boom"), "{m}");
            }
            _ => assert!(error.is_null(), "{m}"),
        }
    }
    let escape = &rx.requests_to("/hostile-escape")[0];
    assert_eq!(
        escape.header("x-escape"),
        Some("fs=denied;file=denied;env=0;tcp=denied;dns=denied"),
        "the sandbox gives no files, environment, sockets or name lookup"
    );
    assert_eq!(rx.requests_to("/normal").len(), 1);
}

#[tokio::test]
async fn no_state_survives_from_one_guest_call_to_the_next() {
    // A budget that filling 20 MiB meets on a busy machine too: the point here is state.
    let gw = Gateway::start(GatewayOpts::default().args(["--guest-time-ms", "5000"]));
    let rx = Receiver::start();
    gw.install("hostile-remember").await;
    gw.put_event_ok(
        "remember",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "transformer": {"component": "hostile-remember"}}]}),
    )
    .await;
    // One after the other, so that each call can land in the instance slot the last one used.
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = gw.fire_json("remember", &json!({"n": n})).await;
        gw.wait_message_status(&id, "delivered", DEADLINE).await;
        ids.push(id);
    }
    let seen: Vec<String> = rx
        .requests_to("/hook")
        .iter()
        .map(|r| r.header("x-remembered").unwrap_or_default().to_string())
        .collect();
    let expected: Vec<String> = ids.iter().map(|id| format!("calls=1;dirty=no;seen={id}")).collect();
    assert_eq!(seen, expected, "each call starts from the component's initial memory and globals");
}

#[tokio::test]
async fn hostile_input_gets_a_coded_400_or_413() {
    let gw = Gateway::start(GatewayOpts::default().args(["--max-body-kb", "64"]));
    let rx = Receiver::start();
    gw.put_event_ok("ev", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook")}]})).await;
    gw.fire("ev", vec![b'x'; 65 * 1024], "text/plain").await.assert_error(413, "payload_too_large");
    let url = rx.url("/hook");
    let long_url = format!("{url}?{}", "a".repeat(100 * 1024));
    for (config, needle) in [
        (json!({"targets": [{"id": "t1", "url": url, "retry": {"timeout_ms": -5}}]}), "timeout_ms"),
        (json!({"targets": [{"id": "t1", "url": url, "retry": {"max_attempts": 1_000_000_000u64}}]}), "max_attempts"),
        (json!({"targets": [{"id": "t1", "url": long_url}]}), "url"),
        (json!({"targets": [{"id": "t1", "url": url, "signing": {"secret": "not-a-secret"}}]}), "signing.secret"),
        (json!({"targets": [{"id": "t1", "url": url, "body": "{\"a\": #x#"}]}), "body"),
    ] {
        let message = gw.put_event("bad", config).await.assert_error(400, "invalid_config");
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let broken = gw.admin(reqwest::Method::PUT, "/v1/admin/events/bad").header("content-type", "application/json").body("{\"targets\": [");
    gw.send(broken).await.assert_error(400, "invalid_config");
    let resp = gw.client().post(gw.url("/v1/ingest")).body("{not json").send().await.expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_envelope", "{body}");
}

/// A 202 means on disk: kill -9 the gateway while many clients fire, restart it, and every
/// acknowledged message is delivered; whatever else survived is whole.
#[tokio::test]
async fn every_acknowledged_message_survives_kill_9_under_load() {
    let mut gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok("load", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "retry": fast_retry(20)}]}))
        .await;
    let url = gw.url("/v1/events/load");
    let client = reqwest::Client::new();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for worker in 0..16 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..200 {
                let body = json!({"worker": worker, "n": n}).to_string();
                let Ok(resp) = client.post(&url).header("content-type", "application/json").body(body).send().await else {
                    return; // the gateway is gone
                };
                if resp.status().as_u16() != 202 {
                    return;
                }
                let Ok(answer) = resp.json::<Value>().await else { return };
                if let Some(id) = answer["message_id"].as_str() {
                    acked.lock().expect("lock").push(id.to_string());
                }
            }
        }));
    }
    let end = std::time::Instant::now() + DEADLINE;
    while acked.lock().expect("lock").len() < 300 && std::time::Instant::now() < end {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    gw.kill();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 300, "load did not build up before the kill: {}", acked.len());

    gw.start_again();
    assert_all_delivered(&gw, &rx, &acked).await;
    // Messages stored but not acknowledged (the kill came between flush and answer) are
    // whole: a body, one delivery, delivered like the rest.
    let listed = gw.messages("event_id=load&limit=500").await;
    for message in listed["messages"].as_array().expect("messages") {
        assert_eq!(message["deliveries"].as_array().map(Vec::len), Some(1), "{message}");
        assert!(message["body_size"].as_u64().is_some_and(|n| n > 0), "{message}");
    }
}

/// Messages whose first attempt had not started when the gateway died are queued again
/// from the store at start (they have no queue key of their own), and delivered.
#[tokio::test]
async fn messages_never_attempted_before_a_kill_9_are_delivered_after_the_restart() {
    let mut gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(std::time::Duration::from_secs(3)));
    gw.put_event_ok("slow", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "max_in_flight": 1}]}))
        .await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(gw.fire_json("slow", &json!({"n": n})).await);
    }
    // One attempt holds the target's only slot; the others wait with no attempt at all.
    let end = std::time::Instant::now() + DEADLINE;
    while rx.count() == 0 && std::time::Instant::now() < end {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut untried = 0;
    for id in &ids {
        let m = gw.message(id).await;
        if m["deliveries"][0]["attempts"].as_array().is_some_and(Vec::is_empty) {
            assert_eq!(m["status"], "pending", "{m}");
            untried += 1;
        }
    }
    assert!(untried >= 18, "the target is held by one attempt, so the rest are untried: {untried}");
    gw.kill();

    rx.set_default(Reply::ok());
    gw.start_again();
    assert_all_delivered(&gw, &rx, &ids).await;
}

/// Every one of `ids` is logged as delivered and reached the receiver (by its `webhook-id`).
async fn assert_all_delivered(gw: &Gateway, rx: &Receiver, ids: &[String]) {
    for id in ids {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    let received: std::collections::HashSet<String> =
        rx.requests().iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !received.contains(*id)).collect();
    assert!(missing.is_empty(), "logged as delivered but never received: {missing:?}");
}

#[tokio::test]
async fn a_damaged_store_is_refused_with_its_path_never_started_empty() {
    let mut gw = Gateway::new();
    gw.put_event_ok("kept", json!({"targets": [{"id": "t1", "method": "POST", "url": "http://127.0.0.1:9/x"}]})).await;
    gw.kill();
    let db = gw.data_dir().join("db");
    // Replace the store's files with an empty store, as a lost disk or a bad restore would.
    std::fs::remove_dir_all(&db).expect("remove the store");
    std::fs::create_dir_all(&db).expect("recreate it empty");
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(gw.data_dir())
        .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("the gateway started on a damaged store");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read");
    assert!(!status.success());
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("refusing to start"), "{stderr}");
}

/// A port that accepts connections and never answers.
fn black_hole() -> (std::net::TcpListener, String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (server, count) = (listener.try_clone().expect("clone"), accepted.clone());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in server.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream); // never read, never answered, never closed
        }
    });
    (listener, url, accepted)
}

#[tokio::test]
async fn a_dead_target_neither_holds_up_the_others_nor_fails_its_deliveries() {
    let gw = Gateway::start(GatewayOpts::default().args(["--delivery-concurrency", "4"]));
    let rx = Receiver::start();
    let (_hole, dead_url, connections) = black_hole();
    gw.put_event_ok(
        "dead",
        json!({"targets": [{"id": "t1", "method": "POST", "url": dead_url, "max_in_flight": 2,
            "circuit_breaker": {"failure_threshold": 2, "pause_ms": 60000, "max_pause_ms": 60000},
            "retry": {"max_attempts": 10, "initial_delay_ms": 10, "max_delay_ms": 20, "timeout_ms": 1500}}]}),
    )
    .await;
    gw.put_event_ok("alive", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook")}]})).await;
    let mut dead = Vec::new();
    for n in 0..40 {
        dead.push(gw.fire_json("dead", &json!({"n": n})).await);
    }
    let started = std::time::Instant::now();
    let mut alive = Vec::new();
    for n in 0..10 {
        alive.push(gw.fire_json("alive", &json!({"n": n})).await);
    }
    for id in &alive {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    // Without the cap, the black hole would hold all 4 slots for 1.5 s.
    assert!(started.elapsed() < std::time::Duration::from_millis(1200), "healthy deliveries waited {:?}", started.elapsed());

    // Two timeouts open the breaker: the rest wait (pending, with the reason), none fails.
    let paused = gw.wait_message(&dead[39], DEADLINE, "paused", |m| {
        m["deliveries"][0]["reason"].as_str().is_some_and(|r| r.contains("paused"))
    })
    .await;
    assert_eq!(paused["status"], "pending", "{paused}");
    let mut attempts = 0;
    for id in &dead {
        let m = gw.message(id).await;
        assert_eq!(m["status"], "pending", "{m}");
        attempts += m["deliveries"][0]["attempts"].as_array().map_or(0, Vec::len);
    }
    assert!((2..=4).contains(&attempts), "only the attempts before the breaker opened: {attempts}");
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) <= 4, "at most max_in_flight at a time, twice");
}

#[tokio::test]
async fn settled_messages_are_pruned_after_the_retention_period_pending_ones_kept() {
    let gw = Gateway::start(GatewayOpts::default().args(["--retention", "1s"]));
    let rx = Receiver::start();
    let down = Receiver::down_reserved();
    gw.put_event_ok("ok", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook")}]})).await;
    gw.put_event_ok(
        "stuck",
        json!({"targets": [{"id": "t1", "method": "POST", "url": down.url("/hook"),
            "retry": {"max_attempts": 100, "initial_delay_ms": 60000, "max_delay_ms": 60000}}]}),
    )
    .await;
    let mut delivered = Vec::new();
    for n in 0..3 {
        let id = gw.fire_json("ok", &json!({"n": n})).await;
        gw.wait_message_status(&id, "delivered", DEADLINE).await;
        delivered.push(id);
    }
    let pending = gw.fire_json("stuck", &json!({})).await;
    gw.wait_message(&pending, DEADLINE, "with a failed attempt", |m| !attempts(m, 0).is_empty()).await;

    let end = std::time::Instant::now() + DEADLINE;
    while gw.admin_get(&format!("/v1/admin/messages/{}", delivered[2])).await.status != 404 {
        assert!(std::time::Instant::now() < end, "delivered messages were not pruned");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for id in &delivered {
        gw.admin_get(&format!("/v1/admin/messages/{id}")).await.assert_error(404, "message_not_found");
    }
    assert_eq!(gw.message(&pending).await["status"], "pending", "pending messages are never pruned");
    let stats = gw.admin_get("/v1/admin/stats").await.json();
    assert_eq!(stats["messages"], 1, "{stats}");
    assert_eq!(stats["pending_deliveries"], 1, "{stats}");
    assert!(stats["store_bytes"].as_u64().is_some_and(|b| b > 0), "{stats}");
}

#[tokio::test]
async fn ingest_can_require_a_bearer_token_or_a_standard_webhooks_signature() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let target = json!([{"id": "t1", "method": "POST", "url": rx.url("/hook")}]);
    let token = "a-long-shared-ingest-token";
    gw.put_event_ok("bearer", json!({"ingest_auth": {"type": "bearer", "token": token}, "targets": target})).await;
    gw.put_event_ok("signed", json!({"ingest_auth": {"type": "standard_webhooks", "secret": SECRET}, "targets": target}))
        .await;
    assert_eq!(gw.event("bearer").await.json()["ingest_auth"]["token"], "***", "secrets are masked on reads");

    let fire = |event: &str, headers: Vec<(&'static str, String)>, body: &'static str| {
        let mut rb = gw.client().post(gw.url(&format!("/v1/events/{event}"))).body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        gw.send(rb)
    };
    fire("bearer", vec![], "{}").await.assert_error(401, "unauthorized");
    fire("bearer", vec![("authorization", "Bearer wrong".into())], "{}").await.assert_error(401, "unauthorized");
    fire("bearer", vec![("authorization", format!("Bearer {token}"))], "{}").await.assert_status(202);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let signed_headers = |timestamp: u64, body: &str| {
        let out = reference_tool(
            "sign_standard_webhook.py",
            &json!({"secret": SECRET, "id": "src_1", "timestamp": timestamp, "body": body}),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let signature = String::from_utf8_lossy(&out.stdout).trim().to_string();
        vec![("webhook-id", "src_1".to_string()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)]
    };
    fire("signed", signed_headers(now, r#"{"a":1}"#), r#"{"a":1}"#).await.assert_status(202);
    fire("signed", signed_headers(now, r#"{"a":1}"#), r#"{"a":2}"#).await.assert_error(401, "unauthorized");
    let stale = fire("signed", signed_headers(now - 3600, r#"{"a":1}"#), r#"{"a":1}"#).await;
    assert!(stale.assert_error(401, "unauthorized").contains("300 s"));
    fire("signed", vec![], "{}").await.assert_error(401, "unauthorized");
    assert_eq!(gw.messages_of("signed").await.len(), 1, "refused calls store nothing");
}

#[tokio::test]
async fn named_admin_tokens_may_be_read_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("tokens.json");
    let tokens = json!([{"name": "dashboard", "token": "read-only-token-123456", "scope": "read"},
                        {"name": "deployer", "token": "deployer-token-1234567", "scope": "admin"}]);
    std::fs::write(&file, tokens.to_string()).expect("write");
    let gw = Gateway::start(GatewayOpts::default().args(["--admin-tokens-file".to_string(), file.display().to_string()]));
    let with = |token: &str, method: reqwest::Method, path: &str| {
        let rb = gw.client().request(method, gw.url(path)).bearer_auth(token);
        gw.send(rb.json(&json!({"targets": []})))
    };
    with("deployer-token-1234567", reqwest::Method::PUT, "/v1/admin/events/e1").await.assert_status(201);
    with("read-only-token-123456", reqwest::Method::GET, "/v1/admin/events").await.assert_status(200);
    with("read-only-token-123456", reqwest::Method::GET, "/v1/admin/messages").await.assert_status(200);
    let refused = with("read-only-token-123456", reqwest::Method::PUT, "/v1/admin/events/e2").await;
    assert!(refused.assert_error(403, "forbidden").contains("dashboard"));
    with("read-only-token-123456", reqwest::Method::DELETE, "/v1/admin/events/e1").await.assert_error(403, "forbidden");
    with("not-a-token-at-all-0000", reqwest::Method::GET, "/v1/admin/events").await.assert_error(401, "unauthorized");
    with(ADMIN_TOKEN, reqwest::Method::DELETE, "/v1/admin/events/e1").await.assert_status(204);
    assert!(!gw.logs().contains("read-only-token-123456"), "tokens never appear in the log");
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start(GatewayOpts::default().args(["--header-timeout-ms", "500", "--ingest-timeout-ms", "800"]));
    gw.put_event_ok("ev", json!({"targets": []})).await;
    let started = std::time::Instant::now();

    // Headers that never finish, a single byte that leaves HTTP/1 and HTTP/2 undecided,
    // and nothing at all: each connection is closed.
    for sent in [&b"POST /v1/events/ev HTTP/1.1\r\nHost: x\r\n"[..], b"P", b""] {
        let mut loris = tokio::net::TcpStream::connect(gw.addr()).await.expect("connect");
        loris.write_all(sent).await.expect("write");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(DEADLINE, loris.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "a connection that sent {:?} was never cut off", String::from_utf8_lossy(sent));
    }

    // A body that never finishes: 408 request_timeout.
    let mut trickle = tokio::net::TcpStream::connect(gw.addr()).await.expect("connect");
    trickle
        .write_all(b"POST /v1/events/ev HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly ten..")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, trickle.read_to_end(&mut answer)).await.expect("answered in time").expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(gw.messages_of("ev").await.len(), 0);
    gw.fire_json("ev", &json!({})).await; // and the gateway still serves
}

/// Sends `request` on `stream` and reads one response to it (its body by Content-Length);
/// `None` if the connection was closed instead.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &[u8]) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                return Some(text);
            }
        }
        match tokio::time::timeout(DEADLINE, stream.read(&mut chunk)).await.expect("a response or a close in time") {
            Ok(0) | Err(_) => return None,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Connection pools (reqwest's and Go's keep idle connections 90 s, load balancers 60 s)
/// send on a connection they have kept idle: closing it after the short header timeout
/// makes a request race the close and fail now and then. An idle connection has the idle
/// timeout; only a request that has begun has the header timeout.
#[tokio::test]
async fn idle_keep_alive_connections_wait_for_the_idle_timeout_not_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let gw = Gateway::start(GatewayOpts::default().args(["--header-timeout-ms", "300", "--idle-timeout-ms", "2500"]));

    let mut pooled = tokio::net::TcpStream::connect(gw.addr()).await.expect("connect");
    let first = exchange(&mut pooled, HEALTH).await.expect("the first request is answered");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await; // idle, past the header timeout
    let second = exchange(&mut pooled, HEALTH).await.expect("the connection kept idle for 1 s still serves");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    // A request begun on a kept connection has the header timeout again, not the idle one.
    let begun = std::time::Instant::now();
    pooled.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, pooled.read_to_end(&mut rest)).await.expect("cut off").expect("read");
    assert!(begun.elapsed() < std::time::Duration::from_millis(2000), "cut off after {:?}", begun.elapsed());

    // Idle past the idle timeout: the gateway closes the connection itself.
    let mut idle = tokio::net::TcpStream::connect(gw.addr()).await.expect("connect");
    exchange(&mut idle, HEALTH).await.expect("answered");
    let idle_from = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, idle.read_to_end(&mut rest)).await.expect("closed when idle too long").expect("read");
    assert!(idle_from.elapsed() >= std::time::Duration::from_millis(2000), "closed after {:?}", idle_from.elapsed());
}

#[tokio::test]
async fn sigterm_lets_the_attempt_in_flight_finish_and_exits_0() {
    let mut gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(std::time::Duration::from_millis(1500)));
    gw.put_event_ok("ev", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook")}]})).await;
    let id = gw.fire_json("ev", &json!({})).await;
    rx.wait_requests(1, DEADLINE).await; // the attempt is in flight: the receiver is answering slowly
    assert!(gw.terminate(), "a SIGTERM exits 0 once the attempt has finished");
    gw.start_again();
    let m = gw.message(&id).await;
    assert_eq!(m["status"], "delivered", "the attempt in flight was finished and recorded: {m}");
    assert_eq!(attempts(&m, 0).len(), 1, "{m}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1, "nothing is sent twice");
}

/// Idle connections cannot take every file descriptor: at `--max-connections`, a new
/// connection closes the one idle longest, or, when every one has a request under way, is
/// answered 503 `too_many_connections` and closed.
#[tokio::test]
async fn a_full_listener_closes_the_connection_idle_longest_or_refuses_the_new_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let gw = Gateway::start(GatewayOpts {
        env: vec![("RUST_LOG".into(), "info,hookgate::api::listen=debug".into())],
        ..GatewayOpts::default().args(["--max-connections", "2"])
    });
    let connect = || tokio::net::TcpStream::connect(gw.addr());
    let closed = |mut stream: tokio::net::TcpStream, which: &'static str| async move {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest)).await;
        read.unwrap_or_else(|_| panic!("{which}: not closed in time")).map(|_| rest).unwrap_or_default()
    };

    // Two kept-alive connections, idle after a request each; the oldest goes first.
    let mut first = connect().await.expect("connect");
    assert!(exchange(&mut first, HEALTH).await.expect("answered").starts_with("HTTP/1.1 200"));
    let mut second = connect().await.expect("connect");
    assert!(exchange(&mut second, HEALTH).await.expect("answered").starts_with("HTTP/1.1 200"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = connect().await.expect("connect");
    assert!(exchange(&mut third, HEALTH).await.expect("the third is served").starts_with("HTTP/1.1 200"));
    assert!(closed(first, "the first").await.is_empty(), "the connection idle longest is closed, without a word");
    assert!(exchange(&mut second, HEALTH).await.expect("the other stays open").starts_with("HTTP/1.1 200"));

    // Both connections with a request under way: none to close, the new one is refused.
    second.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    third.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    // Until the gateway has read those bytes the two look idle; give a loaded machine time.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let refused = String::from_utf8_lossy(&closed(connect().await.expect("connect"), "the refused").await).into_owned();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains(r#""code":"too_many_connections""#), "{refused}");

    // The requests under way are answered; once idle, one of them makes room again.
    second.write_all(b"Host: x\r\n\r\n").await.expect("write");
    let rest = exchange(&mut second, b"").await.expect("the request under way is answered");
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    let mut fourth = connect().await.expect("connect");
    assert!(exchange(&mut fourth, HEALTH).await.expect("served").starts_with("HTTP/1.1 200"));
    assert!(closed(second, "the second").await.is_empty(), "the idle one made room");
    third.write_all(b"Host: x\r\n\r\n").await.expect("write");
    assert!(exchange(&mut third, b"").await.expect("still served").starts_with("HTTP/1.1 200"));
    assert!(gw.logs().contains("none idle (--max-connections): refusing"), "the log says the listener was full:\n{}", gw.logs());
}
