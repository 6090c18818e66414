//! Limits: token-bucket rate limiters keyed by client IP or wallet fingerprint, bounded in the number of
//! keys they track. Owns only the arithmetic; which requests are limited is the engine's and router's.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::config::RateLimit;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets: each key may spend `per_window` requests at once and regains them evenly over `window`.
pub struct Limiter<K> {
    limit: RateLimit,
    /// Keys tracked at most; beyond it full buckets are forgotten first, then the stalest.
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(limit: RateLimit, max_keys: usize) -> Limiter<K> {
        Limiter {
            limit,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.limit.per_window)
    }

    fn refill_per_sec(&self) -> f64 {
        self.capacity() / self.limit.window.as_secs_f64()
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.limit.per_window == 0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            self.evict(&mut buckets, now);
        }
        let capacity = self.capacity();
        let rate = self.refill_per_sec();
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate).max(Duration::from_secs(1)))
        }
    }

    /// Gives back a token taken by `check` for a request that turned out not to count.
    pub fn refund(&self, key: &K) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.capacity());
        }
    }

    fn evict(&self, buckets: &mut HashMap<K, Bucket>, now: Instant) {
        let capacity = self.capacity();
        let rate = self.refill_per_sec();
        buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity);
        if buckets.len() >= self.max_keys
            && let Some(stalest) = buckets.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| k.clone())
        {
            buckets.remove(&stalest);
        }
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_window: u32, secs: u64) -> RateLimit {
        RateLimit {
            per_window,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn allows_a_burst_then_refills_evenly() {
        let limiter = Limiter::new(limit(3, 60), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&"a", t0).is_ok());
        }
        let wait = limiter.check(&"a", t0).unwrap_err();
        assert!(
            wait >= Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check(&"b", t0).is_ok(), "keys are independent");
        assert!(limiter.check(&"a", t0 + Duration::from_secs(20)).is_ok());
        assert!(limiter.check(&"a", t0 + Duration::from_secs(21)).is_err());
        limiter.refund(&"a");
        assert!(limiter.check(&"a", t0 + Duration::from_secs(21)).is_ok());
    }

    #[test]
    fn zero_is_off_and_tracking_is_bounded() {
        let off = Limiter::new(RateLimit::OFF, 1);
        for _ in 0..1000 {
            assert!(off.check(&1, Instant::now()).is_ok());
        }
        let limiter = Limiter::new(limit(1, 3600), 4);
        let t0 = Instant::now();
        for key in 0..100 {
            let _ = limiter.check(&key, t0 + Duration::from_millis(key));
            assert!(limiter.tracked() <= 4);
        }
    }
}
