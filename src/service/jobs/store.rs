//! Job store: the seam between the job domain and where its durable state lives. Owns the `JobStore`
//! trait and the records that cross it (a job as submitted, as loaded at start, its sealed envelope, a
//! ready job's file as reported, a due webhook delivery); not how any backend keeps them. The SQLite
//! store (`sqlite`, the embedded default) and the in-memory one (`memory`) implement it; a PostgreSQL one
//! shared by replicas is the next.
//!
//! Many replicas on one store (`shared`): every job row carries a `revision` bumped by each state change,
//! so every replica gives an event the same id (`revision << 32 | n`); scans are claimed under leases
//! (`claim`, `renew`, `reclaim_expired`), so a replica that dies loses its jobs to another and one that
//! lost a lease writes nothing (`requeue`, `finish_ready` and `finish_failed` on a scanning job change
//! nothing unless this replica holds its lease); every committed change reaches every replica through
//! `changes`, progress too (`publish_progress`); a sealed result file lives in the store (`finish_ready`'s
//! `file`, `result_file`).
//!
//! What every implementation promises, whatever it keeps things in:
//! - a job's sealed envelope is held from `insert` until its scan ends (`finish_ready`, `finish_failed`)
//!   or it becomes a tombstone, and wiped in the same write as that change: a finished job holds no key;
//! - an envelope is remembered (the replay cache) in the same write as the job it was accepted as, so a
//!   resend finds that job and two sends at once make one job (`Inserted::Repeat`);
//! - a webhook event is queued in the same write as the job change that causes it (`ready`, `failed`,
//!   `expired`), one delivery per configured endpoint, each endpoint's queue capped (oldest dropped);
//! - state changes are guarded by the state they leave (a deleted job never becomes ready), so a pass
//!   that finishes after a `DELETE` changes nothing;
//! - `keys_held`, `envelopes_remembered` and `webhook_queue_depth` are counts kept as the store writes:
//!   a scrape reads them without a query.
//!
//! Blocking, not async: the SQLite store is blocking, and each caller already runs its calls on the
//! blocking pool (`jobs::blocking`), often together with result-file I/O in one closure. A blocking
//! trait stays object-safe without boxed futures and keeps the domain's code one shape for every
//! backend. A PostgreSQL store fits it with a pooled synchronous client: the service writes a few rows
//! per job, far from what a thread per call costs. Claims under leases and progress by LISTEN/NOTIFY are
//! new calls then, not a new shape.

mod memory;
pub mod postgres;
pub(in crate::service) mod sqlite;

use std::sync::Arc;

pub use memory::MemoryJobStore;
use tokio::sync::broadcast;

use crate::service::webhook::endpoint::Endpoints;

/// The `format` of a job stored today: its sealed envelope is the one sealed envelope of a version-2
/// submission. Format-1 jobs were failed by the SQLite store's migration 7 (`FORMAT_RETIRED`).
pub const SUBMISSION_FORMAT: u32 = 2;

/// Envelopes remembered at most. Each accepted submission adds one (for the envelope's window);
/// submissions are rate-limited per client, so this is reached only under a flood from very many
/// addresses, and then new submissions are refused until the oldest window closes (`Retry-After`)
/// rather than an envelope forgotten while it could still be replayed.
pub const MAX_SEEN_ENVELOPES: u64 = 1_000_000;

/// A store call that failed: the backend's reason, for the log (never shown to a client, who gets
/// `INTERNAL`).
#[derive(Debug, thiserror::Error)]
#[error("job store: {reason}")]
pub struct JobStoreError {
    pub reason: String,
}

impl JobStoreError {
    pub fn new(reason: impl Into<String>) -> JobStoreError {
        JobStoreError { reason: reason.into() }
    }
}

impl From<rusqlite::Error> for JobStoreError {
    fn from(error: rusqlite::Error) -> JobStoreError {
        JobStoreError::new(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, JobStoreError>;

/// A job's state as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredState {
    Queued,
    Scanning,
    Ready,
    Failed,
    Deleted,
    Expired,
}

impl StoredState {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredState::Queued => "queued",
            StoredState::Scanning => "scanning",
            StoredState::Ready => "ready",
            StoredState::Failed => "failed",
            StoredState::Deleted => "deleted",
            StoredState::Expired => "expired",
        }
    }

    /// The state named `text` (`as_str`); anything else reads as expired, a tombstone.
    pub fn parse(text: &str) -> StoredState {
        match text {
            "queued" => StoredState::Queued,
            "scanning" => StoredState::Scanning,
            "ready" => StoredState::Ready,
            "failed" => StoredState::Failed,
            "deleted" => StoredState::Deleted,
            _ => StoredState::Expired,
        }
    }

    /// Deleted or expired: only the id, the token hashes and the tombstone's end are kept.
    pub fn is_tombstone(self) -> bool {
        matches!(self, StoredState::Deleted | StoredState::Expired)
    }
}

