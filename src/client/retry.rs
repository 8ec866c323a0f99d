//! How long to wait before trying again.

use std::time::Duration;

/// Retry settings: bounded attempts, capped waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// First backoff step; doubles each attempt.
    pub base_delay: Duration,
    /// Longest backoff step.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one is waited for this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, backoff from 0.5 s doubling to at most 8 s, `Retry-After` up to 60 s.
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before attempt `attempt + 1` after a failure without an answer: the
    /// exponential step with "equal jitter" (half fixed, half random), so many clients
    /// that failed together do not retry together.
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, random_unit())
    }

    /// [`RetryPolicy::backoff`] with the random part given (`unit` in `[0, 1)`).
    #[must_use]
    pub fn backoff_with(&self, attempt: u32, unit: f64) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        step / 2 + step.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    /// The wait after HTTP 429: `Retry-After` seconds, capped; without a usable header,
    /// the backoff step.
    #[must_use]
    pub fn rate_limit_wait(&self, retry_after: Option<u64>, attempt: u32) -> Duration {
        retry_after.map_or_else(
            || self.backoff(attempt),
            |seconds| Duration::from_secs(seconds).min(self.max_retry_after),
        )
    }
}

/// A number in `[0, 1)` from the operating system's random source (0.5 without one).
fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let fixed: Vec<u128> = (1..=6)
            .map(|a| policy.backoff_with(a, 0.0).as_millis())
            .collect();
        assert_eq!(fixed, [250, 500, 1000, 2000, 4000, 4000]);
        assert_eq!(policy.backoff_with(3, 1.0), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.rate_limit_wait(Some(3), 1), Duration::from_secs(3));
        assert_eq!(
            policy.rate_limit_wait(Some(3600), 1),
            Duration::from_secs(60)
        );
        assert!(policy.rate_limit_wait(None, 1) <= Duration::from_millis(500));
    }

    proptest! {
        #[test]
        fn backoff_stays_within_half_and_whole_step(attempt in 0u32..100, unit in 0.0f64..1.0) {
            let policy = RetryPolicy::default();
            let wait = policy.backoff_with(attempt, unit);
            prop_assert!(wait <= policy.max_delay);
            prop_assert!(wait >= policy.base_delay / 2);
        }
    }
}
