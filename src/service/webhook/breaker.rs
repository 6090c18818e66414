//! Breaker: one endpoint's circuit breaker, as pure policy (time passed in, so tests need no clock).
//! After `failures` consecutive failed attempts the endpoint is left alone for a cooldown: its deliveries
//! wait in the queue and are not spent as failed attempts. When the cooldown ends one delivery goes as a
//! probe (half-open): a success closes the breaker, a failure opens it again for twice as long, up to
//! `max_cooldown`. A success at any time forgets the failures before it.

use std::time::Duration;

use super::backoff::backoff;

/// What a breaker shows `/metrics` (`tws_webhook_breaker{state}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const ALL: [BreakerState; 3] = [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen];

    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Whether an attempt may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Closed: send.
    Pass,
    /// Half-open: send one delivery; its outcome decides.
    Probe,
    /// Open: send nothing before this time (ms).
    WaitUntil(u64),
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    max_cooldown: Duration,
    state: State,
    /// Failed attempts in a row while closed.
    failures: u32,
    /// Times opened since the last success: each failed probe doubles the cooldown.
    opened: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until_ms: u64 },
    HalfOpen,
}

impl Breaker {
    /// Opens after `threshold` failures in a row (at least 1) for `cooldown`, doubling to `max_cooldown`.
    pub fn new(threshold: u32, cooldown: Duration, max_cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            max_cooldown: max_cooldown.max(cooldown),
            state: State::Closed,
            failures: 0,
            opened: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// May an attempt go at `now_ms`? An open breaker whose cooldown has passed turns half-open.
    pub fn gate(&mut self, now_ms: u64) -> Gate {
        match self.state {
            State::Closed => Gate::Pass,
            State::HalfOpen => Gate::Probe,
            State::Open { until_ms } if now_ms < until_ms => Gate::WaitUntil(until_ms),
            State::Open { .. } => {
                self.state = State::HalfOpen;
                Gate::Probe
            }
        }
    }

    pub fn success(&mut self) {
        self.state = State::Closed;
        self.failures = 0;
        self.opened = 0;
    }

    /// A failed attempt at `now_ms`; returns the cooldown if it opened the breaker.
    pub fn failure(&mut self, now_ms: u64) -> Option<Duration> {
        match self.state {
            State::Closed => {
                self.failures += 1;
                if self.failures < self.threshold {
                    return None;
                }
            }
            // A failed probe opens it again; an attempt that ends while open (none should) changes nothing.
            State::HalfOpen => {}
            State::Open { .. } => return None,
        }
        self.opened = self.opened.saturating_add(1);
        self.failures = 0;
        let cooldown = backoff(self.cooldown, self.max_cooldown, self.opened);
        self.state = State::Open {
            until_ms: now_ms.saturating_add(cooldown.as_millis() as u64),
        };
        Some(cooldown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(3, Duration::from_secs(30), Duration::from_secs(100))
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let mut b = breaker();
        assert_eq!(b.failure(0), None);
        assert_eq!(b.failure(0), None);
        b.success();
        assert_eq!(b.failure(0), None);
        assert_eq!(b.failure(0), None);
        assert_eq!(b.gate(0), Gate::Pass, "a success forgot the earlier failures");
        assert_eq!(b.failure(1_000), Some(Duration::from_secs(30)));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.gate(1_000), Gate::WaitUntil(31_000));
        assert_eq!(b.gate(30_999), Gate::WaitUntil(31_000));
    }

    #[test]
    fn probes_after_the_cooldown_doubling_while_probes_fail() {
        let mut b = breaker();
        for _ in 0..3 {
            b.failure(0);
        }
        assert_eq!(b.gate(30_000), Gate::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.gate(30_000), Gate::Probe, "still one probe until it ends");
        assert_eq!(
            b.failure(30_000),
            Some(Duration::from_secs(60)),
            "one failed probe reopens"
        );
        assert_eq!(b.gate(89_999), Gate::WaitUntil(90_000));
        assert_eq!(b.gate(90_000), Gate::Probe);
        assert_eq!(b.failure(90_000), Some(Duration::from_secs(100)), "capped");
        assert_eq!(b.gate(190_000), Gate::Probe);
        b.success();
        assert_eq!((b.state(), b.gate(190_000)), (BreakerState::Closed, Gate::Pass));
        for _ in 0..2 {
            assert_eq!(b.failure(200_000), None);
        }
        assert_eq!(
            b.failure(200_000),
            Some(Duration::from_secs(30)),
            "after a success the cooldown starts over"
        );
    }

    #[test]
    fn a_threshold_of_zero_means_one() {
        let mut b = Breaker::new(0, Duration::from_millis(10), Duration::ZERO);
        assert_eq!(b.failure(5), Some(Duration::from_millis(10)));
        assert_eq!(b.gate(15), Gate::Probe);
    }
}
