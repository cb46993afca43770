//! Per-target admission, so that one slow or dead target cannot hold up the others:
//! a cap on its attempts in flight, an optional rate limit (a token bucket), and a circuit
//! breaker that pauses it after repeated failures and lets a single probe through when the
//! pause is over. All of it is per node: each gateway counts its own attempts. Deliveries that are
//! not admitted wait in the queue; they are never failed for it (only their deadline can).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{BreakerPolicy, RateLimit};

#[derive(Debug, Default)]
struct TargetState {
    in_flight: u32,
    consecutive_failures: u32,
    /// While in the future, the target is paused; once past, the next admission is a probe.
    open_until_ms: u64,
    pause_ms: u64,
    probing: bool,
    /// Since when every attempt to the target failed (unset once one delivers).
    failing_since_ms: Option<u64>,
    /// The rate limit's bucket, in thousandths of an attempt, as of `refilled_at_ms`.
    tokens_milli: u64,
    refilled_at_ms: u64,
}

impl TargetState {
    /// Refills the bucket to `now_ms`; when it holds less than one attempt, the time it
    /// will hold one.
    fn refill(&mut self, rate: &RateLimit, now_ms: u64) -> Option<u64> {
        let full = u64::from(rate.burst) * 1000;
        if self.refilled_at_ms == 0 {
            self.tokens_milli = full;
        } else {
            let earned = now_ms.saturating_sub(self.refilled_at_ms) * u64::from(rate.per_second);
            self.tokens_milli = (self.tokens_milli + earned).min(full);
        }
        self.refilled_at_ms = now_ms;
        (self.tokens_milli < 1000).then(|| now_ms + (1000 - self.tokens_milli).div_ceil(u64::from(rate.per_second.max(1))))
    }
}

/// What an attempt told about the target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
    /// Says nothing about the target (a guest error, a refused URL, ...).
    Unknown,
}

/// Where a target's circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Attempts go.
    Closed,
    /// Paused after repeated failures: no attempt until the probe.
    Open,
    /// The pause is over: the next attempt is a probe (or one is in flight), which closes
    /// the breaker or opens it for longer.
    HalfOpen,
}

/// A target's circuit breaker as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub state: BreakerState,
    /// Attempts in a row that found the target down.
    pub consecutive_failures: u32,
    /// While open: when the probe may go (Unix ms).
    pub probe_at_ms: Option<u64>,
}

#[derive(Debug)]
pub enum Admission {
    Go(Pass),
    /// The target has its cap of attempts in flight (or its one probe): try again when
    /// one of them ends.
    Busy,
    /// The breaker is open until `until_ms`; `why` is for the delivery log.
    Paused { until_ms: u64, why: String },
}

/// What a target allows at a time: its cap in flight and its rate.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub max_in_flight: u32,
    pub rate: Option<&'a RateLimit>,
}

/// An admitted attempt; dropping it frees its place.
#[derive(Debug)]
pub struct Pass {
    gates: Arc<Gates>,
    key: String,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some(state) = self.gates.states.lock().ok().as_mut().and_then(|s| s.get_mut(&self.key)) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

#[derive(Debug, Default)]
pub struct Gates {
    states: Mutex<HashMap<String, TargetState>>,
}

impl Gates {
    /// When the target's rate limit lets the next attempt start, if not now; the dispatcher
    /// leaves the lane alone until then (its deliveries stay queued, nothing is written).
    pub fn rate_wait(&self, key: &str, rate: Option<&RateLimit>, now_ms: u64) -> Option<u64> {
        let rate = rate?;
        let mut states = self.states.lock().ok()?;
        states.entry(key.to_string()).or_default().refill(rate, now_ms)
    }

    pub fn admit(self: &Arc<Self>, key: &str, limits: Limits<'_>, now_ms: u64) -> Admission {
        let Ok(mut states) = self.states.lock() else { return Admission::Busy };
        let state = states.entry(key.to_string()).or_default();
        if now_ms < state.open_until_ms {
            let why = format!(
                "target paused after {} consecutive failures; next probe in {} ms",
                state.consecutive_failures,
                state.open_until_ms - now_ms
            );
            return Admission::Paused { until_ms: state.open_until_ms, why };
        }
        let half_open = state.open_until_ms != 0;
        if (half_open && state.probing) || state.in_flight >= limits.max_in_flight.max(1) {
            return Admission::Busy;
        }
        if let Some(rate) = limits.rate {
            if state.refill(rate, now_ms).is_some() {
                return Admission::Busy;
            }
            state.tokens_milli -= 1000;
        }
        state.probing = half_open;
        state.in_flight += 1;
        Admission::Go(Pass { gates: self.clone(), key: key.to_string() })
    }

    /// The breaker of the target `key` at `now_ms`; closed for a target not tried yet.
    pub fn breaker(&self, key: &str, now_ms: u64) -> Breaker {
        let closed = Breaker { state: BreakerState::Closed, consecutive_failures: 0, probe_at_ms: None };
        let Ok(states) = self.states.lock() else { return closed };
        let Some(state) = states.get(key) else { return closed };
        let (state_now, probe_at_ms) = match state.open_until_ms {
            0 => (BreakerState::Closed, None),
            until if now_ms < until => (BreakerState::Open, Some(until)),
            _ => (BreakerState::HalfOpen, None),
        };
        Breaker { state: state_now, consecutive_failures: state.consecutive_failures, probe_at_ms }
    }

