//! `hostile-output` (test fixture): a transformer that returns a 16 MiB body (big, yet within
//! a 64 MiB guest memory), to exercise the gateway's limit on what a component may return.

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};

struct HostileOutput;

/// 16 MiB.
const SIZE: usize = 16 << 20;

impl Transformer for HostileOutput {
    fn transform(_message: Message, mut draft: OutgoingRequest) -> TransformResult {
        draft.body = vec![b'x'; SIZE];
        draft.set_header("content-type", "application/octet-stream");
        TransformResult::Send(draft)
    }
}

export_transformer!(HostileOutput);
