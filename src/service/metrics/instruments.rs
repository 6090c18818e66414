//! Instruments: the registered counter, gauge and histogram types recorders hold (`Count`, `Level`,
//! `Timing`), and the job-state gauges every job moves (`JobGauges`). The registry they are registered in
//! is `metrics`'.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64},
    },
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
};

/// Bucket bounds in seconds: a job is expected in well under 30 s, a pass of many keys may take minutes.
const BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Every state a job can be in (`JobStatus::name`), as `tws_jobs{state}` labels them.
pub const JOB_STATES: [&str; 6] = ["queued", "scanning", "ready", "failed", "deleted", "expired"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabel {
    pub(super) state: &'static str,
}

/// A registered counter. It derefs to its atomic, so recorders count with `fetch_add` as anywhere else.
#[derive(Clone, Default)]
pub struct Count(pub(super) Counter);

impl Deref for Count {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

/// A registered gauge that goes up and down with what it counts (connections, streams); derefs to its
/// atomic like `Count`.
#[derive(Clone, Default)]
pub struct Level(pub(super) Gauge);

impl Deref for Level {
    type Target = AtomicI64;
    fn deref(&self) -> &AtomicI64 {
        self.0.inner()
    }
}

/// A registered histogram of durations.
pub struct Timing {
    pub(super) histogram: Histogram,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            histogram: Histogram::new(BUCKETS),
        }
    }
}

impl Timing {
    pub fn observe(&self, duration: Duration) {
        self.histogram.observe(duration.as_secs_f64());
    }
}

/// `tws_jobs{state}`: the jobs in memory by state. Every `Job` holds one (cheap to clone) and moves its
/// own count as it changes state and takes it away when dropped, so the gauges are always current and a
/// scrape never walks the jobs.
#[derive(Clone, Default)]
pub struct JobGauges(Arc<[Gauge; JOB_STATES.len()]>);

impl JobGauges {
    pub(super) fn of(family: &Family<StateLabel, Gauge>) -> JobGauges {
        JobGauges(Arc::new(
            JOB_STATES.map(|state| family.get_or_create_owned(&StateLabel { state })),
        ))
    }

    fn gauge(&self, state: &str) -> Option<&Gauge> {
        JOB_STATES.iter().position(|s| *s == state).map(|i| &self.0[i])
    }

    /// A job now in `state` (created, or reloaded after a restart).
    pub fn entered(&self, state: &str) {
        if let Some(gauge) = self.gauge(state) {
            gauge.inc();
        }
    }

    /// A job that was in `state` is gone.
    pub fn left(&self, state: &str) {
        if let Some(gauge) = self.gauge(state) {
            gauge.dec();
        }
    }

    /// The jobs in `state` now.
    #[cfg(test)]
    pub fn count(&self, state: &str) -> i64 {
        self.gauge(state).map_or(0, Gauge::get)
    }
}
