//! `hostile-panic` (test fixture): a transformer that panics with `hostile-panic: boom`. A
//! panic aborts (traps) the component; the SDK also logs the panic message through the host
//! `log` import at error level just before.

use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};

struct HostilePanic;

impl Transformer for HostilePanic {
    fn transform(_message: Message, _draft: OutgoingRequest) -> TransformResult {
        panic!("hostile-panic: boom");
    }
}

export_transformer!(HostilePanic);
