//! Failed authentications per client: a token bucket per address (per /64
//! for IPv6, where one client holds many addresses). A client whose bucket
//! is empty is answered 429 before its token is even looked at.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients tracked at most; past it, buckets that have refilled are
/// dropped (a full bucket is the same as none).
const MAX_CLIENTS: usize = 10_000;

pub(crate) struct AuthFailures {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl AuthFailures {
    /// `max` failures per `window`, refilled evenly over the window.
    pub(crate) fn new(max: u32, window: Duration) -> AuthFailures {
        let capacity = f64::from(max.max(1));
        AuthFailures {
            capacity,
            per_second: capacity / window.as_secs_f64().max(1.0),
            buckets: Mutex::default(),
        }
    }

    /// How long the client must wait, when it has used up its failures.
    pub(crate) fn blocked(&self, client: IpAddr) -> Option<Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.get_mut(&key(client))?;
        self.refill(bucket);
        (bucket.tokens < 1.0)
            .then(|| Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
    }

    /// Counts one failed authentication.
    pub(crate) fn fail(&self, client: IpAddr) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            let now = Instant::now();
            let (capacity, rate) = (self.capacity, self.per_second);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets.entry(key(client)).or_insert(Bucket {
            tokens: self.capacity,
            at: Instant::now(),
        });
        self.refill(bucket);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    fn refill(&self, bucket: &mut Bucket) {
        let now = Instant::now();
        let gained = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + gained).min(self.capacity);
        bucket.at = now;
    }
}

fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_blocked_after_its_failures_and_others_are_not() {
        let limiter = AuthFailures::new(3, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.blocked(a), None);
            limiter.fail(a);
        }
        let wait = limiter.blocked(a).expect("blocked after three failures");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(limiter.blocked(b), None);
        // One IPv6 /64 is one client.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        for _ in 0..3 {
            limiter.fail(v6a);
        }
        assert!(limiter.blocked(v6b).is_some());
    }
}
