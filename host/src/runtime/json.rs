//! The guest contract's values as JSON, for people: the local component runner reads its
//! input this way and prints results this way, and dry runs compare outputs in it.
//! Bodies are text (a JSON value given as a body is sent as its JSON text); headers are an
//! object or a list of `[name, value]` pairs.

use serde_json::{json, Map, Value};

use super::{AuthDecision, GuestMessage, GuestResponse, IncomingRequest, OutgoingRequest, TransformResult, Verdict};

/// A field of the input that has the wrong shape.
#[derive(Debug, thiserror::Error)]
#[error("input field `{field}`: {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> InputError {
    InputError { field: field.to_string(), problem: problem.into() }
}

fn text(obj: &Map<String, Value>, at: &str, key: &str, default: &str) -> Result<String, InputError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(&format!("{at}.{key}"), "must be a string")),
    }
}

fn body(obj: &Map<String, Value>) -> Vec<u8> {
    match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    }
}

fn headers(obj: &Map<String, Value>, at: &str) -> Result<Vec<(String, String)>, InputError> {
    let field = format!("{at}.headers");
    match obj.get("headers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())).ok_or_else(|| bad(&field, "values must be strings")))
            .collect(),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(bad(&field, "a list must hold [name, value] string pairs")),
            })
            .collect(),
        Some(_) => Err(bad(&field, "must be an object or a list of [name, value] pairs")),
    }
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, InputError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Err(bad(at, "is missing")),
        _ => Err(bad(at, "must be an object")),
    }
}

pub fn incoming_request(value: &Value, at: &str) -> Result<IncomingRequest, InputError> {
    let obj = object(value, at)?;
    Ok(IncomingRequest {
        method: text(obj, at, "method", "POST")?,
        path: text(obj, at, "path", "/")?,
        query: text(obj, at, "query", "")?,
        headers: headers(obj, at)?,
        body: body(obj),
    })
}

pub fn outgoing_request(value: &Value, at: &str) -> Result<OutgoingRequest, InputError> {
    let obj = object(value, at)?;
    Ok(OutgoingRequest {
        method: text(obj, at, "method", "POST")?,
        url: text(obj, at, "url", "https://example.com/")?,
        headers: headers(obj, at)?,
        body: body(obj),
    })
}

pub fn message(value: &Value, at: &str) -> Result<GuestMessage, InputError> {
    let obj = object(value, at)?;
    let received_at = match obj.get("received_at") {
        None | Some(Value::Null) => crate::model::now_ms(),
        Some(v) => v.as_u64().ok_or_else(|| bad(&format!("{at}.received_at"), "must be Unix milliseconds"))?,
    };
    let content_type = match obj.get("content_type") {
        None | Some(Value::Null) => obj.get("body").filter(|b| !b.is_string() && !b.is_null()).map(|_| "application/json".to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(&format!("{at}.content_type"), "must be a string")),
    };
    Ok(GuestMessage {
        event_id: text(obj, at, "event_id", "example.event")?,
        message_id: text(obj, at, "message_id", "msg_local")?,
        received_at,
        headers: headers(obj, at)?,
        content_type,
        body: body(obj),
    })
}

pub fn response(value: &Value, at: &str) -> Result<GuestResponse, InputError> {
    let obj = object(value, at)?;
    let status = match obj.get("status") {
        None | Some(Value::Null) => 200,
        Some(v) => v.as_u64().and_then(|s| u16::try_from(s).ok()).ok_or_else(|| bad(&format!("{at}.status"), "must be an HTTP status"))?,
    };
    Ok(GuestResponse { status, headers: headers(obj, at)?, body: body(obj) })
}

fn pairs(headers: &[(String, String)]) -> Value {
    Value::Array(headers.iter().map(|(k, v)| json!([k, v])).collect())
}

pub fn request_json(request: &OutgoingRequest) -> Value {
    json!({
        "method": request.method,
        "url": request.url,
        "headers": pairs(&request.headers),
        "body": String::from_utf8_lossy(&request.body),
    })
}

pub fn transform_json(result: &TransformResult) -> Value {
    match result {
        TransformResult::Send(request) => json!({ "send": request_json(request) }),
        TransformResult::Skip(reason) => json!({ "skip": reason }),
        TransformResult::Error(reason) => json!({ "error": reason }),
    }
}

pub fn auth_json(decision: &AuthDecision) -> Value {
    match decision {
        AuthDecision::Allow => json!("allow"),
        AuthDecision::Deny(reason) => json!({ "deny": reason }),
    }
}

pub fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Success => json!("success"),
        Verdict::Retry(after_ms) => json!({ "retry": after_ms }),
        Verdict::Fail(reason) => json!({ "fail": reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_may_be_text_or_json_and_headers_an_object_or_pairs() {
        let m = message(&json!({"body": {"a": 1}, "headers": {"X-A": "1"}}), "message").unwrap();
        assert_eq!(m.body, br#"{"a":1}"#);
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(m.headers, vec![("X-A".to_string(), "1".to_string())]);
        let r = outgoing_request(&json!({"body": "plain", "headers": [["a", "b"]]}), "draft").unwrap();
        assert_eq!((r.body.as_slice(), r.headers.len()), (&b"plain"[..], 1));
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let err = message(&json!({"received_at": "yesterday"}), "message").unwrap_err();
        assert_eq!(err.to_string(), "input field `message.received_at`: must be Unix milliseconds");
        assert!(response(&json!({"status": 70000}), "response").is_err());
        assert!(incoming_request(&json!({"headers": [["only-name"]]}), "request").is_err());
        assert!(outgoing_request(&Value::Null, "draft").unwrap_err().to_string().contains("missing"));
    }
}
