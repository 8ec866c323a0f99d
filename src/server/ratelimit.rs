//! Per-token, per-method rate limiting (Slack's tiers are calls per minute per method).
//!
//! A token bucket per (token, method): it holds up to one minute's allowance and refills
//! continuously, so a client may burst its whole allowance and then goes at the steady
//! rate. A refused call learns how many whole seconds until one call is allowed again
//! (the `Retry-After` value).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped, so memory stays bounded however
/// many tokens call.
const PRUNE_ABOVE: usize = 10_000;

/// Buckets kept at most: past it (many keys all busy at once) the least recently used are
/// dropped, which forgets their debt rather than letting the map grow without bound.
const MAX_BUCKETS: usize = 2 * PRUNE_ABOVE;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter: `per_minute` calls per token and method.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` calls a minute (0 turns limiting off).
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call for `key` and `method` at `now`: `Ok` if allowed, else the whole
    /// seconds (at least 1) to wait.
    pub fn check(&self, key: &str, method: &'static str, now: Instant) -> Result<(), u64> {
        self.take(key, method, now, 1.0)
    }

    /// Whether a call for `key` and `method` would be allowed at `now`, taking nothing:
    /// `Ok`, or the whole seconds (at least 1) to wait.
    pub fn peek(&self, key: &str, method: &'static str, now: Instant) -> Result<(), u64> {
        self.take(key, method, now, 0.0)
    }

    fn take(&self, key: &str, method: &'static str, now: Instant, cost: f64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < capacity
            });
        }
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&(key.to_owned(), method)) {
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cut = ages[buckets.len() - PRUNE_ABOVE];
            buckets.retain(|_, b| b.at > cut);
        }
        let bucket = buckets.entry((key.to_owned(), method)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= cost;
            Ok(())
        } else {
            // Whole seconds, rounded up; the tolerance keeps float noise from adding one.
            let seconds = ((1.0 - bucket.tokens) / per_second - 1e-6).ceil().max(1.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(seconds as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_minutes_burst_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(20);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(limiter.check("a", "users.setPhoto", t0), Ok(()));
        }
        assert_eq!(limiter.check("a", "users.setPhoto", t0), Err(3));
        // Other methods and other tokens have their own allowance.
        assert_eq!(limiter.check("a", "users.info", t0), Ok(()));
        assert_eq!(limiter.check("b", "users.setPhoto", t0), Ok(()));
        // One call's worth refills in 3 s.
        assert_eq!(
            limiter.check("a", "users.setPhoto", t0 + Duration::from_millis(2_000)),
            Err(1)
        );
        assert_eq!(
            limiter.check("a", "users.setPhoto", t0 + Duration::from_millis(3_100)),
            Ok(())
        );
    }

    #[test]
    fn peek_takes_nothing() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(limiter.peek("a", "m", t0), Ok(()));
        }
        limiter.check("a", "m", t0).unwrap();
        limiter.check("a", "m", t0).unwrap();
        assert!(limiter.peek("a", "m", t0).is_err());
    }

    #[test]
    fn busy_buckets_are_bounded() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..MAX_BUCKETS + 10 {
            let at = t0 + Duration::from_millis(u64::try_from(i).unwrap());
            limiter.check(&i.to_string(), "m", at).unwrap();
        }
        let len = limiter.buckets.lock().unwrap().len();
        assert!(len <= MAX_BUCKETS, "{len}");
        // The newest keys keep their debt.
        let last = (MAX_BUCKETS + 9).to_string();
        assert!(
            limiter
                .peek(&last, "m", t0 + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn zero_turns_limiting_off() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check("a", "m", t0).is_ok()));
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let limiter = RateLimiter::new(60);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            limiter.check(&i.to_string(), "m", t0).unwrap();
        }
        limiter
            .check("late", "m", t0 + Duration::from_secs(2))
            .unwrap();
        assert!(limiter.buckets.lock().unwrap().len() < 10);
    }
}
