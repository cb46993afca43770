//! Event config validation, as the admin API runs it on a PUT body:
//! - parsing and validation never panic;
//! - a config valid for an HTTPS-only gateway is valid with `--allow-http` too;
//! - a valid config survives a round trip through its stored JSON (floats aside), still valid;
//! - every target of a valid config drafts a request, and a body template gives JSON.
#![no_main]

use hookgate::delivery::request::draft;
use hookgate::model::{EventConfig, MessageRecord};
use hookgate::settings::DEFAULT_MAX_REQUEST_BYTES;
use hookgate::validate;
use hookgate_fuzz::{parses_as_json, registry};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Message data with characters that break JSON, URLs and headers.
const DATA: &[u8] = br#"{"a":{"b":"x \"y\"\n#..","0":[1.5,null]},"b":"/?&=%\u0000","0":true}"#;

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fuzz_target!(|body: &[u8]| {
    let Ok(config) = serde_json::from_slice::<EventConfig>(body) else { return };
    let components = registry();
    if validate::event_config(&config, components, false).is_err() {
        return;
    }
    assert!(validate::event_config(&config, components, true).is_ok());
    let stored = serde_json::to_vec(&config).unwrap();
    let reread: EventConfig = serde_json::from_slice(&stored).unwrap();
    // serde_json's default float parsing is best-effort (off by an ulp at times), so a
    // config with floats in it is only required to stay valid.
    if !has_float(&serde_json::to_value(&config).unwrap()) {
        assert_eq!(reread, config);
    }
    assert!(validate::event_config(&reread, components, false).is_ok());
    let message = MessageRecord {
        message_id: "msg_1".into(),
        event_id: "ev".into(),
        received_at: String::new(),
        received_at_ms: 0,
        headers: Vec::new(),
        content_type: Some("application/json".into()),
        body_size: DATA.len(),
        subshop: Some("de".into()),
        idempotency_key: None,
        traceparent: None,
    };
    for target in &config.targets {
        let request = match draft(target, &message, DATA, DEFAULT_MAX_REQUEST_BYTES) {
            Ok(request) => request,
            // A template may repeat a value until the request passes the cap: refused, bounded.
            Err(e) if e.code == hookgate::model::FailureCode::RequestTooLarge => continue,
            Err(e) => panic!("{} does not draft: {e:?}", target.id),
        };
        if target.body.is_some() && !target.method().data_in_query() {
            assert!(parses_as_json(&String::from_utf8_lossy(&request.body)), "{:?}", request.body);
        }
    }
});
