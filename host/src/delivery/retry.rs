//! When to try again: exponential backoff with full jitter, or the receiver's own
//! `Retry-After`, never beyond the policy's maximum delay.

use std::time::{Duration, SystemTime};

use rand::{Rng, RngExt};

use crate::model::RetryPolicy;

/// The delay before the attempt after attempt number `attempt` (counting from 1).
/// `hint` is what the receiver or the condition component asked for.
pub fn delay(policy: &RetryPolicy, attempt: u32, hint: Option<Duration>, rng: &mut impl Rng) -> Duration {
    let cap = Duration::from_millis(policy.max_delay_ms);
    if let Some(hint) = hint {
        return hint.min(cap);
    }
    let exponent = attempt.saturating_sub(1).min(32);
    let ceiling = policy.initial_delay_ms.saturating_mul(1u64 << exponent).min(policy.max_delay_ms);
    Duration::from_millis(rng.random_range(0..=ceiling))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 10, initial_delay_ms: 100, max_delay_ms: 1_000, timeout_ms: 1_000, deadline_ms: None }
    }

    #[test]
    fn jitter_stays_under_the_doubling_ceiling_and_the_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=12u32 {
            let ceiling = (100u64 << (attempt - 1).min(32)).min(1_000);
            let mut seen_max = 0;
            for _ in 0..500 {
                let d = delay(&policy(), attempt, None, &mut rng).as_millis() as u64;
                assert!(d <= ceiling, "attempt {attempt}: {d} > {ceiling}");
                seen_max = seen_max.max(d);
            }
            // Full jitter spreads over the whole range, not just its bottom.
            assert!(seen_max > ceiling / 2, "attempt {attempt}: max seen {seen_max} of {ceiling}");
        }
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = RetryPolicy { initial_delay_ms: u64::MAX / 2, max_delay_ms: 5_000, ..policy() };
        assert!(delay(&p, u32::MAX, None, &mut rng) <= Duration::from_millis(5_000));
    }

    #[test]
    fn a_hint_wins_but_is_capped() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(delay(&policy(), 1, Some(Duration::from_millis(700)), &mut rng), Duration::from_millis(700));
        assert_eq!(delay(&policy(), 1, Some(Duration::from_secs(60)), &mut rng), Duration::from_millis(1_000));
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
