//! WEBSALE ASSE: fire, data as given, events and subshops, success criteria and retries, the delivery log.

use super::*;

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: fire
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn asse_fire_answers_202_at_once_while_the_receiver_is_slow() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(Duration::from_secs(3)));
    gw.put_event_ok(
        "myevent",
        json!({"targets": [{"id": "newsletter", "method": "POST", "url": rx.url("/nl"),
            "retry": retry(1, 10_000)}]}),
    )
    .await;

    let started = Instant::now();
    let r = gw.fire("myevent", "userid=42", "text/plain").await;
    let took = started.elapsed();
    r.assert_status(202);
    let v = r.json();
    assert_eq!(keys(&v), ["deliveries", "message_id"], "{v}");
    assert_eq!(v["deliveries"], 1, "{v}");
    let id = accepted_message_id(&r);
    assert!(id.starts_with("msg_"), "{v}");
    assert!(
        took < Duration::from_millis(1500),
        "the 202 took {took:?} while the receiver answers after 3 s"
    );
    // The 202 is there, the receiver's answer is not: the delivery is still pending.
    let m = gw.message(&id).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "too slow to check"
    );
    assert_eq!(m["status"], "pending", "{m}");
    assert_eq!(m["deliveries"][0]["status"], "pending", "{m}");

    let reqs = rx.wait_requests(1, DEADLINE).await;
    assert_request(
        &reqs[0],
        "POST",
        "/nl",
        &[("content-type", "text/plain")],
        b"userid=42",
    );
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 200, "{m}");
    let ms = a[0]["duration_ms"].as_u64().unwrap_or(0);
    assert!(
        ms >= 2900,
        "the attempt took {ms} ms, the receiver 3 s: {m}"
    );
}

