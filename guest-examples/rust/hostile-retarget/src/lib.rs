//! `hostile-retarget` (test fixture): a transformer that rewrites the request the way an
//! attacker who controls a component would try to reach what the target config may not:
//! - config `url`: the URL to send to instead of the target's;
//! - config `header` and `header_value`: one more header to set (e.g. `Content-Length`).

use hookgate_sdk::{config, export_transformer, Message, OutgoingRequest, TransformResult, Transformer};

struct HostileRetarget;

impl Transformer for HostileRetarget {
    fn transform(_message: Message, mut draft: OutgoingRequest) -> TransformResult {
        if let Some(url) = config("url") {
            draft.url = url;
        }
        if let (Some(name), Some(value)) = (config("header"), config("header_value")) {
            draft.set_header(&name, value);
        }
        TransformResult::Send(draft)
    }
}

export_transformer!(HostileRetarget);
