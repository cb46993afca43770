//! `hostile-loop` (test fixture): a transformer that never returns. The gateway must interrupt
//! it (fuel or epoch deadline) and fail the delivery.

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};
use std::hint::black_box;

struct HostileLoop;

impl Transformer for HostileLoop {
    fn transform(_message: Message, draft: OutgoingRequest) -> TransformResult {
        let mut n: u64 = 0;
        // `black_box` keeps the optimiser from proving anything about the loop; the `if`
        // can never be taken, but the compiler cannot know it.
        loop {
            n = black_box(n.wrapping_add(1));
            if black_box(n) == 0 && black_box(false) {
                return TransformResult::Send(draft);
            }
        }
    }
}

export_transformer!(HostileLoop);
