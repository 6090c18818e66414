//! Fleet: the job registry as a mirror of a job store many replicas share (`JobStore::shared`). Any
//! replica serves any job: a follower task (`run`) applies every change the store announces (a job admitted,
//! claimed, finished or deleted at another replica; another replica's scan progress; a reload when changes
//! may have been lost), a request for a job this replica has not heard of reads the store once
//! (`look_up`), and every state is shown under the event id its store revision gives it, the same at every
//! replica. The same task tells the others this replica's scan progress and pings the store: while it does
//! not answer, nothing is claimed and the lifecycle reads `degraded` (`STORE_UNREACHABLE`). Claims and
//! leases are the scheduler's; with a single replica (SQLite) nothing here runs.

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, atomic::Ordering},
};

use blake2::{Blake2b, Digest, digest::consts::U16};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{
    CacheSource, Jobs, blocking,
    fair_queue::Lane,
    job::{Job, JobStatus, ProgressReport, ProgressView},
    output_keys, renumber_queue,
    store::{StoreChange, StoredJob, StoredState},
};

/// Follows the store's changes, tells the other replicas this one's progress and pings the store, until
/// `shutdown`. Returns at once for a store no other replica writes.
pub(in crate::service) async fn run(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    if !jobs.shared {
        return;
    }
    let mut changes = jobs.changes.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(mut progress) = jobs.progress_in.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    if changes.is_none() {
        tracing::warn!("the shared job store has no change feed: jobs of other replicas show only when asked for");
    }
    let mut health = tokio::time::interval(jobs.config.job_lease / 3);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let change = async {
            match changes.as_mut() {
                Some(feed) => feed.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            change = change => match change {
                Ok(StoreChange::Job { id, revision }) => jobs.mirror(&id, revision).await,
                Ok(StoreChange::Progress { id, event_id, progress }) => jobs.mirror_progress(&id, event_id, &progress),
                Ok(StoreChange::Resync) | Err(RecvError::Lagged(_)) => jobs.resync().await,
                Err(RecvError::Closed) => {
                    tracing::error!("the job store's change feed closed: jobs of other replicas show only when asked for");
                    changes = None;
                }
            },
            Some(report) = progress.recv() => jobs.tell_progress(report).await,
            _ = health.tick() => jobs.check_store().await,
        }
    }
    tracing::debug!("fleet follower stopped");
}

