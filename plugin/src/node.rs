//! Node: what the plugin takes from a base node. Opens or creates the cache the node's chain goes into,
//! starts the task that keeps it at the node's tip (a `Follower` polling the node's HTTP wallet query
//! service, or a `FeedFollower` the node pushes blocks into in-process), and lists where jobs get their
//! owned outputs' full outputs (the node database, the node, the host node). Not the following itself
//! (`tari_wallet_sync::source`), not the service (`running`).

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result, bail};
use tari_wallet_sync::{
    cache::{Cache, CacheError, CacheView, FORMAT_VERSION},
    source::{
        FeedSender, Follower, FollowerConfig, FollowerHandle, NodeClient, SourceError, block_feed,
        full_outputs::{FullOutputSources, FullOutputs, LmdbFullOutputs, NodeFetchOptions, NodeFullOutputs},
    },
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The running task that fills the cache, and how to stop it.
pub struct SourceTask {
    pub(crate) stop: CancellationToken,
    pub(crate) task: JoinHandle<Result<Cache, SourceError>>,
    /// A feed's sender, flushed before the task stops so the events the node already sent are applied.
    pub(crate) feed: Option<FeedSender>,
}

/// Opens the cache in `dir`, or creates it for `network` if the directory holds none. Blocking.
pub fn open_or_create_cache(dir: &Path, network: u8) -> Result<Cache> {
    match Cache::open(dir) {
        Ok(cache) if cache.network() != network => bail!(
            "the cache in {} is for network byte {:#04x}, not the configured {network:#04x}",
            dir.display(),
            cache.network()
        ),
        Ok(cache) => {
            if let Some(skipped) = cache.recovered() {
                tracing::warn!(error = %skipped, "cache opened at an older state");
            }
            if let Some(from) = cache.migrated_from() {
                tracing::info!(
                    from,
                    to = tari_wallet_sync::cache::FORMAT_VERSION,
                    "cache format migrated"
                );
            }
            Ok(cache)
        }
        Err(CacheError::NotFound { .. }) => {
            Cache::create(dir, network).with_context(|| format!("creating a cache in {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("opening the cache in {}", dir.display())),
    }
}

/// Migrates the cache in `dir` to the current format if it is older and no other process writes it, so a
/// served cache (`serve --cache-dir`) stops decompressing every sender offset key in every pass. A cache
/// another process holds is served as it is; that writer migrates it when it next opens it. Blocking.
pub fn migrate_if_outdated(dir: &Path) -> Result<()> {
    let outdated = CacheView::open(dir).is_ok_and(|view| view.format_version() < FORMAT_VERSION);
    if !outdated {
        return Ok(());
    }
    match Cache::open(dir) {
        Ok(cache) => {
            if let Some(from) = cache.migrated_from() {
                tracing::info!(from, to = FORMAT_VERSION, "cache format migrated");
            }
            Ok(())
        }
        Err(CacheError::Locked { .. }) => {
            tracing::warn!("the cache is in an older format and another process writes it: served as it is");
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("migrating the cache in {}", dir.display())),
    }
}

/// Where jobs get full outputs, asked in order: the node database (`lmdb_dir`: local, and it holds the
/// imported history), the node (`node_url`), the host node (in-process). Call inside the runtime the
/// node requests should run on.
pub fn full_output_sources(config: &Config, host: Option<Arc<dyn FullOutputs>>) -> Result<FullOutputSources> {
    let mut sources = FullOutputSources::default();
    if let Some(dir) = &config.lmdb_dir {
        sources.push(Arc::new(LmdbFullOutputs::new(dir)));
    }
    if let Some(url) = &config.node_url {
        let client = NodeClient::new(url).with_context(|| format!("node_url = {url:?}"))?;
        let runtime = tokio::runtime::Handle::current();
        sources.push(Arc::new(NodeFullOutputs::new(
            client,
            runtime,
            NodeFetchOptions::default(),
        )));
    }
    if let Some(host) = host {
        sources.push(host);
    }
    Ok(sources)
}

/// `open_or_create_cache` for `config.node_cache_dir()`, off the async runtime, for the settled `network`
/// (a byte: see `network::settle`).
pub async fn open_node_cache(config: &Config, network: u8) -> Result<Cache> {
    let dir = config.node_cache_dir();
    tokio::task::spawn_blocking(move || open_or_create_cache(&dir, network))
        .await
        .context("opening the cache")?
}

/// Starts following `config.node_url` into `cache` on the current runtime.
pub fn start_follower(config: &Config, cache: Cache) -> Result<(FollowerHandle, SourceTask)> {
    let url = config.node_url.as_deref().context("no node_url configured")?;
    let client = NodeClient::new(url).with_context(|| format!("node_url = {url:?}"))?;
    // The follower checks that the node's genesis is the cache's network's.
    let follower_config = FollowerConfig {
        poll_interval: config.poll_interval,
        full_outputs: config.full_outputs,
        ..FollowerConfig::default()
    };
    let follower = Follower::new(client, cache, follower_config);
    let handle = follower.handle();
    let stop = CancellationToken::new();
    let task = spawn_logged("follower", follower.run(stop.clone()));
    Ok((handle, SourceTask { stop, task, feed: None }))
}

/// Starts an in-process feed into `cache`; `capacity` events may wait before the node's sends wait.
pub fn start_feed(cache: Cache, capacity: usize) -> (FeedSender, FollowerHandle, SourceTask) {
    let (sender, follower) = block_feed(cache, capacity);
    let handle = follower.handle();
    let stop = CancellationToken::new();
    let task = spawn_logged("feed", follower.run(stop.clone()));
    let source = SourceTask {
        stop,
        task,
        feed: Some(sender.clone()),
    };
    (sender, handle, source)
}

/// Spawns a source task that logs when it stops by itself: the service then keeps serving the cache as
/// it is, reported as degraded (`SOURCE_STOPPED`), until the operator acts.
fn spawn_logged(
    name: &'static str,
    run: impl Future<Output = Result<Cache, SourceError>> + Send + 'static,
) -> JoinHandle<Result<Cache, SourceError>> {
    tokio::spawn(async move {
        let result = run.await;
        if let Err(error) = &result {
            tracing::error!(task = name, %error, "the cache's source stopped; serving the cache as it is");
        }
        result
    })
}
