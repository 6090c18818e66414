//! The PostgreSQL job store's calls for many replicas (`/work/briefs/fleet-trait.md`'s contract):
//! claims under leases (`claim`, `renew`, `reclaim_expired`), one job as stored now (`job`), the change
//! feed (`changes`, `publish_progress`), sealed result files (`result_file`; written by
//! `finish_ready`) and `ping`. Inherent methods, which the `JobStore` impl (`jobs`) calls.

use tokio::sync::broadcast;

use super::{
    PING_TIMEOUT, PostgresJobStore,
    jobs::{JOB_COLUMNS, notify_jobs, stored_job},
    model::{Failure, bytes32, domain, sql},
};
use crate::service::jobs::store::{Claimed, StoreChange, StoreResult, StoredJob};

/// Largest progress payload `publish_progress` sends: PostgreSQL refuses a notification of 8000 bytes
/// or more, and a status' progress view is a few hundred.
pub const MAX_PROGRESS_BYTES: usize = 7000;

impl PostgresJobStore {
    /// Of `ids`, those queued, scanning under a lease that ended before `now_ms`, or scanning under this
    /// replica's own lease become scanning, owned by this replica until `now_ms + lease`, the attempt
    /// counted and the revision bumped. Rows another transaction holds are skipped, not waited for.
    pub fn claim(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<Claimed>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (replica, until) = (self.inner.replica.clone(), sql(now_ms).saturating_add(self.lease_ms()));
        self.with(async |c| {
            let tx = c.transaction().await?;
            let rows = tx
                .query(
                    "WITH picked AS (
                         SELECT id FROM jobs
                         WHERE id = ANY($1) AND (state = 'queued'
                               OR (state = 'scanning' AND (lease_until_ms < $2 OR lease_owner = $3)))
                         ORDER BY created_ms, seq
                         FOR UPDATE SKIP LOCKED)
                     UPDATE jobs SET state = 'scanning', attempts = attempts + 1, lease_owner = $3,
                            lease_until_ms = $4, revision = revision + 1
                     FROM picked WHERE jobs.id = picked.id
                     RETURNING jobs.id, jobs.revision, jobs.attempts",
                    &[&ids, &sql(now_ms), &replica, &until],
                )
                .await?;
            let claimed: Vec<Claimed> = rows
                .iter()
                .map(|r| Claimed {
                    id: r.get(0),
                    revision: domain(r.get(1)),
                    attempts: r.get::<_, i32>(2).max(0) as u32,
                })
                .collect();
            let changed: Vec<(String, i64)> = claimed.iter().map(|c| (c.id.clone(), sql(c.revision))).collect();
            notify_jobs(&tx, &changed).await?;
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// Extends this replica's leases on `ids` to `now_ms + lease`; the ids it no longer holds (taken
    /// over after its lease ended, finished, deleted): the pass writes nothing for those.
    pub fn renew(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<String>> {
        let (replica, until) = (self.inner.replica.clone(), sql(now_ms).saturating_add(self.lease_ms()));
        let held: Vec<String> = self.with(async |c| {
            let rows = c
                .query(
                    "UPDATE jobs SET lease_until_ms = $3
                     WHERE id = ANY($1) AND state = 'scanning' AND lease_owner = $2 RETURNING id",
                    &[&ids, &replica, &until],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })?;
        Ok(ids.iter().filter(|id| !held.contains(id)).cloned().collect())
    }

    /// Jobs scanning under a lease that ended before `now_ms` go back to the queue (the attempt stays
    /// counted, the revision is bumped); their ids. Rows another replica is changing are left to it.
    pub fn reclaim_expired(&self, now_ms: u64) -> StoreResult<Vec<String>> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            let rows = tx
                .query(
                    "WITH expired AS (
                         SELECT id FROM jobs WHERE state = 'scanning' AND lease_until_ms < $1
                         FOR UPDATE SKIP LOCKED)
                     UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until_ms = NULL,
                            revision = revision + 1
                     FROM expired WHERE jobs.id = expired.id RETURNING jobs.id, jobs.revision",
                    &[&sql(now_ms)],
                )
                .await?;
            let changed: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            notify_jobs(&tx, &changed).await?;
            tx.commit().await?;
            Ok(changed.into_iter().map(|(id, _)| id).collect())
        })
    }

    /// One job as stored now, with its token hashes, revision and client fingerprint.
    pub fn job(&self, id: &str) -> StoreResult<Option<StoredJob>> {
        self.with(async |c| {
            let tx = c.build_transaction().read_only(true).start().await?;
            let Some(row) = tx
                .query_opt(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"), &[&id])
                .await?
            else {
                return Ok(None);
            };
            let mut job = stored_job(&row);
            job.tokens = tx
                .query("SELECT hash FROM tokens WHERE job_id = $1 ORDER BY hash", &[&id])
                .await?
                .iter()
                .map(|r| bytes32(r.get(0)))
                .collect();
            tx.commit().await?;
            Ok(Some(job))
        })
    }

    /// Every committed change of any replica from now on (and `Resync` when some may have been lost). A
    /// receiver that falls `CHANGE_BUFFER` changes behind gets `Lagged`: it reloads as for `Resync`.
    pub fn changes(&self) -> Option<broadcast::Receiver<StoreChange>> {
        Some(self.inner.changes.subscribe())
    }

    /// Tells every replica (this one included, through `changes`) a scanning job's progress: its event id
    /// and the JSON of its status' progress view. Not stored: a replica that misses it shows the next.
    pub fn publish_progress(&self, id: &str, event_id: u64, progress: &[u8]) -> StoreResult<()> {
        let progress = std::str::from_utf8(progress)
            .map_err(|_| crate::service::jobs::store::JobStoreError::new("progress is not UTF-8 JSON"))?;
        let payload = format!("{event_id} {id} {progress}");
        if payload.len() > MAX_PROGRESS_BYTES {
            return Err(crate::service::jobs::store::JobStoreError::new(format!(
                "progress of {} bytes is more than a notification carries ({MAX_PROGRESS_BYTES})",
                progress.len()
            )));
        }
        self.with(async |c| {
            c.execute("SELECT pg_notify('tws_progress', $1)", &[&payload]).await?;
            Ok(())
        })
    }

    /// The sealed result file of a ready job, as `finish_ready` kept it.
    pub fn result_file(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.with(async |c| {
            let row = c
                .query_opt("SELECT result_file FROM jobs WHERE id = $1 AND state = 'ready'", &[&id])
                .await?;
            Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    /// The store answers `SELECT 1` within `PING_TIMEOUT` (a free connection included).
    pub fn ping(&self) -> StoreResult<()> {
        self.block_on(async {
            let answer = tokio::time::timeout(PING_TIMEOUT, async {
                let client = self.inner.pool.get().await?;
                client.execute("SELECT 1", &[]).await?;
                Ok::<_, Failure>(())
            })
            .await;
            answer.unwrap_or_else(|_| Err(Failure::Refused(format!("no answer within {PING_TIMEOUT:?}"))))
        })
        .map_err(|failure| self.error(failure))
    }
}
