//! The second half of the pipeline: take due deliveries from the durable queue, attempt
//! them, record each attempt, and schedule the next one or settle the delivery.
//!
//! A queue entry stays in the store until its attempt is recorded; in memory the
//! dispatcher only remembers which entries it has claimed. So a crash mid-attempt leaves
//! the entry due, and the next start attempts it again (at-least-once).

mod attempt;
mod client;
pub mod egress;
pub mod gate;
pub mod request;
pub mod signing;
pub mod retry;
pub mod success;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::model::{now_ms, DeliveryStatus};
pub use client::HttpClients;

use crate::store::QueueEntry;
use crate::App;

/// Longest the dispatcher sleeps without looking at the queue.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The running delivery workers.
pub struct Dispatcher {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
    slots: Arc<Semaphore>,
    concurrency: usize,
}

struct Worker {
    app: Arc<App>,
    clients: HttpClients,
    claimed: Mutex<HashSet<String>>,
    gates: Arc<gate::Gates>,
}

impl Dispatcher {
    pub fn start(app: Arc<App>, clients: HttpClients) -> Dispatcher {
        let concurrency = app.settings.delivery_concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (stop, stopped) = watch::channel(false);
        let worker = Arc::new(Worker { clients, app, claimed: Mutex::new(HashSet::new()), gates: Arc::default() });
        let task = tokio::spawn(worker.run(slots.clone(), stopped));
        Dispatcher { task, stop, slots, concurrency }
    }

    /// Stops taking new deliveries and waits up to `grace` for attempts in flight.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let all = self.slots.acquire_many(self.concurrency as u32);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("attempts still in flight after {grace:?}; they will be retried after restart");
        }
    }
}