/// A job as submitted.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub birthday: u64,
    /// The sealed envelope (`Sealed::to_bytes`).
    pub sealed_request: &'a [u8],
    pub format: u32,
    pub token_hash: &'a [u8; 32],
    /// The token's public result key (`sealed_files::result_public_key`).
    pub result_key: &'a [u8; 32],
    pub created_ms: u64,
    /// A sealed submission's envelope (its ephemeral key) and until when (ms) it must be remembered.
    pub envelope: Option<(&'a [u8; 32], u64)>,
    /// The keyed fingerprint of the submitting client's address bucket (never the address): every
    /// replica's fair queue puts the job in that client's turn.
    pub client: [u8; 16],
}

/// What `insert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The envelope was accepted before, as this job (`None`: recorded before jobs were noted with it):
    /// nothing was written.
    Repeat(Option<String>),
}

/// What a ready job reports about its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    pub size: u64,
    pub sha256: String,
    pub stale: bool,
    pub tip_height: Option<u64>,
}

/// A job as loaded at start.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub id: String,
    pub state: StoredState,
    pub birthday: u64,
    pub attempts: u32,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub error: Option<(String, String)>,
    /// A ready job's file as reported (`None` before the SQLite store's schema 2).
    pub result: Option<StoredResult>,
    /// Some token of the job holds a sealed file key: its file was written (to disk, or to a shared
    /// store with the job).
    pub file_written: bool,
    pub tokens: Vec<[u8; 32]>,
    /// Bumped by every state change (insert = 1); 0 where the store keeps none (SQLite: one replica, whose
    /// event ids come from its boots).
    pub revision: u64,
    /// `NewJob::client` (zero where the store keeps none).
    pub client: [u8; 16],
}

/// A job this replica claimed for a scan (`JobStore::claim`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    /// The revision the claim made: the scan's events are numbered from `revision << 32`.
    pub revision: u64,
    /// Scans started, this one included.
    pub attempts: u32,
}

/// A committed change, as every replica hears of it (`JobStore::changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChange {
    /// Job `id`'s row changed (by any replica, this one included) and is now at `revision`; gone from
    /// the store if `job(id)` finds none.
    Job { id: String, revision: u64 },
    /// A scanning job's progress (`JobStore::publish_progress`): the JSON of its status' progress view
    /// under `event_id`. Not stored: a replica that misses it shows the next one.
    Progress {
        id: String,
        event_id: u64,
        progress: Vec<u8>,
    },
    /// Changes may have been lost (the feed was re-established, or a listener fell behind): reload all.
    Resync,
}

/// What a scan needs to open a job's keys.
pub struct SealedParts {
    pub format: u32,
    /// The whole sealed envelope.
    pub sealed_envelope: Vec<u8>,
}

/// A queued webhook delivery that is due.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub event_id: String,
    pub body: Vec<u8>,
    pub attempts: u32,
}

