//! `hostile-recursion` (test fixture): a transformer that recurses without bound until the
//! stack overflows (a trap), using some stack in every frame.

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};
use std::hint::black_box;

struct HostileRecursion;

#[inline(never)]
fn dive(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 128]);
    // Never true, but the compiler cannot know: no lint, no tail call, no loop rewriting.
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = dive(black_box(depth + 1));
    below.wrapping_add(u64::from(black_box(frame)[(depth % 128) as usize]))
}

impl Transformer for HostileRecursion {
    fn transform(_message: Message, mut draft: OutgoingRequest) -> TransformResult {
        let n = dive(0);
        draft.set_header("x-depth", n.to_string());
        TransformResult::Send(draft)
    }
}

export_transformer!(HostileRecursion);
