//! Jobs: the job domain's one facade, which the HTTP edge and the background operations talk to. Owns
//! the job registry (memory) over the job store and the result files (disk), the sealing key, rate
//! limiters, metrics, the service's phase and its cache source (their lifecycle); its fields are private,
//! read by its children (`submission`: admission; `scheduler`: passes; `results`: files at rest;
//! `recovery`: stored jobs back after a restart; `fleet`: the registry as a mirror of a store many
//! replicas share) and through the methods below by everyone else. Authorisation, status, deletion and expiry happen here.
//! HTTP is `http`; it is not known here.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::SystemTime,
};

mod data_dir;
pub(super) mod envelope;
pub(super) mod fair_queue;
pub(super) mod fleet;
pub(super) mod job;
pub(super) mod keyfile;
pub(super) mod keyring;
pub(super) mod pace;
mod recovery;
pub(super) mod results;
pub(super) mod scheduler;
pub mod store;
pub(super) mod submission;
#[cfg(test)]
mod tests;
pub(super) mod tickets;

pub use data_dir::create_private_dir;
use data_dir::warn_if_key_beside_store;

use blake2::{Blake2b, Digest, digest::consts::U32};
use tokio::sync::{Notify, broadcast, mpsc};
use zeroize::Zeroizing;

use fair_queue::{FairQueue, PassBounds, Queued};
use job::{Job, JobStatus, PROGRESS_BACKLOG, ProgressReport, plausible_job_id};
use keyring::ServerKeys;
use pace::Pace;
use results::{
    artifact::{Artifact, ResultBuilder},
    held_files::HeldFiles,
    sealed_files::ResultStore,
};
use store::{
    JobStore, JobStoreError, StoreChange, StoredJob, StoredState,
    postgres::{PostgresConnect, PostgresJobStore},
    sqlite::SqliteJobStore,
};
use tickets::Tickets;

use super::{
    chain::{
        cache_source::CacheSource,
        lifecycle::{Lifecycle, STORE_UNREACHABLE, SourceFault, SourceReport},
    },
    clock::now_ms,
    config::{JobStoreLocation, ServiceConfig},
    error::{ApiError, ServiceError},
    limits::{
        rate::{ClientLimiter, Limiter},
        slots::Streams,
    },
    metrics::{Metrics, Scrape},
    requester::Port,
    webhook::{WebhookSetup, endpoint::Endpoints},
};

/// The service's own phase; while serving, the lifecycle is the cache source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
    Serving = 0,
    Draining = 1,
    Stopped = 2,
}

/// The jobs held in memory and the queue, under one lock (`Jobs::registry`); read and written by this
/// module and its children only.
#[derive(Default)]
struct Registry {
    jobs: HashMap<String, Arc<Job>>,
    queue: FairQueue,
    /// Queue slots promised to submissions still being written to the store (`submission::Reservation`),
    /// in all and per client.
    reserved: usize,
    reserved_by: HashMap<IpAddr, usize>,
    /// The jobs of the running pass as they were queued, to put back in their places if the pass gives
    /// them back (a retry, an interrupted or failed pass).
    in_pass: HashMap<String, Queued>,
}

/// What the job domain is made of, besides what it makes itself.
struct Parts {
    config: ServiceConfig,
    source: CacheSource,
    builder: Arc<dyn ResultBuilder>,
    store: Arc<dyn JobStore>,
    results: ResultStore,
    server_keys: ServerKeys,
    webhooks: Option<WebhookSetup>,
}

