//! The PostgreSQL job store's `JobStore` calls: admission, scans, outcomes, end of life, result keys.
//! Each is one transaction; each job change bumps the row's revision and notifies `tws_jobs` inside
//! it; each change is guarded by the state it leaves and, for a scanning job, by this replica's lease.
//! The webhook outbox's calls are `webhooks`'; claims and leases are `fleet`'s.

use std::sync::{Arc, atomic::Ordering};

use tokio::sync::broadcast;
use tokio_postgres::{GenericClient, Transaction};

use super::{
    PostgresJobStore,
    model::{Failure, bytes32, domain, sql},
};
use crate::service::{
    jobs::store::{
        Claimed, DueDelivery, Inserted, JobStore, NewJob, SealedParts, StoreChange, StoreResult, StoredJob,
        StoredResult, StoredState,
    },
    webhook::{WebhookEvent, endpoint::Endpoints},
};

/// The columns `StoredJob` is read from, in `stored_job`'s order.
pub(super) const JOB_COLUMNS: &str = "id, state, birthday, attempts, created_ms, expires_ms, error_code, error_message,
     result_size, result_sha256, result_stale, result_tip_height,
     EXISTS (SELECT 1 FROM tokens WHERE tokens.job_id = jobs.id AND sealed_file_key IS NOT NULL),
     revision, client";

/// A job row (`JOB_COLUMNS`) as the trait reports it, without its tokens.
pub(super) fn stored_job(r: &tokio_postgres::Row) -> StoredJob {
    let error = match (r.get::<_, Option<String>>(6), r.get::<_, Option<String>>(7)) {
        (Some(code), message) => Some((code, message.unwrap_or_default())),
        _ => None,
    };
    let result = match (r.get::<_, Option<i64>>(8), r.get::<_, Option<String>>(9)) {
        (Some(size), Some(sha256)) => Some(StoredResult {
            size: domain(size),
            sha256,
            stale: r.get::<_, Option<bool>>(10).unwrap_or(false),
            tip_height: r.get::<_, Option<i64>>(11).map(domain),
        }),
        _ => None,
    };
    StoredJob {
        id: r.get(0),
        state: StoredState::parse(r.get(1)),
        birthday: domain(r.get(2)),
        attempts: r.get::<_, i32>(3).max(0) as u32,
        created_ms: domain(r.get(4)),
        expires_ms: r.get::<_, Option<i64>>(5).map(domain),
        error,
        result,
        file_written: r.get(12),
        tokens: Vec::new(),
        revision: domain(r.get(13)),
        client: r.get::<_, &[u8]>(14).try_into().unwrap_or([0; 16]),
    }
}

/// Tells every replica's listener that these jobs changed (delivered when the transaction commits).
pub(super) async fn notify_jobs(tx: &Transaction<'_>, changed: &[(String, i64)]) -> Result<(), Failure> {
    if changed.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> = changed
        .iter()
        .map(|(id, revision)| format!("{revision}:{id}"))
        .collect();
    tx.execute(
        "SELECT pg_notify('tws_jobs', payload) FROM unnest($1::text[]) AS payload",
        &[&payloads],
    )
    .await?;
    Ok(())
}