    pub fn record(&self, key: &str, policy: &BreakerPolicy, health: Health, now_ms: u64) {
        let Ok(mut states) = self.states.lock() else { return };
        let Some(state) = states.get_mut(key) else { return };
        let was_probe = std::mem::take(&mut state.probing);
        match health {
            Health::Up => {
                state.consecutive_failures = 0;
                state.open_until_ms = 0;
                state.pause_ms = 0;
            }
            Health::Down => {
                state.consecutive_failures += 1;
                let threshold_reached = policy.failure_threshold > 0 && state.consecutive_failures >= policy.failure_threshold;
                if was_probe || (threshold_reached && state.open_until_ms == 0) {
                    state.pause_ms = if was_probe { (state.pause_ms * 2).min(policy.max_pause_ms) } else { policy.pause_ms };
                    state.open_until_ms = now_ms + state.pause_ms;
                }
            }
            Health::Unknown => {}
        }
    }
}

impl Gates {
    /// Notes whether an attempt to the target delivered; returns since when every attempt
    /// to it has failed, while they do.
    pub fn failing(&self, key: &str, delivered: bool, now_ms: u64) -> Option<u64> {
        let mut states = self.states.lock().ok()?;
        let state = states.entry(key.to_string()).or_default();
        state.failing_since_ms = if delivered { None } else { Some(state.failing_since_ms.unwrap_or(now_ms)) };
        state.failing_since_ms
    }

    /// Forgets the target's failures: it was disabled, and starts afresh when enabled again.
    pub fn forget_failing(&self, key: &str) {
        if let Some(state) = self.states.lock().ok().as_mut().and_then(|s| s.get_mut(key)) {
            state.failing_since_ms = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy { failure_threshold: 3, pause_ms: 1_000, max_pause_ms: 3_000 }
    }

    fn limits(max_in_flight: u32) -> Limits<'static> {
        Limits { max_in_flight, rate: None }
    }

    #[test]
    fn a_rate_limit_lets_a_burst_through_then_one_attempt_per_interval() {
        let gates = Arc::new(Gates::default());
        let rate = RateLimit { per_second: 4, burst: 2 };
        let limited = Limits { max_in_flight: 100, rate: Some(&rate) };
        let admitted = |now| matches!(gates.admit("t", limited, now), Admission::Go(_));
        assert_eq!(gates.rate_wait("t", Some(&rate), 1_000), None);
        assert!(admitted(1_000) && admitted(1_000), "the burst");
        assert!(!admitted(1_000));
        assert_eq!(gates.rate_wait("t", Some(&rate), 1_000), Some(1_250), "one attempt every 250 ms");
        assert!(!admitted(1_249));
        assert!(admitted(1_250));
        assert!(!admitted(1_251));
        assert!(admitted(2_000) && admitted(2_000), "refilled, up to the burst");
        assert!(!admitted(2_000));
        assert_eq!(gates.rate_wait("other", Some(&rate), 2_000), None, "per target");
    }

    fn go(gates: &Arc<Gates>, now: u64) -> Pass {
        match gates.admit("t", limits(2), now) {
            Admission::Go(pass) => pass,
            other => panic!("expected to be admitted at {now}: {other:?}"),
        }
    }

    #[test]
    fn a_target_is_failing_from_its_first_failure_until_one_delivers() {
        let gates = Gates::default();
        assert_eq!(gates.failing("t", false, 100), Some(100));
        assert_eq!(gates.failing("t", false, 900), Some(100), "since the first failure");
        assert_eq!(gates.failing("other", false, 900), Some(900), "per target");
        assert_eq!(gates.failing("t", true, 1_000), None);
        assert_eq!(gates.failing("t", false, 1_100), Some(1_100), "a new streak");
        gates.forget_failing("t");
        assert_eq!(gates.failing("t", false, 1_200), Some(1_200));
    }

    #[test]
    fn caps_attempts_in_flight() {
        let gates = Arc::new(Gates::default());
        let (a, _b) = (go(&gates, 0), go(&gates, 0));
        assert!(matches!(gates.admit("t", limits(2), 0), Admission::Busy));
        assert!(matches!(gates.admit("other", limits(2), 0), Admission::Go(_)), "other targets are not held up");
        drop(a);
        go(&gates, 0);
    }

    #[test]
    fn opens_after_repeated_failures_probes_once_and_backs_off() {
        let (gates, p) = (Arc::new(Gates::default()), policy());
        for now in 0..3 {
            drop(go(&gates, now));
            gates.record("t", &p, Health::Down, now);
        }
        match gates.admit("t", limits(2), 10) {
            Admission::Paused { until_ms, why } => {
                assert_eq!(until_ms, 1_002);
                assert!(why.contains("3 consecutive failures"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let open = Breaker { state: BreakerState::Open, consecutive_failures: 3, probe_at_ms: Some(1_002) };
        assert_eq!(gates.breaker("t", 10), open);
        assert_eq!(gates.breaker("t", 1_002).state, BreakerState::HalfOpen, "the pause is over");
        let probe = go(&gates, 1_002);
        assert!(matches!(gates.admit("t", limits(2), 1_003), Admission::Busy), "one probe at a time");
        assert_eq!(gates.breaker("t", 1_003).state, BreakerState::HalfOpen, "while the probe runs");
        drop(probe);
        gates.record("t", &p, Health::Down, 1_010);
        assert!(matches!(gates.admit("t", limits(2), 2_000), Admission::Paused { until_ms: 3_010, .. }), "the pause doubles");
        drop(go(&gates, 3_010));
        gates.record("t", &p, Health::Up, 3_020);
        let (_a, _b) = (go(&gates, 3_021), go(&gates, 3_021));
        assert_eq!(gates.breaker("t", 3_021), Breaker { state: BreakerState::Closed, consecutive_failures: 0, probe_at_ms: None });
        assert_eq!(gates.breaker("never-tried", 3_021).state, BreakerState::Closed);
    }
}
