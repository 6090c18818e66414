//! Backoff: how long the follower waits after a node fault. Exponential between retries while the
//! circuit is closed; after `breaker_after` faults in a row the circuit opens and the node is left
//! alone for `open_for` (doubling up to `max_open` while it stays down), then one trial attempt decides
//! (half-open): success closes the circuit, failure opens it again. Pure state, no clock of its own:
//! callers pass `Instant`s, so tests need no sleeping.

use std::time::{Duration, Instant};

/// Retry timing of the follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first fault; doubles per fault while the circuit is closed.
    pub initial: Duration,
    /// Longest wait while the circuit is closed.
    pub max: Duration,
    /// Faults in a row that open the circuit.
    pub breaker_after: u32,
    /// How long an opened circuit stays open before the next trial.
    pub open_for: Duration,
    /// Longest open period: the node is probed at least this often while it is down.
    pub max_open: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            breaker_after: 6,
            open_for: Duration::from_secs(30),
            max_open: Duration::from_secs(300),
        }
    }
}

/// Circuit state, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// No attempts until `until`.
    Open {
        until: Instant,
    },
    /// One trial attempt is allowed.
    HalfOpen,
}

/// Fault counter and circuit of one follower.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    faults: u32,
    opened: u32,
    circuit: Circuit,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            faults: 0,
            opened: 0,
            circuit: Circuit::Closed,
        }
    }

    /// Faults since the last success.
    pub fn faults(&self) -> u32 {
        self.faults
    }

    /// The circuit as of `now` (an open circuit past its time is half-open).
    pub fn circuit(&self, now: Instant) -> Circuit {
        match self.circuit {
            Circuit::Open { until } if now >= until => Circuit::HalfOpen,
            c => c,
        }
    }

    /// Records a success: closes the circuit.
    pub fn success(&mut self) {
        self.faults = 0;
        self.opened = 0;
        self.circuit = Circuit::Closed;
    }

    /// Records a fault at `now`; returns how long to wait before the next attempt.
    pub fn fault(&mut self, now: Instant) -> Duration {
        self.faults = self.faults.saturating_add(1);
        let trial_failed = self.circuit(now) == Circuit::HalfOpen;
        if trial_failed || self.faults >= self.policy.breaker_after {
            // Doubling per reopening; the exponent bound only keeps the shift in range.
            let open = self
                .policy
                .open_for
                .saturating_mul(1 << self.opened.min(16))
                .min(self.policy.max_open);
            self.opened = self.opened.saturating_add(1);
            self.circuit = Circuit::Open { until: now + open };
            return open;
        }
        self.policy
            .initial
            .saturating_mul(1 << (self.faults - 1).min(16))
            .min(self.policy.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            breaker_after: 5,
            open_for: Duration::from_secs(2),
            max_open: Duration::from_secs(5),
        }
    }

    #[test]
    fn waits_double_then_the_circuit_opens() {
        let mut b = Backoff::new(policy());
        let t = Instant::now();
        let waits: Vec<u64> = (0..4).map(|_| b.fault(t).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 500]);
        assert_eq!(b.circuit(t), Circuit::Closed);
        assert_eq!(b.fault(t), Duration::from_secs(2));
        assert!(matches!(b.circuit(t), Circuit::Open { .. }));
        assert_eq!(b.circuit(t + Duration::from_secs(2)), Circuit::HalfOpen);
    }

    #[test]
    fn a_failed_trial_reopens_for_longer_and_a_success_closes() {
        let mut b = Backoff::new(policy());
        let mut t = Instant::now();
        for _ in 0..5 {
            b.fault(t);
        }
        t += Duration::from_secs(2);
        assert_eq!(b.fault(t), Duration::from_secs(4));
        t += Duration::from_secs(4);
        assert_eq!(b.fault(t), Duration::from_secs(5), "capped at max_open");
        b.success();
        assert_eq!((b.faults(), b.circuit(t)), (0, Circuit::Closed));
        assert_eq!(b.fault(t), Duration::from_millis(100));
    }
}
