//! Limits: rate limiters keyed by client (its address bucket) or wallet fingerprint, on `governor`'s
//! keyed GCRA limiter, bounded in the number of keys they track. Owns only the bookkeeping; which
//! requests are limited, and who a client is (`client`), are the engine's and router's.
//!
//! Forgetting a key is only ever done for keys whose limit has fully replenished (`retain_recent`), so
//! no limit is ever reset early by an eviction. Beyond `max_keys` keys still limited, a new key is
//! refused until some replenish: under a flood from many addresses the service fails closed.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};

use super::config::RateLimit;

/// One rate limit over many keys: each key may spend `per_window` at once and regains them evenly over
/// `window`.
pub struct Limiter<K: Hash + Eq + Clone> {
    limiter: Option<RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>>,
    clock: DefaultClock,
    /// Keys tracked at most: a key costs a few dozen bytes, so this bounds memory.
    max_keys: usize,
    /// Cells a key may spend at once.
    burst: NonZeroU32,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `limit` per key; a limit of 0 per window lets everything through.
    pub fn new(limit: RateLimit, max_keys: usize) -> Limiter<K> {
        let limiter = NonZeroU32::new(limit.per_window).map(|burst| {
            // The config refuses a zero window; GCRA replenishes one cell every window / burst.
            let period = (limit.window / burst.get()).max(Duration::from_nanos(1));
            let quota = Quota::with_period(period)
                .expect("a non-zero period")
                .allow_burst(burst);
            RateLimiter::dashmap(quota)
        });
        Limiter {
            limiter,
            clock: DefaultClock::default(),
            max_keys: max_keys.max(1),
            burst: NonZeroU32::new(limit.per_window).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// Takes one request for `key`, or says how long until one is allowed.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if governor::RateLimiter::len(limiter) >= self.max_keys {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            if governor::RateLimiter::len(limiter) >= self.max_keys {
                // Every tracked key is still limited: refuse newcomers rather than forget a limit.
                return Err(Duration::from_secs(1));
            }
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).max(Duration::from_secs(1)))
    }

    /// Takes `n` cells for `key` (a priced request: output-keys), or says how long until they are
    /// allowed. A request larger than a whole window's worth takes the whole window.
    pub fn check_n(&self, key: &K, n: u64) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if governor::RateLimiter::len(limiter) >= self.max_keys {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            if governor::RateLimiter::len(limiter) >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        let burst = self.burst.get();
        let cells = NonZeroU32::new(n.min(u64::from(burst)).max(1) as u32).expect("at least one");
        match limiter.check_key_n(key, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now()).max(Duration::from_secs(1))),
            Err(_) => unreachable!("cells are capped at the burst"),
        }
    }

    /// Forgets keys whose limit has fully replenished (they are indistinguishable from new ones).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| governor::RateLimiter::len(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_window: u32, window: Duration) -> RateLimit {
        RateLimit { per_window, window }
    }

    #[test]
    fn a_burst_then_one_per_share_of_the_window() {
        let limiter = Limiter::new(limit(3, Duration::from_secs(3600)), 100);
        for _ in 0..3 {
            limiter.check(&"a").unwrap();
        }
        let wait = limiter.check(&"a").unwrap_err();
        assert!(
            wait > Duration::from_secs(1000) && wait <= Duration::from_secs(1200),
            "{wait:?}"
        );
        limiter.check(&"b").unwrap();
        assert!(Limiter::<u8>::new(RateLimit::OFF, 1).check(&1).is_ok());
    }

    #[test]
    fn a_full_table_refuses_newcomers_and_never_resets_a_limit() {
        let limiter = Limiter::new(limit(1, Duration::from_secs(3600)), 2);
        limiter.check(&1).unwrap();
        limiter.check(&2).unwrap();
        // Both still limited: a third key is refused, and 1 stays limited.
        assert!(limiter.check(&3).is_err());
        assert!(limiter.check(&1).is_err());
        assert_eq!(limiter.tracked(), 2);
    }

    #[test]
    fn priced_requests_take_their_cells_and_a_huge_one_the_whole_window() {
        let limiter = Limiter::new(limit(1000, Duration::from_secs(3600)), 100);
        limiter.check_n(&"a", 600).unwrap();
        let wait = limiter.check_n(&"a", 600).unwrap_err();
        assert!(
            wait > Duration::from_secs(700) && wait <= Duration::from_secs(800),
            "{wait:?}"
        );
        limiter.check_n(&"b", 5_000_000).unwrap();
        assert!(limiter.check_n(&"b", 1).is_err(), "the whole window was taken");
    }

    #[test]
    fn replenished_keys_are_forgotten() {
        let limiter = Limiter::new(limit(100, Duration::from_millis(10)), 10);
        limiter.check(&1).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }
}
