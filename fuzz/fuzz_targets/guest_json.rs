//! The guest JSON views (the local component runner's input and dry runs): user JSON becomes
//! a guest request, message or response without panicking, and what the gateway prints back
//! (`request_json`) reads as the same request again.
#![no_main]

use hookgate::runtime::json::{incoming_request, message, outgoing_request, request_json, response};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(input) else { return };
    let _ = incoming_request(&value, "request");
    if let Ok(message) = message(&value, "message") {
        let as_text = value.get("body").and_then(Value::as_str);
        assert!(as_text.is_none_or(|text| message.body == text.as_bytes()));
        if value.get("content_type").is_none_or(Value::is_null) {
            let json_body = value.get("body").is_some_and(|b| !b.is_string() && !b.is_null());
            assert_eq!(message.content_type.is_some(), json_body);
        }
    }
    if let Ok(response) = response(&value, "response") {
        assert!(value.get("status").is_none_or(|s| s.is_null() || s.as_u64() == Some(u64::from(response.status))));
    }
    if let Ok(request) = outgoing_request(&value, "draft") {
        let printed = request_json(&request);
        let reread = outgoing_request(&printed, "draft").expect("a printed request reads back");
        assert_eq!(request_json(&reread), printed);
        if std::str::from_utf8(&request.body).is_ok() {
            assert_eq!(reread.body, request.body);
        }
        assert_eq!((reread.method, reread.url, reread.headers), (request.method, request.url, request.headers));
    }
});
