//! Source watcher: follows the chain view while the service runs. Wakes the scheduler on every change
//! (queued jobs may be scannable now), logs lifecycle changes, and marks the service draining as soon as
//! shutdown begins, before connections finish.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::service::jobs::{Jobs, Phase};

/// Follows the source: marks draining as soon as shutdown begins (before connections finish), wakes the
/// scheduler on every change (queued jobs may be scannable now) and logs lifecycle changes.
pub(in crate::service) async fn run(jobs: Arc<Jobs>, stop: CancellationToken) {
    let mut watch = jobs.source().watch();
    let mut last = jobs.lifecycle();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = watch.changed() => {
                if !changed {
                    stop.cancelled().await;
                    break;
                }
                jobs.source_changed();
                let now = jobs.lifecycle();
                if now != last {
                    let report = jobs.report();
                    match &report.fault {
                        Some(fault) => tracing::warn!(state = now.name(), code = fault.code, "lifecycle"),
                        None => tracing::info!(state = now.name(), cache_tip = report.cache_tip_height, "lifecycle"),
                    }
                    last = now;
                }
            }
        }
    }
    jobs.set_phase(Phase::Draining);
}
