//! The Adobe Commerce ingestion webhook, and the example catalog in `examples/adobe-commerce/`.

use super::*;

// ------------------------------------------------------------------------------------------------
// Ellity webhooks
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn ellity_disabled_target_gets_no_delivery() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.credit",
        json!({"targets": [
            {"id": "on", "method": "POST", "url": rx.url("/on"), "retry": fast_retry(3)},
            {"id": "off", "enabled": false, "method": "POST", "url": rx.url("/off"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let r = gw
        .fire("customer.credit", r#"{"c":1}"#, "application/json")
        .await;
    assert_eq!(r.json()["deliveries"], 1, "{}", r.text());
    let id = accepted_message_id(&r);
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let targets: Vec<&str> = m["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["on"], "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_request(
        &only_request_to(&rx, "/on"),
        "POST",
        "/on",
        &[("content-type", "application/json")],
        br#"{"c":1}"#,
    );
    assert!(rx.requests_to("/off").is_empty());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn ellity_templates_fill_url_headers_and_body() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let body = concat!(
        r###"{"eshop":"#account.eshopId#","email":"#customer.email#","name":"#customer.name#","###,
        r###""credit":"#customer.credit#","change":"#creditChange.value#","group":"#customer.group.id#","###,
        r###""first_sku":"#items.0.sku#","missing":"#customer.nope#","tag":"##vip","###,
        r###""msg":"#message.id#","event":"#event.id#","shop":"#subshop#","partner":"#config.partner#","###,
        r###""custom":{"field":"vlastni_pole"}}"###
    );
    gw.put_event_ok(
        "customer.updated",
        json!({"targets": [{"id": "crm", "method": "POST",
            "url": rx.url("/c/#customer.id#?email=#customer.email#&tier=#customer.tier.name#&sku=#items.1.sku#&none=#customer.nope#&shop=#subshop#"),
            "headers": {
                "X-Group": "#customer.group.name#",
                "X-Ids": "#message.id#|#event.id#|#subshop#",
                "X-Literal": "a##b",
                "X-Missing": "[#customer.nope#]",
                "X-Cfg": "#config.partner#"
            },
            "body": body,
            "config": {"partner": "acme"},
            "retry": fast_retry(3)}]}),
    )
    .await;
    let name = "Jan \"Honza\" \\ Novák";
    let data = json!({
        "customer": {"id": 7, "email": "jan novak@x.cz", "name": name, "credit": 12.5,
                     "group": {"id": 3, "name": "VIP"}, "tier": {"id": 2, "name": "Gold & Co"}},
        "creditChange": {"value": -5},
        "account": {"eshopId": "shop-1"},
        "items": [{"sku": "S-1"}, {"sku": "S/2"}]
    });
    let r = gw
        .fire_with(
            "customer.updated",
            data.to_string(),
            &[
                ("content-type", "application/json"),
                ("X-Hookgate-Subshop", "cz"),
            ],
        )
        .await;
    let id = accepted_message_id(&r);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    let got = only_request_to(&rx, "/c/7");
    assert_eq!(got.method, "POST", "{got:#?}");
    assert_eq!(
        got.path, "/c/7?email=jan%20novak%40x.cz&tier=Gold%20%26%20Co&sku=S%2F2&none=&shop=cz",
        "{got:#?}"
    );
    assert_eq!(
        app_headers(&got),
        sorted_headers(&[
            ("x-group", "VIP"),
            ("x-ids", &format!("{id}|customer.updated|cz")),
            ("x-literal", "a#b"),
            ("x-missing", "[]"),
            ("x-cfg", "acme"),
            ("content-type", "application/json"),
        ]),
        "{got:#?}"
    );
    let sent = got.json();
    assert_eq!(
        sent,
        json!({"eshop": "shop-1", "email": "jan novak@x.cz", "name": name, "credit": "12.5",
               "change": "-5", "group": "3", "first_sku": "S-1", "missing": "", "tag": "#vip",
               "msg": id, "event": "customer.updated", "shop": "cz", "partner": "acme",
               "custom": {"field": "vlastni_pole"}}),
        "{got:#?}"
    );
    assert_eq!(sent["name"].as_str(), Some(name));
}

#[tokio::test]
async fn ellity_body_template_that_is_not_json_is_refused() {
    let gw = Gateway::new();
    for body in [
        r##"{"email":"#customer.email#""##,
        r##"{"email":"#customer.email#",}"##,
        r##"{"email": #customer.email# "x"}"##,
    ] {
        let r = gw
            .put_event(
                "broken",
                json!({"targets": [{"id": "t1", "method": "POST", "url": "http://127.0.0.1:9/hook",
                    "body": body}]}),
            )
            .await;
        let msg = r.assert_error(400, "invalid_config");
        assert!(
            msg.contains("position"),
            "{body}: the message should give the position: {msg:?}"
        );
    }
    gw.event("broken").await.assert_status(404);
}

#[tokio::test]
async fn ellity_method_defaults_post_with_body_get_without() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.tier",
        json!({"targets": [
            {"id": "with-body", "url": rx.url("/post"),
             "body": r##"{"id":"#customer.id#","tier":"#customer.tier.name#"}"##, "retry": fast_retry(3)},
            {"id": "without", "url": rx.url("/get?id=#customer.id#"), "retry": fast_retry(3)}
        ]}),
    )
    .await;
    let id = gw
        .fire_json(
            "customer.tier",
            &json!({"customer": {"id": 9, "tier": {"name": "Gold"}}}),
        )
        .await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;

    let post = only_request_to(&rx, "/post");
    assert_eq!(post.method, "POST", "{post:#?}");
    assert_eq!(post.path, "/post", "{post:#?}");
    assert_eq!(
        app_headers(&post),
        sorted_headers(&[("content-type", "application/json")]),
        "{post:#?}"
    );
    assert_eq!(post.json(), json!({"id": "9", "tier": "Gold"}), "{post:#?}");
    assert_request(&only_request_to(&rx, "/get"), "GET", "/get?id=9", &[], b"");
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn ellity_api_key_in_the_url_is_masked_in_the_log() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "customer.vip",
        json!({"targets": [{"id": "t1", "method": "GET", "url": rx.url("/hook?key=#config.api_key#"),
            "config": {"api_key": "secret-key-123"}, "retry": fast_retry(3)}]}),
    )
    .await;
    let id = gw
        .fire_json("customer.vip", &json!({"customer": {"id": 1}}))
        .await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_request(
        &only_request_to(&rx, "/hook"),
        "GET",
        "/hook?key=secret-key-123",
        &[],
        b"",
    );
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["request"]["method"], "GET", "{m}");
    assert_eq!(a[0]["request"]["url"], rx.url("/hook?key=***"), "{m}");
    assert!(!m.to_string().contains("secret-key-123"), "{m}");
}

// ------------------------------------------------------------------------------------------------
// Adobe Commerce ingestion
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn adobe_ingest_routes_by_event_and_answers_like_the_starter_kit() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    for (event, path) in [
        ("be-observer.catalog_product_create", "/product/create"),
        ("be-observer.customer_create", "/customer/create"),
    ] {
        gw.put_event_ok(
            event,
            json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url(path), "retry": fast_retry(3)}]}),
        )
        .await;
    }
    let body = envelope(
        "event_uid_1",
        "be-observer.catalog_product_create",
        json!({"sku": "PRODUCT_SKU", "name": "Product SKU", "price": 1,
               "description": "Product SKU description"}),
    );
    let r = ingest(&gw, &body).await;
    let id = ingest_accepted(&r, "be-observer.catalog_product_create");
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["event_id"], "be-observer.catalog_product_create", "{m}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_request(
        &only_request_to(&rx, "/product/create"),
        "POST",
        "/product/create",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert!(rx.requests_to("/customer/create").is_empty());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn adobe_ingest_unknown_event_is_a_400() {
    let gw = Gateway::new();
    let r = ingest(&gw, &envelope("u1", "be-observer.nope", json!({"x": 1}))).await;
    ingest_error(&r, 400, "unknown_event");
    assert!(gw.messages("").await["messages"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn adobe_ingest_incomplete_envelope_is_a_400_naming_the_field() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.put_event_ok(
        "be-observer.customer_update",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/c"), "retry": fast_retry(3)}]}),
    )
    .await;
    let ev = "be-observer.customer_update";
    for (missing, body) in [
        ("uid", json!({"data": {"event": ev, "value": {"id": 1}}})),
        ("event", json!({"data": {"uid": "u1", "value": {"id": 1}}})),
        ("value", json!({"data": {"uid": "u1", "event": ev}})),
    ] {
        let r = ingest(&gw, &body.to_string()).await;
        let msg = ingest_error(&r, 400, "invalid_envelope");
        assert!(
            msg.contains(missing),
            "missing {missing}: the message should name it: {msg:?}"
        );
    }
    assert!(gw.messages_of(ev).await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);
}

#[tokio::test]
async fn adobe_ingest_same_uid_is_one_message_and_one_delivery() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let ev = "be-observer.sales_order_status_update";
    gw.put_event_ok(
        ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/order"), "retry": fast_retry(3)}]}),
    )
    .await;
    let body = envelope(
        "order-uid-7",
        ev,
        json!({"order_id": 7, "status": "complete"}),
    );
    let first = ingest_accepted(&ingest(&gw, &body).await, ev);
    let second = ingest_accepted(&ingest(&gw, &body).await, ev);
    assert_eq!(first, second);
    gw.wait_message_status(&first, "delivered", DEADLINE).await;
    // Again after the delivery.
    let third = ingest_accepted(&ingest(&gw, &body).await, ev);
    assert_eq!(first, third);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stored = gw.messages_of(ev).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0]["deliveries"].as_array().unwrap().len(),
        1,
        "{stored:?}"
    );
    assert_eq!(attempts(&stored[0], 0).len(), 1, "{stored:?}");
    assert_request(
        &only_request_to(&rx, "/order"),
        "POST",
        "/order",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );

    // Another uid is another message.
    let other = ingest_accepted(
        &ingest(&gw, &envelope("order-uid-8", ev, json!({"order_id": 8}))).await,
        ev,
    );
    assert_ne!(other, first);
    gw.wait_message_status(&other, "delivered", DEADLINE).await;
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn adobe_ingest_authenticator_denies_bad_signatures() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    gw.install("hmac-auth").await;
    let ev = "be-observer.customer_delete";
    gw.put_event_ok(
        ev,
        json!({"authenticator": {"component": "hmac-auth", "config": {"secret": "adobe-s3cret"}},
            "targets": [{"id": "t1", "method": "POST", "url": rx.url("/c"), "retry": fast_retry(3)}]}),
    )
    .await;
    let body = envelope("del-1", ev, json!({"id": 1}));
    for sig in [
        None,
        Some(hmac_sha256_hex(b"wrong-secret", body.as_bytes())),
        Some(hmac_sha256_hex(b"adobe-s3cret", b"another body")),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(s) = &sig {
            headers.push(("x-signature", s.as_str()));
        }
        let r = gw.post_raw("/v1/ingest", body.clone(), &headers).await;
        ingest_error(&r, 401, "unauthorized");
    }
    assert!(gw.messages_of(ev).await.is_empty());

    let sig = hmac_sha256_hex(b"adobe-s3cret", body.as_bytes());
    let r = gw
        .post_raw(
            "/v1/ingest",
            body.clone(),
            &[
                ("content-type", "application/json"),
                ("x-signature", sig.as_str()),
            ],
        )
        .await;
    let id = ingest_accepted(&r, ev);
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let got = only_request_to(&rx, "/c");
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/c");
    assert_eq!(got.body.as_ref(), body.as_bytes());
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn adobe_target_400_fails_at_once_and_500_is_retried() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    rx.respond_with(|r| {
        if r.path == "/bad" {
            Reply::status(400)
        } else {
            Reply::status(500)
        }
    });
    let (bad_ev, down_ev) = (
        "be-observer.catalog_product_update",
        "be-observer.catalog_product_delete",
    );
    gw.put_event_ok(
        bad_ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/bad"), "retry": fast_retry(3)}]}),
    )
    .await;
    gw.put_event_ok(
        down_ev,
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/down"), "retry": fast_retry(3)}]}),
    )
    .await;
    let bad = ingest_accepted(
        &ingest(&gw, &envelope("b1", bad_ev, json!({"sku": "B"}))).await,
        bad_ev,
    );
    let down = ingest_accepted(
        &ingest(&gw, &envelope("d1", down_ev, json!({"sku": "D"}))).await,
        down_ev,
    );

    let m = gw.wait_message_status(&bad, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 1, "{m}");
    assert_eq!(a[0]["status_code"], 400, "{m}");
    assert_eq!(a[0]["error"]["code"], "http_status", "{m}");

    let m = gw.wait_message_status(&down, "failed", DEADLINE).await;
    let a = attempts(&m, 0);
    assert_eq!(a.len(), 3, "{m}");
    for at in &a {
        assert_eq!(at["status_code"], 500, "{m}");
        assert_eq!(at["error"]["code"], "http_status", "{m}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests_to("/bad").len(), 1);
    assert_eq!(rx.requests_to("/down").len(), 3);
}

// ------------------------------------------------------------------------------------------------
// Adobe Commerce example catalog
// ------------------------------------------------------------------------------------------------

/// The seed's entities and events.
const CATALOG: &[(&str, &str)] = &[
    ("product", "be-observer.catalog_product_create"),
    ("product", "be-observer.catalog_product_update"),
    ("product", "be-observer.catalog_product_delete"),
    ("customer", "be-observer.customer_create"),
    ("customer", "be-observer.customer_update"),
    ("customer", "be-observer.customer_delete"),
    ("customer-group", "be-observer.customer_group_create"),
    ("customer-group", "be-observer.customer_group_update"),
    ("customer-group", "be-observer.customer_group_delete"),
    ("order", "be-observer.sales_order_status_update"),
    ("order", "be-observer.sales_order_shipment_create"),
    ("order", "be-observer.sales_order_shipment_update"),
    ("stock", "be-observer.catalog_stock_update"),
];

/// Runs `bash examples/adobe-commerce/load.sh ARGS` with no stdin, for at most 60 s.
async fn run_loader(args: &[&str]) -> (i32, String, String) {
    let script = repo_root()
        .join("examples")
        .join("adobe-commerce")
        .join("load.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let mut child = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait for load.sh").is_some() {
            break;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("load.sh did not finish within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().expect("load.sh output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn adobe_example_catalog_loads_and_routes_every_event() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let base = rx.url("/backoffice");

    // A wrong token: non-zero exit, nothing stored.
    let (code, _, err) = run_loader(&[&gw.base_url(), "not-the-token", &base]).await;
    assert_ne!(code, 0, "load.sh must fail on a 401: {err}");
    assert!(err.contains("401"), "stderr should show the answer: {err}");
    let listed = gw.admin_get("/v1/admin/events").await.json();
    assert_eq!(listed["events"], json!([]), "{listed}");

    let (code, out, err) = run_loader(&[&gw.base_url(), ADMIN_TOKEN, &base]).await;
    assert_eq!(code, 0, "load.sh failed:\n{out}\n{err}");

    // Exactly the catalog's events, each one target.
    let public = gw.get("/v1/events").await.json();
    let ids: BTreeSet<String> = public["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = CATALOG.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(ids, expected, "{public}");

    let mut bodies = Vec::new();
    for (i, (entity, event)) in CATALOG.iter().enumerate() {
        let body = envelope(
            &format!("uid-{i}"),
            event,
            json!({"entity": entity, "id": i, "name": format!("sample {i}")}),
        );
        let id = ingest_accepted(&ingest(&gw, &body).await, event);
        bodies.push((entity, event, body, id));
    }
    for (_, _, _, id) in &bodies {
        gw.wait_message_status(id, "delivered", DEADLINE).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (entity, event, body, _) in &bodies {
        let path = format!("/backoffice/{entity}/{event}");
        assert_request(
            &only_request_to(&rx, &path),
            "POST",
            &path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
    }
    assert_eq!(rx.count(), CATALOG.len());

    // Loading again replaces the configurations and succeeds.
    let (code, out, err) = run_loader(&[&gw.base_url(), ADMIN_TOKEN, &base]).await;
    assert_eq!(code, 0, "second load failed:\n{out}\n{err}");
}
