//! Limits: rate limiters keyed by client (its address bucket, and an IPv6 client's aggregate) or wallet
//! fingerprint. Each is `governor`'s GCRA over a state store of our own: one theoretical arrival time per
//! key in a least-recently-used table of bounded size. Owns only the bookkeeping; which requests are
//! limited, and who a client is (`requester`), are the job domain's and router's.
//!
//! A full table forgets its least recently used key to make room, so a newcomer is always let in: the
//! one who loses is whoever was quiet longest, and only the memory of its limit (it comes back to a full
//! burst). A flooder keeps its own key recent by flooding, so it stays limited; to push one key out it
//! must bring `max_keys` others, each of which had a full burst of its own anyway. Each check is O(1);
//! forgetting idle keys is the job domain's periodic sweep (`forget_idle`), never a request's.

use std::{
    collections::hash_map::RandomState,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock, Reference},
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::StateStore,
};
use hashlink::LruCache;

use crate::service::{config::RateLimit, requester::Client};

/// The shortest `Retry-After` given: a whole second, as the header counts.
const MIN_RETRY: Duration = Duration::from_secs(1);

/// Governor's per-key state (the theoretical arrival time of the next request) in an LRU table. The
/// hasher is SipHash with a random key: clients choose their IPv6 buckets.
struct LruStore<K: Hash + Eq> {
    entries: Arc<Mutex<Table<K>>>,
}

type Table<K> = LruCache<K, Nanos, RandomState>;

fn lock<K: Hash + Eq>(table: &Mutex<Table<K>>) -> std::sync::MutexGuard<'_, Table<K>> {
    table.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K: Hash + Eq + Clone> StateStore for LruStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut entries = lock(&self.entries);
        // A refused request touches its key too: a flooder's key stays the most recent, and limited.
        if let Some(tat) = entries.get_mut(key) {
            let (outcome, next) = f(Some(*tat))?;
            *tat = next;
            return Ok(outcome);
        }
        let (outcome, next) = f(None)?;
        // At capacity this forgets the least recently used key.
        entries.insert(key.clone(), next);
        Ok(outcome)
    }
}

/// Governor's limiter over our store.
type Gcra<K, C> = RateLimiter<K, LruStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One rate limit over many keys: each key may spend `per_window` at once and regains them evenly over
/// `window`.
pub struct Limiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Option<Gcra<K, C>>,
    /// The limiter's table, shared with its state store, for `forget_idle`.
    table: Arc<Mutex<Table<K>>>,
    clock: C,
    /// Read just before the limiter read its own start, so times measured from it are never behind the
    /// limiter's (`forget_idle` never forgets a key early).
    start: C::Instant,
    /// Cells a key may spend at once.
    burst: NonZeroU32,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `limit` per key, remembering at most `max_keys` keys (a key costs a few dozen bytes); a limit of 0
    /// per window lets everything through.
    pub fn new(limit: RateLimit, max_keys: usize) -> Limiter<K> {
        Limiter::with_clock(limit, max_keys, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Limiter<K, C> {
    pub fn with_clock(limit: RateLimit, max_keys: usize, clock: C) -> Limiter<K, C> {
        let table = Arc::new(Mutex::new(LruCache::with_hasher(max_keys.max(1), RandomState::new())));
        let start = clock.now();
        let limiter = NonZeroU32::new(limit.per_window).map(|burst| {
            // The config refuses a zero window; GCRA replenishes one cell every window / burst.
            let period = (limit.window / burst.get()).max(Duration::from_nanos(1));
            let quota = Quota::with_period(period)
                .expect("a non-zero period")
                .allow_burst(burst);
            let store = LruStore { entries: table.clone() };
            RateLimiter::new(quota, store, clock.clone())
        });
        Limiter {
            limiter,
            table,
            clock,
            start,
            burst: NonZeroU32::new(limit.per_window).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// Takes one request for `key`, or says how long until one is allowed.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).max(MIN_RETRY))
    }

    /// Takes `n` cells for `key` (a priced request: output-keys), or says how long until they are
    /// allowed. A request larger than a whole window's worth takes the whole window.
    pub fn check_n(&self, key: &K, n: u64) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let cells = NonZeroU32::new(n.min(u64::from(self.burst.get())).max(1) as u32).expect("at least one");
        match limiter.check_key_n(key, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now()).max(MIN_RETRY)),
            Err(_) => unreachable!("cells are capped at the burst"),
        }
    }

    /// Forgets keys whose limit has fully replenished (they are indistinguishable from new ones): the
    /// jobs's sweep, once a period, so memory follows the clients that are active.
    pub fn forget_idle(&self) {
        // A millisecond's margin over the few nanoseconds between our start and the limiter's.
        let now = self.clock.now().duration_since(self.start).as_u64();
        let margin = Duration::from_millis(1).as_nanos() as u64;
        lock(&self.table).retain(|_, tat| tat.as_u64().saturating_add(margin) > now);
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        lock(&self.table).len()
    }
}

/// A per-client limit's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    /// The IPv6 aggregate's limit refused it, not the client's own.
    pub by_aggregate: bool,
}

/// A limit per client with a second one over each IPv6 client's aggregate (`Client::aggregate`), each
/// keyed also by a scope `S` (a port, say; `()` for none).
pub struct ClientLimiter<S: Hash + Eq + Clone = ()> {
    buckets: Limiter<(S, IpAddr)>,
    aggregates: Limiter<(S, IpAddr)>,
}

impl<S: Hash + Eq + Clone> ClientLimiter<S> {
    /// `limit` per bucket and `limit` times `aggregate_multiple` per aggregate.
    pub fn new(limit: RateLimit, aggregate_multiple: u32, max_keys: usize) -> ClientLimiter<S> {
        let aggregate = RateLimit {
            per_window: limit.per_window.saturating_mul(aggregate_multiple.max(1)),
            window: limit.window,
        };
        ClientLimiter {
            buckets: Limiter::new(limit, max_keys),
            aggregates: Limiter::new(aggregate, max_keys),
        }
    }

