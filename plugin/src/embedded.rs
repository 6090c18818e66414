//! Embedded plugin: the API a base node uses to run the plugin in its own process. The node starts it
//! with the plugin's configuration and a lookup of full outputs by block and output hash (its own
//! database: jobs take their owned outputs' full outputs from it, each checked against the chain's
//! hash), tells it about every block it adds or rolls back (through the library's bounded block feed,
//! instead of being polled over HTTP), and stops it with `shutdown`, which drains. The service listens
//! on the configured address meanwhile.
//!
//! ```no_run
//! # async fn node(
//! #     blocks: Vec<tari_wallet_sync::cache::BlockData>,
//! #     lookup: std::sync::Arc<dyn tari_wallet_sync::source::full_outputs::FullOutputs>,
//! # ) -> anyhow::Result<()> {
//! use tari_wallet_sync_plugin::{Config, FeedOptions, WalletSyncPlugin};
//! let config = Config::from_file("config.toml")?;
//! let plugin = WalletSyncPlugin::start(config, FeedOptions::default(), lookup).await?;
//! let from = plugin.cache_tip().map_or(0, |t| t.height + 1); // resume where the cache stands
//! for block in blocks.into_iter().filter(|b| b.height >= from) {
//!     plugin.block_added(block).await?;
//! }
//! plugin.shutdown().await?;
//! # Ok(()) }
//! ```

use std::{net::SocketAddr, sync::Arc};

use anyhow::{Context, Result};
use tari_wallet_sync::{
    cache::{BlockData, Tip},
    network::Network,
    service::{CacheSource, Lifecycle, SourceReport},
    source::{BlockFeed, FeedSender, FollowerHandle, SourceError, full_outputs::FullOutputs},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    network::{self, Evidence},
    node::{full_output_sources, open_node_cache, start_feed},
    running::Running,
};

/// How the node's blocks reach the plugin.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// Events (added or rolled-back blocks) in flight: beyond it the node's calls wait for the plugin to
    /// catch up, so a node syncing fast never makes the plugin buffer without bound.
    pub capacity: usize,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions { capacity: 64 }
    }
}

/// The plugin running inside a node: HTTP service, job store, scans, and the cache the node feeds.
pub struct WalletSyncPlugin {
    feed: FeedSender,
    handle: FollowerHandle,
    running: Running,
}

impl WalletSyncPlugin {
    /// Opens (or creates) the cache in `config.node_cache_dir()`, starts the feed and serves on
    /// `config.listen` (port 0 picks a free port: see `local_addr`). `full_outputs` is the node's lookup
    /// of its own outputs (asked after `lmdb_dir` and `node_url` if those are configured too).
    ///
    /// The network is the one the node set for the process (`Network::set_current`, as every node does
    /// while loading its configuration); a configured `network` or an existing cache of another network
    /// is refused (`NETWORK_MISMATCH`), and so is a process that has set none and a configuration that
    /// names none: the plugin never guesses the network of the node it runs in.
    pub async fn start(
        config: Config,
        feed: FeedOptions,
        full_outputs: Arc<dyn FullOutputs>,
    ) -> Result<WalletSyncPlugin> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        WalletSyncPlugin::start_on(config, feed, full_outputs, listener).await
    }

    /// `start` on a listener the node bound itself.
    pub async fn start_on(
        mut config: Config,
        feed: FeedOptions,
        full_outputs: Arc<dyn FullOutputs>,
        listener: TcpListener,
    ) -> Result<WalletSyncPlugin> {
        config.service.cache_dir = config.node_cache_dir();
        // Owner-only before the node's cache is created inside it.
        tari_wallet_sync::service::create_private_dir(&config.service.data_dir)?;
        let mut evidence: Vec<Evidence> = Network::is_set()
            .then(|| Evidence::new("the host node (its process network)", Network::get_current()))
            .into_iter()
            .collect();
        evidence.extend(network::cache_evidence(&config.node_cache_dir())?);
        if evidence.is_empty() && config.network.is_none() {
            anyhow::bail!(
                "the host node has set no process network and the configuration names none: set the node's \
                 network first (Network::set_current) or configure `network`"
            );
        }
        let network = network::settle(config.network, evidence)?;
        let cache = open_node_cache(&config, network.as_byte()).await?;
        let (sender, handle, task) = start_feed(cache, feed.capacity);
        let source = CacheSource::follower(handle.clone());
        let full = full_output_sources(&config, Some(full_outputs))?;
        let running = Running::start(&config, listener, source, Some(task), full, CancellationToken::new()).await?;
        Ok(WalletSyncPlugin {
            feed: sender,
            handle,
            running,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// The operator's listener (`metrics_listen`: health, readiness, metrics), if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.running.metrics_addr()
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.running.lifecycle()
    }

    /// What `/ready` reports: the lifecycle, the cache's and the node's tips, a refused block's error.
    pub fn report(&self) -> SourceReport {
        self.running.report()
    }

    /// The cache's published tip: where a node resumes feeding after a restart.
    pub fn cache_tip(&self) -> Option<Tip> {
        self.handle.view().tip()
    }

    /// A sender for other tasks of the node (cheap to clone).
    pub fn feed(&self) -> FeedSender {
        self.feed.clone()
    }

    /// The node's new tip. Waits while `capacity` events are in flight. A block that does not extend
    /// the cache's tip is refused: the plugin reports `degraded` until a block that fits arrives.
    pub async fn block_added(&self, block: BlockData) -> Result<(), SourceError> {
        self.feed.block_added(block).await
    }

    /// The block at `height` left the node's chain, and every block above it.
    pub async fn block_rolled_back(&self, height: u64) -> Result<(), SourceError> {
        self.feed.block_rolled_back(height).await
    }

    /// Waits until every block sent before is in the cache and visible to new scans; returns the tip.
    pub async fn flush(&self) -> Result<Option<Tip>, SourceError> {
        self.feed.flush().await
    }

    /// Drains and stops: no new submissions, connections finish, a running scan leaves its jobs queued
    /// for the next start, the blocks already sent are applied, then the feed stops.
    pub async fn shutdown(self) -> Result<()> {
        self.running.begin_shutdown();
        self.running.wait().await
    }
}

impl BlockFeed for WalletSyncPlugin {
    async fn block_added(&self, block: BlockData) -> Result<(), SourceError> {
        self.feed.block_added(block).await
    }

    async fn block_rolled_back(&self, height: u64) -> Result<(), SourceError> {
        self.feed.block_rolled_back(height).await
    }
}
