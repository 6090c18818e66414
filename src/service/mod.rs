//! Service: the HTTP face of the plugin. A wallet submits its sealed view key, follows the job by status
//! or Server-Sent Events and downloads the zstd file; the operator gets limits, metrics and a clean
//! drain. Owns jobs (memory + SQLite), their files (memory, and sealed on disk so a ready job stays ready
//! across a restart), their scheduling into multi-key scan passes, and HTTP; it reads the chain only
//! through a `CacheSource` (a cache directory, or a follower's published `CacheView`s and state) and
//! `scan`, and builds files through `ResultBuilder`.
//!
//! Bottom up; each layer imports only those before it (`tests/layers.rs` checks the order):
//! ```text
//! leaves     error (ServiceError, ApiError, JobFailure, FailureCode), config (ServiceConfig, its values),
//!            requester (who a request is from: the peer, or what a trusted proxy forwarded), clock
//! chain      the chain view: cache_source (directory | follower | staged -> snapshot per pass, state; a
//!            background re-check of the cache's checksums), lifecycle (Starting -> Importing ->
//!            CatchingUp -> Ready <-> Degraded -> Draining -> Stopped)
//! webhook    the outbox's model: events, signed payloads (HMAC-SHA256), the secret and TLS trust,
//!            endpoints with their breakers and backoff
//! metrics    prometheus-client registry: counters and histograms as things happen, jobs by state moved
//!            by each job, so a scrape reads atomics (no store query, no walk over the jobs); its
//!            instruments (Count, Level, Timing, JobGauges) and the two text formats (format)
//! limits     rate (GCRA per client and wallet, LRU-bounded), slots (connection caps: in all, per
//!            client and IPv6 aggregate, headroom for newcomers)
//! jobs       Jobs, the facade: registry of jobs, auth, delete, expiry, phase over the cache source
//!   job        one job's state and event channel    fair_queue  pass order, fair between clients by cost
//!   pace       output-keys per second, measured     tickets     single-use events tickets for browsers
//!   keyfile    a persistent sealing key (0600)      envelope    the one place envelopes are opened
//!   keyring    the keys held while a fleet rotates: current (advertised), next, previous
//!   submission admission: rate limits, scan budgets, bounds with headroom, envelopes sent again
//!   scheduler  fair queue -> one pass within its bounds (rayon, blocking pool) -> ResultBuilder
//!   store      the JobStore seam; memory (MemoryJobStore), sqlite (SqliteJobStore: WAL, sealed keys,
//!              the webhook outbox)
//!   results    when the domain uses files: artifact (a built file), sealed_files (at rest, sealed to keys
//!              only their tokens derive), held_files (in memory, within `max_held_bytes`),
//!              wallet_builder (the minotari-cli wallet database)
//!   recovery   stored jobs back after a restart     data_dir    the data directory, key placement
//!   fleet      on a store replicas share: the registry follows its changes, pings it, tells progress
//! ops        janitor (expiry, leases that ended), source_watcher (wakes the scheduler, logs lifecycle), webhooks (one
//!            worker and breaker per endpoint, a shared poster, retried, each queue capped)
//! http       router -> handlers -> ApiError (its status chosen in http/refusal.rs); SSE, download with
//!            Range; server (TCP/TLS accept, HTTP/1.1 + h2c / ALPN h2, graceful drain; the public port
//!            and the operator's), idle (open requests per connection keep it; idle and budget closes)
//! mod.rs     the runtime: starts the layers' tasks and drains them on shutdown
//! ```

mod chain;
mod clock;
pub mod config;
pub mod error;
mod http;
mod jobs;
#[cfg(feature = "fuzzing")]
pub(crate) use http::fuzzing as http_fuzzing;
mod limits;
mod metrics;
mod ops;
mod requester;
pub mod webhook;

use std::{net::SocketAddr, sync::Arc};

pub use chain::cache_source::{CacheSource, SourceControl};
pub use chain::lifecycle::{
    CACHE_DAMAGED, IMPORT_FAILED, ImportProgress, Lifecycle, NODE_NOT_SYNCED, SOURCE_FAULTS, SourceFault, SourceReport,
    source_fault_codes,
};
pub use config::{
    ClientRules, ForwardedHeader, PlainKeyPolicy, RateLimit, ServiceConfig, TlsPaths, UnsyncedNode, parse_duration,
    parse_rate,
};
pub use error::{ApiError, FailureCode, JobFailure, ServiceError};
pub use http::API_PREFIX;
pub use http::server::tls_acceptor;
pub use jobs::create_private_dir;
pub use jobs::keyfile::{generate as generate_key_file, load as load_key_file};
pub use jobs::keyring::ServerKeys;
pub use jobs::results::artifact::{self, Artifact, JsonSummaryBuilder, ResultBuilder};
pub use jobs::results::wallet_builder::WalletDbBuilder;
pub use jobs::store::sqlite::SqliteJobStore;
pub use jobs::store::{self as job_store, JobStore, MemoryJobStore};
use jobs::{Jobs, Phase};
pub use requester::Client;
use requester::Port;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// The OpenAPI document of the v1 API.
pub const OPENAPI_JSON: &str = http::OPENAPI;

/// Runs the service on `listener` over the cache in `config.cache_dir`, serving minotari-cli wallet
/// databases (`WalletDbBuilder`), until `shutdown` is cancelled.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    run_with(config, Arc::new(WalletDbBuilder::default()), listener, shutdown).await
}

