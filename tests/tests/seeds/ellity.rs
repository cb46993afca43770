//! Ellity webhooks: templates, the method default, the API key in the URL.

use super::*;

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