/// Where the job domain keeps what must outlive the process. Shared as `Arc<dyn JobStore>`; every call
/// may block (run it on the blocking pool); the counts (`keys_held`, ...) never do.
pub trait JobStore: Send + Sync + 'static {
    // Start.

    /// Queue job events for `endpoints` from now on: called once at start, before any job changes.
    /// Deliveries queued for a URL no longer configured are dropped and each queue is cut to its cap.
    fn attach_webhooks(&self, endpoints: Arc<Endpoints>) -> StoreResult<()>;

    /// Counts this start; event ids carry it so they grow across restarts.
    fn next_boot(&self) -> StoreResult<u64>;

    /// Every job, oldest first, with its token hashes.
    fn load(&self) -> StoreResult<Vec<StoredJob>>;

    // Admission.

    /// Stores a new queued job, and its envelope in the same write, unless the envelope was accepted
    /// before (then nothing is written: a resend, or two at once).
    fn insert(&self, job: &NewJob<'_>) -> StoreResult<Inserted>;

    /// The job an envelope was accepted as: `None` if it was not, `Some(None)` if it was before jobs were
    /// noted with their envelopes.
    fn envelope_job(&self, ephemeral: &[u8; 32]) -> StoreResult<Option<Option<String>>>;

    /// When the oldest remembered envelope's window ends (ms), if any is remembered.
    fn oldest_envelope_ms(&self) -> StoreResult<Option<u64>>;

    /// Envelopes remembered now (a count, no query).
    fn envelopes_remembered(&self) -> u64;

    // Many replicas.

    /// Other replicas may write this store: the domain then mirrors it (`changes`), claims under leases
    /// and keeps result files in it. `false`: this process is the only writer (SQLite).
    fn shared(&self) -> bool;

    /// One job as stored now, with its token hashes and revision (a job another replica admitted).
    fn job(&self, id: &str) -> StoreResult<Option<StoredJob>>;

    /// Every committed change from now on, by any replica (this one included); `None`: no other writer
    /// can exist. A receiver that lags behind reads `Lagged` and must reload (as for `Resync`).
    fn changes(&self) -> Option<broadcast::Receiver<StoreChange>>;

    /// Tells every replica a scanning job's progress (`StoreChange::Progress`); not stored.
    fn publish_progress(&self, id: &str, event_id: u64, progress: &[u8]) -> StoreResult<()>;

    /// The store answers (PostgreSQL: `SELECT 1` within a short timeout). A replica whose store does not
    /// answer claims nothing and reports `degraded`.
    fn ping(&self) -> StoreResult<()>;

    // Scans.

    /// Claims jobs for a scan, before it starts: of `ids`, those still queued (or scanning under a lease
    /// that ended before `now_ms`) become scanning, held by this replica until `now_ms` plus the store's
    /// lease, their attempt counted (a scan that never ends, the process dying in it, has counted too)
    /// and their revision bumped. Rows another replica is changing are skipped, not waited for. The pass
    /// scans only what this returns. A single-replica store also takes back a job it still says is
    /// scanning (its last outcome could not be written).
    fn claim(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<Claimed>>;

    /// Extends this replica's leases on `ids` (every `job_lease / 3` during a pass); returns those it no
    /// longer holds (taken over after the lease ended, deleted, finished): the pass writes nothing for them.
    fn renew(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<String>>;

    /// Jobs scanning under a lease that ended before `now_ms` go back to the queue (their attempt stays
    /// counted, their revision is bumped); their ids. Every replica's janitor runs it.
    fn reclaim_expired(&self, now_ms: u64) -> StoreResult<Vec<String>>;

    /// The sealed envelope of a job still holding it.
    fn sealed(&self, id: &str) -> StoreResult<Option<SealedParts>>;

    /// Puts a scanning job this replica holds back in the queue; `give_back`: the attempt is returned too
    /// (the service's own shutdown interrupted it, not the job's fault), else it stays counted. Whether
    /// it changed the job.
    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<bool>;

    /// A scanning job's scan ended with a file: ready, its keys wiped and a `ready` event queued in the
    /// same write; with a shared store, `file` (the sealed file, `sealed_files::seal`) is stored in that
    /// write too. Nothing changes for a job no longer scanning (deleted meanwhile) or whose lease this
    /// replica lost. Whether it changed the job.
    fn finish_ready(
        &self,
        id: &str,
        result: &StoredResult,
        file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool>;

    /// A queued, scanning (held by this replica) or ready job ended without a file (or lost it): failed
    /// with `code`, its keys, sealed file keys and stored file wiped and a `failed` event queued in the
    /// same write. Whether it changed the job.
    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<bool>;

    /// A ready job's sealed file as `finish_ready` stored it (shared stores; `None` elsewhere, where the
    /// file is on disk).
    fn result_file(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    // Result files (their bytes are `sealed_files`'; here, who can open them).

    /// The job's tokens (hash, public result key) to seal its file key to: all, or those without one yet.
    fn result_keys(&self, id: &str, unsealed_only: bool) -> StoreResult<Vec<([u8; 32], [u8; 32])>>;

    /// Keeps the job's file key sealed to the token with this hash, while the job's scan is this replica's
    /// (a shared store: nothing changes for a replica that lost the lease, so it cannot replace the keys
    /// of the file another replica finished).
    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()>;

    /// The job's file key sealed to the token with this hash, if any.
    fn sealed_file_key(&self, id: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>>;

    // End of life.

    /// Deleted or expired: everything but the id, the token hashes and the tombstone's end (`until_ms`)
    /// is wiped (a stored file too). An `expired` event is queued for a job that was ready or failed.
    fn tombstone(&self, id: &str, state: StoredState, until_ms: u64) -> StoreResult<()>;

    /// Drops tombstones and remembered envelopes whose time is up; how many tombstones went.
    fn purge(&self, now_ms: u64) -> StoreResult<usize>;

    /// Makes wiped rows unrecoverable from the backend's own logs (SQLite: truncates the WAL). Called after
    /// each pass and each sweep.
    fn checkpoint(&self) -> StoreResult<()>;

    /// Jobs still holding a sealed envelope (a count, no query): it falls to zero as scans end.
    fn keys_held(&self) -> u64;

    // The webhook outbox (events are queued by the job changes above).

    /// The endpoints events are queued for, with their counts.
    fn webhook_endpoints(&self) -> Arc<Endpoints>;

    /// `url`'s deliveries due at `now_ms`, oldest due first, at most `limit`.
    fn due_webhooks(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>>;

    /// When `url`'s next delivery is due, if one is queued.
    fn next_webhook_ms(&self, url: &str) -> StoreResult<Option<u64>>;

    /// A delivery that succeeded, or ran out of attempts: gone. `false`: it was gone already.
    fn webhook_done(&self, id: i64) -> StoreResult<bool>;

    /// A failed attempt: the next one is due at `next_ms`.
    fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()>;

    /// Deliveries queued in all (a count, no query).
    fn webhook_queue_depth(&self) -> u64;
}
