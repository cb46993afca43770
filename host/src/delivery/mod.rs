//! The second half of the pipeline: take due deliveries from the durable queue, attempt
//! them, record each attempt, and schedule the next one or settle the delivery.
//!
//! A queue entry stays in the store until its attempt is recorded; in memory the
//! dispatcher only remembers which entries it has claimed. So a crash mid-attempt leaves
//! the entry due, and the next start attempts it again (at-least-once).

mod attempt;
mod client;
pub mod gate;
pub mod request;
pub mod retry;
mod settle;
pub mod success;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::model::{message_id_time_ms, now_ms, rfc3339_now, BreakerPolicy, DeliveryRecord, DeliveryStatus, Disabled, FailureCode, OnFailure};
pub use client::HttpClients;

use crate::store::{Claim, Claimed, Lane, StoreError};
use crate::App;

/// Longest the dispatcher sleeps without looking at the queue, when the gateway owns it:
/// its own appends and attempts wake it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The same on a store other gateways share, whose appends wake no one here: how long a
/// delivery queued by another node may wait before this one looks.
const SHARED_IDLE_POLL: Duration = Duration::from_millis(200);

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
    gates: Arc<gate::Gates>,
    /// Where the next round over the lanes starts, so that no lane always goes first.
    turn: AtomicUsize,
    /// Longest sleep between looks at the queue.
    idle_poll: Duration,
}

/// An attempt let through its lane's gate, and the breaker policy to report its health to.
struct Admitted {
    pass: gate::Pass,
    lane: String,
    breaker: BreakerPolicy,
    disable_after_failing_ms: Option<u64>,
}

/// What looking at one lane's head gave.
enum Step {
    /// An entry was taken (attempted or postponed); the lane may have more.
    Took,
    /// The head is due at this time.
    Later(u64),
    /// The lane's target has all the attempts it may have in flight; a finished attempt
    /// wakes the dispatcher again.
    Busy,
    Empty,
    /// Every delivery slot is taken.
    NoSlot,
}

