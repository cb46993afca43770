//! `hostile-alloc` (test fixture): a transformer that allocates (and touches) memory without
//! bound, 1 MiB at a time. The gateway's memory limit must stop it (the allocation fails and
//! the component traps).

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};
use std::hint::black_box;

struct HostileAlloc;

const CHUNK: usize = 1 << 20;

impl Transformer for HostileAlloc {
    fn transform(_message: Message, draft: OutgoingRequest) -> TransformResult {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            // Write every byte so that the pages are really used.
            chunk.resize(CHUNK, black_box(0xa5u8));
            hoard.push(black_box(chunk));
            if black_box(hoard.len()) == usize::MAX {
                return TransformResult::Send(draft);
            }
        }
    }
}

export_transformer!(HostileAlloc);
