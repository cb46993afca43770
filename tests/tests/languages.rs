//! Components in any language: the JavaScript (componentize-js) and Python (componentize-py)
//! twins of the Rust examples, run in the real gateway side by side with the Rust original and
//! held to identical assertions, so that "same input, same output" is shown, not assumed.
//!
//! Each twin uses its language's own JSON library, so "the same output" is meant at the level
//! of what the output says: a transformer's body is the same JSON value (not necessarily the
//! same bytes: number spelling and key order are each library's), with the same headers and
//! logs; the same inputs are refused, with reasons that share the Rust twin's prefix (the
//! parser's own message follows it); an authenticator's reasons and a condition's verdicts are
//! exactly the same.
//!
//! | role | Rust | twins |
//! | --- | --- | --- |
//! | transformer | `adobe-to-json` | `js-adobe-to-json`, `py-adobe-to-json` |
//! | condition | `json-ok-condition` | `js-json-ok-condition` |
//! | authenticator | `hmac-auth` | `py-hmac-auth` |
//!
//! One gateway per role (one test each), every implementation of the role uploaded to it.
//! Prerequisites: `cargo build -p hookgate --bins` and `guest-examples/build.sh`.
//!
//! `big_components_compile_once_at_upload_never_at_restart` also prints what a big component
//! costs (run with `--nocapture`); see guest-examples/README.md, "Sizes and timings".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

const TRANSFORMERS: [&str; 3] = ["adobe-to-json", "js-adobe-to-json", "py-adobe-to-json"];
const CONDITIONS: [&str; 2] = ["json-ok-condition", "js-json-ok-condition"];
const AUTHENTICATORS: [&str; 2] = ["hmac-auth", "py-hmac-auth"];

/// The upload of a 12-18 MB component compiles a whole interpreter: tens of seconds on a busy
/// 2-core machine (10-20 s idle), once per test run thanks to the shared compile cache.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(180);

/// A call into a JavaScript or Python twin takes 8-21 ms (one cold call, measured with
/// `hookgate component run`, dev build), well within the default 200 ms. The larger budget is
/// margin for a loaded 2-core machine, where the first instantiation of a 12-18 MB component
/// competes with the compilation of the next upload; every implementation gets the same.
const GUEST_TIME_MS: &str = "2000";

const ADOBE_INPUT: &str = r#"{"data":{"uid":"u1","event":"be-observer.catalog_product_create","value":{"sku":"S1","name":"N"}}}"#;

/// A gateway whose guest time budget suits the big components, with `names` uploaded.
async fn gateway_with(names: &[&str]) -> Gateway {
    let gw = Gateway::start(GatewayOpts::default().args(["--guest-time-ms", GUEST_TIME_MS]));
    for name in names {
        let v = gw.install_within(name, UPLOAD_DEADLINE).await;
        assert_eq!(v["name"], *name, "{v}");
    }
    gw
}

fn attempts(delivery: &Value) -> Vec<Value> {
    delivery["attempts"].as_array().cloned().unwrap_or_default()
}

/// The delivery of `message` to the target called `target`.
fn delivery<'a>(message: &'a Value, target: &str) -> &'a Value {
    message["deliveries"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["target"] == target))
        .unwrap_or_else(|| panic!("no delivery to {target} in {message}"))
}

fn settled(message: &Value) -> bool {
    message["deliveries"].as_array().is_some_and(|ds| {
        !ds.is_empty()
            && ds.iter().all(|d| {
                matches!(
                    d["status"].as_str(),
                    Some("delivered" | "failed" | "skipped")
                )
            })
    })
}

// ------------------------------------------------------------------------------------------------
// Transformers
// ------------------------------------------------------------------------------------------------

/// What the transformer examples say before the detail of a refusal (in every language).
const ADOBE_REFUSED: &str = r#"adobe-to-json: expected {"data":{"uid","event","value"}}: "#;

/// How a transformer treated one input: the JSON value, headers and guest logs it sent, or
/// its error reason.
#[derive(Debug, PartialEq)]
enum Transformed {
    Sent {
        body: Value,
        /// As received, sorted; see `comparable_headers`.
        headers: Vec<(String, String)>,
        guest_logs: Value,
    },
    Refused(String),
}