#[tokio::test]
async fn asse_fire_unknown_and_disabled_events_are_refused() {
    let gw = Gateway::new();
    let rx = Receiver::start();

    let r = gw.fire("no-such-event", "userid=1", "text/plain").await;
    r.assert_error(404, "unknown_event");
    assert_eq!(keys(&r.json()), ["error"], "{}", r.text());
    assert_eq!(
        keys(&r.json()["error"]),
        ["code", "message"],
        "{}",
        r.text()
    );

    gw.put_event_ok(
        "off",
        json!({"enabled": false,
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/off"), "retry": fast_retry(2)}]}),
    )
    .await;
    let r = gw.fire("off", "userid=1", "text/plain").await;
    r.assert_error(409, "event_disabled");
    assert_eq!(keys(&r.json()), ["error"], "{}", r.text());
    assert_eq!(
        keys(&r.json()["error"]),
        ["code", "message"],
        "{}",
        r.text()
    );

    assert!(gw.messages_of("off").await.is_empty());
    assert!(gw.messages_of("no-such-event").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: data as given
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_is_the_body_for_post_put_and_patch_as_given() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    for event in ["text", "json"] {
        gw.put_event_ok(
            event,
            json!({"targets": [
                {"id": "post", "method": "POST", "url": rx.url(&format!("/{event}/post")), "retry": fast_retry(3)},
                {"id": "put", "method": "PUT", "url": rx.url(&format!("/{event}/put?x=1")), "retry": fast_retry(3)},
                {"id": "patch", "method": "PATCH", "url": rx.url(&format!("/{event}/patch")), "retry": fast_retry(3)}
            ]}),
        )
        .await;
    }

    let text = "a=1&b=hello world";
    let r = gw.fire("text", text, "text/plain").await;
    assert_eq!(r.json()["deliveries"], 3, "{}", r.text());
    let text_id = accepted_message_id(&r);
    let json_body =
        r#"{"customer": {"id": 7, "name": "Jo \"JJ\""}, "items": [1, 2.5, null], "ok": true}"#;
    let r = gw.fire("json", json_body, "application/json").await;
    assert_eq!(r.json()["deliveries"], 3, "{}", r.text());
    let json_id = accepted_message_id(&r);
    gw.wait_message_status(&text_id, "delivered", DEADLINE)
        .await;
    gw.wait_message_status(&json_id, "delivered", DEADLINE)
        .await;

    for (method, path, query) in [
        ("POST", "post", ""),
        ("PUT", "put", "?x=1"),
        ("PATCH", "patch", ""),
    ] {
        let got = only_request_to(&rx, &format!("/text/{path}"));
        assert_request(
            &got,
            method,
            &format!("/text/{path}{query}"),
            &[("content-type", "text/plain")],
            text.as_bytes(),
        );
        let got = only_request_to(&rx, &format!("/json/{path}"));
        assert_eq!(got.method, method, "{got:#?}");
        assert_eq!(got.path, format!("/json/{path}{query}"), "{got:#?}");
        assert_eq!(
            app_headers(&got),
            sorted_headers(&[("content-type", "application/json")]),
            "{got:#?}"
        );
        assert_eq!(
            got.json(),
            hookgate_tests::serde_json::from_str::<Value>(json_body).unwrap(),
            "{got:#?}"
        );
    }
    assert_eq!(rx.count(), 6);
}

#[tokio::test]
async fn data_goes_into_the_query_string_for_get_and_delete() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "q",
        json!({"targets": [
            {"id": "get-q", "method": "GET", "url": rx.url("/hook?x=1"), "retry": fast_retry(3)},
            {"id": "get", "method": "GET", "url": rx.url("/plain"), "retry": fast_retry(3)},
            {"id": "del-q", "method": "DELETE", "url": rx.url("/del?x=1"), "retry": fast_retry(3)},
            {"id": "del", "method": "DELETE", "url": rx.url("/del2"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let r = gw.fire("q", "a=1&b=2", "text/plain").await;
    assert_eq!(r.json()["deliveries"], 4, "{}", r.text());
    let id = accepted_message_id(&r);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    assert_request(
        &only_request_to(&rx, "/hook"),
        "GET",
        "/hook?x=1&a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/plain"),
        "GET",
        "/plain?a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/del"),
        "DELETE",
        "/del?x=1&a=1&b=2",
        &[],
        b"",
    );
    assert_request(
        &only_request_to(&rx, "/del2"),
        "DELETE",
        "/del2?a=1&b=2",
        &[],
        b"",
    );
    assert_eq!(rx.count(), 4);
}

#[tokio::test]
async fn url_template_variables_take_the_data_instead_of_the_query() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "vars",
        json!({"targets": [
            {"id": "get", "method": "GET", "url": rx.url("/c/#customer.id#?e=#customer.email#"),
             "retry": fast_retry(3)},
            {"id": "del", "method": "DELETE", "url": rx.url("/d/#customer.id#"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let id = gw
        .fire_json("vars", &json!({"customer": {"id": 7, "email": "a@b.cz"}}))
        .await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_request(
        &only_request_to(&rx, "/c/7"),
        "GET",
        "/c/7?e=a%40b.cz",
        &[],
        b"",
    );
    assert_request(&only_request_to(&rx, "/d/7"), "DELETE", "/d/7", &[], b"");
    assert_eq!(rx.count(), 2);
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: list events, subshops
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_event_list_shows_enabled_ids_only() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let target = json!({"id": "t1", "method": "POST", "url": rx.url("/secret-path?key=#config.api_key#"),
        "headers": {"Authorization": "Bearer header-token-zz"},
        "config": {"api_key": "top-secret-value"}});
    gw.put_event_ok("pub.a", json!({"targets": [target.clone()]}))
        .await;
    gw.put_event_ok(
        "pub.b",
        json!({"enabled": false, "targets": [target.clone()]}),
    )
    .await;
    gw.put_event_ok(
        "pub.c",
        json!({"subshops": {"de": true, "ch": false}, "targets": [target.clone()]}),
    )
    .await;
    gw.put_event_ok(
        "pub.d",
        json!({"enabled": false, "subshops": {"ch": true}, "targets": [target.clone()]}),
    )
    .await;

    for (query, expected) in [
        ("", vec!["pub.a", "pub.c"]),
        ("?subshop=ch", vec!["pub.a"]),
        ("?subshop=de", vec!["pub.a", "pub.c"]),
    ] {
        // No credentials.
        let r = gw.get(&format!("/v1/events{query}")).await;
        r.assert_status(200);
        let v = r.json();
        assert_eq!(keys(&v), ["events"], "{query}: {v}");
        let got: BTreeSet<String> = v["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: events is not an array: {v}"))
            .iter()
            .map(|e| {
                e.as_str()
                    .unwrap_or_else(|| panic!("{query}: an event id is not a string: {v}"))
                    .to_string()
            })
            .collect();
        assert_eq!(
            v["events"].as_array().unwrap().len(),
            got.len(),
            "{query}: duplicates in {v}"
        );
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, expected, "{query}: {v}");
        let text = r.text();
        for leak in [
            "secret-path",
            "top-secret-value",
            "header-token-zz",
            "127.0.0.1",
            "targets",
        ] {
            assert!(
                !text.contains(leak),
                "{query}: `{leak}` in the public list: {text}"
            );
        }
    }
}

#[tokio::test]
async fn per_subshop_enablement_and_the_subshop_variable() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "shop.ev",
        json!({"subshops": {"de": true, "ch": false},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/shop?s=#subshop#"),
                "headers": {"X-Shop": "[#subshop#]"}, "retry": fast_retry(3)}]}),
    )
    .await;

    // Switched off for ch: by query and by header.
    let r = gw
        .post_raw(
            "/v1/events/shop.ev?subshop=ch",
            "n=0",
            &[("content-type", "text/plain")],
        )
        .await;
    r.assert_error(409, "event_disabled");
    let r = gw
        .post_raw(
            "/v1/events/shop.ev",
            "n=0",
            &[("content-type", "text/plain"), ("X-Hookgate-Subshop", "ch")],
        )
        .await;
    r.assert_error(409, "event_disabled");

    // de by query, de by header, no subshop: accepted.
    let by_query = gw
        .post_raw(
            "/v1/events/shop.ev?subshop=de",
            "n=1",
            &[("content-type", "text/plain")],
        )
        .await;
    let by_query = accepted_message_id(&by_query);
    let by_header = gw
        .post_raw(
            "/v1/events/shop.ev",
            "n=2",
            &[("content-type", "text/plain"), ("X-Hookgate-Subshop", "de")],
        )
        .await;
    let by_header = accepted_message_id(&by_header);
    let none = accepted_message_id(&gw.fire("shop.ev", "n=3", "text/plain").await);
    for id in [&by_query, &by_header, &none] {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let by_body = |body: &str| {
        reqs.iter()
            .find(|r| r.text() == body)
            .unwrap_or_else(|| panic!("no request with body {body}: {reqs:#?}"))
    };
    for (body, subshop) in [("n=1", "de"), ("n=2", "de"), ("n=3", "")] {
        assert_request(
            by_body(body),
            "POST",
            &format!("/shop?s={subshop}"),
            &[
                ("content-type", "text/plain"),
                ("x-shop", &format!("[{subshop}]")),
            ],
            body.as_bytes(),
        );
    }
    // The refused fires stored nothing.
    let stored: BTreeSet<String> = gw
        .messages_of("shop.ev")
        .await
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, set(&[&by_query, &by_header, &none]));
}

// ------------------------------------------------------------------------------------------------
// WEBSALE ASSE: success criteria and retries
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn success_criteria_json_pointer_retries_until_ok() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "crit",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "success": {"status": ["200-204"], "content_type": "application/json",
                        "body_contains": "result", "body_json": {"pointer": "/result/ok", "equals": true}},
            "retry": fast_retry(5)}]}),
    )
    .await;
    rx.push(Reply::json(200, json!({"result": {"ok": false}})));
    rx.set_default(Reply::json(200, json!({"result": {"ok": true}})));

    let id = gw.fire_json("crit", &json!({"n": 1})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 2, "{m}");
    assert_eq!(a[0]["status_code"], 200, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    let why = a[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("/result/ok"),
        "the message should name the pointer: {m}"
    );
    assert_eq!(a[1]["status_code"], 200, "{m}");
    assert!(a[1]["error"].is_null(), "{m}");
    assert_eq!(m["deliveries"][0]["status"], "delivered", "{m}");

    let reqs = rx.wait_requests(2, DEADLINE).await;
    for r in &reqs {
        assert_request(
            r,
            "POST",
            "/hook",
            &[("content-type", "application/json")],
            br#"{"n":1}"#,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn every_success_criterion_is_checked_and_retried() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "crit",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"),
            "success": {"status": ["200-204"], "content_type": "application/json",
                        "body_contains": "accepted", "body_json": {"pointer": "/result/ok", "equals": true}},
            "retry": fast_retry(6)}]}),
    )
    .await;
    let good = json!({"accepted": 1, "result": {"ok": true}});
    // Status outside 200-204.
    rx.push(Reply::json(207, good.clone()));
    // Wrong content type.
    rx.push(Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: good.to_string().into(),
        delay: None,
    });
    // Body lacks the text.
    rx.push(Reply::json(200, json!({"result": {"ok": true}})));
    // JSON pointer has the wrong value.
    rx.push(Reply::json(
        200,
        json!({"accepted": 1, "result": {"ok": false}}),
    ));
    rx.set_default(Reply::json(200, good.clone()).header("x-extra", "1"));

    let id = gw.fire_json("crit", &json!({"n": 2})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 5, "{m}");
    let codes: Vec<Value> = a.iter().map(|x| x["status_code"].clone()).collect();
    assert_eq!(
        codes,
        [json!(207), json!(200), json!(200), json!(200), json!(200)],
        "{m}"
    );
    for (i, at) in a[..4].iter().enumerate() {
        assert_eq!(at["error"]["code"], "http_status", "attempt {i}: {m}");
    }
    assert!(
        a[3]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/result/ok"),
        "{m}"
    );
    assert!(a[4]["error"].is_null(), "{m}");
    assert_eq!(rx.count(), 5);
}