/// Locks job `id`'s row for the rest of the transaction: its state, whether it holds its envelope and
/// who holds its lease; `None` if there is no such job.
pub(super) async fn lock_job(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<(StoredState, bool, Option<String>)>, Failure> {
    let row = tx
        .query_opt(
            "SELECT state, sealed_envelope IS NOT NULL, lease_owner FROM jobs WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| (StoredState::parse(r.get(0)), r.get(1), r.get(2))))
}

impl PostgresJobStore {
    /// Job `id`'s envelope left the store (`held`): one key fewer.
    pub(super) fn keys_wiped(&self, held: bool) {
        if held {
            let _ = self
                .inner
                .keys_held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
        }
    }

    /// What a scan's outcome write did to the counts (`Some((keys held, events queued))`: it changed the
    /// job); whether it changed the job.
    fn outcome_written(&self, outcome: Option<(bool, super::webhooks::Queued)>) -> bool {
        let Some((held, queued)) = outcome else {
            return false;
        };
        self.keys_wiped(held);
        self.queued(queued);
        true
    }

    /// Stores a new queued job with its client's fingerprint, its envelope in the same transaction,
    /// unless the envelope was accepted before (then nothing is written).
    fn insert_job(&self, job: &NewJob<'_>) -> StoreResult<Inserted> {
        let inserted = self.with(async |c| {
            let tx = c.transaction().await?;
            if let Some((ephemeral, expires_ms)) = job.envelope {
                let added = tx
                    .execute(
                        "INSERT INTO seen_envelopes (ephemeral, expires_ms, job_id) VALUES ($1, $2, $3)
                         ON CONFLICT (ephemeral) DO NOTHING",
                        &[&&ephemeral[..], &sql(expires_ms), &job.id],
                    )
                    .await?;
                if added == 0 {
                    let earlier = envelope_job(&tx, ephemeral).await?.flatten();
                    return Ok(Inserted::Repeat(earlier));
                }
            }
            tx.execute(
                "INSERT INTO jobs (id, state, revision, birthday, client, sealed_envelope, format, created_ms)
                 VALUES ($1, 'queued', 1, $2, $3, $4, $5, $6)",
                &[
                    &job.id,
                    &sql(job.birthday),
                    &&job.client[..],
                    &job.sealed_request,
                    &(job.format.min(i32::MAX as u32) as i32),
                    &sql(job.created_ms),
                ],
            )
            .await?;
            tx.execute(
                "INSERT INTO tokens (job_id, hash, result_key) VALUES ($1, $2, $3)",
                &[&job.id, &&job.token_hash[..], &&job.result_key[..]],
            )
            .await?;
            notify_jobs(&tx, &[(job.id.to_string(), 1)]).await?;
            tx.commit().await?;
            Ok(Inserted::New)
        })?;
        if inserted == Inserted::New {
            self.inner.keys_held.fetch_add(1, Ordering::Relaxed);
            if job.envelope.is_some() {
                self.inner.envelopes.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(inserted)
    }

    /// A scanning job this replica holds ended with a file: ready, its envelope wiped, its sealed file
    /// (`file`, when replicas share the store) kept and a `ready` event queued, in one transaction.
    /// Nothing changes for a job no longer scanning under this replica's lease.
    fn finish_ready_with_file(
        &self,
        id: &str,
        result: &StoredResult,
        file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool> {
        let replica = self.inner.replica.clone();
        let outcome = self.with(async |c| {
            let tx = c.transaction().await?;
            let Some((StoredState::Scanning, held, Some(owner))) = lock_job(&tx, id).await? else {
                return Ok(None);
            };
            if owner != replica {
                return Ok(None);
            }
            let revision: i64 = tx
                .query_one(
                    "UPDATE jobs SET state = 'ready', sealed_envelope = NULL, finished_ms = $2, expires_ms = $3,
                            result_size = $4, result_sha256 = $5, result_stale = $6, result_tip_height = $7,
                            result_file = $8, lease_owner = NULL, lease_until_ms = NULL, revision = revision + 1
                     WHERE id = $1 RETURNING revision",
                    &[
                        &id,
                        &sql(now_ms),
                        &sql(expires_ms),
                        &sql(result.size),
                        &result.sha256,
                        &result.stale,
                        &result.tip_height.map(sql),
                        &file,
                    ],
                )
                .await?
                .get(0);
            let event = WebhookEvent::Ready {
                size: result.size,
                sha256: &result.sha256,
                stale: result.stale,
                tip_height: result.tip_height,
                expires_ms,
            };
            let queued = self.queue_event(&tx, id, &event, now_ms).await?;
            notify_jobs(&tx, &[(id.to_string(), revision)]).await?;
            tx.commit().await?;
            Ok(Some((held, queued)))
        })?;
        Ok(self.outcome_written(outcome))
    }
}

impl JobStore for PostgresJobStore {
    fn attach_webhooks(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        self.set_webhook_endpoints(endpoints)
    }

    /// Counts starts over every replica; event ids carry it so they grow across restarts.
    fn next_boot(&self) -> StoreResult<u64> {
        self.with(async |c| {
            let boot: i64 = c
                .query_one(
                    "INSERT INTO meta (key, value) VALUES ('boot', 1)
                     ON CONFLICT (key) DO UPDATE SET value = meta.value + 1 RETURNING value",
                    &[],
                )
                .await?
                .get(0);
            Ok(domain(boot))
        })
    }

    /// Every job, oldest first, with its token hashes (never a result file).
    fn load(&self) -> StoreResult<Vec<StoredJob>> {
        self.with(async |c| {
            let tx = c.build_transaction().read_only(true).start().await?;
            let rows = tx
                .query(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_ms, seq"), &[])
                .await?;
            let mut jobs: Vec<StoredJob> = rows.iter().map(stored_job).collect();
            let tokens = tx.query("SELECT job_id, hash FROM tokens ORDER BY job_id", &[]).await?;
            let mut by_job: std::collections::HashMap<String, Vec<[u8; 32]>> = std::collections::HashMap::new();
            for token in &tokens {
                by_job.entry(token.get(0)).or_default().push(bytes32(token.get(1)));
            }
            for job in &mut jobs {
                job.tokens = by_job.remove(&job.id).unwrap_or_default();
            }
            tx.commit().await?;
            Ok(jobs)
        })
    }

    fn insert(&self, job: &NewJob<'_>) -> StoreResult<Inserted> {
        self.insert_job(job)
    }

    fn envelope_job(&self, ephemeral: &[u8; 32]) -> StoreResult<Option<Option<String>>> {
        self.with(async |c| envelope_job(&*c, ephemeral).await)
    }

    fn oldest_envelope_ms(&self) -> StoreResult<Option<u64>> {
        self.with(async |c| {
            let oldest: Option<i64> = c
                .query_one("SELECT MIN(expires_ms) FROM seen_envelopes", &[])
                .await?
                .get(0);
            Ok(oldest.map(domain))
        })
    }

    fn envelopes_remembered(&self) -> u64 {
        self.inner.envelopes.load(Ordering::Relaxed)
    }

    fn sealed(&self, id: &str) -> StoreResult<Option<SealedParts>> {
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT sealed_envelope, format FROM jobs WHERE id = $1 AND sealed_envelope IS NOT NULL",
                    &[&id],
                )
                .await?;
            Ok(row.map(|r| SealedParts {
                sealed_envelope: r.get(0),
                format: r.get::<_, i32>(1).max(0) as u32,
            }))
        })
    }

    /// Back to the queue, only if this replica holds the job's lease.
    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<bool> {
        let replica = self.inner.replica.clone();
        self.with(async |c| {
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - $3, 0), lease_owner = NULL,
                            lease_until_ms = NULL, revision = revision + 1
                     WHERE id = $1 AND state = 'scanning' AND lease_owner = $2 RETURNING revision",
                    &[&id, &replica, &i32::from(give_back)],
                )
                .await?;
            let changed = row.is_some();
            if let Some(row) = row {
                notify_jobs(&tx, &[(id.to_string(), row.get(0))]).await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    fn finish_ready(
        &self,
        id: &str,
        result: &StoredResult,
        file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool> {
        self.finish_ready_with_file(id, result, file, now_ms, expires_ms)
    }

    // Many replicas: `fleet`'s inherent methods.

    fn shared(&self) -> bool {
        true
    }

    fn job(&self, id: &str) -> StoreResult<Option<StoredJob>> {
        PostgresJobStore::job(self, id)
    }

    fn changes(&self) -> Option<broadcast::Receiver<StoreChange>> {
        PostgresJobStore::changes(self)
    }

    fn publish_progress(&self, id: &str, event_id: u64, progress: &[u8]) -> StoreResult<()> {
        PostgresJobStore::publish_progress(self, id, event_id, progress)
    }

    fn ping(&self) -> StoreResult<()> {
        PostgresJobStore::ping(self)
    }

    fn claim(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<Claimed>> {
        PostgresJobStore::claim(self, ids, now_ms)
    }

    fn renew(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<String>> {
        PostgresJobStore::renew(self, ids, now_ms)
    }

    fn reclaim_expired(&self, now_ms: u64) -> StoreResult<Vec<String>> {
        PostgresJobStore::reclaim_expired(self, now_ms)
    }

    fn result_file(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        PostgresJobStore::result_file(self, id)
    }

    /// A queued, scanning (under this replica's lease) or ready job ended without a file: failed, its
    /// envelope, sealed file keys and file wiped and a `failed` event queued, in one transaction.
    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        let replica = self.inner.replica.clone();
        let outcome = self.with(async |c| {
            let tx = c.transaction().await?;
            let Some((state, held, owner)) = lock_job(&tx, id).await? else {
                return Ok(None);
            };
            let allowed = match state {
                StoredState::Queued | StoredState::Ready => true,
                StoredState::Scanning => owner.as_deref() == Some(replica.as_str()),
                _ => false,
            };
            if !allowed {
                return Ok(None);
            }
            let revision: i64 = tx
                .query_one(
                    "UPDATE jobs SET state = 'failed', sealed_envelope = NULL, result_file = NULL, finished_ms = $2,
                            expires_ms = $3, error_code = $4, error_message = $5, lease_owner = NULL,
                            lease_until_ms = NULL, revision = revision + 1
                     WHERE id = $1 RETURNING revision",
                    &[&id, &sql(now_ms), &sql(expires_ms), &code, &message],
                )
                .await?
                .get(0);
            tx.execute("UPDATE tokens SET sealed_file_key = NULL WHERE job_id = $1", &[&id])
                .await?;
            let event = WebhookEvent::Failed {
                code,
                message,
                expires_ms,
            };
            let queued = self.queue_event(&tx, id, &event, now_ms).await?;
            notify_jobs(&tx, &[(id.to_string(), revision)]).await?;
            tx.commit().await?;
            Ok(Some((held, queued)))
        })?;
        Ok(self.outcome_written(outcome))
    }

    fn result_keys(&self, id: &str, unsealed_only: bool) -> StoreResult<Vec<([u8; 32], [u8; 32])>> {
        self.with(async |c| {
            let rows = c
                .query(
                    "SELECT hash, result_key FROM tokens
                     WHERE job_id = $1 AND result_key IS NOT NULL AND (NOT $2 OR sealed_file_key IS NULL)
                     ORDER BY hash",
                    &[&id, &unsealed_only],
                )
                .await?;
            Ok(rows.iter().map(|r| (bytes32(r.get(0)), bytes32(r.get(1)))).collect())
        })
    }

    /// Only while this replica holds the job's scan: one that lost its lease must not replace the keys
    /// of the file another replica finished.
    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()> {
        let replica = self.inner.replica.clone();
        self.with(async |c| {
            c.execute(
                "UPDATE tokens SET sealed_file_key = $3 WHERE job_id = $1 AND hash = $2
                   AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND state = 'scanning' AND lease_owner = $4)",
                &[&id, &&hash[..], &sealed, &replica],
            )
            .await?;
            Ok(())
        })
    }

    fn sealed_file_key(&self, id: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>> {
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT sealed_file_key FROM tokens WHERE job_id = $1 AND hash = $2",
                    &[&id, &&hash[..]],
                )
                .await?;
            Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    /// Deleted or expired: everything but the id, the token hashes and the tombstone's end is wiped, the
    /// sealed file with it. An `expired` event is queued for a job that was ready or failed.
    fn tombstone(&self, id: &str, state: StoredState, until_ms: u64) -> StoreResult<()> {
        let outcome = self.with(async |c| {
            let tx = c.transaction().await?;
            let Some((before, held, _)) = lock_job(&tx, id).await? else {
                return Ok(None);
            };
            let revision: i64 = tx
                .query_one(
                    "UPDATE jobs SET state = $2, sealed_envelope = NULL, expires_ms = $3, result_size = NULL,
                            result_sha256 = NULL, result_stale = NULL, result_tip_height = NULL,
                            result_file = NULL, lease_owner = NULL, lease_until_ms = NULL,
                            revision = revision + 1
                     WHERE id = $1 RETURNING revision",
                    &[&id, &state.as_str(), &sql(until_ms)],
                )
                .await?
                .get(0);
            tx.execute(
                "UPDATE tokens SET result_key = NULL, sealed_file_key = NULL WHERE job_id = $1",
                &[&id],
            )
            .await?;
            let finished = matches!(before, StoredState::Ready | StoredState::Failed);
            let queued = if finished && state == StoredState::Expired {
                self.queue_event(&tx, id, &WebhookEvent::Expired, crate::service::clock::now_ms())
                    .await?
            } else {
                Default::default()
            };
            notify_jobs(&tx, &[(id.to_string(), revision)]).await?;
            tx.commit().await?;
            Ok(Some((held, queued)))
        })?;
        if let Some((held, queued)) = outcome {
            self.keys_wiped(held);
            self.queued(queued);
        }
        Ok(())
    }

    /// Drops tombstones and remembered envelopes whose time is up, in one transaction.
    fn purge(&self, now_ms: u64) -> StoreResult<usize> {
        let (forgotten, purged) = self.with(async |c| {
            let tx = c.transaction().await?;
            let forgotten = tx
                .execute("DELETE FROM seen_envelopes WHERE expires_ms < $1", &[&sql(now_ms)])
                .await?;
            // Each purged row announced above its last revision: every replica's mirror forgets it.
            let purged: Vec<(String, i64)> = tx
                .query(
                    "DELETE FROM jobs WHERE state IN ('deleted', 'expired') AND expires_ms < $1
                     RETURNING id, revision + 1",
                    &[&sql(now_ms)],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            notify_jobs(&tx, &purged).await?;
            tx.commit().await?;
            Ok((forgotten, purged.len()))
        })?;
        let _ = self
            .inner
            .envelopes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(forgotten))
            });
        Ok(purged)
    }

    /// No WAL of ours to truncate: counts again what other replicas changed and, at most once a minute,
    /// vacuums the wiped tables so wiped rows' space is freed (see the module docs for what that means).
    fn checkpoint(&self) -> StoreResult<()> {
        self.recount()?;
        let due = {
            let mut last = self.inner.vacuumed.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= super::VACUUM_EVERY);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            // Outside a transaction (VACUUM refuses one); SKIP_LOCKED: another replica's VACUUM of the
            // same table is enough, this one does not wait for it.
            self.with(async |c| {
                c.batch_execute("VACUUM (SKIP_LOCKED) jobs, tokens, seen_envelopes")
                    .await?;
                Ok(())
            })?;
        }
        Ok(())
    }

    fn keys_held(&self) -> u64 {
        self.inner.keys_held.load(Ordering::Relaxed)
    }

    fn webhook_endpoints(&self) -> Arc<Endpoints> {
        self.endpoints()
    }

    fn due_webhooks(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        self.claim_due(url, now_ms, limit)
    }

    fn next_webhook_ms(&self, url: &str) -> StoreResult<Option<u64>> {
        self.read_next_due(url)
    }

    fn webhook_done(&self, id: i64) -> StoreResult<bool> {
        self.remove_delivery(id)
    }

    fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        self.reschedule_delivery(id, attempts, next_ms)
    }

    fn webhook_queue_depth(&self) -> u64 {
        self.inner.webhook_depth.load(Ordering::Relaxed)
    }
}

async fn envelope_job(c: &impl GenericClient, ephemeral: &[u8; 32]) -> Result<Option<Option<String>>, Failure> {
    let row = c
        .query_opt(
            "SELECT job_id FROM seen_envelopes WHERE ephemeral = $1",
            &[&&ephemeral[..]],
        )
        .await?;
    Ok(row.map(|r| r.get::<_, Option<String>>(0)))
}
