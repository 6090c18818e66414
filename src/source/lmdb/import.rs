//! Import: fills a cache from a node database in height order. An existing cache is first reconciled
//! (rolled back to the last block both share, as after a reorg the node went through while stopped),
//! then appended to in batches, each published atomically, so an interrupted import resumes where it
//! stopped.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use super::{ChainInfo, LmdbError, NodeDb};
use crate::{
    cache::{Cache, Tip},
    network,
};

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Blocks per published batch.
    pub batch_blocks: u64,
    /// First height of an empty cache.
    pub start_height: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_blocks: 1000,
            start_height: 0,
        }
    }
}

/// Where an import stands, after each published batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub height: u64,
    pub tip_height: u64,
    pub blocks: u64,
    pub outputs: u64,
}

#[derive(Debug, Clone)]
pub struct ImportReport {
    pub chain: ChainInfo,
    /// The cache's tip afterwards.
    pub tip: Option<Tip>,
    pub blocks: u64,
    pub outputs: u64,
    pub spent: u64,
    /// Blocks removed from the cache because the database's chain left it there.
    pub rolled_back: u64,
    pub elapsed: Duration,
}

impl ImportReport {
    pub fn outputs_per_sec(&self) -> f64 {
        self.outputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Brings `cache` to the database's tip. `cancel` is checked between batches; what was published stays,
/// and a damaged row stops the import with every block before it published.
/// The database must be of the cache's network, and the process must hash under it (`network::use_network`):
/// either refusal comes before anything is written.
pub fn import(
    db: &NodeDb,
    cache: &mut Cache,
    options: ImportOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, LmdbError> {
    let started = Instant::now();
    let network = network::require(cache.network())?;
    db.check_network(network)?;
    let chain = db.chain_info()?;
    if let Some(note) = chain.pruning_note() {
        tracing::warn!("{note}");
    }
    let rolled_back = reconcile(db, cache, &chain)?;
    let mut report = ImportReport {
        chain,
        tip: cache.tip(),
        blocks: 0,
        outputs: 0,
        spent: 0,
        rolled_back,
        elapsed: Duration::ZERO,
    };
    let mut next = cache.tip().map_or(options.start_height, |t| t.height + 1);
    let batch_blocks = options.batch_blocks.max(1);
    while next <= chain.tip_height {
        if cancel.load(Ordering::Relaxed) {
            return Err(LmdbError::Cancelled);
        }
        let last = next.saturating_add(batch_blocks - 1).min(chain.tip_height);
        let mut batch = cache.batch();
        let walked = db.for_each_block(next..=last, |block| {
            report.outputs += block.outputs.len() as u64;
            report.spent += block.spent.len() as u64;
            report.blocks += 1;
            batch.append(&block).map_err(LmdbError::from)
        });
        match walked {
            Ok(()) => batch.publish()?,
            // A damaged row: every block before it was read, checked and appended whole, so it is
            // kept (a batch is up to `batch_blocks` of work). A failed append leaves the batch unsure.
            Err(error) if !matches!(error, LmdbError::Cache(_)) => {
                batch.publish()?;
                return Err(error);
            }
            Err(error) => return Err(error),
        }
        let reached = cache.tip().map_or(next, |t| t.height);
        if reached < last {
            return Err(LmdbError::Corrupt {
                dir: db.dir().into(),
                table: "headers",
                reason: format!("no header at height {} below the tip {}", reached + 1, chain.tip_height),
            });
        }
        progress(ImportProgress {
            height: last,
            tip_height: chain.tip_height,
            blocks: report.blocks,
            outputs: report.outputs,
        });
        next = last + 1;
    }
    report.tip = cache.tip();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Rolls `cache` back to its highest block that is on the database's chain; returns the blocks removed.
fn reconcile(db: &NodeDb, cache: &mut Cache, chain: &ChainInfo) -> Result<u64, LmdbError> {
    let Some(tip) = cache.tip() else { return Ok(0) };
    let view = cache.view();
    let first = view.first_height().unwrap_or(tip.height);
    let top = tip.height.min(chain.tip_height);
    let mut height = top;
    loop {
        let ours = view.block(height).map(|b| *b.hash);
        let theirs = db.header(height)?.map(|h| h.hash);
        if ours.is_some() && ours == theirs {
            break;
        }
        if height == first {
            return Err(LmdbError::UnrelatedChain { cache_tip: tip.height });
        }
        height -= 1;
    }
    if height == top {
        return Ok(0); // on the same chain (a cache ahead of an older copy keeps its extra blocks)
    }
    tracing::warn!(
        from = tip.height,
        to = height,
        "the database's chain differs: rolling the cache back"
    );
    cache.rollback_to(height)?;
    Ok(tip.height - height)
}