impl Transformed {
    /// The same outcome: the same request sent, or a refusal (whatever its wording).
    fn same_as(&self, other: &Transformed) -> bool {
        match (self, other) {
            (Transformed::Refused(_), Transformed::Refused(_)) => true,
            _ => self == other,
        }
    }
}

/// Edge inputs, each transformed or refused alike in every language. `true`: the message is
/// transformed and sent. Left out: what only one JSON library does its own way (integers
/// beyond 2^53, which JavaScript reads as doubles; numbers out of range, lone surrogates and
/// duplicate fields, which serde_json refuses and the others accept).
fn edge_inputs() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        (
            "nested objects and arrays",
            br#"{"data":{"uid":"n","event":"e","value":{"a":{"b":[1,{"c":null}],"t":true,"f":false},"s":"text","empty":[[],{}]}}}"#.to_vec(),
            true,
        ),
        (
            "integers up to 2^53 and fractions",
            br#"{"data":{"uid":"n","event":"e","value":{"int":42,"neg":-7,"zero":0,"max":9007199254740991,"min":-9007199254740991,"frac":0.25,"tiny":1.5e-7}}}"#.to_vec(),
            true,
        ),
        (
            "unicode text, raw and escaped, in keys and values",
            r#"{"data":{"uid":"ü-1 日本","event":"e","value":{"name":"日本語 😀","é":"\u00e9\ud83d\ude00","key 😀":1}}}"#.as_bytes().to_vec(),
            true,
        ),
        (
            "string escapes",
            br#"{"data":{"uid":"q","event":"e","value":{"s":"tab\t nl\n quote\" backslash\\ slash\/ control\u0001"}}}"#.to_vec(),
            true,
        ),
        (
            "the value's own uid and event are replaced",
            br#"{"data":{"uid":"x","event":"e","value":{"uid":"old","event":"old","k":1}}}"#.to_vec(),
            true,
        ),
        (
            "unknown fields are ignored",
            br#"{"x":[1,{"y":null}],"data":{"uid":"x","event":"e","value":{},"extra":null}}"#.to_vec(),
            true,
        ),
        ("not JSON", b"not json".to_vec(), false),
        ("empty body", Vec::new(), false),
        ("JSON but not an object", br#""text""#.to_vec(), false),
        ("null", b"null".to_vec(), false),
        ("missing data", br#"{"uid":"x"}"#.to_vec(), false),
        ("data is not an object", br#"{"data":"x"}"#.to_vec(), false),
        ("missing event", br#"{"data":{"uid":"x","value":{}}}"#.to_vec(), false),
        ("uid is not a string", br#"{"data":{"uid":1.5,"event":"e","value":{}}}"#.to_vec(), false),
        ("value is not an object", br#"{"data":{"uid":"x","event":"e","value":[1]}}"#.to_vec(), false),
        ("value is null", br#"{"data":{"uid":"x","event":"e","value":null}}"#.to_vec(), false),
        ("trailing characters", br#"{"data":{"uid":"u","event":"e","value":{}}} x"#.to_vec(), false),
        ("trailing comma", b"{\"data\":{\"uid\":\"u\",\"event\":\"e\",\n \"value\":{\"a\":[1,]}}}".to_vec(), false),
        ("invalid UTF-8", b"{\"data\":{\"uid\":\"u\xff\",\"event\":\"e\",\"value\":{}}}".to_vec(), false),
    ]
}

/// The headers of a received request (names lower-cased), sorted, without those the gateway
/// derives from the body's bytes, the clock or the target: `content-length` and the
/// `webhook-timestamp` and `webhook-signature` of its signature.
fn comparable_headers(request: &Recorded) -> Vec<(String, String)> {
    const DERIVED: [&str; 3] = ["content-length", "webhook-timestamp", "webhook-signature"];
    let mut headers: Vec<_> = request
        .headers
        .iter()
        .filter(|(name, _)| !DERIVED.contains(&name.as_str()))
        .cloned()
        .collect();
    headers.sort();
    headers
}

/// Fires `body` to the event whose targets are the transformers, waits until every delivery
/// settled, and returns what each transformer did.
async fn transform_everywhere(
    gw: &Gateway,
    rx: &Receiver,
    body: &[u8],
) -> Vec<(String, Transformed)> {
    let before: HashMap<&str, usize> = TRANSFORMERS
        .iter()
        .map(|t| (*t, rx.requests_to(&format!("/{t}")).len()))
        .collect();
    let id = accepted_message_id(&gw.fire("adobe", body.to_vec(), "application/json").await);
    let m = gw.wait_message(&id, DEADLINE, "settled", settled).await;
    TRANSFORMERS
        .iter()
        .map(|t| {
            let d = delivery(&m, t);
            let a = attempts(d);
            let outcome = match d["status"].as_str() {
                Some("delivered") => {
                    let reqs = rx.requests_to(&format!("/{t}"));
                    assert_eq!(
                        reqs.len(),
                        before[t] + 1,
                        "{t}: one request per message: {m}"
                    );
                    let got = reqs.last().unwrap();
                    assert_eq!(got.method, "POST", "{t}");
                    assert_eq!(a.len(), 1, "{t}: {m}");
                    Transformed::Sent {
                        body: got.json(),
                        headers: comparable_headers(got),
                        guest_logs: a[0]["guest_logs"].clone(),
                    }
                }
                _ => {
                    assert_eq!(d["status"], "failed", "{t}: {m}");
                    assert_eq!(a.len(), 1, "{t}: a transform error is not retried: {m}");
                    assert_eq!(a[0]["error"]["code"], "transform_error", "{t}: {m}");
                    assert!(a[0]["status_code"].is_null(), "{t}: nothing was sent: {m}");
                    let reason = a[0]["error"]["message"].as_str().unwrap_or_default();
                    assert!(reason.starts_with(ADOBE_REFUSED), "{t}: {reason}");
                    Transformed::Refused(reason.to_string())
                }
            };
            (t.to_string(), outcome)
        })
        .collect()
}

#[tokio::test]
async fn transformers_in_every_language_send_the_same_request() {
    let gw = gateway_with(&TRANSFORMERS).await;
    let rx = Receiver::start();
    let targets: Vec<Value> = TRANSFORMERS
        .iter()
        .map(|t| {
            json!({"id": t, "method": "POST", "url": rx.url(&format!("/{t}")),
                "transformer": {"component": t, "config": {}}, "retry": fast_retry(2)})
        })
        .collect();
    gw.put_event_ok("adobe", json!({ "targets": targets }))
        .await;

    // core.rs's transformed_delivery_arrives_with_body_and_headers, for each language.
    let r = gw.fire("adobe", ADOBE_INPUT, "application/json").await;
    let id = accepted_message_id(&r);
    assert_eq!(r.json()["deliveries"], TRANSFORMERS.len(), "{}", r.text());
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    rx.wait_requests(TRANSFORMERS.len(), DEADLINE).await;
    let mut sent = Vec::new();
    for t in TRANSFORMERS {
        let reqs = rx.requests_to(&format!("/{t}"));
        assert_eq!(reqs.len(), 1, "{t}: {reqs:?}");
        let got = &reqs[0];
        assert_eq!(got.method, "POST", "{t}");
        assert_eq!(
            got.json(),
            json!({"sku": "S1", "name": "N", "uid": "u1",
                "event": "be-observer.catalog_product_create"}),
            "{t}"
        );
        let ct = got.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "{t}: content-type {ct:?}"
        );
        assert_eq!(
            got.header("x-hookgate-event"),
            Some("be-observer.catalog_product_create"),
            "{t}: {:?}",
            got.headers
        );
        let d = delivery(&m, t);
        assert_eq!(d["status"], "delivered", "{t}: {m}");
        let a = attempts(d);
        assert_eq!(a.len(), 1, "{t}: {m}");
        assert_eq!(a[0]["status_code"], 200, "{t}: {m}");
        assert!(a[0]["error"].is_null(), "{t}: {m}");
        let logs = a[0]["guest_logs"].as_array().cloned().unwrap_or_default();
        assert!(
            logs.iter().any(|l| l["level"] == "info"
                && l["message"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("transformed u1"))),
            "{t}: the guest logs `transformed u1` through the host: {m}"
        );
        sent.push((t, comparable_headers(got), a[0]["guest_logs"].clone()));
    }
    for (t, headers, logs) in &sent[1..] {
        assert_eq!(
            headers, &sent[0].1,
            "{t} and {} sent different headers",
            sent[0].0
        );
        assert_eq!(logs, &sent[0].2, "{t} and {} logged differently", sent[0].0);
    }

    // The edge of the input language: the same JSON value, headers and logs sent, or a
    // refusal everywhere.
    for (what, body, sendable) in edge_inputs() {
        let outcomes = transform_everywhere(&gw, &rx, &body).await;
        let (rust, reference) = &outcomes[0];
        match reference {
            Transformed::Sent { .. } => assert!(sendable, "{what}: {rust} sent {reference:?}"),
            Transformed::Refused(reason) => {
                assert!(!sendable, "{what}: {rust} refused it: {reason}")
            }
        }
        for (t, outcome) in &outcomes[1..] {
            assert!(
                outcome.same_as(reference),
                "{what}: {t} differs from {rust}:\n{outcome:?}\n{reference:?}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Conditions
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn conditions_in_every_language_judge_the_same() {
    let gw = gateway_with(&CONDITIONS).await;
    let rx = Receiver::start();
    // /retry/<name>: {"ok":false} twice, then {"ok":true} (per path, whatever the order the
    // deliveries run in). /echo/<name>: answers with the body it received, as JSON.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counter = seen.clone();
    rx.respond_with(move |r| {
        if r.path.starts_with("/echo/") {
            return Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: r.body.clone(),
                delay: None,
            };
        }
        let mut seen = counter.lock().unwrap();
        let n = seen.entry(r.path.clone()).or_default();
        *n += 1;
        Reply::json(200, json!({ "ok": *n > 2 }))
    });
    let targets = |prefix: &str, max_attempts: u32| -> Value {
        CONDITIONS
            .iter()
            .map(|c| {
                json!({"id": c, "method": "POST", "url": rx.url(&format!("/{prefix}/{c}")),
                    "condition": {"component": c}, "retry": fast_retry(max_attempts)})
            })
            .collect()
    };
    gw.put_event_ok("retry", json!({"targets": targets("retry", 5)}))
        .await;
    gw.put_event_ok("echo", json!({"targets": targets("echo", 1)}))
        .await;

    // core.rs's condition_retries_until_the_target_says_ok, for each language.
    let id = gw.fire_json("retry", &json!({"x": 1})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    for c in CONDITIONS {
        let d = delivery(&m, c);
        assert_eq!(d["status"], "delivered", "{c}: {m}");
        let a = attempts(d);
        assert_eq!(a.len(), 3, "{c}: {m}");
        for (i, at) in a.iter().enumerate() {
            assert_eq!(at["status_code"], 200, "{c}: attempt {i}: {m}");
        }
        assert_eq!(a[0]["error"]["code"], "condition_retry", "{c}: {m}");
        assert_eq!(a[1]["error"]["code"], "condition_retry", "{c}: {m}");
        assert!(a[2]["error"].is_null(), "{c}: {m}");
        assert_eq!(rx.requests_to(&format!("/retry/{c}")).len(), 3, "{c}");
    }

    // Verdicts on the same answers: success (delivered), retry (out of attempts: failed with
    // condition_retry), fail (condition_failed with the same reason).
    const FAIL: &str = "json-ok-condition: response has no boolean ok field";
    let cases: [(&str, &str, Option<&str>); 10] = [
        ("not json", "failed", Some("condition_failed")),
        (r#"{"ok":true}"#, "delivered", None),
        (
            r#"{"ok": false, "why": "busy"}"#,
            "failed",
            Some("condition_retry"),
        ),
        (
            r#"{"ok":true,"ok":false}"#,
            "failed",
            Some("condition_retry"),
        ),
        (r#"{"ok":false,"ok":true}"#, "delivered", None),
        (r#"{"ok":"yes"}"#, "failed", Some("condition_failed")),
        (r#"{"status":"ok"}"#, "failed", Some("condition_failed")),
        ("[]", "failed", Some("condition_failed")),
        (r#"{"ok":true} x"#, "failed", Some("condition_failed")),
        (
            r#"{"ok":true,"n":-0,"s":"\ud83d\ude00"}"#,
            "delivered",
            None,
        ),
    ];
    for (answer, status, code) in cases {
        let id = accepted_message_id(&gw.fire("echo", answer, "application/json").await);
        let m = gw.wait_message(&id, DEADLINE, "settled", settled).await;
        for c in CONDITIONS {
            let d = delivery(&m, c);
            assert_eq!(d["status"], status, "{c} on {answer}: {m}");
            let a = attempts(d);
            assert_eq!(a.len(), 1, "{c} on {answer}: {m}");
            assert_eq!(a[0]["status_code"], 200, "{c} on {answer}: {m}");
            match code {
                None => assert!(a[0]["error"].is_null(), "{c} on {answer}: {m}"),
                Some(code) => assert_eq!(a[0]["error"]["code"], code, "{c} on {answer}: {m}"),
            }
            if code == Some("condition_failed") {
                assert_eq!(a[0]["error"]["message"], FAIL, "{c} on {answer}: {m}");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Authenticators
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn authenticators_in_every_language_decide_the_same() {
    let gw = gateway_with(&AUTHENTICATORS).await;
    let rx = Receiver::start();
    let event = |auth: &str, config: Value| -> Value {
        json!({"authenticator": {"component": auth, "config": config},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url(&format!("/{auth}")),
                "retry": fast_retry(3)}]})
    };
    for a in AUTHENTICATORS {
        gw.put_event_ok(
            &format!("signed-{a}"),
            event(a, json!({"secret": "s3cret"})),
        )
        .await;
        gw.put_event_ok(
            &format!("hub-{a}"),
            event(
                a,
                json!({"secret": "s3cret", "header": "X-Hub-Signature-256"}),
            ),
        )
        .await;
        gw.put_event_ok(&format!("nosecret-{a}"), event(a, json!({"secret": ""})))
            .await;
    }
    let body = r#"{"order":42}"#;
    let good = hmac_sha256_hex(b"s3cret", body.as_bytes());
    let prefixed = format!("sha256={good}");
    let upper = good.to_uppercase();
    let wrong_key = hmac_sha256_hex(b"wrong", body.as_bytes());
    let other_body = hmac_sha256_hex(b"s3cret", b"another body");
    // (event prefix, header name and value or none, expected deny reason or none to admit)
    let cases: Vec<(&str, Option<(&str, &str)>, Option<&str>)> = vec![
        ("signed", None, Some("missing signature header x-signature")),
        (
            "signed",
            Some(("x-signature", &wrong_key)),
            Some("bad signature"),
        ),
        (
            "signed",
            Some(("x-signature", &other_body)),
            Some("bad signature"),
        ),
        (
            "signed",
            Some(("x-signature", "zz-not-hex")),
            Some("bad signature"),
        ),
        ("signed", Some(("x-signature", "")), Some("bad signature")),
        (
            "signed",
            Some(("x-signature", &good[..62])),
            Some("bad signature"),
        ),
        (
            "signed",
            Some(("x-signature", "SHA256=0000")),
            Some("bad signature"),
        ),
        (
            "signed",
            Some(("x-hub-signature-256", &prefixed)),
            Some("missing signature header x-signature"),
        ),
        (
            "hub",
            Some(("x-signature", &prefixed)),
            Some("missing signature header X-Hub-Signature-256"),
        ),
        (
            "nosecret",
            Some(("x-signature", &good)),
            Some("hmac-auth: no secret configured"),
        ),
        ("signed", Some(("X-Signature", &good)), None),
        ("signed", Some(("x-signature", &prefixed)), None),
        ("signed", Some(("x-signature", &upper)), None),
        ("hub", Some(("x-hub-signature-256", &prefixed)), None),
    ];
    let mut admitted: HashMap<String, Vec<String>> = HashMap::new();
    for (prefix, header, deny) in &cases {
        let mut decisions = Vec::new();
        for a in AUTHENTICATORS {
            let event = format!("{prefix}-{a}");
            let mut headers = vec![("content-type", "application/json")];
            headers.extend(header.iter().copied());
            let r = gw.fire_with(&event, body, &headers).await;
            match deny {
                Some(reason) => {
                    let message = r.assert_error(401, "unauthorized");
                    assert_eq!(&message, reason, "{a} on {prefix} {header:?}");
                    decisions.push(message);
                }
                None => {
                    let id = accepted_message_id(&r);
                    admitted.entry(event).or_default().push(id);
                    decisions.push("admitted".to_string());
                }
            }
        }
        assert!(
            decisions.windows(2).all(|w| w[0] == w[1]),
            "{prefix} {header:?}: {decisions:?}"
        );
    }

    // Refused requests left nothing behind; admitted ones are stored and delivered.
    let admitted_per_authenticator = cases.iter().filter(|(_, _, deny)| deny.is_none()).count();
    for a in AUTHENTICATORS {
        let mut expected = 0;
        for prefix in ["signed", "hub", "nosecret"] {
            let event = format!("{prefix}-{a}");
            let ids = admitted.get(&event).cloned().unwrap_or_default();
            for id in &ids {
                gw.wait_message_status(id, "delivered", DEADLINE).await;
            }
            let stored = gw.messages_of(&event).await;
            assert_eq!(
                stored.len(),
                ids.len(),
                "{event}: only admitted messages are stored: {stored:?}"
            );
            expected += ids.len();
        }
        assert_eq!(expected, admitted_per_authenticator, "{a}");
        let reqs = rx
            .wait_requests(AUTHENTICATORS.len() * expected, DEADLINE)
            .await;
        let to_this: Vec<_> = reqs.iter().filter(|r| r.path == format!("/{a}")).collect();
        assert_eq!(to_this.len(), expected, "{a}: {reqs:?}");
        assert!(to_this.iter().all(|r| r.text() == body), "{a}: {to_this:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Compiled once
// ------------------------------------------------------------------------------------------------

/// A JavaScript and a Python component are compiled once, at upload (no shared compile
/// cache here): serving events and restarting on the same data directory never compiles
/// them again. Also prints what an integrator waits: the first upload, the first event, and
/// a restart until the first event is served (README, "Sizes and timings").
#[tokio::test]
async fn big_components_compile_once_at_upload_never_at_restart() {
    let rx = Receiver::start();
    for name in ["js-adobe-to-json", "py-adobe-to-json"] {
        let cache = tempfile::tempdir().expect("tempdir");
        // The default guest limits (200 ms, 64 MiB): what a production gateway would use.
        let mut opts = GatewayOpts::default();
        opts.env.push((
            "HOOKGATE_COMPILE_CACHE".into(),
            cache.path().display().to_string(),
        ));
        let mut gw = Gateway::start(opts);
        let size = std::fs::metadata(component_path(name)).expect("size").len();

        let t = Instant::now();
        gw.install_within(name, UPLOAD_DEADLINE).await;
        let upload = t.elapsed();
        gw.put_event_ok(
            "adobe",
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(&format!("/{name}")),
                "transformer": {"component": name}, "retry": fast_retry(1)}]}),
        )
        .await;
        let t = Instant::now();
        let id = accepted_message_id(&gw.fire("adobe", ADOBE_INPUT, "application/json").await);
        let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
        let first = t.elapsed();
        let first_attempt = attempts(&m["deliveries"][0])[0]["duration_ms"].clone();

        let compiled = |logs: &str| logs.matches("compiled a component").count();
        assert_eq!(compiled(&gw.logs()), 1, "{name} is compiled at upload, once:\n{}", gw.logs());

        let t = Instant::now();
        gw.restart();
        let listening = t.elapsed();
        let id = accepted_message_id(&gw.fire("adobe", ADOBE_INPUT, "application/json").await);
        let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
        let restart = t.elapsed();
        let restart_attempt = attempts(&m["deliveries"][0])[0]["duration_ms"].clone();
        assert_eq!(compiled(&gw.logs()), 1, "{name} is not compiled again after a restart:\n{}", gw.logs());
        println!(
            "{name}: {:.1} MB, first upload {:.1} s, first event served in {} ms (attempt {first_attempt} ms), \
             restart to listening {} ms, restart to first event served {} ms (attempt {restart_attempt} ms)",
            size as f64 / 1e6,
            upload.as_secs_f64(),
            first.as_millis(),
            listening.as_millis(),
            restart.as_millis(),
        );
    }
}