    /// Takes one request for `client` in `scope`. The bucket is checked first: a client refused by its
    /// own limit spends nothing of its aggregate, so one flooding `/64` cannot use up its neighbours'.
    pub fn check(&self, scope: S, client: &Client) -> Result<(), Refused> {
        let refused = |by_aggregate| {
            move |retry_after| Refused {
                retry_after,
                by_aggregate,
            }
        };
        self.buckets
            .check(&(scope.clone(), client.bucket))
            .map_err(refused(false))?;
        match client.aggregate {
            Some(aggregate) => self.aggregates.check(&(scope, aggregate)).map_err(refused(true)),
            None => Ok(()),
        }
    }

    pub fn forget_idle(&self) {
        self.buckets.forget_idle();
        self.aggregates.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::service::requester::ClientRules;

    fn limit(per_window: u32, window: Duration) -> RateLimit {
        RateLimit { per_window, window }
    }

    const HOUR: Duration = Duration::from_secs(3600);

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
    fn a_burst_then_one_per_share_of_the_window() {
        let clock = FakeRelativeClock::default();
        let limiter = Limiter::with_clock(limit(3, HOUR), 100, clock.clone());
        for _ in 0..3 {
            limiter.check(&"a").unwrap();
        }
        assert_eq!(limiter.check(&"a").unwrap_err(), Duration::from_secs(1200));
        limiter.check(&"b").unwrap();
        clock.advance(Duration::from_secs(1200));
        limiter.check(&"a").unwrap();
        assert!(limiter.check(&"a").is_err());
        assert!(Limiter::<u8>::new(RateLimit::OFF, 1).check(&1).is_ok());
    }

    #[test]
    fn a_full_table_lets_newcomers_in_and_forgets_the_quietest() {
        let limiter = Limiter::with_clock(limit(1, HOUR), 3, FakeRelativeClock::default());
        for key in 1..=3 {
            limiter.check(&key).unwrap();
        }
        // Key 1 keeps asking (refused): it stays the most recent, and limited.
        assert!(limiter.check(&1).is_err());
        // A newcomer is let in; the quietest (2) is forgotten to make room.
        limiter.check(&4).unwrap();
        assert_eq!(limiter.tracked(), 3);
        assert!(limiter.check(&1).is_err(), "the flooder is still limited");
        assert!(limiter.check(&3).is_err(), "3 is still remembered");
        limiter.check(&2).unwrap();
    }

    #[test]
    fn a_flood_of_newcomers_cannot_lift_an_active_clients_limit() {
        let limiter = Limiter::with_clock(limit(2, HOUR), 1000, FakeRelativeClock::default());
        limiter.check(&u32::MAX).unwrap();
        limiter.check(&u32::MAX).unwrap();
        for key in 0..100_000u32 {
            limiter.check(&key).unwrap();
            // The limited client keeps trying now and then: it stays remembered.
            if key % 500 == 0 {
                assert!(limiter.check(&u32::MAX).is_err(), "after {key} newcomers");
            }
        }
        assert_eq!(limiter.tracked(), 1000);
    }

    #[test]
    fn replenished_keys_are_forgotten_and_limited_ones_kept() {
        let clock = FakeRelativeClock::default();
        let limiter = Limiter::with_clock(limit(2, Duration::from_secs(10)), 10, clock.clone());
        limiter.check(&1).unwrap();
        limiter.check(&2).unwrap();
        limiter.check(&2).unwrap();
        clock.advance(Duration::from_secs(6));
        limiter.forget_idle();
        // 1 spent one cell (back after 5 s); 2 spent both (back after 10 s).
        assert_eq!(limiter.tracked(), 1);
        assert!(limiter.check(&2).is_ok(), "one cell back");
        assert!(limiter.check(&2).is_err());
        clock.advance(Duration::from_secs(20));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn an_ipv6_aggregate_has_a_limit_of_its_own_and_a_refused_bucket_spends_none_of_it() {
        let rules = ClientRules::default();
        let limiter = ClientLimiter::<()>::new(limit(2, HOUR), 3, 100);
        let client = |text: &str| rules.of(text.parse().unwrap());
        // One /64 spends its 2, then is refused however often it asks, without touching the /48's 6.
        for _ in 0..2 {
            limiter.check((), &client("2001:db8:1:1::1")).unwrap();
        }
        for _ in 0..10 {
            let refused = limiter.check((), &client("2001:db8:1:1::2")).unwrap_err();
            assert!(!refused.by_aggregate);
        }
        // Other /64s of the /48 share the 4 left, then the whole /48 is refused.
        let mut allowed = 0;
        for subnet in 2..20 {
            allowed += limiter.check((), &client(&format!("2001:db8:1:{subnet}::1"))).is_ok() as u32;
        }
        assert_eq!(allowed, 4);
        assert!(limiter.check((), &client("2001:db8:1:99::1")).unwrap_err().by_aggregate);
        limiter.check((), &client("2001:db8:2:1::1")).unwrap();
        // IPv4 has no aggregate.
        for host in 0..20 {
            for _ in 0..2 {
                limiter.check((), &client(&format!("192.0.2.{host}"))).unwrap();
            }
        }
        // Scopes are apart.
        let ports = ClientLimiter::<u8>::new(limit(1, HOUR), 1, 100);
        ports.check(1, &client("192.0.2.1")).unwrap();
        ports.check(2, &client("192.0.2.1")).unwrap();
        assert!(ports.check(1, &client("192.0.2.1")).is_err());
    }
}
