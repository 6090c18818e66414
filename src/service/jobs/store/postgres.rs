//! Job store: a PostgreSQL database that every replica of the service shares (`job_store =
//! postgres://...`). Holds what the SQLite store holds (jobs with their sealed envelopes until the scan
//! ends, token hashes with their result keys and sealed file keys, the envelopes accepted lately, the
//! webhook outbox) and what many replicas need besides: each job's revision, its scan lease (owner and
//! end), its client's keyed fingerprint and its sealed result file, so any replica serves any job and a
//! dead replica's scans are taken over (`fleet`). Never a plain key, a token, a clear wallet file, nor
//! anything tying a job to a wallet without the server key (which the database never sees).
//!
//! The schema is versioned by numbered migrations embedded in the binary (`migrate`), run at open under
//! an advisory lock. Every write the `JobStore` trait calls one write is one transaction, and each job
//! change notifies `tws_jobs` inside it, so a replica hears of a change only once it is committed
//! (`listen`). The webhook outbox is `webhooks`'; claims, leases, the change feed and result files are
//! `fleet`'s; TLS is `tls`'s.
//!
//! Blocking over async: the trait is blocking (its callers run it on the blocking pool) and the client
//! library (`tokio-postgres`, pooled by `deadpool-postgres`) is async. The store owns a small tokio
//! runtime (two threads: the pool's connections and the LISTEN connection run there) and each call is
//! `block_on` on the caller's thread, so a call works from any thread that is not itself driving async
//! tasks, whichever runtime (if any) the caller has, and no connection is tied to the service's runtime,
//! whose shutdown may come first. Dropped, the runtime is shut down in the background (never blocking,
//! so the store may be dropped inside async code too).
//!
//! Counts (`keys_held`, `envelopes_remembered`, `webhook_queue_depth`, each endpoint's queue) are taken
//! at open and kept by this handle's writes; other replicas' writes reach them at the next `checkpoint`
//! (after each pass and each sweep), which counts them again. `checkpoint` has no WAL to truncate here:
//! a wiped envelope stays a dead tuple, unreadable through SQL by anyone (MVCC shows no query a row
//! version that was replaced), until VACUUM frees its space; `checkpoint` runs `VACUUM (SKIP_LOCKED)` on
//! the wiped tables at most once a minute per replica (its role owns them), which is cheap on tables of
//! live jobs. Freed space is reused, not zeroed, and the server's WAL and base backups keep old row
//! versions for their retention: what they hold is sealed to the server key, which PostgreSQL never
//! holds (docs/job-store.md, "What lives where").

mod fleet;
mod jobs;
mod listen;
mod migrate;
mod model;
mod tls;
mod webhooks;

