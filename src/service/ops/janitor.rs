//! Janitor: expires finished jobs' results (`Jobs::sweep`) on a period, and in a fleet queues again the
//! scans whose lease ended (`Jobs::reclaim_expired`: a replica died in them) every third of `job_lease`,
//! until shutdown.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::service::jobs::Jobs;

/// Wipes expired results on a period of a quarter of the TTL (between 1 s and 1 min).
pub(in crate::service) async fn run(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let period = (jobs.config().result_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut sweeps = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // A dead replica's jobs wait at most a lease and a third for another replica to take them.
    let lease_check = jobs.config().job_lease / 3;
    let mut reclaims = tokio::time::interval_at(tokio::time::Instant::now() + lease_check, lease_check);
    for timer in [&mut sweeps, &mut reclaims] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sweeps.tick() => {
                if jobs.sweep().await.is_err() {
                    tracing::warn!("expiry sweep failed; retrying next period");
                }
            }
            _ = reclaims.tick() => {
                if jobs.reclaim_expired().await.is_err() {
                    tracing::warn!("taking back scans whose lease ended failed; retrying next period");
                }
            }
        }
    }
}
