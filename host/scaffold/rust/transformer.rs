//! `{{name}}`: a hookgate transformer. Wraps the event's JSON data in an envelope with the
//! event id and marks the request with a header.

use hookgate_sdk::{export_transformer, json, Message, OutgoingRequest, TransformResult, Transformer, Value};

struct Component;

impl Transformer for Component {
    fn transform(message: Message, mut draft: OutgoingRequest) -> TransformResult {
        let data: Value = match message.json() {
            Ok(data) => data,
            Err(e) => return TransformResult::error(format!("the message is not JSON: {e}")),
        };
        if let Err(e) = draft.set_json(&json!({ "event": message.event_id, "data": data })) {
            return TransformResult::error(e.to_string());
        }
        draft.set_header("x-transformed-by", "{{name}}");
        hookgate_sdk::info!("transformed {}", message.message_id);
        TransformResult::Send(draft)
    }
}

export_transformer!(Component);
