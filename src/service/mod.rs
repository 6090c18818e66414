//! Service: the HTTP face of the plugin. A wallet submits its sealed view key, follows the job by status
//! or Server-Sent Events and downloads the zstd file; the operator gets limits, metrics and a clean
//! drain. Owns jobs (memory + SQLite), their scheduling into multi-key scan passes, and HTTP; it reads
//! the chain only through `cache::CacheView` and `scan`, and builds files through `ResultBuilder`.
//!
//! ```text
//! server     TCP/TLS accept, hyper-util auto (HTTP/1.1 + h2c / ALPN h2), limits, graceful drain
//!   http     routes -> handlers -> ApiError (status chosen in error.rs); SSE, download with Range
//! engine     the facade: registry of jobs, submission, auth, delete, expiry, rate limits, metrics
//!   job        one job's state and event channel        store     SQLite job store (WAL), sealed keys
//!   keyfile    the persistent sealing key (0600)        limits    token buckets
//! scheduler  queued jobs -> one scan pass (rayon, blocking pool) -> ResultBuilder -> artifact
//! ```

pub mod artifact;
pub mod config;
mod engine;
pub mod error;
mod http;
mod job;
mod keyfile;
mod limits;
mod metrics;
mod scheduler;
mod server;
mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod wallet_builder;

use std::{sync::Arc, time::Duration};

pub use artifact::{Artifact, JsonSummaryBuilder, ResultBuilder};
pub use config::{PlainKeyPolicy, RateLimit, ServiceConfig, TlsPaths, parse_duration, parse_rate};
pub use engine::Lifecycle;
pub use error::{ApiError, ServiceError};
pub use http::API_PREFIX;
pub use server::tls_acceptor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
pub use wallet_builder::WalletDbBuilder;

/// The OpenAPI document of the v1 API.
pub const OPENAPI_JSON: &str = http::OPENAPI;

/// Runs the service on `listener`, serving minotari-cli wallet databases (`WalletDbBuilder`), until
/// `shutdown` is cancelled.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    run_with(config, Arc::new(WalletDbBuilder::default()), listener, shutdown).await
}

/// Runs the service with the given file builder until `shutdown` is cancelled: opens the data directory
/// and the cache, resumes stored jobs, serves, then drains connections and stops the scheduler (a scan in
/// progress is cancelled at its next chunk; its jobs stay queued for the next start).
pub async fn run_with(
    config: ServiceConfig,
    builder: Arc<dyn ResultBuilder>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let engine = tokio::task::spawn_blocking(move || engine::Engine::open(config, builder))
        .await
        .map_err(|e| ServiceError::Config(format!("starting: {e}")))??;
    let engine = Arc::new(engine);
    // Our own child: a serve error stops the background tasks without cancelling the caller's token.
    let stop = shutdown.child_token();
    let scheduler = tokio::spawn(scheduler::run(engine.clone(), stop.clone()));
    let janitor = tokio::spawn(janitor(engine.clone(), stop.clone()));
    engine.set_lifecycle(Lifecycle::Ready);
    let served = server::serve(engine.clone(), listener, tls, stop.clone()).await;
    engine.set_lifecycle(Lifecycle::Draining);
    stop.cancel();
    let _ = scheduler.await;
    let _ = janitor.await;
    engine.set_lifecycle(Lifecycle::Stopped);
    served
}

/// Wipes expired results on a period of a quarter of the TTL (between 1 s and 1 min).
async fn janitor(engine: Arc<engine::Engine>, shutdown: CancellationToken) {
    let period = (engine.config().result_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(period) => {
                if engine.sweep().await.is_err() {
                    tracing::warn!("expiry sweep failed; retrying next period");
                }
            }
        }
    }
}
