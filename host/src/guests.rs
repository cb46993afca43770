//! Calling a bound component from the async pipeline: on a few long-lived guest threads fed
//! by a queue (a call may run for its whole time budget, so not on the async workers),
//! loading or compiling the component on first use, and counted in the metrics. Used by
//! ingest (authenticator) and delivery (transformer, condition) alike.
//!
//! Why not tokio's blocking pool: there every call waited for a thread to be woken and
//! scheduled, and the next call for the async task that held its place to run again; on a
//! busy machine those hand-offs, not the guest, set the pace (BENCHMARKS.md). A guest thread
//! takes the next call from the queue as soon as it is done with one.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

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

type Job = Box<dyn FnOnce() + Send>;

/// The threads that run guest calls, one per `--guest-concurrency`; they end when the
/// gateway (which holds the queue's sending side) is dropped.
pub struct GuestThreads {
    queue: mpsc::Sender<Job>,
}

impl GuestThreads {
    pub fn start(threads: usize) -> std::io::Result<GuestThreads> {
        let (queue, jobs) = mpsc::channel::<Job>();
        // One receiver for all: the thread holding the lock waits for the next call, the
        // others wait for the lock.
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new().name(format!("hookgate-guest-{n}")).spawn(move || loop {
                let next = match jobs.lock() {
                    Ok(jobs) => jobs.recv(),
                    Err(_) => return,
                };
                match next {
                    // A panic in the host's part of a call fails that call (its reply is
                    // dropped), not the thread.
                    Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
                    Err(_) => return,
                }
            })?;
        }
        Ok(GuestThreads { queue })
    }

    fn run(&self, job: Job) -> bool {
        self.queue.send(job).is_ok()
    }
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
        let lost = || CallFailed { code: FailureCode::GuestTrap, message: "the guest call panicked in the host".into() };
        async move {
            // Bounds the queue (callers beyond it wait here, without a thread). Held by the
            // call itself: released when the call ends, even if the caller stopped waiting.
            let slot = app.guest_slots.clone().acquire_owned().await;
            let (reply, replied) = tokio::sync::oneshot::channel();
            let threads = app.clone();
            let job: Job = Box::new(move || {
                let _slot = slot;
                let done = app
                    .components
                    .load(&binding.component)
                    .map_err(|e| CallFailed { code: FailureCode::ComponentUnavailable, message: e.to_string() })
                    .map(|prepared| call(&app, &prepared, binding.config));
                if let Ok(done) = &done {
                    app.metrics.guest_call(&binding.component, role, done.outcome(), done.duration);
                }
                let _ = reply.send(done);
            });
            if !threads.guest_threads.run(job) {
                return Err(lost());
            }
            replied.await.map_err(|_| lost())?
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Barrier};
    use std::time::Duration;

    use super::GuestThreads;

    #[test]
    fn calls_run_side_by_side_and_a_panic_fails_only_its_own_call() {
        let threads = GuestThreads::start(2).unwrap();
        // Two calls that each wait for the other: they finish only if both run at once.
        let both = Arc::new(Barrier::new(2));
        let (done, finished) = mpsc::channel();
        for _ in 0..2 {
            let (both, done) = (both.clone(), done.clone());
            assert!(threads.run(Box::new(move || {
                both.wait();
                done.send(()).unwrap();
            })));
        }
        for _ in 0..2 {
            finished.recv_timeout(Duration::from_secs(10)).expect("both calls ran at once");
        }
        // Panics on every thread; then each thread still takes calls.
        for _ in 0..2 {
            assert!(threads.run(Box::new(|| panic!("a host-side failure in one call"))));
        }
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let (ran, done) = (ran.clone(), done.clone());
            assert!(threads.run(Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                done.send(()).unwrap();
            })));
        }
        for _ in 0..4 {
            finished.recv_timeout(Duration::from_secs(10)).expect("the threads outlived the panics");
        }
        assert_eq!(ran.load(Ordering::SeqCst), 4);
    }
}
