//! `{{name}}`: a hookgate condition. A 2xx whose JSON body says `{"ok": true}` is a
//! success, `{"ok": false}` asks for a retry, anything else fails.

use hookgate_sdk::{export_condition, Condition, OutgoingRequest, Response, Value, Verdict};

struct Component;

impl Condition for Component {
    fn evaluate(_request: OutgoingRequest, response: Response, attempt: u32) -> Verdict {
        if !(200..300).contains(&response.status) {
            return Verdict::Retry(None);
        }
        match response.json::<Value>().ok().and_then(|v| v.get("ok").and_then(Value::as_bool)) {
            Some(true) => Verdict::Success,
            Some(false) => {
                hookgate_sdk::info!("target not ready at attempt {attempt}");
                Verdict::Retry(None)
            }
            None => Verdict::Fail("the response has no boolean `ok`".into()),
        }
    }
}

export_condition!(Component);
