//! `adobe-to-json`: a transformer that flattens an Adobe-style envelope
//! `{"data":{"uid":"..","event":"..","value":{...}}}` into one JSON object: all the fields of
//! `value`, plus `uid` and `event`. Sets `content-type: application/json` and
//! `x-hookgate-event: <event>`; keeps the draft's method and URL. No config keys.

use hookgate_sdk::serde::Deserialize;
use hookgate_sdk::serde_json::{Map, Value};
use hookgate_sdk::{export_transformer, info, Message, OutgoingRequest, TransformResult, Transformer};

#[derive(Deserialize)]
#[serde(crate = "hookgate_sdk::serde")]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
#[serde(crate = "hookgate_sdk::serde")]
struct Data {
    uid: String,
    event: String,
    value: Map<String, Value>,
}

struct AdobeToJson;

impl Transformer for AdobeToJson {
    fn transform(message: Message, mut draft: OutgoingRequest) -> TransformResult {
        let Data { uid, event, value } = match message.json::<Envelope>() {
            Ok(envelope) => envelope.data,
            Err(e) => {
                return TransformResult::error(format!(
                    "adobe-to-json: expected {{\"data\":{{\"uid\",\"event\",\"value\"}}}}: {e}"
                ))
            }
        };
        let mut flat = value;
        flat.insert("uid".into(), Value::String(uid.clone()));
        flat.insert("event".into(), Value::String(event.clone()));
        if let Err(e) = draft.set_json(&flat) {
            return TransformResult::error(format!("adobe-to-json: {e}"));
        }
        draft.set_header("x-hookgate-event", event);
        info!("transformed {uid}");
        TransformResult::Send(draft)
    }
}

export_transformer!(AdobeToJson);

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_sdk::{json, testing, Level};

    fn message(body: &str) -> Message {
        Message {
            event_id: "adobe".into(),
            message_id: "m1".into(),
            received_at: 1,
            headers: vec![],
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
        }
    }

    fn draft() -> OutgoingRequest {
        OutgoingRequest {
            method: "PUT".into(),
            url: "http://target/x".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: vec![],
        }
    }

    #[test]
    fn flattens() {
        testing::reset();
        let body = r#"{"data":{"uid":"u-1","event":"order.created","value":{"a":1,"b":{"c":true}}}}"#;
        let TransformResult::Send(out) = AdobeToJson::transform(message(body), draft()) else {
            panic!("expected send")
        };
        assert_eq!(out.method, "PUT");
        assert_eq!(out.url, "http://target/x");
        assert_eq!(out.header("content-type"), Some("application/json"));
        assert_eq!(out.header("x-hookgate-event"), Some("order.created"));
        let v: Value = out.json().unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": true}, "uid": "u-1", "event": "order.created"}));
        assert_eq!(testing::take_logs(), vec![(Level::Info, "transformed u-1".to_string())]);
    }

    #[test]
    fn rejects_other_shapes() {
        for body in ["not json", r#"{"uid":"x"}"#, r#"{"data":{"uid":"x","event":"e","value":[1]}}"#] {
            match AdobeToJson::transform(message(body), draft()) {
                TransformResult::Error(e) => assert!(
                    e.starts_with(r#"adobe-to-json: expected {"data":{"uid","event","value"}}: "#),
                    "{e}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }
}
