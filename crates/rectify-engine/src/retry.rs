//! When to try a failed job again: exponential backoff with full jitter,
//! only for errors that a retry can fix (throttling, 5xx, timeouts).

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// No retry for a job created longer ago than this.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            max_age: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    pub fn from_config(e: &rectify_config::Execution) -> RetryPolicy {
        RetryPolicy {
            max_attempts: e.max_attempts,
            base: Duration::from_millis(e.backoff_base_ms),
            cap: Duration::from_millis(e.backoff_max_ms),
            max_age: Duration::from_secs(e.max_age_seconds),
        }
    }

    /// Delay before attempt `attempts + 1`, or `None` when attempts are
    /// used up. Full jitter: uniform in `[0, min(cap, base * 2^(attempts-1))]`.
    pub fn delay(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Some(Duration::from_millis(rand::rng().random_range(0..=millis)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_ends() {
        let p = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(250),
            max_age: Duration::from_secs(60),
        };
        for _ in 0..200 {
            assert!(p.delay(1).unwrap() <= Duration::from_millis(100));
            assert!(p.delay(2).unwrap() <= Duration::from_millis(200));
            assert!(p.delay(3).unwrap() <= Duration::from_millis(250));
        }
        assert_eq!(p.delay(4), None);
    }
}
