//! Follower: keeps a `Cache` at a node's tip through the HTTP query service. Each round compares the
//! cache's tip with the node's chain (the hash at the cache's tip height, or at the node's tip if that is
//! lower), walks back to the fork and rolls the cache back if they differ, then catches up in batches:
//! one publish per batch, the next batch fetched while the last one is written. Between rounds it waits
//! `poll_interval`; after a node fault it reports `Degraded` and retries with backoff behind a circuit
//! breaker. Owns the loop and the reorg walk; the paging is `pager`, the wire `http`.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio_util::sync::CancellationToken;

use super::{
    FollowerHandle, FollowerState, NodeClient, SourceError,
    backoff::{Backoff, Circuit, RetryPolicy},
    http::NodeTip,
    pager::{FetchLimits, Fetched, fetch_blocks, or_cancel},
    status::{Publisher, StopReason},
};
use crate::{
    cache::{Cache, CacheError, Tip},
    network::{self, NetworkError},
};

/// How a follower follows.
#[derive(Debug, Clone, Copy)]
pub struct FollowerConfig {
    /// Wait between rounds at the tip. Tari blocks come every two minutes; 5 s notices one promptly
    /// at a cost of two small requests.
    pub poll_interval: Duration,
    /// `limit` of each `/sync_utxos_by_block` request (`1..=2000`). 50 keeps a page of full blocks
    /// under the client's body limit.
    pub page_limit: u64,
    /// Blocks per published batch: a publish fsyncs, so batches amortise it; smaller batches show
    /// progress sooner.
    pub batch_blocks: u64,
    /// Outputs per published batch: bounds the memory a batch holds (about 0.4 KB per output).
    pub batch_outputs: u64,
    /// Fetch every block's full outputs too, for scripts, output types and maturities. Without it the
    /// cache holds an empty script, type 0 and maturity 0 for every output, and the few owned outputs
    /// must be completed through `NodeClient::full_outputs`.
    pub full_outputs: bool,
    /// Full-output requests in flight at once.
    pub full_concurrency: usize,
    /// Height of the first block an empty cache takes.
    pub start_height: u64,
    /// Deepest reorg rolled back without an operator. Tari's reorgs are a few blocks; a deeper
    /// disagreement is the wrong node or network.
    pub max_reorg_depth: u64,
    pub retry: RetryPolicy,
    /// The genesis hash the node must report, checked before the first round and again after any
    /// fault (a node restarted on another network). `None`: the official genesis of the cache's
    /// network, which is what every real node has; tests of made-up chains give theirs.
    pub genesis: Option<[u8; 32]>,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        FollowerConfig {
            poll_interval: Duration::from_secs(5),
            page_limit: 50,
            batch_blocks: 1000,
            batch_outputs: 200_000,
            full_outputs: false,
            full_concurrency: 4,
            start_height: 0,
            max_reorg_depth: 1000,
            retry: RetryPolicy::default(),
            genesis: None,
        }
    }
}

/// What one `sync_to_tip` did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncReport {
    pub blocks: u64,
    pub outputs: u64,
    /// Blocks removed by reorgs.
    pub rolled_back: u64,
    /// The node's tip when the round began.
    pub node_tip: u64,
    /// The cache's tip at the end.
    pub tip: Option<Tip>,
    pub elapsed: Duration,
}