pub struct Jobs {
    config: ServiceConfig,
    store: Arc<dyn JobStore>,
    results: ResultStore,
    server_keys: ServerKeys,
    fingerprint_key: Zeroizing<[u8; 32]>,
    registry: Mutex<Registry>,
    queue_notify: Notify,
    builder: Arc<dyn ResultBuilder>,
    metrics: Metrics,
    ip_submissions: ClientLimiter,
    ip_requests: ClientLimiter,
    /// Operations routes per client, a bucket per port: public traffic (a local proxy makes it all
    /// loopback) cannot starve the operator's scraper.
    ip_operations: ClientLimiter<Port>,
    wallet_syncs: Limiter<[u8; 32]>,
    /// Output-keys per client and window (`client_scan_budget`).
    scan_budgets: Limiter<IpAddr>,
    /// How fast passes scan: `Retry-After`s and pass sizes.
    pace: Pace,
    /// Finished files held in memory, within `max_held_bytes`.
    held: HeldFiles,
    tickets: Tickets,
    /// Event streams open per client (`max_sse_per_client`).
    streams: Arc<Streams>,
    /// Set when webhooks are configured: the sender's secret and TLS trust.
    webhooks: Option<WebhookSetup>,
    boot: u64,
    phase: AtomicU8,
    source: CacheSource,
    /// Other replicas write the store too (`JobStore::shared`): the registry mirrors it (`fleet`).
    shared: bool,
    /// The store's change feed, subscribed before the jobs were loaded (so no change falls between),
    /// until the follower takes it (`fleet::run`).
    changes: Mutex<Option<broadcast::Receiver<StoreChange>>>,
    /// Scan progress to tell the other replicas (`fleet` sends it): scan threads never wait on the
    /// store for it, and a report that finds the channel full is dropped (the next one says more).
    progress_out: mpsc::Sender<ProgressReport>,
    progress_in: Mutex<Option<mpsc::Receiver<ProgressReport>>>,
    /// The store answered the last `ping` (a shared store): while it does not, nothing is claimed and the
    /// lifecycle reads `degraded`.
    store_reachable: AtomicBool,
}

