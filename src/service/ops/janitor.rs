//! Janitor: expires finished jobs' results (`Jobs::sweep`) on a period, until shutdown.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::service::jobs::Jobs;

/// Wipes expired results on a period of a quarter of the TTL (between 1 s and 1 min).
pub(in crate::service) async fn run(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let period = (jobs.config().result_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(period) => {
                if jobs.sweep().await.is_err() {
                    tracing::warn!("expiry sweep failed; retrying next period");
                }
            }
        }
    }
}
