//! Recovery: the job domain after a restart. Stored jobs come back into the registry and the fair
//! queue; a scan the process died in counts as an attempt; a ready job keeps its result only while its
//! sealed file is (or may be) on disk. On a store many replicas share, a scanning job is left to whoever
//! holds its lease (the janitors queue it again once the lease ends) and a ready job's file is in the store.

use std::sync::{Arc, atomic::Ordering};

use super::{
    Jobs,
    fair_queue::Lane,
    job::{Job, JobStatus},
    output_keys, renumber_queue,
    results::sealed_files::RESULT_LOST_MESSAGE,
    store::{JobStoreError, StoredJob, StoredState},
};
use crate::service::{
    clock::now_ms,
    error::{FailureCode, TOO_MANY_ATTEMPTS_MESSAGE},
};

impl Jobs {
    /// Reloads stored jobs: queued and interrupted scans queue again (in submission order), unless they
    /// have used up `max_attempts` (a scan the process died in counts): those fail with
    /// `TOO_MANY_ATTEMPTS`, so no job is scanned again and again across restarts. A ready job stays ready
    /// if its sealed file is on disk (opened by its first download, `sealed_files`), or if that cannot
    /// be told now (its first download decides); it fails with `RESULT_LOST` only when the file is
    /// certainly not there. Files of no ready job are removed.
    pub(super) fn recover(&self, stored_jobs: Vec<StoredJob>) -> Result<(), JobStoreError> {
        let now = now_ms();
        let expires = now + self.config.result_ttl.as_millis() as u64;
        let pricing = self.source.pricing_view();
        let mut registry = self.registry();
        let mut with_files = std::collections::HashSet::new();
        for stored in stored_jobs {
            let status = match stored.state {
                // In a fleet a scanning job is another replica's (or this one's before a restart) under a
                // lease: never taken from it here. Once the lease ends a janitor queues it again.
                StoredState::Scanning if self.shared => JobStatus::Scanning { progress: None },
                StoredState::Queued | StoredState::Scanning if stored.attempts >= self.config.max_attempts => {
                    self.store.finish_failed(
                        &stored.id,
                        FailureCode::TooManyAttempts.as_str(),
                        TOO_MANY_ATTEMPTS_MESSAGE,
                        now,
                        expires,
                    )?;
                    tracing::warn!(job = %stored.id, attempts = stored.attempts, code = %FailureCode::TooManyAttempts, "job failed");
                    JobStatus::Failed {
                        code: FailureCode::TooManyAttempts.to_string(),
                        message: TOO_MANY_ATTEMPTS_MESSAGE.into(),
                        expires_ms: expires,
                    }
                }
                StoredState::Queued | StoredState::Scanning => {
                    self.store.requeue(&stored.id, false)?;
                    JobStatus::Queued { position: 0 }
                }
                // In a fleet the sealed file is in the store with the job.
                StoredState::Ready => match stored.result.clone().filter(|_| self.shared || self.file_kept(&stored)) {
                    Some(result) => {
                        with_files.insert(stored.id.clone());
                        JobStatus::Ready {
                            size: result.size,
                            sha256: result.sha256,
                            expires_ms: stored.expires_ms.unwrap_or(now),
                            stale: result.stale,
                            tip_height: result.tip_height,
                        }
                    }
                    None => {
                        self.store.finish_failed(
                            &stored.id,
                            FailureCode::ResultLost.as_str(),
                            RESULT_LOST_MESSAGE,
                            now,
                            expires,
                        )?;
                        JobStatus::Failed {
                            code: FailureCode::ResultLost.to_string(),
                            message: RESULT_LOST_MESSAGE.into(),
                            expires_ms: expires,
                        }
                    }
                },
                StoredState::Failed => {
                    let (code, message) = stored.error.clone().unwrap_or_default();
                    JobStatus::Failed {
                        code,
                        message,
                        expires_ms: stored.expires_ms.unwrap_or(now),
                    }
                }
                StoredState::Deleted => JobStatus::Deleted,
                StoredState::Expired => JobStatus::Expired,
            };
            let queued = matches!(status, JobStatus::Queued { .. });
            let mut job = Job::new(
                stored.id.clone(),
                stored.birthday,
                stored.created_ms,
                self.boot,
                stored.tokens,
                status,
                self.metrics.jobs.clone(),
            );
            if self.shared {
                // A change made just now (a job failed above) comes back through the change feed.
                job = job.numbered_from_revision(stored.revision);
            }
            let job = Arc::new(job);
            job.attempts.store(stored.attempts, Ordering::Relaxed);
            if queued {
                let cost = pricing.as_ref().map_or(1, |view| output_keys(view, job.birthday));
                let lane = match self.shared {
                    true => Lane::Fingerprint(stored.client),
                    false => Lane::Recovered,
                };
                registry.queue.push(job.clone(), lane, cost);
            }
            registry.jobs.insert(stored.id, job);
        }
        renumber_queue(&registry.queue);
        match self.results.remove_others(|id| with_files.contains(id)) {
            Ok((removed, foreign)) => {
                if removed > 0 {
                    tracing::info!(removed, "result files of no ready job removed");
                }
                if foreign > 0 {
                    tracing::warn!(
                        entries = foreign,
                        "the results folder holds entries that are not job files; left alone"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "cannot tidy the result files"),
        }
        if !with_files.is_empty() {
            tracing::info!(
                jobs = with_files.len(),
                "ready jobs kept their sealed files across the restart"
            );
        }
        if !registry.queue.is_empty() {
            tracing::info!(jobs = registry.queue.len(), "resuming jobs accepted before the restart");
            self.queue_notify.notify_one();
        }
        Ok(())
    }

    /// Whether a stored ready job's file is to be kept: it is on disk, or whether it is cannot be told
    /// now. Only a file certainly gone (or never written) loses the job.
    fn file_kept(&self, stored: &StoredJob) -> bool {
        if !stored.file_written {
            return false;
        }
        self.results.presence(&stored.id).unwrap_or_else(|error| {
            tracing::warn!(job = %stored.id, %error, "cannot tell whether a result file is there; keeping the job ready");
            true
        })
    }
}