impl Dispatcher {
    pub fn start(app: Arc<App>, clients: HttpClients) -> Dispatcher {
        let concurrency = app.settings.delivery_concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (stop, stopped) = watch::channel(false);
        let idle_poll = if app.store.shared() { SHARED_IDLE_POLL } else { IDLE_POLL };
        let worker = Arc::new(Worker { clients, gates: app.gates.clone(), app, turn: AtomicUsize::new(0), idle_poll });
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
            let wait = match self.dispatch_due(&slots).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!("cannot take deliveries from the queue: {e}");
                    self.idle_poll
                }
            };
            tokio::select! {
                _ = self.app.queue_changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// Starts due deliveries while there are free slots, taking one per lane in turn and
    /// passing over lanes whose target is busy; returns how long to wait before the next
    /// one is due.
    async fn dispatch_due(self: &Arc<Self>, slots: &Arc<Semaphore>) -> Result<Duration, StoreError> {
        let now = now_ms();
        let mut lanes: Vec<Lane> = self.app.store.lanes().await?.into_iter().map(|(lane, _)| lane).collect();
        if !lanes.is_empty() {
            let start = self.turn.fetch_add(1, Ordering::Relaxed) % lanes.len();
            lanes.rotate_left(start);
        }
        let mut next_due = u64::MAX;
        while !lanes.is_empty() {
            let mut more = Vec::with_capacity(lanes.len());
            for lane in lanes {
                match self.take_one(&lane, now, slots).await? {
                    Step::Took => more.push(lane),
                    Step::Later(due) => next_due = next_due.min(due),
                    Step::Busy | Step::Empty => {}
                    Step::NoSlot => return Ok(self.idle_poll), // a finished attempt frees a slot and wakes us
                }
            }
            lanes = more;
        }
        Ok(Duration::from_millis(next_due.saturating_sub(now)).min(self.idle_poll))
    }

    async fn take_one(self: &Arc<Self>, lane: &Lane, now: u64, slots: &Arc<Semaphore>) -> Result<Step, StoreError> {
        if slots.available_permits() == 0 {
            return Ok(Step::NoSlot);
        }
        let event = self.app.store.event(&lane.event_id);
        let target = event.as_ref().and_then(|e| e.target(&lane.target_id));
        if target.is_some_and(|t| !t.enabled) {
            // A disabled target's deliveries wait, untouched, until it is enabled again.
            self.gates.forget_failing(&lane.target());
            return Ok(Step::Empty);
        }
        if let Some(until) = self.gates.rate_wait(&lane.target(), target.and_then(|t| t.rate_limit.as_ref()), now) {
            return Ok(Step::Later(until));
        }
        let claim = match self.app.store.claim_due(lane, now).await? {
            Claim::Taken(claim) => claim,
            Claim::NotDue(due) => return Ok(Step::Later(due)),
            Claim::Empty => return Ok(Step::Empty),
        };
        let admitted = match target {
            // The attempt finds the target gone and records why.
            None => None,
            Some(target) => {
                let key = lane.target();
                let limits = gate::Limits { max_in_flight: target.max_in_flight, rate: target.rate_limit.as_ref() };
                match self.gates.admit(&key, limits, now) {
                    gate::Admission::Go(pass) => Some(Admitted {
                        pass,
                        lane: key,
                        breaker: target.circuit_breaker.clone(),
                        disable_after_failing_ms: target.disable_after_failing_ms,
                    }),
                    gate::Admission::Busy => {
                        self.app.store.release(claim).await?;
                        return Ok(Step::Busy);
                    }
                    gate::Admission::Paused { until_ms, why } => {
                        let received_at_ms = message_id_time_ms(claim.entry.message_id()).unwrap_or(now);
                        let deadline = target.retry.deadline_for(received_at_ms);
                        let worker = self.clone();
                        tokio::spawn(async move { worker.postpone(claim, until_ms, why, deadline).await });
                        return Ok(Step::Took);
                    }
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            self.app.store.release(claim).await?;
            return Ok(Step::NoSlot);
        };
        let worker = self.clone();
        tokio::spawn(async move {
            worker.process(claim, admitted, permit).await;
            worker.app.queue_changed.notify_one();
        });
        Ok(Step::Took)
    }

    /// The delivery of a claimed entry, if it still waits for this attempt; otherwise the
    /// entry is dropped as stale (or handed back when the store cannot tell).
    async fn pending_delivery(&self, claim: &Claimed) -> Option<DeliveryRecord> {
        let store = &self.app.store;
        let read = match &claim.delivery {
            Some(delivery) => Ok(Some(delivery.as_ref().clone())),
            None => store.delivery(&claim.entry.delivery_key).await,
        };
        match read {
            Ok(Some(d)) if claim.entry.is_live_for(&d) => return Some(d),
            Ok(_) => {
                if let Err(e) = store.discard(claim.clone()).await {
                    tracing::error!("cannot drop a stale queue entry: {e}");
                }
            }
            Err(e) => {
                tracing::error!("cannot read delivery {}: {e}", claim.entry.delivery_key);
                if let Err(e) = store.release(claim.clone()).await {
                    tracing::error!("cannot hand a queue entry back: {e}");
                }
            }
        }
        None
    }

    /// Moves a delivery of a paused target to `until_ms` with the reason in its log, or
    /// fails it when that is past its deadline. Never an attempt, never a failure otherwise.
    async fn postpone(&self, claim: Claimed, until_ms: u64, paused: String, deadline: Option<u64>) {
        let Some(mut delivery) = self.pending_delivery(&claim).await else { return };
        if deadline.is_some_and(|deadline| until_ms > deadline) {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at_ms = None;
            delivery.reason = Some(format!("deadline_exceeded: the target cannot take the delivery before its deadline ({paused})"));
            self.hold_key_if_blocking(&claim, &mut delivery);
        } else {
            delivery.next_attempt_at_ms = Some(until_ms);
            delivery.reason = Some(paused);
        }
        let key = claim.entry.delivery_key.clone();
        if let Err(e) = self.app.store.record(claim, delivery).await {
            tracing::error!("cannot postpone {key}: {e}");
        }
    }

    /// Switches a dead target off (`disable_after_failing_ms`): every attempt to it failed
    /// for `failing_ms`. Its waiting deliveries stay queued until it is enabled again.
    async fn disable(&self, event_id: &str, target_id: &str, failing_ms: u64) {
        let Some(event) = self.app.store.event(event_id) else { return };
        let mut config = (*event).clone();
        let Some(target) = config.targets.iter_mut().find(|t| t.id == target_id && t.enabled) else { return };
        let reason = format!("every attempt failed for {} s (disable_after_failing_ms); enable it again to resume", failing_ms / 1000);
        tracing::warn!(event = event_id, target = target_id, "disabling the target: {reason}");
        target.enabled = false;
        target.disabled = Some(Disabled { at: rfc3339_now(), reason });
        if let Err(e) = self.app.store.put_event(event_id, &config).await {
            tracing::error!(event = event_id, target = target_id, "cannot disable the target: {e}");
        }
    }

    /// A delivery that failed for good holds its ordering key when its target says
    /// `"on_failure": "block"`: the key's later deliveries wait for an operator.
    fn hold_key_if_blocking(&self, claim: &Claimed, delivery: &mut DeliveryRecord) {
        if delivery.status != DeliveryStatus::Failed || delivery.ordering_key.is_none() {
            return;
        }
        let event = self.app.store.event(&claim.entry.event_id);
        let target = event.as_ref().and_then(|e| e.target(&delivery.target));
        if target.and_then(|t| t.ordering.as_ref()).is_some_and(|o| o.on_failure == OnFailure::Block) {
            delivery.holds_key = true;
            if let Some(reason) = &mut delivery.reason {
                reason.push_str("; it holds its ordering key until an operator retries or skips it");
            }
        }
    }

    async fn process(&self, claim: Claimed, admitted: Option<Admitted>, _slot: OwnedSemaphorePermit) {
        let Some(mut delivery) = self.pending_delivery(&claim).await else { return };
        let span = tracing::info_span!("deliver", message = %delivery.message_id, target = %delivery.target);
        let context = attempt::load(&self.app, &delivery).await;
        if let Ok(context) = &context {
            crate::telemetry::continue_trace(&span, context.message.traceparent.as_deref(), None);
        }
        let event_id = claim.entry.event_id.clone();
        let tried = attempt::run(&self.app, &self.clients, &delivery, context).instrument(span.clone()).await;
        let mut disable_after_failing = None;
        let outcome = tried.attempt.error.as_ref().map_or("ok", |e| e.code.as_str());
        let took = Duration::from_millis(tried.attempt.duration_ms);
        self.app.metrics.attempt(&event_id, &delivery.target, outcome, took);
        if let Some(Admitted { pass, lane, breaker, disable_after_failing_ms }) = admitted {
            let now = now_ms();
            let health = health(&tried.outcome);
            self.gates.record(&lane, &breaker, health, now);
            drop(pass);
            let delivered = match &tried.outcome {
                attempt::Outcome::Delivered => Some(true),
                attempt::Outcome::Retry { error, .. } | attempt::Outcome::Failed(error)
                    if health == gate::Health::Down || error.code == FailureCode::HttpStatus =>
                {
                    Some(false)
                }
                _ => None, // a guest's error or decision says nothing about the target
            };
            if let (Some(after), Some(delivered)) = (disable_after_failing_ms, delivered) {
                let since = self.gates.failing(&lane, delivered, now);
                if since.is_some_and(|since| now - since >= after) {
                    self.gates.forget_failing(&lane);
                    disable_after_failing = Some((delivery.target.clone(), now - since.unwrap_or(now)));
                }
            }
        }
        let mut attempt = tried.attempt;
        attempt.node = Some(self.app.settings.node_id.clone());
        delivery.attempts.push(attempt);
        let attempts = delivery.attempts.len() as u32;
        let delay = |attempts, after| retry::delay(&tried.policy, attempts, after, &mut rand::rng());
        settle::settle(&mut delivery, tried.outcome, &tried.policy, tried.deadline_at_ms, now_ms(), delay);
        // Every attempt is in the delivery log; the process log names only those that did
        // not deliver (at 10,000 deliveries a second, a line each costs a tenth of the CPU).
        match delivery.status {
            DeliveryStatus::Delivered => span.in_scope(|| tracing::debug!(attempts, "delivered")),
            status => span.in_scope(|| {
                let reason = delivery.reason.as_deref();
                tracing::info!(message_id = %delivery.message_id, target = %delivery.target, ?status, attempts, reason, "attempt recorded")
            }),
        }
        if delivery.status != DeliveryStatus::Pending {
            self.app.metrics.settled(&event_id, &delivery.target, delivery.status);
        }
        self.hold_key_if_blocking(&claim, &mut delivery);
        // Durable before the next attempt is taken, so that the log survives a crash.
        let key = claim.entry.delivery_key.clone();
        if let Err(e) = self.app.store.record(claim, delivery).await {
            tracing::error!("cannot record the attempt of {key}: {e}");
        }
        // After the record: whoever sees the target disabled sees the attempt that did it.
        if let Some((target, failing_ms)) = disable_after_failing {
            self.disable(&event_id, &target, failing_ms).await;
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
    match error.code {
        code if code.is_unreachable() => gate::Health::Down,
        FailureCode::HttpStatus if retried => gate::Health::Down,
        FailureCode::HttpStatus => gate::Health::Up,
        _ => gate::Health::Unknown,
    }
}