impl Worker {
    async fn run(self: Arc<Self>, slots: Arc<Semaphore>, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let wait = self.dispatch_due(&slots);
            tokio::select! {
                _ = self.app.queue_changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// Starts every due, unclaimed delivery there is a slot for; returns how long to wait
    /// before the next one is due.
    fn dispatch_due(self: &Arc<Self>, slots: &Arc<Semaphore>) -> Duration {
        let claimed_count = self.claimed.lock().map(|c| c.len()).unwrap_or(0);
        let head = match self.app.store.queue_head(claimed_count + slots.available_permits() + 1) {
            Ok(head) => head,
            Err(e) => {
                tracing::error!("cannot read the delivery queue: {e}");
                return IDLE_POLL;
            }
        };
        let now = now_ms();
        for entry in head {
            if entry.due_ms > now {
                return Duration::from_millis(entry.due_ms - now).min(IDLE_POLL);
            }
            let Ok(mut claimed) = self.claimed.lock() else { return IDLE_POLL };
            if claimed.contains(&entry.delivery_key) {
                continue;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else { return IDLE_POLL };
            claimed.insert(entry.delivery_key.clone());
            drop(claimed);
            let worker = self.clone();
            tokio::spawn(async move {
                let key = entry.delivery_key.clone();
                worker.process(entry).await;
                if let Ok(mut claimed) = worker.claimed.lock() {
                    claimed.remove(&key);
                }
                drop(permit);
                worker.app.queue_changed.notify_one();
            });
        }
        IDLE_POLL
    }

    async fn process(&self, entry: QueueEntry) {
        let store = &self.app.store;
        let delivery = match store.delivery(&entry.delivery_key) {
            Ok(Some(d)) if d.status == DeliveryStatus::Pending => d,
            Ok(_) => {
                if let Err(e) = store.drop_queue_entry(&entry) {
                    tracing::error!("cannot drop a stale queue entry: {e}");
                }
                return;
            }
            Err(e) => {
                tracing::error!("cannot read delivery {}: {e}", entry.delivery_key);
                return;
            }
        };
        let span = tracing::info_span!("deliver", message = %delivery.message_id, target = %delivery.target);
        let mut delivery = delivery;
        let context = attempt::load(&self.app, &delivery);
        let mut admitted = None;
        if let Ok(ctx) = &context {
            let key = format!("{}/{}", ctx.message.event_id, ctx.target.id);
            match self.gates.admit(&key, ctx.target.max_in_flight, now_ms()) {
                gate::Admission::Go(pass) => admitted = Some((pass, key, ctx.target.circuit_breaker.clone())),
                gate::Admission::Wait { until_ms, paused } => {
                    let deadline = ctx.target.retry.deadline_ms.map(|d| ctx.message.received_at_ms.saturating_add(d));
                    if deadline.is_some_and(|deadline| until_ms > deadline) {
                        delivery.status = DeliveryStatus::Failed;
                        delivery.next_attempt_at_ms = None;
                        delivery.reason = Some(format!(
                            "deadline_exceeded: the target cannot take the delivery before its deadline ({})",
                            paused.as_deref().unwrap_or("target busy")
                        ));
                    } else {
                        delivery.next_attempt_at_ms = Some(until_ms);
                        if paused.is_some() {
                            delivery.reason = paused;
                        }
                    }
                    if let Err(e) = store.save_delivery(Some(&entry), &delivery) {
                        tracing::error!("cannot postpone {}: {e}", entry.delivery_key);
                    }
                    return;
                }
            }
        }
        let event_id = context.as_ref().map_or_else(|_| "unknown".to_string(), |c| c.message.event_id.clone());
        let tried = attempt::run(&self.app, &self.clients, &delivery, context).instrument(span.clone()).await;
        let outcome = tried.attempt.error.as_ref().map_or("ok", |e| e.code.as_str());
        let took = Duration::from_millis(tried.attempt.duration_ms);
        self.app.metrics.attempt(&event_id, &delivery.target, outcome, took);
        if let Some((pass, key, breaker)) = admitted {
            self.gates.record(&key, &breaker, health(&tried.outcome), now_ms());
            drop(pass);
        }
        delivery.attempts.push(tried.attempt);
        delivery.reason = None;
        let attempts = delivery.attempts.len() as u32;
        delivery.next_attempt_at_ms = None;
        match tried.outcome {
            attempt::Outcome::Delivered => delivery.status = DeliveryStatus::Delivered,
            attempt::Outcome::Skipped(reason) => {
                delivery.status = DeliveryStatus::Skipped;
                delivery.reason = Some(reason);
            }
            attempt::Outcome::Failed(error) => {
                delivery.status = DeliveryStatus::Failed;
                delivery.reason = Some(format!("{}: {}", error.code, error.message));
            }
            attempt::Outcome::Retry { error, .. } if attempts >= tried.policy.max_attempts => {
                delivery.status = DeliveryStatus::Failed;
                delivery.reason = Some(format!("gave up after {attempts} attempts; last: {}: {}", error.code, error.message));
            }
            attempt::Outcome::Retry { error, after } => {
                let delay = retry::delay(&tried.policy, attempts, after, &mut rand::thread_rng());
                let next = now_ms() + delay.as_millis() as u64;
                if tried.deadline_at_ms.is_some_and(|deadline| next > deadline) {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.reason = Some(format!(
                        "deadline_exceeded: the next attempt would start after the delivery deadline; last: {}: {}",
                        error.code, error.message
                    ));
                } else {
                    delivery.next_attempt_at_ms = Some(next);
                }
            }
        }
        span.in_scope(|| tracing::info!(status = ?delivery.status, attempts, "attempt recorded"));
        if delivery.status != DeliveryStatus::Pending {
            self.app.metrics.settled(&event_id, &delivery.target, delivery.status);
        }
        // Durable before the next attempt is taken, so that the log survives a crash.
        let key = entry.delivery_key.clone();
        if let Err(e) = self.app.committer.record(entry, delivery).await {
            tracing::error!("cannot record the attempt of {key}: {e}");
        }
    }
}

/// What an attempt's outcome says about the target, for its circuit breaker: any answer
/// but a 5xx or 429 means it is up; no answer means it is down.
fn health(outcome: &attempt::Outcome) -> gate::Health {
    let (error, retried) = match outcome {
        attempt::Outcome::Delivered => return gate::Health::Up,
        attempt::Outcome::Skipped(_) => return gate::Health::Unknown,
        attempt::Outcome::Retry { error, .. } => (error, true),
        attempt::Outcome::Failed(error) => (error, false),
    };
    match error.code.as_str() {
        "connect_error" | "timeout" | "network_error" | "tls_error" => gate::Health::Down,
        "http_status" if retried => gate::Health::Down,
        "http_status" => gate::Health::Up,
        _ => gate::Health::Unknown,
    }
}
