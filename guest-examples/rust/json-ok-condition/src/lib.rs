//! `json-ok-condition`: a condition that reads the target's JSON answer: `{"ok": true}` is a
//! success, `{"ok": false}` asks for a retry on the normal schedule, anything else fails the
//! delivery. No config keys.

use hookgate_sdk::{export_condition, Condition, OutgoingRequest, Response, Value, Verdict};

struct JsonOk;

impl Condition for JsonOk {
    fn evaluate(_request: OutgoingRequest, response: Response, _attempt: u32) -> Verdict {
        let ok = response
            .json::<Value>()
            .ok()
            .and_then(|body| body.get("ok").and_then(Value::as_bool));
        match ok {
            Some(true) => Verdict::Success,
            Some(false) => Verdict::Retry(None),
            None => Verdict::fail("json-ok-condition: response has no boolean ok field"),
        }
    }
}

export_condition!(JsonOk);

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(body: &str) -> Verdict {
        let request = OutgoingRequest {
            method: "POST".into(),
            url: "http://t".into(),
            headers: vec![],
            body: vec![],
        };
        let response = Response { status: 200, headers: vec![], body: body.as_bytes().to_vec() };
        JsonOk::evaluate(request, response, 1)
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(r#"{"ok": true}"#), Verdict::Success);
        assert_eq!(verdict(r#"{"ok": false, "why": "busy"}"#), Verdict::Retry(None));
        for body in ["", "[]", r#"{"ok": "yes"}"#, r#"{"status": "ok"}"#] {
            assert_eq!(
                verdict(body),
                Verdict::fail("json-ok-condition: response has no boolean ok field")
            );
        }
    }
}
