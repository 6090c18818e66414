//! Bootstrap: at start, fills the cache from the node's own database (a stopped node's LMDB, or a copy
//! taken while it was stopped) while HTTP is already up, then hands the cache on: to the follower when a node
//! URL is configured, else to the service as a directory. Importing is the fast way through a long
//! history (full outputs straight from the node's rows); following only has the last blocks to fetch.
//! `/ready` shows `importing` with progress meanwhile, and jobs wait. Owns that hand-over; reading and
//! importing are `tari_wallet_sync::source::lmdb`, the order of stopping is `running`.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, Result};
use tari_wallet_sync::{
    cache::Cache,
    service::{CacheSource, SourceControl},
    source::lmdb::{ImportOptions, LmdbError, NodeDb, import},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    node::{full_output_sources, open_or_create_cache, start_follower},
    running::Running,
};

/// Opens the node database in `dir`: a running node's, or a directory without one, is refused here,
/// before anything listens.
pub fn open(dir: &Path) -> Result<NodeDb> {
    NodeDb::open(dir).map_err(|e| {
        let code = e.code();
        anyhow::Error::new(e).context(format!("lmdb_dir: cannot import ({code})"))
    })
}

/// Serves at once with a staged source, imports `db` into the node cache, then follows `node_url` from
/// the imported tip (or serves the cache as it is). An import that fails part-way keeps what it
/// published and the plugin goes on from there; a shutdown during the import stops it between batches.
pub async fn import_then_serve(
    config: &Config,
    network: u8,
    db: NodeDb,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Running> {
    let dir = config.node_cache_dir();
    let cache_dir = dir.clone();
    let cache = tokio::task::spawn_blocking(move || open_or_create_cache(&cache_dir, network))
        .await
        .context("opening the cache")??;
    let (control, source) = CacheSource::controlled();
    let control = Arc::new(control);
    let full = full_output_sources(config, None)?;
    let mut running = Running::start(config, listener, source, None, full, shutdown.clone()).await?;

    let cancel = Arc::new(AtomicBool::new(false));
    let stop_import = {
        let (cancel, shutdown) = (Arc::clone(&cancel), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            cancel.store(true, Ordering::Relaxed);
        })
    };
    let progress = Arc::clone(&control);
    let (cache, outcome) = tokio::task::spawn_blocking(move || {
        let mut cache = cache;
        let outcome = run_import(&db, &mut cache, &cancel, |done, total| progress.importing(done, total));
        (cache, outcome)
    })
    .await
    .context("the import task")?;
    stop_import.abort();
    let complete = match outcome {
        Ok(()) => true,
        Err(LmdbError::Cancelled) => return Ok(running), // shutting down: the service drains on its own
        Err(error) => {
            tracing::error!(
                code = error.code(),
                %error,
                tip = cache.tip().map(|t| t.height),
                "the import stopped; going on from what it published"
            );
            false
        }
    };
    hand_over(config, cache, &dir, complete, &control, &mut running).await?;
    Ok(running)
}

fn run_import(
    db: &NodeDb,
    cache: &mut Cache,
    cancel: &AtomicBool,
    progress: impl Fn(u64, u64),
) -> Result<(), LmdbError> {
    // `import` itself logs a pruned database's note.
    tracing::info!(lmdb = %db.dir().display(), cache_tip = cache.tip().map(|t| t.height), "importing");
    let report = import(db, cache, ImportOptions::default(), cancel, |p| {
        progress(p.height + 1, p.tip_height + 1);
    })?;
    tracing::info!(
        blocks = report.blocks,
        outputs = report.outputs,
        rolled_back = report.rolled_back,
        tip = report.tip.map(|t| t.height),
        node_tip = report.chain.tip_height,
        outputs_per_sec = report.outputs_per_sec() as u64,
        "imported"
    );
    Ok(())
}

/// The imported cache goes to the follower (which fills what a failed import left out), or is served
/// as a directory: as current only if the import completed, else only as stale.
async fn hand_over(
    config: &Config,
    cache: Cache,
    dir: &Path,
    complete: bool,
    control: &SourceControl,
    running: &mut Running,
) -> Result<()> {
    if config.node_url.is_some() {
        let (handle, task) = start_follower(config, cache)?;
        running.attach(task).await;
        control.follow(handle);
    } else {
        drop(cache);
        if complete {
            control.directory(dir);
        } else {
            control.partial_directory(dir);
        }
    }
    Ok(())
}
