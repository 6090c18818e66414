//! Job store: the SQLite file (`DATA_DIR/jobs.sqlite`, WAL) that makes accepted jobs survive a restart.
//! Holds each job's state, birthday, times and attempts, its sealed envelope until the scan ends, token
//! hashes (each with the token's public result key and, once the job's file is on disk, that file's key
//! sealed to it) and outcome, and the ephemeral keys of the envelopes opened lately (so none is accepted
//! twice); never a plain key, a token, a wallet file (those are `sealed_files`', sealed) nor anything
//! that ties a job to a wallet's address without the server key (no spend key, no wallet fingerprint).
//! Blocking calls: the service runs them on the blocking pool.
//!
//! Identified by `application_id` 0x54575331 ("TWS1") and versioned by `user_version`: an older store is
//! migrated step by step (`schema::MIGRATIONS`), a newer one refused. `secure_delete` overwrites wiped key bytes,
//! and a checkpoint after each pass truncates the WAL so no copy of a sealed key outlives its scan in the
//! log either. It keeps a running count of the jobs holding sealed keys as it writes, so `/metrics`
//! reads that number without a query.
//!
//! Webhook deliveries (`webhook_deliveries`, in `webhooks`) are queued here, in the transaction that
//! moves a job to `ready`, `failed` or `expired`, one row per configured endpoint (at most
//! `webhook_max_queued` per endpoint), so an event is never lost between its job's change and a restart;
//! each endpoint's worker (`ops::webhooks`) delivers and removes them.