#[tokio::test]
async fn client_errors_fail_at_once_except_408_and_429() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| match r.path.as_str() {
        "/refuse" => Reply::status(422),
        _ => Reply::ok(),
    });
    gw.put_event_ok(
        "busy",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/busy"), "retry": fast_retry(5)}]}),
    )
    .await;
    gw.put_event_ok(
        "refuse",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/refuse"), "retry": fast_retry(5)}]}),
    )
    .await;
    rx.push(Reply::status(429));
    rx.push(Reply::status(408));
    let busy = gw.fire_json("busy", &json!({"b": 1})).await;
    let m = gw.wait_message_status(&busy, "delivered", DEADLINE).await;
    let a = attempts(&m, 0);
    let codes: Vec<Value> = a.iter().map(|x| x["status_code"].clone()).collect();
    assert_eq!(codes, [json!(429), json!(408), json!(200)], "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    assert_eq!(a[1]["error"]["code"], "http_status", "{m}");

    let refused = gw.fire_json("refuse", &json!({"r": 1})).await;
    let m = gw.wait_message_status(&refused, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 422, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");
    assert_eq!(m["deliveries"][0]["status"], "failed", "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests_to("/busy").len(), 3);
    assert_eq!(rx.requests_to("/refuse").len(), 1);
}

#[tokio::test]
async fn slower_than_timeout_ms_gives_timeout_attempts() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::ok().delay(Duration::from_millis(1500)));
    gw.put_event_ok(
        "slow",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/slow"),
            "retry": {"max_attempts": 2, "initial_delay_ms": 50, "max_delay_ms": 100, "timeout_ms": 300}}]}),
    )
    .await;
    let id = gw.fire_json("slow", &json!({"s": 1})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 2, "{m}");
    for at in &a {
        assert_eq!(at["error"]["code"], "timeout", "{m}");
        assert!(at["status_code"].is_null(), "{m}");
        let ms = at["duration_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            ms < 1400,
            "an attempt with timeout_ms 300 took {ms} ms: {m}"
        );
    }
    assert_eq!(m["deliveries"][0]["status"], "failed", "{m}");
    let reqs = rx.wait_requests(2, DEADLINE).await;
    for r in &reqs {
        assert_request(
            r,
            "POST",
            "/slow",
            &[("content-type", "application/json")],
            br#"{"s":1}"#,
        );
    }
}

#[tokio::test]
async fn deadline_ends_the_delivery_before_max_attempts() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.set_default(Reply::status(500));
    gw.put_event_ok(
        "late",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/late"),
            "retry": {"max_attempts": 50, "initial_delay_ms": 100, "max_delay_ms": 100,
                      "timeout_ms": 1000, "deadline_ms": 300}}]}),
    )
    .await;
    let id = gw.fire_json("late", &json!({"d": 1})).await;
    let m = gw
        .wait_message_status(&id, "failed", Duration::from_secs(5))
        .await;
    let d = &m["deliveries"][0];
    assert_eq!(d["status"], "failed", "{m}");
    let reason = d["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("deadline_exceeded"), "reason: {m}");
    let a = attempts(&m, 0);
    assert!(!a.is_empty() && a.len() < 50, "{} attempts: {m}", a.len());
    for at in &a {
        assert_eq!(at["status_code"], 500, "{m}");
        assert_eq!(at["error"]["code"], "http_status", "{m}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), a.len(), "one request per attempt");
    let spread = reqs.last().unwrap().at.duration_since(reqs[0].at);
    assert!(
        spread < Duration::from_millis(1300),
        "attempts went on for {spread:?} with a 300 ms deadline"
    );
}
