//! Webhook backoff: how long a failed delivery, or an open breaker, waits before the next try. Pure
//! policy: the caller counts the attempts and owns the clock.

use std::time::Duration;

/// The wait after the `attempts`-th failed attempt: `base`, doubling, at most `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=6).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff(base, Duration::MAX, 200), base * (1 << 30));
    }
}
