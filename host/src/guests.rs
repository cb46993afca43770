//! Calling a bound component from the async pipeline: on the blocking pool (a call may
//! run for its whole time budget) once a place in the runtime's instance pool is free,
//! loading or compiling the component on first use, and counted in the metrics. Used by
//! ingest (authenticator) and delivery (transformer, condition) alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::Instrument;

use crate::model::{Binding, FailureCode};
use crate::runtime::{GuestCall, Prepared};
use crate::App;

/// A call that could not start or finish in the host (not the guest's own failure, which
/// is in [`GuestCall::result`]).
#[derive(Debug)]
pub struct CallFailed {
    pub code: FailureCode,
    pub message: String,
}

impl App {
    /// Runs `call` with the component `binding` names and the binding's config.
    pub async fn call_guest<T: Send + 'static>(
        self: &Arc<Self>,
        binding: &Binding,
        role: &'static str,
        call: impl FnOnce(&App, &Prepared, BTreeMap<String, serde_json::Value>) -> GuestCall<T> + Send + 'static,
    ) -> Result<GuestCall<T>, CallFailed> {
        let app = self.clone();
        let binding = binding.clone();
        let span = tracing::info_span!("guest_call", component = %binding.component, role);
        async move {
            // Held by the blocking call itself: it is released when the call ends, even if
            // the caller stopped waiting for it.
            let slot = app.guest_slots.clone().acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                let prepared = app
                    .components
                    .load(&binding.component)
                    .map_err(|e| CallFailed { code: FailureCode::ComponentUnavailable, message: e.to_string() })?;
                let done = call(&app, &prepared, binding.config);
                app.metrics.guest_call(&binding.component, role, done.outcome(), done.duration);
                Ok(done)
            })
            .await
            .map_err(|e| CallFailed { code: FailureCode::GuestTrap, message: format!("the guest call panicked in the host: {e}") })?
        }
        .instrument(span)
        .await
    }
}