use std::{
    path::Path,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use rusqlite::{Connection, OptionalExtension, params};

use crate::service::{
    error::ServiceError,
    jobs::store::{
        Claimed, DueDelivery, Inserted, JobStore, NewJob, SealedParts, StoreChange, StoreResult, StoredJob,
        StoredResult, StoredState,
    },
    webhook::{WebhookEvent, endpoint::Endpoints},
};

mod schema;

pub use schema::FILE_NAME;
use schema::{APPLICATION_ID, MIGRATIONS, SCHEMA, SCHEMA_VERSION};

/// The SQLite job store. Cheap to clone; calls serialise on one connection (writes are tiny and rare).
#[derive(Clone)]
pub struct SqliteJobStore {
    conn: Arc<Mutex<Connection>>,
    /// Where job events go (`webhook_urls`), with each one's queue count and wake-up; none: nothing is
    /// queued. Set once at start (`attach_webhooks`).
    webhooks: Arc<RwLock<Arc<Endpoints>>>,
    /// Deliveries queued: counted at open, then kept by the writes, for `/metrics`.
    webhook_depth: Arc<AtomicU64>,
    /// Jobs holding sealed keys: counted at open, then kept by the writes that store or wipe keys.
    keys_held: Arc<AtomicU64>,
    /// Envelopes remembered: counted at open, then kept by the writes that add or purge them.
    envelopes: Arc<AtomicU64>,
}

/// Whether a row still holds its sealed envelope.
const HOLDS_KEYS: &str = "(sealed_envelope IS NOT NULL)";

type Result<T> = std::result::Result<T, rusqlite::Error>;

/// What one event's rows did to the queues, applied to the counts once its transaction commits.
#[derive(Debug, Default)]
struct Queued {
    /// Per endpoint (in `Endpoints::list` order): the oldest rows removed to keep it within its cap.
    trimmed: Vec<u64>,
}

impl SqliteJobStore {
    pub fn open(data_dir: &Path) -> std::result::Result<SqliteJobStore, ServiceError> {
        let path = data_dir.join(FILE_NAME);
        let fail = |reason: String| ServiceError::Store {
            path: path.display().to_string(),
            reason,
        };
        // Owner-only before SQLite writes a byte: it gives the -wal and -shm files it creates the main
        // file's mode, and files left by an older run are narrowed too.
        private_file(&path).map_err(|e| fail(e.to_string()))?;
        for suffix in ["-wal", "-shm"] {
            let side = data_dir.join(format!("{FILE_NAME}{suffix}"));
            if side.exists() {
                private_file(&side).map_err(|e| fail(e.to_string()))?;
            }
        }
        let conn = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version < 0 {
            return Err(fail(format!("schema version {version} is not a version")));
        }
        let application: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(fail(format!(
                "schema version {version} is newer than this build's {SCHEMA_VERSION}"
            )));
        }
        if application != 0 && application != APPLICATION_ID {
            return Err(fail("not a tari-wallet-sync job store".into()));
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(|e| fail(e.to_string()))?;
        // One transaction: a store is at one version or the next, never half migrated.
        let steps = if version == 0 {
            &[][..]
        } else {
            &MIGRATIONS[version as usize - 1..]
        };
        let setup = format!(
            "BEGIN IMMEDIATE; {} PRAGMA application_id = {APPLICATION_ID}; {SCHEMA}
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
            steps.concat()
        );
        conn.execute_batch(&setup).map_err(|e| fail(e.to_string()))?;
        if version != 0 && version < 7 {
            // Dropped columns leave no copy in the write-ahead log either.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| fail(e.to_string()))?;
        }
        let keys_held = count_keys_held(&conn).map_err(|e| fail(e.to_string()))?;
        let envelopes: i64 = conn
            .query_row("SELECT COUNT(*) FROM seen_envelopes", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        let webhook_depth: i64 = conn
            .query_row("SELECT COUNT(*) FROM webhook_deliveries", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version != 0 && version < SCHEMA_VERSION {
            tracing::info!(from = version, to = SCHEMA_VERSION, "job store migrated");
        }
        Ok(SqliteJobStore {
            conn: Arc::new(Mutex::new(conn)),
            webhooks: Arc::new(RwLock::new(Arc::new(Endpoints::none()))),
            webhook_depth: Arc::new(AtomicU64::new(webhook_depth as u64)),
            keys_held: Arc::new(AtomicU64::new(keys_held)),
            envelopes: Arc::new(AtomicU64::new(envelopes as u64)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> StoreResult<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&conn)?)
    }

    /// Runs `write`, which wipes job `id`'s keys if it changes its row, and counts the keys gone. The
    /// check and the write share the one connection's lock, so no other write comes between them.
    /// Whether the write changed the row.
    fn wiping_keys(&self, id: &str, write: impl FnOnce(&Connection) -> Result<usize>) -> StoreResult<bool> {
        self.with(|c| {
            let held: bool = c.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND {HOLDS_KEYS})"),
                [id],
                |r| r.get(0),
            )?;
            let changed = write(c)? > 0;
            if changed && held {
                self.keys_held.fetch_sub(1, Ordering::Relaxed);
            }
            Ok(changed)
        })
    }

    /// `keys_held` counted by a query (tests check the running count against it).
    #[cfg(test)]
    pub fn count_keys_held(&self) -> StoreResult<u64> {
        self.with(count_keys_held)
    }
}

impl JobStore for SqliteJobStore {
    /// Jobs still holding a sealed key: it must fall to zero when scans end. Read without a query.
    fn keys_held(&self) -> u64 {
        self.keys_held.load(Ordering::Relaxed)
    }

    /// Counts this start; event ids carry it so they grow across restarts.
    fn next_boot(&self) -> StoreResult<u64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('boot', 1)
                 ON CONFLICT (key) DO UPDATE SET value = value + 1",
                [],
            )?;
            c.query_row("SELECT value FROM meta WHERE key = 'boot'", [], |r| r.get::<_, i64>(0))
                .map(|v| v as u64)
        })
    }

    /// Stores a new queued job, and its envelope in the same transaction, unless the envelope was
    /// accepted before (then nothing is written: a resend, or two at once).
    fn insert(&self, job: &NewJob<'_>) -> StoreResult<Inserted> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            if let Some((ephemeral, expires_ms)) = job.envelope {
                let added = tx.execute(
                    "INSERT INTO seen_envelopes (ephemeral, expires_ms, job_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (ephemeral) DO NOTHING",
                    params![&ephemeral[..], expires_ms as i64, job.id],
                )?;
                if added == 0 {
                    let earlier = envelope_job(&tx, ephemeral)?.flatten();
                    return Ok(Inserted::Repeat(earlier));
                }
            }
            tx.execute(
                "INSERT INTO jobs (id, state, birthday, sealed_envelope, format, created_ms)
                 VALUES (?1, 'queued', ?2, ?3, ?4, ?5)",
                params![
                    job.id,
                    job.birthday as i64,
                    job.sealed_request,
                    job.format,
                    job.created_ms as i64
                ],
            )?;
            tx.execute(
                "INSERT INTO tokens (job_id, hash, result_key) VALUES (?1, ?2, ?3)",
                params![job.id, &job.token_hash[..], &job.result_key[..]],
            )?;
            tx.commit()?;
            self.keys_held.fetch_add(1, Ordering::Relaxed);
            if job.envelope.is_some() {
                self.envelopes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Inserted::New)
        })
    }

    /// The job an envelope was accepted as: `None` if it was not, `Some(None)` if it was before jobs were
    /// noted with their envelopes.
    fn envelope_job(&self, ephemeral: &[u8; 32]) -> StoreResult<Option<Option<String>>> {
        self.with(|c| envelope_job(c, ephemeral))
    }

    /// Envelopes remembered now, read without a query.
    fn envelopes_remembered(&self) -> u64 {
        self.envelopes.load(Ordering::Relaxed)
    }

    /// When the oldest remembered envelope's window ends (ms), if any is remembered.
    fn oldest_envelope_ms(&self) -> StoreResult<Option<u64>> {
        self.with(|c| {
            c.query_row("SELECT MIN(expires_ms) FROM seen_envelopes", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.map(|ms| ms.max(0) as u64))
        })
    }

    /// The job's tokens (hash, result key) to seal its file key to: all, or those without one yet.
    fn result_keys(&self, id: &str, unsealed_only: bool) -> StoreResult<Vec<([u8; 32], [u8; 32])>> {
        self.with(|c| {
            c.prepare(
                "SELECT hash, result_key FROM tokens
                 WHERE job_id = ?1 AND result_key IS NOT NULL AND (?2 = 0 OR sealed_file_key IS NULL)",
            )?
            .query_map(params![id, unsealed_only], |r| {
                Ok((blob32(r.get(0)?), blob32(r.get(1)?)))
            })?
            .collect()
        })
    }

    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE tokens SET sealed_file_key = ?3 WHERE job_id = ?1 AND hash = ?2",
                params![id, &hash[..], sealed],
            )
            .map(drop)
        })
    }

    /// The job's file key sealed to the token with this hash, if any.
    fn sealed_file_key(&self, id: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>> {
        self.with(|c| {
            c.query_row(
                "SELECT sealed_file_key FROM tokens WHERE job_id = ?1 AND hash = ?2",
                params![id, &hash[..]],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
        })
    }

    /// Every job, oldest first, with its token hashes.
    fn load(&self) -> StoreResult<Vec<StoredJob>> {
        self.with(|c| read_jobs(c, None))
    }

    /// One replica only: nobody else writes this file.
    fn shared(&self) -> bool {
        false
    }

    fn job(&self, id: &str) -> StoreResult<Option<StoredJob>> {
        self.with(|c| read_jobs(c, Some(id)).map(|mut jobs| jobs.pop()))
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StoreChange>> {
        None
    }

    /// Nobody else to tell.
    fn publish_progress(&self, _id: &str, _event_id: u64, _progress: &[u8]) -> StoreResult<()> {
        Ok(())
    }

    fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    /// Marks jobs as being scanned and counts the attempt, before the scan starts: a scan that never
    /// ends (the process dies in it) has counted too. A job the store still says is scanning (its last
    /// outcome could not be written) is counted again. The one replica holds every claim for good: no
    /// lease, no revision (0).
    fn claim(&self, ids: &[String], _now_ms: u64) -> StoreResult<Vec<Claimed>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let mut claimed = Vec::new();
            for id in ids {
                let attempts: Option<i64> = tx
                    .query_row(
                        "UPDATE jobs SET state = 'scanning', attempts = attempts + 1
                         WHERE id = ?1 AND state IN ('queued', 'scanning') RETURNING attempts",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(attempts) = attempts {
                    claimed.push(Claimed {
                        id: id.clone(),
                        revision: 0,
                        attempts: attempts.clamp(0, u32::MAX as i64) as u32,
                    });
                }
            }
            tx.commit()?;
            Ok(claimed)
        })
    }

    /// No lease to extend: a job is lost only if it is no longer scanning (deleted meanwhile).
    fn renew(&self, ids: &[String], _now_ms: u64) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut scanning = c.prepare("SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND state = 'scanning')")?;
            let mut lost = Vec::new();
            for id in ids {
                if !scanning.query_row([id], |r| r.get::<_, bool>(0))? {
                    lost.push(id.clone());
                }
            }
            Ok(lost)
        })
    }

    /// No leases: the one replica's recovery queues its interrupted scans at start.
    fn reclaim_expired(&self, _now_ms: u64) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }

    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - ?2, 0)
                 WHERE id = ?1 AND state = 'scanning'",
                params![id, i64::from(give_back)],
            )
            .map(|changed| changed > 0)
        })
    }

    /// The file is on disk (`sealed_files`), never here.
    fn result_file(&self, _id: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The sealed envelope of a job still holding it.
    fn sealed(&self, id: &str) -> StoreResult<Option<SealedParts>> {
        self.with(|c| {
            c.query_row(
                "SELECT sealed_envelope, format FROM jobs WHERE id = ?1 AND sealed_envelope IS NOT NULL",
                [id],
                |r| {
                    Ok(SealedParts {
                        sealed_envelope: r.get(0)?,
                        format: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    /// The scan ended with a file: keys wiped in the same statement. The file itself is on disk: a `file`
    /// given here (only a shared store keeps one) is not kept.
    fn finish_ready(
        &self,
        id: &str,
        result: &StoredResult,
        _file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool> {
        let mut queued = Queued::default();
        let changed = self.wiping_keys(id, |c| {
            let tx = c.unchecked_transaction()?;
            let changed = tx.execute(
                "UPDATE jobs SET state = 'ready', sealed_envelope = NULL, finished_ms = ?2, expires_ms = ?3, result_size = ?4,
                        result_sha256 = ?5, result_stale = ?6, result_tip_height = ?7
                 WHERE id = ?1 AND state = 'scanning'",
                params![
                    id,
                    now_ms as i64,
                    expires_ms as i64,
                    result.size as i64,
                    result.sha256,
                    result.stale,
                    result.tip_height.map(|h| h as i64)
                ],
            )?;
            if changed > 0 {
                let event = WebhookEvent::Ready {
                    size: result.size,
                    sha256: &result.sha256,
                    stale: result.stale,
                    tip_height: result.tip_height,
                    expires_ms,
                };
                queued = self.queue_event(&tx, id, &event, now_ms)?;
            }
            tx.commit()?;
            Ok(changed)
        })?;
        self.queued(queued);
        Ok(changed)
    }

    /// The job ended without a file (or lost it): keys and sealed file keys wiped in the same transaction.
    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        let mut queued = Queued::default();
        let changed = self.wiping_keys(id, |c| {
            let tx = c.unchecked_transaction()?;
            let changed = tx.execute(
                "UPDATE jobs SET state = 'failed', sealed_envelope = NULL, finished_ms = ?2, expires_ms = ?3,
                        error_code = ?4, error_message = ?5
                 WHERE id = ?1 AND state IN ('queued', 'scanning', 'ready')",
                params![id, now_ms as i64, expires_ms as i64, code, message],
            )?;
            tx.execute("UPDATE tokens SET sealed_file_key = NULL WHERE job_id = ?1", [id])?;
            if changed > 0 {
                let event = WebhookEvent::Failed {
                    code,
                    message,
                    expires_ms,
                };
                queued = self.queue_event(&tx, id, &event, now_ms)?;
            }
            tx.commit()?;
            Ok(changed)
        })?;
        self.queued(queued);
        Ok(changed)
    }

    /// Deleted or expired: everything but the id, the token hashes and the tombstone's end is wiped.
    /// An `expired` event is queued for a job that was ready or failed (not for a tombstone again).
    fn tombstone(&self, id: &str, state: StoredState, until_ms: u64) -> StoreResult<()> {
        let mut queued = Queued::default();
        self.wiping_keys(id, |c| {
            let tx = c.unchecked_transaction()?;
            let finished: bool = tx
                .query_row(
                    "SELECT state IN ('ready', 'failed') FROM jobs WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            let changed = tx.execute(
                "UPDATE jobs SET state = ?2, sealed_envelope = NULL, expires_ms = ?3, result_size = NULL,
                        result_sha256 = NULL, result_stale = NULL, result_tip_height = NULL
                 WHERE id = ?1",
                params![id, state.as_str(), until_ms as i64],
            )?;
            tx.execute(
                "UPDATE tokens SET result_key = NULL, sealed_file_key = NULL WHERE job_id = ?1",
                [id],
            )?;
            if changed > 0 && finished && state == StoredState::Expired {
                queued = self.queue_event(&tx, id, &WebhookEvent::Expired, wall_ms())?;
            }
            tx.commit()?;
            Ok(changed)
        })?;
        self.queued(queued);
        Ok(())
    }

    /// Drops tombstones (their keys went when they became tombstones), and envelopes remembered, whose
    /// time is up.
    fn purge(&self, now_ms: u64) -> StoreResult<usize> {
        self.with(|c| {
            let forgotten = c.execute("DELETE FROM seen_envelopes WHERE expires_ms < ?1", [now_ms as i64])?;
            self.envelopes.fetch_sub(forgotten as u64, Ordering::Relaxed);
            c.execute(
                "DELETE FROM jobs WHERE state IN ('deleted', 'expired') AND expires_ms < ?1",
                [now_ms as i64],
            )
        })
    }

    /// Moves the WAL into the database and truncates it, so wiped rows leave no copy in the log.
    fn checkpoint(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
    }

    fn attach_webhooks(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        self.set_webhook_endpoints(endpoints)
    }

    fn webhook_endpoints(&self) -> Arc<Endpoints> {
        self.endpoints()
    }

    fn due_webhooks(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        Self::read_due(self, url, now_ms, limit)
    }

    fn next_webhook_ms(&self, url: &str) -> StoreResult<Option<u64>> {
        Self::read_next_due(self, url)
    }

    fn webhook_done(&self, id: i64) -> StoreResult<bool> {
        Self::remove_delivery(self, id)
    }

    fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        Self::reschedule_delivery(self, id, attempts, next_ms)
    }

    fn webhook_queue_depth(&self) -> u64 {
        Self::queue_depth(self)
    }
}

/// Creates `path` owner-only (0600) if missing, else narrows it to that.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    }
    Ok(())
}

/// Every job (`only`: that one), oldest first, with its token hashes.
fn read_jobs(c: &Connection, only: Option<&str>) -> Result<Vec<StoredJob>> {
    let mut jobs = c
        .prepare(
            "SELECT id, state, birthday, attempts, created_ms, expires_ms, error_code,
                    error_message, result_size, result_sha256, result_stale, result_tip_height,
                    EXISTS (SELECT 1 FROM tokens
                            WHERE tokens.job_id = jobs.id AND sealed_file_key IS NOT NULL)
             FROM jobs WHERE ?1 IS NULL OR id = ?1 ORDER BY created_ms, rowid",
        )?
        .query_map([only], |r| {
            let error = match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?) {
                (Some(code), message) => Some((code, message.unwrap_or_default())),
                _ => None,
            };
            let result = match (r.get::<_, Option<i64>>(8)?, r.get::<_, Option<String>>(9)?) {
                (Some(size), Some(sha256)) => Some(StoredResult {
                    size: size as u64,
                    sha256,
                    stale: r.get::<_, Option<bool>>(10)?.unwrap_or(false),
                    tip_height: r.get::<_, Option<i64>>(11)?.map(|h| h as u64),
                }),
                _ => None,
            };
            Ok(StoredJob {
                id: r.get(0)?,
                state: StoredState::parse(&r.get::<_, String>(1)?),
                birthday: r.get::<_, i64>(2)? as u64,
                attempts: r.get::<_, i64>(3)?.clamp(0, u32::MAX as i64) as u32,
                created_ms: r.get::<_, i64>(4)? as u64,
                expires_ms: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
                error,
                result,
                file_written: r.get(12)?,
                tokens: Vec::new(),
                // One replica: neither is kept (event ids come from boots, the queue from this process).
                revision: 0,
                client: [0; 16],
            })
        })?
        .collect::<Result<Vec<_>>>()?;
    let mut tokens = c.prepare("SELECT hash FROM tokens WHERE job_id = ?1")?;
    for job in &mut jobs {
        job.tokens = tokens
            .query_map([&job.id], |r| Ok(blob32(r.get(0)?)))?
            .collect::<Result<Vec<_>>>()?;
    }
    Ok(jobs)
}

fn envelope_job(c: &Connection, ephemeral: &[u8; 32]) -> Result<Option<Option<String>>> {
    c.query_row(
        "SELECT job_id FROM seen_envelopes WHERE ephemeral = ?1",
        [&ephemeral[..]],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
}

fn count_keys_held(c: &Connection) -> Result<u64> {
    c.query_row(&format!("SELECT COUNT(*) FROM jobs WHERE {HOLDS_KEYS}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

fn blob32(bytes: Vec<u8>) -> [u8; 32] {
    bytes.as_slice().try_into().unwrap_or([0; 32])
}

/// Now, for events whose caller has no clock reading of its own.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
mod webhooks;