impl SyncReport {
    pub fn outputs_per_sec(&self) -> f64 {
        self.outputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A follower at the tip stays `Ready` while it appends this many blocks or fewer: the block or two
/// that arrive between polls are not a catch-up, and `/ready` should not flap every two minutes.
const READY_LAG: u64 = 3;

/// Forks met in one round before it gives up: a node that keeps changing its chain while we page.
const MAX_FORKS_PER_ROUND: u32 = 8;

/// Follows one node into one cache.
pub struct Follower {
    client: NodeClient,
    /// Always `Some` except while a blocking task writes it.
    cache: Option<Cache>,
    config: FollowerConfig,
    publisher: Publisher,
    handle: FollowerHandle,
    /// The node's genesis was checked since the last fault.
    genesis_checked: bool,
}

impl Follower {
    pub fn new(client: NodeClient, cache: Cache, config: FollowerConfig) -> Follower {
        let (publisher, handle) = Publisher::new(cache.view());
        Follower {
            client,
            cache: Some(cache),
            config,
            publisher,
            handle,
            genesis_checked: false,
        }
    }

    pub fn handle(&self) -> FollowerHandle {
        self.handle.clone()
    }

    pub fn cache(&self) -> &Cache {
        self.cache.as_ref().expect("cache present between writes")
    }

    pub fn into_cache(self) -> Cache {
        self.cache.expect("cache present between writes")
    }

    fn limits(&self) -> FetchLimits {
        FetchLimits {
            page_limit: self.config.page_limit,
            max_blocks: self.config.batch_blocks,
            max_outputs: self.config.batch_outputs,
            full_outputs: self.config.full_outputs,
            full_concurrency: self.config.full_concurrency,
        }
    }

    /// Follows until `cancel`: rounds of `sync_to_tip`, `poll_interval` apart at the tip. Returns the
    /// cache when cancelled; stops with the error on a fault retrying cannot fix (cache, deep reorg).
    pub async fn run(mut self, cancel: CancellationToken) -> Result<Cache, SourceError> {
        let mut backoff = Backoff::new(self.config.retry);
        let mut degraded_since: Option<SystemTime> = None;
        loop {
            let wait = match self.sync_to_tip(&cancel).await {
                Ok(_) => {
                    backoff.success();
                    degraded_since = None;
                    self.publisher.set(FollowerState::Ready);
                    self.config.poll_interval
                }
                Err(SourceError::Cancelled) => break,
                Err(e) if e.is_node_fault() => {
                    self.genesis_checked = false;
                    let since = *degraded_since.get_or_insert_with(SystemTime::now);
                    let wait = backoff.fault(Instant::now());
                    if let Circuit::Open { .. } = backoff.circuit(Instant::now()) {
                        tracing::warn!(faults = backoff.faults(), ?wait, "node circuit open");
                    }
                    self.publisher.set(FollowerState::Degraded {
                        since,
                        error: Arc::new(e),
                    });
                    wait
                }
                Err(e) => {
                    tracing::error!(code = e.code(), error = %e, "follower stopped");
                    self.publisher.set(FollowerState::Stopped {
                        reason: Some(StopReason::of(&e)),
                    });
                    return Err(e);
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.publisher.set(FollowerState::Stopped { reason: None });
        Ok(self.into_cache())
    }

    /// One round: reconcile with the node's chain, then catch up to the tip the node reported at the
    /// start. No retries: a node fault ends the round with the cache at its last published batch.
    pub async fn sync_to_tip(&mut self, cancel: &CancellationToken) -> Result<SyncReport, SourceError> {
        let started = Instant::now();
        let mut report = SyncReport {
            blocks: 0,
            outputs: 0,
            rolled_back: 0,
            node_tip: 0,
            tip: None,
            elapsed: Duration::ZERO,
        };
        if !self.genesis_checked {
            self.check_genesis(cancel).await?;
            self.genesis_checked = true;
        }
        let mut forks = 0;
        loop {
            let node = or_cancel(cancel, self.client.tip()).await?;
            report.node_tip = node.height;
            self.publisher.node_tip(node.height);
            self.publisher.node_synced(node.is_synced);
            report.rolled_back += self.reconcile(&node, cancel).await?;
            if self.catch_up(&node, cancel, &mut report).await? {
                break;
            }
            forks += 1;
            if forks >= MAX_FORKS_PER_ROUND {
                return Err(SourceError::malformed(
                    "/sync_utxos_by_block",
                    "the node's chain kept changing while it was read",
                ));
            }
        }
        report.tip = self.cache().tip();
        report.elapsed = started.elapsed();
        if report.blocks > 0 || report.rolled_back > 0 {
            tracing::info!(
                blocks = report.blocks,
                outputs = report.outputs,
                rolled_back = report.rolled_back,
                tip = report.tip.map(|t| t.height),
                outputs_per_sec = report.outputs_per_sec() as u64,
                "caught up"
            );
        }
        Ok(report)
    }

    /// Refuses a node whose chain is another network's than the cache's: its genesis block (hashed by
    /// the node, so nothing here depends on our process network) must be the expected one.
    async fn check_genesis(&self, cancel: &CancellationToken) -> Result<(), SourceError> {
        let header = or_cancel(cancel, self.client.header(0))
            .await?
            .ok_or_else(|| SourceError::malformed("/get_header_by_height", "the node has no block 0"))?;
        let what = format!("the node at {}", self.client.url());
        match self.config.genesis {
            Some(expected) if expected == header.hash => Ok(()),
            Some(expected) => Err(SourceError::Network(NetworkError::UnknownGenesis {
                what,
                genesis: format!("{} (expected {})", hex::encode(header.hash), hex::encode(expected)),
            })),
            None => {
                let expected = network::from_byte(self.cache().network())?;
                Ok(network::check_genesis(&what, expected, &header.hash)?)
            }
        }
    }

    /// Rolls the cache back to its last block on the node's chain; returns the blocks removed.
    async fn reconcile(&mut self, node: &NodeTip, cancel: &CancellationToken) -> Result<u64, SourceError> {
        let Some(tip) = self.cache().tip() else { return Ok(0) };
        let view = self.cache().view();
        let top = tip.height.min(node.height);
        if view.first_height().is_none_or(|first| top < first) {
            return Ok(0); // a node below our first block: still syncing, nothing to compare
        }
        if self.matches(node, top, cancel).await? {
            if node.height < tip.height {
                tracing::debug!(node = node.height, cache = tip.height, "node behind the cache");
            }
            return Ok(0);
        }
        let fork = self.find_fork(node, tip, cancel).await?;
        tracing::warn!(from = tip.height, to = fork, "reorg: rolling the cache back");
        write(&mut self.cache, move |c| c.rollback_to(fork)).await?;
        self.publisher.view(self.cache().view());
        Ok(tip.height - fork)
    }

    /// Whether the node's block at `height` is the cache's.
    async fn matches(&self, node: &NodeTip, height: u64, cancel: &CancellationToken) -> Result<bool, SourceError> {
        let ours = self.cache().view().block(height).map(|b| *b.hash);
        let theirs = match height == node.height {
            true => Some(node.hash),
            false => or_cancel(cancel, self.client.header(height)).await?.map(|h| h.hash),
        };
        Ok(ours.is_some() && ours == theirs)
    }

    /// The highest height where the node and the cache agree, below a known disagreement at
    /// `min(tip, node tip)`: steps down 1, 2, 4, ... blocks to a match, then bisects (the chains share
    /// everything below a common block).
    async fn find_fork(&self, node: &NodeTip, tip: Tip, cancel: &CancellationToken) -> Result<u64, SourceError> {
        let first = self.cache().view().first_height().unwrap_or(0);
        let floor = first.max(tip.height.saturating_sub(self.config.max_reorg_depth));
        let too_deep = || SourceError::ReorgTooDeep {
            tip: tip.height,
            max_depth: self.config.max_reorg_depth,
        };
        let mut hi = tip.height.min(node.height);
        let mut step = 1u64;
        let mut lo = loop {
            if hi <= floor {
                return Err(too_deep());
            }
            let h = hi.saturating_sub(step).max(floor);
            if self.matches(node, h, cancel).await? {
                break h;
            }
            hi = h;
            step = step.saturating_mul(2);
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.matches(node, mid, cancel).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Appends batches up to `node`'s tip; `false` if a fork interrupted (the caller reconciles again).
    async fn catch_up(
        &mut self,
        node: &NodeTip,
        cancel: &CancellationToken,
        report: &mut SyncReport,
    ) -> Result<bool, SourceError> {
        let limits = self.limits();
        let (from, prev) = match self.cache().tip() {
            Some(t) => (t.height + 1, Some(t.hash)),
            None => (self.config.start_height, None),
        };
        if from > node.height {
            return Ok(true);
        }
        let quiet = self.handle.state().is_ready() && node.height - from < READY_LAG;
        if !quiet {
            self.publisher.set(FollowerState::CatchingUp {
                height: from.checked_sub(1).filter(|_| prev.is_some()),
                node_tip: node.height,
            });
        }
        let mut fetched = fetch_blocks(&self.client, from, prev, &limits, cancel).await?;
        loop {
            let blocks = match fetched {
                Fetched::Fork => return Ok(false),
                Fetched::Blocks(b) if b.is_empty() => return Ok(true),
                Fetched::Blocks(b) => b,
            };
            let last = blocks.last().expect("not empty");
            let (next_from, next_prev, last_height) = (last.height + 1, Some(last.hash), last.height);
            let outputs: u64 = blocks.iter().map(|b| b.outputs.len() as u64).sum();
            let count = blocks.len() as u64;
            let append = write(&mut self.cache, move |c| c.append_blocks(&blocks));
            let more = last_height < node.height;
            if more {
                // The next batch is read while this one is written and fsynced.
                let (written, next) = tokio::join!(
                    append,
                    fetch_blocks(&self.client, next_from, next_prev, &limits, cancel)
                );
                written?;
                fetched = next?;
            } else {
                append.await?;
                fetched = Fetched::Blocks(Vec::new());
            }
            report.blocks += count;
            report.outputs += outputs;
            self.publisher.view(self.cache().view());
            if !quiet {
                self.publisher.set(FollowerState::CatchingUp {
                    height: Some(last_height),
                    node_tip: node.height,
                });
            }
            tracing::debug!(
                height = last_height,
                node_tip = node.height,
                blocks = count,
                outputs,
                "batch published"
            );
        }
    }
}

/// Runs `f` on the cache on the blocking pool (appends and rollbacks fsync), then puts the cache back.
/// Never dropped half-way by the callers, so the cache is always returned.
async fn write<R: Send + 'static>(
    slot: &mut Option<Cache>,
    f: impl FnOnce(&mut Cache) -> Result<R, CacheError> + Send + 'static,
) -> Result<R, SourceError> {
    let mut cache = slot.take().expect("cache present between writes");
    let (cache, result) = tokio::task::spawn_blocking(move || {
        let r = f(&mut cache);
        (cache, r)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    *slot = Some(cache);
    Ok(result?)
}