use std::{
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::broadcast;

pub use migrate::SCHEMA_VERSION;
use model::{Failure, is_unreachable};

use crate::service::{
    config::{JobStoreTls, PostgresUrl, job_store::scrub},
    error::ServiceError,
    jobs::store::{JobStoreError, StoreChange},
    webhook::endpoint::Endpoints,
};

/// How a PostgreSQL job store is reached: the configuration's `job_store*` keys.
#[derive(Debug, Clone)]
pub struct PostgresConnect {
    pub url: PostgresUrl,
    pub tls: JobStoreTls,
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections at most (`job_store_pool`).
    pub pool: usize,
}

/// A connection not made within this fails the call (or the start): a database that does not answer
/// is reported, not waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A call waits this long for a free connection of the pool, then fails (the caller retries or fails
/// the job): a stalled database must not hold every blocking thread.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// `ping`'s answer must come within this, or the store counts as not answering.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// `checkpoint` vacuums the wiped tables at most this often per replica.
const VACUUM_EVERY: Duration = Duration::from_secs(60);
/// Changes kept for a replica's slowest subscriber; one further behind gets `Lagged` and reloads.
const CHANGE_BUFFER: usize = 1024;

/// The PostgreSQL job store. Cheap to clone (clones share the pool, the counts and the change feed).
#[derive(Clone)]
pub struct PostgresJobStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Runs the pool's connections and the LISTEN task; each call blocks on it. `None` only in `drop`.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The URL as written (to scrub its password from errors) and as shown.
    url: PostgresUrl,
    /// This replica: the owner of the leases it takes.
    replica: String,
    lease: Duration,
    webhooks: RwLock<Arc<Endpoints>>,
    webhook_depth: AtomicU64,
    keys_held: AtomicU64,
    envelopes: AtomicU64,
    changes: broadcast::Sender<StoreChange>,
    /// When `checkpoint` last vacuumed.
    vacuumed: Mutex<Option<std::time::Instant>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The stable code of a start that found the database unreachable or unusable.
pub const STORE_UNREACHABLE: &str = "STORE_UNREACHABLE";

impl PostgresJobStore {
    /// Connects (within `CONNECT_TIMEOUT`), migrates the schema, starts listening for other replicas'
    /// changes and counts what the counts need. `replica` owns the leases this handle takes, for
    /// `lease` each. A database that cannot be reached is `ServiceError::StoreUnreachable`; one that
    /// answers but cannot be used (a newer schema, no rights) is `ServiceError::Store`.
    pub fn open(connect: &PostgresConnect, replica: &str, lease: Duration) -> Result<PostgresJobStore, ServiceError> {
        let shown = connect.url.shown();
        let unreachable = |reason: String| ServiceError::StoreUnreachable {
            url: shown.clone(),
            reason: scrub(&reason, connect.url.expose()),
        };
        let refused = |reason: String| ServiceError::Store {
            path: shown.clone(),
            reason: scrub(&reason, connect.url.expose()),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tws-job-store")
            .enable_all()
            .build()
            .map_err(|e| refused(format!("starting its runtime: {e}")))?;
        let (tls, ssl_mode) = tls::connector(connect.tls, connect.ca_file.as_deref()).map_err(refused)?;
        let mut config: tokio_postgres::Config = connect
            .url
            .expose()
            .parse()
            .map_err(|e: tokio_postgres::Error| refused(e.to_string()))?;
        config.ssl_mode(ssl_mode).connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("tari-wallet-sync");
        }
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(connect.pool.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| refused(e.to_string()))?;
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let store = PostgresJobStore {
            inner: Arc::new(Inner {
                runtime: Some(runtime),
                pool,
                url: connect.url.clone(),
                replica: replica.to_string(),
                lease,
                webhooks: RwLock::new(Arc::new(Endpoints::none())),
                webhook_depth: AtomicU64::new(0),
                keys_held: AtomicU64::new(0),
                envelopes: AtomicU64::new(0),
                changes,
                vacuumed: Mutex::new(None),
            }),
        };
        // Reaching the database first: a failure here is the database's absence, not the schema's.
        let reached = store.block_on(async {
            let mut client = store.inner.pool.get().await?;
            let applied = migrate::migrate(&mut client).await?;
            Ok::<_, Failure>(applied)
        });
        let applied = match reached {
            Ok(applied) => applied,
            Err(failure @ (Failure::Pool(_) | Failure::Postgres(_))) if is_unreachable(&failure) => {
                return Err(unreachable(failure.to_string()));
            }
            Err(failure) => return Err(refused(failure.to_string())),
        };
        if !applied.is_empty() {
            tracing::info!(store = %shown, versions = ?applied, "job store migrated");
        }
        store
            .block_on(listen::start(config, tls, store.inner.changes.clone()))
            .map_err(|f| unreachable(f.to_string()))?;
        store.recount().map_err(|e| refused(e.reason))?;
        Ok(store)
    }

    /// Runs `work` on the store's runtime, blocking this thread until it ends.
    fn block_on<T>(&self, work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        match &self.inner.runtime {
            Some(runtime) => runtime.block_on(work),
            None => Err(Failure::Refused("the job store is closed".into())),
        }
    }

    /// Runs `work` with a pooled connection; its failure as the trait reports it.
    fn with<T>(
        &self,
        work: impl AsyncFnOnce(&mut tokio_postgres::Client) -> Result<T, Failure>,
    ) -> Result<T, JobStoreError> {
        self.block_on(async {
            let mut client = self.inner.pool.get().await?;
            work(&mut client).await
        })
        .map_err(|failure| self.error(failure))
    }

    /// `failure` for the log, the URL's password scrubbed from it.
    fn error(&self, failure: Failure) -> JobStoreError {
        JobStoreError::new(scrub(&failure.to_string(), self.inner.url.expose()))
    }

    /// Counts what the counts hold again: at open, and at each `checkpoint` (other replicas write too).
    fn recount(&self) -> Result<(), JobStoreError> {
        let endpoints = self.endpoints();
        let urls: Vec<String> = endpoints.list().iter().map(|e| e.url().to_string()).collect();
        let (keys, envelopes, depth, per_url) = self.with(async |c| {
            let row = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM jobs WHERE sealed_envelope IS NOT NULL),
                            (SELECT COUNT(*) FROM seen_envelopes),
                            (SELECT COUNT(*) FROM webhook_deliveries)",
                    &[],
                )
                .await?;
            let per_url = c
                .query(
                    "SELECT url, COUNT(*) FROM webhook_deliveries WHERE url = ANY($1) GROUP BY url",
                    &[&urls],
                )
                .await?;
            let per_url: Vec<(String, i64)> = per_url.iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok((
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2),
                per_url,
            ))
        })?;
        self.inner.keys_held.store(keys.max(0) as u64, Ordering::Relaxed);
        self.inner.envelopes.store(envelopes.max(0) as u64, Ordering::Relaxed);
        self.inner.webhook_depth.store(depth.max(0) as u64, Ordering::Relaxed);
        for endpoint in endpoints.list() {
            let count = per_url
                .iter()
                .find(|(url, _)| url == endpoint.url())
                .map_or(0, |(_, n)| *n);
            endpoint.set_queued(count.max(0) as u64);
        }
        Ok(())
    }

    /// The replica this handle takes leases for.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// The URL with its password replaced.
    pub fn shown_url(&self) -> String {
        self.inner.url.shown()
    }

    /// `true`: other replicas may write this store.
    pub fn shared(&self) -> bool {
        true
    }

    fn lease_ms(&self) -> i64 {
        self.inner.lease.as_millis().min(i64::MAX as u128) as i64
    }
}
