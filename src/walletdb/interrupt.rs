//! Interrupt: what stops a wallet build before it finishes, its deadline and its job's cancellation,
//! checked between blocks, inside the change-matching search and between compressed chunks. Owns the
//! check and why it stopped; who sets the deadline or cancels (the service's scheduler) is not its
//! business.

use std::time::{Duration, Instant};

/// Why a build stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The build ran past its deadline (`limit` after it started).
    Deadline { limit: Duration },
    /// The job was cancelled (deleted) or the service is shutting down.
    Cancelled,
}

/// Polled by a build: a deadline and a cancel check. Cheap to check (a clock read and a call), so it is
/// checked often enough that a stop takes effect within milliseconds.
pub struct Interrupt<'a> {
    deadline: Option<(Instant, Duration)>,
    cancelled: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl<'a> Interrupt<'a> {
    /// Nothing stops the build (command-line exports, tests).
    pub fn never() -> Interrupt<'static> {
        Interrupt {
            deadline: None,
            cancelled: None,
        }
    }

    /// Stops `limit` after now, or when `cancelled` says so.
    pub fn new(limit: Duration, cancelled: &'a (dyn Fn() -> bool + Sync)) -> Interrupt<'a> {
        Interrupt {
            // A limit too long to add to the clock is no limit.
            deadline: Instant::now().checked_add(limit).map(|at| (at, limit)),
            cancelled: Some(cancelled),
        }
    }

    /// `Err` once the build should stop. Cancellation wins over the deadline: a deleted job's outcome is
    /// its deletion.
    pub fn check(&self) -> Result<(), Stopped> {
        if self.cancelled.is_some_and(|cancelled| cancelled()) {
            return Err(Stopped::Cancelled);
        }
        match self.deadline {
            Some((at, limit)) if Instant::now() >= at => Err(Stopped::Deadline { limit }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn stops_on_cancel_and_on_the_deadline() {
        assert_eq!(Interrupt::never().check(), Ok(()));
        let flag = AtomicBool::new(false);
        let cancelled = || flag.load(Ordering::Relaxed);
        let interrupt = Interrupt::new(Duration::from_secs(3600), &cancelled);
        assert_eq!(interrupt.check(), Ok(()));
        flag.store(true, Ordering::Relaxed);
        assert_eq!(interrupt.check(), Err(Stopped::Cancelled));
        let never = || false;
        let past = Interrupt::new(Duration::ZERO, &never);
        assert_eq!(past.check(), Err(Stopped::Deadline { limit: Duration::ZERO }));
        let forever = Interrupt::new(Duration::MAX, &never);
        assert_eq!(forever.check(), Ok(()), "an unrepresentable deadline is none");
    }
}
