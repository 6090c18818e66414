//! Running: the service and the task that fills its cache, started together and stopped in order. The
//! service drains first (no new submissions; connections finish within `drain_timeout`; a running scan
//! stops at its next chunk and its jobs stay queued in the store), then the source stops (a feed first
//! applies what the node already sent; every batch is published, so the cache on disk is whole). Owns
//! that order; what fills the cache is `node`.

use std::{net::SocketAddr, sync::Arc};

use anyhow::{Context, Result};
use tari_wallet_sync::{
    service::{CacheSource, Lifecycle, ResultBuilder, Service, SourceReport, WalletDbBuilder},
    source::full_outputs::FullOutputSources,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    node::{SourceTask, full_output_sources, migrate_if_outdated, open_node_cache, start_follower},
};

/// A serving plugin.
pub struct Running {
    addr: SocketAddr,
    service: Service,
    shutdown: CancellationToken,
    source: Option<SourceTask>,
}

impl Running {
    /// Serves `config.service.cache_dir` as it is (a demo chain, an imported cache, a cache another
    /// process follows) until `shutdown`.
    pub async fn directory(config: &Config, listener: TcpListener, shutdown: CancellationToken) -> Result<Running> {
        let dir = config.service.cache_dir.clone();
        tokio::task::spawn_blocking(move || migrate_if_outdated(&dir))
            .await
            .context("migrating the cache")??;
        let source = CacheSource::directory(config.service.cache_dir.clone());
        let full = full_output_sources(config, None)?;
        Running::start(config, listener, source, None, full, shutdown).await
    }

    /// Follows `config.node_url` into `config.node_cache_dir()` (created for `network` if missing) and
    /// serves it until `shutdown`. HTTP is up at once; jobs wait while the follower catches up.
    pub async fn follow(
        config: &Config,
        network: u8,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Running> {
        let cache = open_node_cache(config, network).await?;
        tracing::info!(
            node = config.node_url.as_deref().unwrap_or_default(),
            cache = %config.node_cache_dir().display(),
            tip = cache.tip().map(|t| t.height),
            "following the node"
        );
        let (handle, task) = start_follower(config, cache)?;
        let full = full_output_sources(config, None)?;
        Running::start(
            config,
            listener,
            CacheSource::follower(handle),
            Some(task),
            full,
            shutdown,
        )
        .await
    }

    /// Serves `source` with the wallet-database builder, whose jobs take their full outputs from `full`;
    /// `task` (if any) fills the cache and is stopped after the service. A staged source
    /// (`CacheSource::controlled`) serves while the plugin imports, and gets its follower's task with
    /// `attach` once it follows.
    pub async fn start(
        config: &Config,
        listener: TcpListener,
        source: CacheSource,
        task: Option<SourceTask>,
        full: FullOutputSources,
        shutdown: CancellationToken,
    ) -> Result<Running> {
        let addr = listener.local_addr().context("the listener's address")?;
        if full.is_empty() {
            tracing::warn!(
                "no source of full outputs (node_url, lmdb_dir or a host lookup): only a demo chain's jobs can \
                 finish; a real chain's fail with FULL_OUTPUTS_UNAVAILABLE"
            );
        } else {
            tracing::info!(sources = ?full.describe(), "full outputs for jobs");
        }
        let builder: Arc<dyn ResultBuilder> = Arc::new(WalletDbBuilder::new(full));
        let started = Service::start(config.service.clone(), source, builder, listener, shutdown.clone()).await;
        let service = match started {
            Ok(service) => service,
            Err(error) => {
                if let Some(task) = task {
                    stop_source(task).await;
                }
                return Err(error).context("starting the service");
            }
        };
        Ok(Running {
            addr,
            service,
            shutdown,
            source: task,
        })
    }

    /// Hands over the task that fills the cache from now on (stopped after the service, as at start);
    /// a task attached before is stopped first.
    pub async fn attach(&mut self, task: SourceTask) {
        if let Some(before) = self.source.replace(task) {
            stop_source(before).await;
        }
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operator's listener (`metrics_listen`), if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.service.metrics_addr()
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.service.lifecycle()
    }

    /// What `/ready` reports.
    pub fn report(&self) -> SourceReport {
        self.service.report()
    }

    /// Cancels the shutdown token (as a signal does); `wait` then returns once all has stopped.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the service has stopped (after `shutdown`), then stops the source.
    pub async fn wait(self) -> Result<()> {
        let served = self.service.wait().await;
        if let Some(task) = self.source {
            stop_source(task).await;
        }
        served.context("serving")
    }
}

/// Stops a source task: a feed applies what was sent first (bounded: a node that keeps sending cannot
/// hold the stop up), then the task is cancelled and awaited.
async fn stop_source(task: SourceTask) {
    /// Long enough for a full feed channel to be applied, short enough not to hold up an exit.
    const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    if let Some(feed) = &task.feed
        && tokio::time::timeout(FLUSH_WAIT, feed.flush()).await.is_err()
    {
        tracing::warn!("the feed did not flush in time; unapplied blocks are dropped");
    }
    task.stop.cancel();
    match task.task.await {
        Ok(Ok(cache)) => tracing::info!(tip = cache.tip().map(|t| t.height), "cache source stopped"),
        Ok(Err(_)) => {} // logged when it happened
        Err(error) => tracing::error!(%error, "the cache source task failed"),
    }
}
