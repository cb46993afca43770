//! Where a delivery stands after an attempt: delivered, skipped, failed with the reason, or
//! pending until its next attempt. A pure function of the outcome, the retry policy and the
//! time, so that every case is checked below without a network.

use std::time::Duration;

use super::attempt::Outcome;
use crate::model::{DeliveryRecord, DeliveryStatus, RetryPolicy};

/// Settles `delivery`, whose record already holds the attempt, after `outcome` at `now_ms`.
/// `delay` gives the wait before the next attempt (the caller draws its jitter) from the
/// number of attempts made and the receiver's `Retry-After`.
pub fn settle(
    delivery: &mut DeliveryRecord,
    outcome: Outcome,
    policy: &RetryPolicy,
    deadline_at_ms: Option<u64>,
    now_ms: u64,
    delay: impl FnOnce(u32, Option<Duration>) -> Duration,
) {
    let attempts = delivery.attempts.len() as u32;
    delivery.reason = None;
    delivery.next_attempt_at_ms = None;
    match outcome {
        Outcome::Delivered => delivery.status = DeliveryStatus::Delivered,
        Outcome::Skipped(reason) => {
            delivery.status = DeliveryStatus::Skipped;
            delivery.reason = Some(reason);
        }
        Outcome::Failed(error) => {
            delivery.status = DeliveryStatus::Failed;
            delivery.reason = Some(format!("{}: {}", error.code, error.message));
        }
        Outcome::Retry { error, .. } if attempts >= policy.max_attempts => {
            delivery.status = DeliveryStatus::Failed;
            delivery.reason = Some(format!("gave up after {attempts} attempts; last: {}: {}", error.code, error.message));
        }
        Outcome::Retry { error, after } => {
            let next = now_ms + delay(attempts, after).as_millis() as u64;
            if deadline_at_ms.is_some_and(|deadline| next > deadline) {
                delivery.status = DeliveryStatus::Failed;
                delivery.reason = Some(format!(
                    "deadline_exceeded: the next attempt would start after the delivery deadline; last: {}: {}",
                    error.code, error.message
                ));
            } else {
                delivery.status = DeliveryStatus::Pending;
                delivery.next_attempt_at_ms = Some(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, ErrorInfo, FailureCode};

    fn tried(attempts: usize) -> DeliveryRecord {
        let attempt: Attempt = serde_json::from_value(serde_json::json!({
            "at": "2026-12-03T10:00:00Z", "duration_ms": 1, "status_code": 503, "error": null,
            "request": null, "response_excerpt": null, "guest_logs": []}))
        .unwrap();
        DeliveryRecord {
            message_id: "m".into(),
            target: "t".into(),
            status: DeliveryStatus::Pending,
            reason: Some("an earlier reason".into()),
            next_attempt_at_ms: Some(5),
            attempts: vec![attempt; attempts],
            ordering_key: None,
            holds_key: false,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, ..RetryPolicy::default() }
    }

    fn retry() -> Outcome {
        Outcome::Retry { error: ErrorInfo::new(FailureCode::HttpStatus, "503"), after: Some(Duration::from_secs(7)) }
    }

    fn settled(attempts: usize, outcome: Outcome, deadline: Option<u64>) -> DeliveryRecord {
        let mut delivery = tried(attempts);
        settle(&mut delivery, outcome, &policy(), deadline, 1_000, |n, after| {
            assert_eq!((n as usize, after), (attempts, Some(Duration::from_secs(7))), "the delay gets the count and Retry-After");
            Duration::from_millis(250)
        });
        delivery
    }

    #[test]
    fn an_attempt_settles_the_delivery_or_schedules_the_next() {
        let d = settled(1, Outcome::Delivered, None);
        assert_eq!((d.status, d.reason, d.next_attempt_at_ms), (DeliveryStatus::Delivered, None, None));
        let d = settled(1, Outcome::Skipped("the condition said skip".into()), None);
        assert_eq!((d.status, d.reason.as_deref()), (DeliveryStatus::Skipped, Some("the condition said skip")));
        let d = settled(1, Outcome::Failed(ErrorInfo::new(FailureCode::HttpStatus, "404")), None);
        assert_eq!((d.status, d.reason.as_deref()), (DeliveryStatus::Failed, Some("http_status: 404")));
        let d = settled(2, retry(), None);
        assert_eq!((d.status, d.reason, d.next_attempt_at_ms), (DeliveryStatus::Pending, None, Some(1_250)));
    }

    #[test]
    fn a_retry_fails_when_out_of_attempts_or_past_the_deadline() {
        let d = settled(3, retry(), None);
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.reason.as_deref(), Some("gave up after 3 attempts; last: http_status: 503"));
        let d = settled(2, retry(), Some(1_249));
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert!(d.reason.is_some_and(|r| r.starts_with("deadline_exceeded")));
        assert_eq!(settled(2, retry(), Some(1_250)).next_attempt_at_ms, Some(1_250), "due exactly at the deadline");
    }
}