impl Jobs {
    /// Opens the data directory (key, result files, and the SQLite job store unless `store` is given),
    /// checks a directory source's cache and reloads the jobs of earlier runs. Blocking: call it on the
    /// blocking pool.
    pub fn open(
        config: ServiceConfig,
        mut source: CacheSource,
        builder: Arc<dyn ResultBuilder>,
        store: Option<Arc<dyn JobStore>>,
    ) -> Result<Jobs, ServiceError> {
        config.validate().map_err(|e| ServiceError::Config(e.to_string()))?;
        source.set_unsynced_node(config.unsynced_node);
        create_private_dir(&config.data_dir)?;
        let server_keys = ServerKeys::load(&config)?;
        warn_if_key_beside_store(&config, &config.server_key_path());
        let store = match store {
            Some(store) => store,
            None => open_store(&config)?,
        };
        let webhooks = WebhookSetup::load(&config)?;
        let endpoints = Endpoints::new(&config.webhook_urls, config.webhook_max_queued);
        let data_dir = config.data_dir.display().to_string();
        let store_error = |e: JobStoreError| ServiceError::Store {
            path: data_dir.clone(),
            reason: e.reason,
        };
        store.attach_webhooks(Arc::new(endpoints)).map_err(store_error)?;
        let stored = store.load().map_err(store_error)?;
        // What `results/` holds: ready jobs whose file was written (a token holds its sealed key).
        let expected = stored
            .iter()
            .filter(|job| job.state == StoredState::Ready && job.file_written)
            .count() as u64;
        let results = ResultStore::open(&config.data_dir, expected)
            .map_err(|e| ServiceError::Config(format!("opening the result files: {e}")))?;
        source.check().map_err(|(path, e)| ServiceError::Cache {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let parts = Parts {
            config,
            source,
            builder,
            store,
            results,
            server_keys,
            webhooks,
        };
        Jobs::assemble(parts, stored).map_err(store_error)
    }

    /// The job domain over what `open` opened (or a test made), with the jobs `stored` reloaded
    /// (`recover`). Reads no file and binds nothing.
    fn assemble(parts: Parts, stored: Vec<StoredJob>) -> Result<Jobs, JobStoreError> {
        let Parts {
            config,
            source,
            builder,
            store,
            results,
            server_keys,
            webhooks,
        } = parts;
        let boot = store.next_boot()?;
        let shared = store.shared();
        let changes = if shared { store.changes() } else { None };
        let (progress_out, progress_in) = mpsc::channel(PROGRESS_BACKLOG);
        let fingerprint_key = {
            let mut hasher = Blake2b::<U32>::new();
            hasher.update(b"tari-wallet-sync/fingerprint-key/v1");
            // The current key's: a rotation starts the per-wallet counts afresh, as a restart does.
            hasher.update(server_keys.current().to_bytes().as_ref());
            Zeroizing::new(<[u8; 32]>::from(hasher.finalize()))
        };
        let (max_keys, multiple) = (config.max_tracked_clients, config.ipv6_aggregate_multiple);
        let jobs = Jobs {
            ip_submissions: ClientLimiter::new(config.submit_rate_per_ip, multiple, max_keys),
            ip_requests: ClientLimiter::new(config.request_rate_per_ip, multiple, max_keys),
            ip_operations: ClientLimiter::new(config.ops_rate_per_ip, multiple, max_keys),
            wallet_syncs: Limiter::new(config.sync_rate_per_wallet, max_keys),
            scan_budgets: Limiter::new(config.client_scan_budget, max_keys),
            pace: Pace::new(scan_threads(config.scan_threads)),
            held: HeldFiles::new(config.max_held_bytes),
            // Tickets are for live jobs only, so every job that can have them fits.
            tickets: Tickets::new(config.events_ticket_ttl, config.max_jobs_held),
            streams: Streams::new(
                config.max_sse_per_client,
                config.max_sse_per_client.saturating_mul(multiple as usize),
            ),
            webhooks,
            config,
            store,
            results,
            server_keys,
            fingerprint_key,
            registry: Mutex::new(Registry::default()),
            queue_notify: Notify::new(),
            builder,
            metrics: Metrics::default(),
            boot,
            phase: AtomicU8::new(Phase::Serving as u8),
            source,
            shared,
            changes: Mutex::new(changes),
            progress_out,
            progress_in: Mutex::new(Some(progress_in)),
            store_reachable: AtomicBool::new(true),
        };
        jobs.recover(stored)?;
        Ok(jobs)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The sealing keys: the current one advertised, a rotation's next and previous accepted.
    pub fn server_keys(&self) -> &ServerKeys {
        &self.server_keys
    }

    /// The counters and histograms every layer adds to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The chain view passes read, for the runtime's watcher and verifier.
    pub(super) fn source(&self) -> &CacheSource {
        &self.source
    }

    /// The job store as the webhook sender's outbox: events are queued with each job's change, the
    /// sender reads what is due and records outcomes.
    pub(super) fn outbox(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// The webhook sender's secret and trust, when endpoints are configured.
    pub(super) fn webhook_setup(&self) -> Option<&WebhookSetup> {
        self.webhooks.as_ref()
    }

    /// Event streams open per client.
    pub(super) fn streams(&self) -> &Arc<Streams> {
        &self.streams
    }

    /// The lifecycle: draining or stopped by the service itself, degraded while a shared store does not
    /// answer, else what the cache source says.
    pub fn lifecycle(&self) -> Lifecycle {
        match self.phase.load(Ordering::Relaxed) {
            0 if !self.store_reachable.load(Ordering::Relaxed) => Lifecycle::Degraded,
            0 => self.source.lifecycle(),
            1 => Lifecycle::Draining,
            _ => Lifecycle::Stopped,
        }
    }

    pub(super) fn set_phase(&self, phase: Phase) {
        let before = self.phase.swap(phase as u8, Ordering::Relaxed);
        if before != phase as u8 {
            tracing::info!(state = self.lifecycle().name(), "lifecycle");
        }
    }

    /// The source's report with the service's own phase on top (and the store's fault, while a shared
    /// store does not answer).
    pub fn report(&self) -> SourceReport {
        let mut report = self.source.report();
        report.lifecycle = self.lifecycle();
        if !self.store_reachable.load(Ordering::Relaxed) {
            report.fault = Some(SourceFault::of(STORE_UNREACHABLE));
        }
        report
    }

    /// A change of the source (state or snapshot): queued jobs may be scannable now.
    pub(super) fn source_changed(&self) {
        self.queue_notify.notify_one();
    }

    /// The job `id` if `token` is one of its tokens.
    pub fn authorize(&self, id: &str, token: Option<&str>) -> Result<Arc<Job>, ApiError> {
        if !plausible_job_id(id) {
            return Err(ApiError::JobNotFound);
        }
        let job = self.registry().jobs.get(id).cloned().ok_or(ApiError::JobNotFound)?;
        let token = token.ok_or(ApiError::MissingToken)?;
        if job.authorize(token) {
            Ok(job)
        } else {
            Err(ApiError::InvalidToken)
        }
    }

    /// A new events ticket for `job` (authorised by its token) and how long it is valid, while a browser
    /// can still follow the job.
    pub(super) fn issue_ticket(&self, job: &Job) -> Result<(String, std::time::Duration), ApiError> {
        tickets::check_live(&job.status(), now_ms())?;
        Ok((self.tickets.issue(&job.id), self.tickets.ttl()))
    }

    /// The job `id` for its event stream: by its token when the request sends one, else by a ticket,
    /// which this uses up.
    pub fn authorize_events(&self, id: &str, token: Option<&str>, ticket: Option<&str>) -> Result<Arc<Job>, ApiError> {
        let Some(ticket) = ticket.filter(|_| token.is_none()) else {
            return self.authorize(id, token);
        };
        if !plausible_job_id(id) {
            return Err(ApiError::JobNotFound);
        }
        let job = self.registry().jobs.get(id).cloned().ok_or(ApiError::JobNotFound)?;
        if let Err(gone) = tickets::check_live(&job.status(), now_ms()) {
            self.tickets.forget_job(id);
            return Err(gone);
        }
        self.tickets.redeem(id, ticket)?;
        Ok(job)
    }

    /// The job's file for a download with `token` (one of the job's), or why there is none. After a
    /// restart the first download opens the sealed file on disk with the token.
    pub async fn artifact(&self, job: &Arc<Job>, token: &str) -> Result<Arc<Artifact>, ApiError> {
        let status = job.status();
        if matches!(status, JobStatus::Ready { .. }) && job.artifact().is_none() {
            return self.load_result(job, token).await;
        }
        let held = Jobs::held_artifact(job, status);
        if held.is_ok() {
            self.held.touch(&job.id);
        }
        held
    }

    /// The file held in memory, or why there is none (a ready job without one has just expired).
    fn held_artifact(job: &Job, status: JobStatus) -> Result<Arc<Artifact>, ApiError> {
        match status {
            JobStatus::Ready { .. } => job.artifact().ok_or(ApiError::ResultExpired),
            JobStatus::Failed { code, message, .. } => Err(ApiError::JobFailed { code, message }),
            JobStatus::Deleted => Err(ApiError::JobDeleted),
            JobStatus::Expired => Err(ApiError::ResultExpired),
            other => Err(ApiError::NotReady(other.name())),
        }
    }

    /// Cancels a queued or running job, or wipes a finished one. Deleting twice is `JOB_DELETED`.
    pub async fn delete(&self, job: &Arc<Job>) -> Result<(), ApiError> {
        if job.status() == JobStatus::Deleted {
            return Err(ApiError::JobDeleted);
        }
        // Cancelled first: a pass finishing now can no longer move the job (`Job::advance`).
        job.cancel();
        self.held.release(job);
        job.set_status(JobStatus::Deleted);
        {
            let mut registry = self.registry();
            if registry.queue.remove(job) {
                renumber_queue(&registry.queue);
            }
        }
        let (store, results, id) = (self.store.clone(), self.results.clone(), job.id.clone());
        let until = now_ms() + self.config.result_ttl.as_millis() as u64;
        blocking(move || {
            results.remove(&id);
            store.tombstone(&id, StoredState::Deleted, until)?;
            store.checkpoint()
        })
        .await?;
        if self.shared {
            // Announced under the tombstone's revision, as every replica shows it.
            self.refresh(&job.id).await;
        }
        tracing::info!(job = %job.id, "job deleted");
        Ok(())
    }

    /// Wipes results past their time and forgets tombstones past theirs.
    pub async fn sweep(&self) -> Result<(), ApiError> {
        let now = now_ms();
        let tombstone_until = now + self.config.result_ttl.as_millis() as u64;
        let mut expired = Vec::new();
        {
            let mut registry = self.registry();
            registry.jobs.retain(|_, job| match job.status() {
                JobStatus::Ready { expires_ms, .. } | JobStatus::Failed { expires_ms, .. } if expires_ms <= now => {
                    job.set_status(JobStatus::Expired);
                    self.held.release(job);
                    expired.push(job.id.clone());
                    true
                }
                // Tombstones live as long as a result would have (their rows say until when).
                // Tombstones are forgotten in memory about two TTLs after submission (their rows say
                // precisely until when; the store purges them then).
                JobStatus::Deleted | JobStatus::Expired => job.created_ms + 2 * self.ttl_ms() > now,
                _ => true,
            });
        }
        self.ip_requests.forget_idle();
        self.ip_operations.forget_idle();
        self.ip_submissions.forget_idle();
        self.wallet_syncs.forget_idle();
        self.scan_budgets.forget_idle();
        for id in &expired {
            self.tickets.forget_job(id);
        }
        self.tickets.forget_old();
        if !expired.is_empty() {
            tracing::info!(jobs = expired.len(), "results expired and wiped");
        }
        let (store, results) = (self.store.clone(), self.results.clone());
        let wiped = expired.clone();
        blocking(move || {
            for id in &wiped {
                results.remove(id);
                store.tombstone(id, StoredState::Expired, tombstone_until)?;
            }
            store.purge(now)?;
            store.checkpoint()
        })
        .await?;
        if self.shared {
            for id in &expired {
                self.refresh(id).await;
            }
        }
        Ok(())
    }

    /// Queues again the jobs whose scan lease ended (their replica died or lost the store): run by every
    /// replica's janitor in a fleet; a single replica's recovery does it at start instead.
    pub async fn reclaim_expired(&self) -> Result<usize, ApiError> {
        if !self.shared {
            return Ok(0);
        }
        let (store, now) = (self.store.clone(), now_ms());
        let reclaimed = blocking(move || store.reclaim_expired(now)).await?;
        if !reclaimed.is_empty() {
            tracing::warn!(jobs = reclaimed.len(), "scans whose lease ended are queued again");
        }
        for id in &reclaimed {
            self.refresh(id).await;
        }
        Ok(reclaimed.len())
    }

    fn ttl_ms(&self) -> u64 {
        self.config.result_ttl.as_millis() as u64
    }

    /// What `/metrics` reads besides the counters: the queue's length, the store's running count of
    /// sealed keys and the source's report. No store query and no walk over the jobs, so an
    /// unauthenticated scrape costs next to nothing.
    pub fn scrape(&self) -> Scrape {
        Scrape {
            queue_depth: self.queue_depth() as u64,
            keys_held: self.store.keys_held(),
            webhook_queue_depth: self.store.webhook_queue_depth(),
            webhook_endpoints: self.store.webhook_endpoints(),
            held_file_bytes: self.held.bytes(),
            scan_pace: self.pace.rate() as u64,
            source: self.report(),
            now: SystemTime::now(),
        }
    }

    /// What the next pass may take: `max_batch_keys` jobs, and `max_pass_output_keys` output-keys or, if
    /// that is 0, what `pass_target` lasts at the measured pace.
    pub(super) fn pass_bounds(&self) -> PassBounds {
        PassBounds {
            max_jobs: self.config.max_batch_keys,
            max_output_keys: match self.config.max_pass_output_keys {
                0 => self.pace.keys_for(self.config.pass_target),
                cap => cap,
            },
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.registry().queue.len()
    }
}

/// The job store the configuration names: `DATA_DIR/jobs.sqlite`, or the PostgreSQL database every
/// replica shares, its leases owned by `replica_id` (a random name per process when unset, so a
/// restarted process never mistakes a dead one's leases for its own).
fn open_store(config: &ServiceConfig) -> Result<Arc<dyn JobStore>, ServiceError> {
    match &config.job_store {
        JobStoreLocation::Sqlite => Ok(Arc::new(SqliteJobStore::open(&config.data_dir)?)),
        JobStoreLocation::Postgres(url) => {
            let connect = PostgresConnect {
                url: url.clone(),
                tls: config.job_store_tls,
                ca_file: config.job_store_ca_file.clone(),
                pool: config.job_store_pool,
            };
            let replica = config.replica_id.clone().unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                format!("p{}", hex::encode(bytes))
            });
            Ok(Arc::new(PostgresJobStore::open(&connect, &replica, config.job_lease)?))
        }
    }
}

/// Gives each queued job its position (1 = next) and announces changes.
pub(super) fn renumber_queue(queue: &FairQueue) {
    for (index, queued) in queue.in_order().into_iter().enumerate() {
        if let JobStatus::Queued { .. } = queued.job.status() {
            queued.job.advance(JobStatus::Queued {
                position: index as u64 + 1,
            });
        }
    }
}

/// What scanning a wallet born at `birthday` costs on `view`: its outputs from that height to the tip,
/// each tested against its key once.
pub(super) fn output_keys(view: &crate::cache::CacheView, birthday: u64) -> u64 {
    view.output_count().saturating_sub(view.first_output_at(birthday))
}

/// Scan threads for `configured` (0: one per core).
pub(super) fn scan_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Runs a store call on the blocking pool; a failure is logged and answered as `INTERNAL`.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobStoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "job store");
            Err(ApiError::Internal)
        }
        Err(error) => {
            tracing::error!(%error, "job store task");
            Err(ApiError::Internal)
        }
    }
}
