//! `import`: fills a cache from a stopped base node's LMDB (or a copy taken while it was stopped) in
//! height order.
//! Refuses a running node's database; warns about a pruned one. The network is the database's own (told
//! by its genesis block); `--network` and an existing cache are checked against it before anything is
//! written.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{Result, anyhow};
use tari_wallet_sync::{
    network::Network,
    source::lmdb::{ImportOptions, LmdbError, NodeDb, import},
};

use crate::{network, node::open_or_create_cache};

#[derive(clap::Args)]
pub struct Args {
    /// The node's database directory (holding data.mdb), e.g. ~/.tari/mainnet/data/base_node/db.
    #[arg(long)]
    pub lmdb: PathBuf,
    /// Cache directory; created for `--network` if it holds no cache yet, else brought to the node's tip.
    #[arg(long)]
    pub cache: PathBuf,
    /// The network the database must be on (mainnet, stagenet, nextnet, localnet, igor, esmeralda); by
    /// default the database's own, told by its genesis block.
    #[arg(long, value_parser = parse_network)]
    pub network: Option<Network>,
    /// First height a new (empty) cache takes.
    #[arg(long, default_value_t = 0)]
    pub from_height: u64,
    /// Blocks per published batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_blocks: u64,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn parse_network(name: &str) -> Result<Network, String> {
    tari_wallet_sync::network::parse(name).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<()> {
    // Refusals (a running node, no database, another network) come before anything is created.
    let db = NodeDb::open(&args.lmdb).map_err(explain)?;
    let mut evidence = vec![network::lmdb_evidence(&db)?];
    evidence.extend(network::cache_evidence(&args.cache)?);
    let network = network::settle(args.network, evidence)?;
    let chain = db.chain_info().map_err(explain)?;
    let mut cache = open_or_create_cache(&args.cache, network.as_byte())?;
    if let Some(note) = chain.pruning_note() {
        eprintln!("warning: {note}");
    }
    eprintln!(
        "importing {} ({network}) up to height {}",
        args.lmdb.display(),
        chain.tip_height
    );
    ctrlc_stops_between_batches();
    let options = ImportOptions {
        batch_blocks: args.batch_blocks,
        start_height: args.from_height,
    };
    let report = import(&db, &mut cache, options, &INTERRUPTED, |p| {
        eprint!(
            "\r  height {}/{}: {} blocks, {} outputs",
            p.height, p.tip_height, p.blocks, p.outputs
        );
    })
    .map_err(explain)?;
    eprintln!();
    println!(
        "cache at height {} (node tip {}): {} blocks, {} outputs, {} spends in {:.2} s ({:.0} outputs/s); {} blocks rolled back",
        report.tip.map_or("empty".to_owned(), |t| t.height.to_string()),
        report.chain.tip_height,
        report.blocks,
        report.outputs,
        report.spent,
        report.elapsed.as_secs_f64(),
        report.outputs_per_sec(),
        report.rolled_back
    );
    Ok(())
}

fn explain(e: LmdbError) -> anyhow::Error {
    let code = e.code();
    anyhow!(e).context(format!("import failed ({code})"))
}

/// Ctrl-C ends the import after the batch in progress, which is published; a second one exits at once.
fn ctrlc_stops_between_batches() {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        if let Ok(runtime) = runtime {
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    INTERRUPTED.store(true, Ordering::Relaxed);
                    eprintln!("\nstopping after this batch (Ctrl-C again to quit now)");
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                }
            });
        }
    });
}