impl Jobs {
    /// Whether other replicas write the job store too.
    pub(super) fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether the shared store answered its last ping (always, for a single replica's store).
    pub(super) fn store_reachable(&self) -> bool {
        self.store_reachable.load(Ordering::Relaxed)
    }

    /// The lane a client's jobs wait in: its address bucket, or in a fleet its keyed fingerprint, which
    /// every replica computes alike (they share the server key) and the store keeps with the job.
    pub(super) fn lane_of(&self, bucket: IpAddr) -> Lane {
        match self.shared {
            true => Lane::Fingerprint(self.client_fingerprint(bucket)),
            false => Lane::Client(bucket),
        }
    }

    /// The keyed fingerprint of a client's address bucket: names its turn, never its address.
    pub(super) fn client_fingerprint(&self, bucket: IpAddr) -> [u8; 16] {
        let mut hasher = Blake2b::<U16>::new();
        hasher.update(self.fingerprint_key.as_ref());
        hasher.update(b"client-bucket");
        match bucket {
            IpAddr::V4(ip) => hasher.update(ip.octets()),
            IpAddr::V6(ip) => hasher.update(ip.octets()),
        }
        hasher.finalize().into()
    }

    /// Before a request for job `id` is authorised: in a fleet, a job this replica has not heard of yet
    /// (admitted at another a moment ago) is read from the store once. Only ids this fleet can have made
    /// are looked for, and the request rate limiter has counted the request already, so unknown ids
    /// cannot turn every request into a query.
    pub async fn look_up(&self, id: &str) {
        if !self.shared || !fleet_job_id(id) || self.registry().jobs.contains_key(id) {
            return;
        }
        self.refresh(id).await;
    }

    /// Job `id` as the store holds it now, applied to the registry (a job this replica changed, or heard
    /// changed). A store that cannot be read leaves the job as it is here.
    pub(super) async fn refresh(&self, id: &str) {
        let (store, source, key) = (self.store.clone(), self.source.clone(), id.to_string());
        let read = blocking(move || {
            let stored = store.job(&key)?;
            let cost = stored.as_ref().and_then(|row| price(&source, row));
            Ok((stored, cost))
        })
        .await;
        if let Ok((stored, cost)) = read {
            self.apply_row(id, stored, cost);
        }
    }

    /// A change the store announced: read unless this replica shows that revision already.
    async fn mirror(&self, id: &str, revision: u64) {
        let known = self.registry().jobs.get(id).map(|job| job.revision());
        if known.is_some_and(|shown| shown >= revision) {
            return;
        }
        self.refresh(id).await;
    }

    /// Another replica's scan progress (JSON of the status' progress view), shown if it is newer.
    fn mirror_progress(&self, id: &str, event_id: u64, progress: &[u8]) {
        let Some(job) = self.registry().jobs.get(id).cloned() else {
            return;
        };
        if let Ok(view) = serde_json::from_slice::<ProgressView>(progress) {
            job.apply_progress(view, event_id);
        }
    }

    /// Every live job reloaded (changes may have been lost); jobs the store no longer has are forgotten.
    async fn resync(&self) {
        let (store, source) = (self.store.clone(), self.source.clone());
        let Ok(rows) = blocking(move || {
            let rows = store.load()?;
            Ok(rows
                .into_iter()
                .map(|row| {
                    let cost = price(&source, &row);
                    (row, cost)
                })
                .collect::<Vec<_>>())
        })
        .await
        else {
            return;
        };
        let stored: HashSet<String> = rows.iter().map(|(row, _)| row.id.clone()).collect();
        for (row, cost) in rows {
            let id = row.id.clone();
            self.apply_row(&id, Some(row), cost);
        }
        let gone: Vec<String> = {
            let registry = self.registry();
            registry
                .jobs
                .keys()
                .filter(|id| !stored.contains(*id) && !registry.in_pass.contains_key(*id))
                .cloned()
                .collect()
        };
        for id in gone {
            self.apply_row(&id, None, None);
        }
        tracing::info!(jobs = stored.len(), "jobs reloaded from the shared store");
    }

    /// Applies a stored row (`None`: gone from the store) to the registry: a job not known here joins it
    /// (with its tokens), a newer revision moves a known one, and the queue follows the stored state (a
    /// job this replica's pass holds stays with the pass).
    fn apply_row(&self, id: &str, stored: Option<StoredJob>, cost: Option<u64>) {
        let mut registry = self.registry();
        let Some(stored) = stored else {
            if let Some(job) = registry.jobs.remove(id) {
                if registry.queue.remove(&job) {
                    renumber_queue(&registry.queue);
                }
                job.cancel();
                self.held.release(&job);
                self.tickets.forget_job(id);
            }
            return;
        };
        let status = status_of(&stored);
        let job = match registry.jobs.get(id) {
            Some(job) => {
                if !job.apply_stored(status, stored.revision) {
                    return;
                }
                job.clone()
            }
            None => {
                let job = Job::new(
                    stored.id.clone(),
                    stored.birthday,
                    stored.created_ms,
                    0,
                    stored.tokens.clone(),
                    status,
                    self.metrics.jobs.clone(),
                )
                .numbered_from_revision(stored.revision);
                let job = Arc::new(job);
                registry.jobs.insert(stored.id.clone(), job.clone());
                job
            }
        };
        job.attempts.store(stored.attempts, Ordering::Relaxed);
        let waiting = registry.queue.contains(&job);
        let in_pass = registry.in_pass.contains_key(id);
        match stored.state {
            StoredState::Queued if !waiting && !in_pass => {
                registry
                    .queue
                    .push(job.clone(), Lane::Fingerprint(stored.client), cost.unwrap_or(1));
                renumber_queue(&registry.queue);
                self.queue_notify.notify_one();
            }
            StoredState::Queued => {}
            _ if waiting => {
                registry.queue.remove(&job);
                renumber_queue(&registry.queue);
            }
            _ => {}
        }
        if stored.state.is_tombstone() {
            self.held.release(&job);
            self.tickets.forget_job(id);
        }
    }

    /// A scanning job's progress as this replica shows it, for the others (from a scan thread: never
    /// waits).
    pub(super) fn report_progress(&self, job: &Job) {
        if !self.shared {
            return;
        }
        let snapshot = job.snapshot();
        if let JobStatus::Scanning { progress: Some(view) } = snapshot.status {
            let _ = self.progress_out.try_send(ProgressReport {
                id: job.id.clone(),
                event_id: snapshot.event_id,
                view,
            });
        }
    }

    async fn tell_progress(&self, report: ProgressReport) {
        let Ok(json) = serde_json::to_vec(&report.view) else {
            return;
        };
        let store = self.store.clone();
        // A report that does not reach the store is not retried: the next one says more.
        let _ = blocking(move || store.publish_progress(&report.id, report.event_id, &json)).await;
    }

    /// Pings the shared store: while it does not answer, this replica claims nothing and reads
    /// `degraded`; the jobs it held are taken over by others once their leases end.
    pub(super) async fn check_store(&self) {
        let store = self.store.clone();
        let answered = matches!(tokio::task::spawn_blocking(move || store.ping()).await, Ok(Ok(())));
        let before = self.store_reachable.swap(answered, Ordering::Relaxed);
        match (before, answered) {
            (true, false) => tracing::error!("the shared job store does not answer; no new scans are claimed"),
            (false, true) => {
                tracing::info!("the shared job store answers again");
                self.queue_notify.notify_one();
            }
            _ => {}
        }
    }
}

/// What a queued job costs now (output-keys), if the chain can price it (blocking: it may open the cache).
fn price(source: &CacheSource, row: &StoredJob) -> Option<u64> {
    (row.state == StoredState::Queued)
        .then(|| source.pricing_view().map(|view| output_keys(&view, row.birthday)))
        .flatten()
}

/// A stored row's state as a job shows it (a queued job's position is this replica's to number).
fn status_of(stored: &StoredJob) -> JobStatus {
    let expires_ms = stored.expires_ms.unwrap_or(0);
    match stored.state {
        StoredState::Queued => JobStatus::Queued { position: 0 },
        StoredState::Scanning => JobStatus::Scanning { progress: None },
        StoredState::Ready => match &stored.result {
            Some(result) => JobStatus::Ready {
                size: result.size,
                sha256: result.sha256.clone(),
                expires_ms,
                stale: result.stale,
                tip_height: result.tip_height,
            },
            // A ready row always reports its file; one that does not has nothing to serve.
            None => JobStatus::Expired,
        },
        StoredState::Failed => {
            let (code, message) = stored.error.clone().unwrap_or_default();
            JobStatus::Failed {
                code,
                message,
                expires_ms,
            }
        }
        StoredState::Deleted => JobStatus::Deleted,
        StoredState::Expired => JobStatus::Expired,
    }
}

/// Whether `id` has the shape of an id some replica of this fleet made (`job::new_job_id`): 32 lowercase
/// hex digits, after a replica's prefix and `-` if any.
pub(super) fn fleet_job_id(id: &str) -> bool {
    let Some(split) = id.len().checked_sub(32) else {
        return false;
    };
    let (prefix, random) = id.split_at(split);
    let random_ok = random.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let prefix_ok = prefix.is_empty()
        || prefix
            .strip_suffix('-')
            .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    random_ok && prefix_ok && super::job::plausible_job_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::jobs::job::new_job_id;

    #[test]
    fn only_ids_a_replica_makes_are_looked_up() {
        assert!(fleet_job_id(&new_job_id(None)));
        assert!(fleet_job_id(&new_job_id(Some("eu_1"))));
        assert!(!fleet_job_id("a"));
        assert!(!fleet_job_id(&"A".repeat(32)), "upper case is not ours");
        assert!(!fleet_job_id(&format!("-{}", "a".repeat(32))));
        assert!(!fleet_job_id(&format!("x{}", "a".repeat(32))), "a prefix ends with '-'");
        assert!(!fleet_job_id(&format!("../-{}", "a".repeat(32))));
    }
}