/// `run` with the given file builder.
pub async fn run_with(
    config: ServiceConfig,
    builder: Arc<dyn ResultBuilder>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let source = CacheSource::directory(config.cache_dir.clone());
    run_with_source(config, source, builder, listener, shutdown).await
}

/// Runs the service over `source` (a directory, a follower, or a staged source) with the given file
/// builder until `shutdown` is cancelled; `config.cache_dir` is not read.
pub async fn run_with_source(
    config: ServiceConfig,
    source: CacheSource,
    builder: Arc<dyn ResultBuilder>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    Service::start(config, source, builder, listener, shutdown)
        .await?
        .wait()
        .await
}

/// A running service, for callers that watch it while it serves (the plugin's lifecycle, tests).
pub struct Service {
    jobs: Arc<Jobs>,
    metrics_addr: Option<SocketAddr>,
    task: JoinHandle<Result<(), ServiceError>>,
}

impl Service {
    /// Opens the data directory, resumes stored jobs and starts serving on `listener` (HTTP is up while
    /// the source still imports or catches up, so `/ready` can say so) until `shutdown` is cancelled;
    /// binds `config.metrics_listen` for the operator first if it is set. Jobs are kept in the SQLite
    /// store in `config.data_dir` (`SqliteJobStore`).
    pub async fn start(
        config: ServiceConfig,
        source: CacheSource,
        builder: Arc<dyn ResultBuilder>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Service, ServiceError> {
        Service::start_inner(config, source, builder, None, listener, shutdown).await
    }

    /// `start` with the job store the caller chose: one it opened itself (`SqliteJobStore::open`), a
    /// `MemoryJobStore`, or either wrapped (a test counting the calls a route makes). The data directory
    /// still holds the server key and the result files.
    pub async fn start_with_store(
        config: ServiceConfig,
        source: CacheSource,
        builder: Arc<dyn ResultBuilder>,
        store: Arc<dyn JobStore>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Service, ServiceError> {
        Service::start_inner(config, source, builder, Some(store), listener, shutdown).await
    }

    async fn start_inner(
        config: ServiceConfig,
        source: CacheSource,
        builder: Arc<dyn ResultBuilder>,
        store: Option<Arc<dyn JobStore>>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Service, ServiceError> {
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let operator = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| ServiceError::Config(format!("binding metrics_listen {addr}: {e}")))?,
            ),
            None => None,
        };
        let metrics_addr = operator.as_ref().and_then(|l| l.local_addr().ok());
        let jobs = tokio::task::spawn_blocking(move || Jobs::open(config, source, builder, store))
            .await
            .map_err(|e| ServiceError::Config(format!("starting: {e}")))??;
        let jobs = Arc::new(jobs);
        tracing::info!(state = jobs.lifecycle().name(), "lifecycle");
        let task = tokio::spawn(serve(jobs.clone(), listener, tls, operator, shutdown));
        Ok(Service {
            jobs,
            metrics_addr,
            task,
        })
    }

    /// The address of the operator's listener (`metrics_listen`), if one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.jobs.lifecycle()
    }

    /// What `/ready` reports.
    pub fn report(&self) -> SourceReport {
        self.jobs.report()
    }

    /// Waits until the service has drained and stopped (after `shutdown`, or a serve error).
    pub async fn wait(self) -> Result<(), ServiceError> {
        self.task
            .await
            .map_err(|e| ServiceError::Config(format!("the service task failed: {e}")))?
    }
}

/// Serves until `shutdown`, then drains: the lifecycle says `draining` at once, connections get
/// `drain_timeout`, a running scan stops at its next chunk (its jobs stay queued for the next start).
async fn serve(
    jobs: Arc<Jobs>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    operator: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    // Our own child: a serve error stops the background tasks without cancelling the caller's token.
    let stop = shutdown.child_token();
    let scheduler = tokio::spawn(jobs::scheduler::run(jobs.clone(), stop.clone()));
    let janitor = tokio::spawn(ops::janitor::run(jobs.clone(), stop.clone()));
    let fleet = tokio::spawn(jobs::fleet::run(jobs.clone(), stop.clone()));
    let watcher = tokio::spawn(ops::source_watcher::run(jobs.clone(), stop.clone()));
    let verifier = tokio::spawn(chain::cache_source::verify_in_background(
        jobs.source().clone(),
        jobs.config().cache_verify_interval,
        stop.clone(),
    ));
    let webhooks = jobs
        .webhook_setup()
        .cloned()
        .map(|setup| tokio::spawn(ops::webhooks::run(jobs.clone(), setup, stop.clone())));
    // The operator's port is cleartext: it carries no secret, and belongs on loopback or a private network.
    let operator =
        operator.map(|l| tokio::spawn(http::server::serve(jobs.clone(), l, None, Port::Operator, stop.clone())));
    let served = http::server::serve(jobs.clone(), listener, tls, Port::Public, stop.clone()).await;
    jobs.set_phase(Phase::Draining);
    stop.cancel();
    if let Some(operator) = operator {
        let _ = operator.await;
    }
    let _ = scheduler.await;
    let _ = janitor.await;
    let _ = fleet.await;
    let _ = watcher.await;
    let _ = verifier.await;
    if let Some(webhooks) = webhooks {
        let _ = webhooks.await;
    }
    jobs.set_phase(Phase::Stopped);
    served
}
