//! Scan progress: counts work done across threads and reports it at a bounded rate, always increasing.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A progress report. Every field only grows between reports of the same scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub outputs_done: u64,
    pub outputs_total: u64,
    pub blocks_done: u64,
    pub blocks_total: u64,
    /// The height the scan has reached (of the last output counted).
    pub height: u64,
}

impl Progress {
    pub fn fraction(&self) -> f64 {
        if self.outputs_total == 0 {
            1.0
        } else {
            self.outputs_done as f64 / self.outputs_total as f64
        }
    }
}

/// Shared by the scan threads: each finished chunk adds to `done`; at most one report per `interval`
/// (plus the final one) reaches the callback, and a report is never older than the last one sent.
pub(crate) struct Reporter<'a> {
    done: AtomicU64,
    total: u64,
    first_height: u64,
    blocks_total: u64,
    interval: Duration,
    last: Mutex<(Instant, Option<Progress>)>,
    height_of: &'a (dyn Fn(u64) -> u64 + Sync),
    sink: &'a (dyn Fn(Progress) + Sync),
}

impl<'a> Reporter<'a> {
    pub fn new(
        total: u64,
        first_height: u64,
        blocks_total: u64,
        interval: Duration,
        height_of: &'a (dyn Fn(u64) -> u64 + Sync),
        sink: &'a (dyn Fn(Progress) + Sync),
    ) -> Self {
        Reporter {
            done: AtomicU64::new(0),
            total,
            first_height,
            blocks_total,
            interval,
            last: Mutex::new((Instant::now(), None)),
            height_of,
            sink,
        }
    }

    /// Counts `outputs` more as done; reports if the interval has passed and no other thread is reporting.
    pub fn add(&self, outputs: u64) {
        let done = self.done.fetch_add(outputs, Ordering::Relaxed) + outputs;
        if let Ok(mut last) = self.last.try_lock()
            && last.0.elapsed() >= self.interval
        {
            self.send(&mut last, done);
        }
    }

    /// The final report: everything done.
    pub fn finish(&self) {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.send(&mut last, self.total);
    }

    fn send(&self, last: &mut (Instant, Option<Progress>), done: u64) {
        // Reports race: a thread may carry a smaller count than one already sent. Never go backwards.
        let done = done.min(self.total).max(last.1.map_or(0, |p| p.outputs_done));
        let height = if done == 0 {
            self.first_height
        } else {
            (self.height_of)(done - 1)
        };
        let blocks_done = if done == self.total {
            self.blocks_total
        } else {
            (height.saturating_sub(self.first_height)).min(self.blocks_total)
        };
        let progress = Progress {
            outputs_done: done,
            outputs_total: self.total,
            blocks_done,
            blocks_total: self.blocks_total,
            height,
        };
        if last.1 != Some(progress) {
            (self.sink)(progress);
        }
        *last = (Instant::now(), Some(progress));
    }
}
