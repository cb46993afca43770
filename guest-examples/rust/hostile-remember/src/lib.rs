//! `hostile-remember` (test fixture): a transformer that tries to carry state from one call
//! to the next, in a global counter, a heap list and a 20 MiB static buffer (more than the
//! runtime keeps resident per pooled memory, so both ways a slot is reset are crossed).
//! It reports what it found in the header `x-remembered`; in a sandbox that starts fresh
//! for every call that is always `calls=1;dirty=no;seen=<this message id>`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};

static CALLS: AtomicU32 = AtomicU32::new(0);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
static mut SCRATCH: [u8; 20 << 20] = [0; 20 << 20];

struct HostileRemember;

impl Transformer for HostileRemember {
    fn transform(message: Message, mut draft: OutgoingRequest) -> TransformResult {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        let seen = match SEEN.lock() {
            Ok(mut seen) => {
                seen.push(message.message_id);
                seen.join(",")
            }
            Err(_) => "poisoned".to_string(),
        };
        // SAFETY: a component runs single-threaded; nothing else touches the buffer.
        let scratch = unsafe { &mut *std::ptr::addr_of_mut!(SCRATCH) };
        let dirty = if scratch.iter().any(|&b| b != 0) { "yes" } else { "no" };
        scratch.fill(0xAB);
        draft.set_header("x-remembered", format!("calls={calls};dirty={dirty};seen={seen}"));
        TransformResult::Send(draft)
    }
}

export_transformer!(HostileRemember);
