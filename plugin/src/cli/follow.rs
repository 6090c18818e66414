//! `follow`: keeps a cache at a running node's tip through its HTTP wallet query service (`--once`:
//! catch up to the tip and exit).

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};
use tari_wallet_sync::{
    cache::Cache,
    network::Network,
    source::{Follower, FollowerConfig, FollowerState, NodeClient},
};
use tokio_util::sync::CancellationToken;

use crate::{network, node::open_or_create_cache};

#[derive(clap::Args)]
pub struct Args {
    /// The node's query service, e.g. http://127.0.0.1:9000 (`[base_node.http_wallet_query_service]`).
    #[arg(long, env = "TWS_NODE_URL")]
    pub node_url: String,
    /// Cache directory; created (for `--network`) if it holds no cache yet.
    #[arg(long)]
    pub cache: PathBuf,
    /// Catch up to the node's tip, print what it took and exit.
    #[arg(long)]
    pub once: bool,
    /// The network the node must be on (mainnet, stagenet, nextnet, localnet, igor, esmeralda); by
    /// default an existing cache's, else the node's own (told by its genesis block).
    #[arg(long, value_parser = parse_network)]
    pub network: Option<Network>,
    /// First height a new (empty) cache takes.
    #[arg(long, default_value_t = 0)]
    pub from_height: u64,
    /// Seconds between polls at the tip.
    #[arg(long, default_value_t = 5)]
    pub poll_secs: u64,
    /// Blocks per `/sync_utxos_by_block` request (1..=2000).
    #[arg(long, default_value_t = 50)]
    pub page_limit: u64,
    /// Also keep every block's full outputs' details (scripts, output types, maturities) in the cache;
    /// about ten times slower. Jobs and `export` fetch the few full outputs they need either way.
    #[arg(long)]
    pub full_outputs: bool,
}

fn parse_network(name: &str) -> Result<Network, String> {
    tari_wallet_sync::network::parse(name).map_err(|e| e.to_string())
}

/// The cache for the settled network (an existing one must be on it).
async fn open_or_create(args: &Args) -> Result<Cache> {
    let mut evidence: Vec<_> = network::cache_evidence(&args.cache)?.into_iter().collect();
    if evidence.is_empty() && args.network.is_none() {
        evidence.extend(network::node_evidence(&args.node_url).await);
    }
    let network = network::settle(args.network, evidence)?;
    open_or_create_cache(&args.cache, network.as_byte())
}

pub fn run(args: Args) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    if !(1..=tari_wallet_sync::source::MAX_PAGE_LIMIT).contains(&args.page_limit) {
        bail!("--page-limit must be in 1..=2000");
    }
    let client = NodeClient::new(&args.node_url)?;
    let config = FollowerConfig {
        poll_interval: Duration::from_secs(args.poll_secs.max(1)),
        page_limit: args.page_limit,
        full_outputs: args.full_outputs,
        start_height: args.from_height,
        ..FollowerConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let cache = open_or_create(&args).await?;
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let mut follower = Follower::new(client, cache, config);
        if args.once {
            let report = follower.sync_to_tip(&cancel).await?;
            let tip = report.tip.map_or("empty".to_owned(), |t| t.height.to_string());
            println!(
                "cache at height {tip} (node tip {}): {} blocks, {} outputs in {:.1} s ({:.0} outputs/s); {} blocks rolled back",
                report.node_tip,
                report.blocks,
                report.outputs,
                report.elapsed.as_secs_f64(),
                report.outputs_per_sec(),
                report.rolled_back
            );
            return Ok(());
        }
        let handle = follower.handle();
        let mut states = handle.states();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                if let FollowerState::CatchingUp { height, node_tip } = &*states.borrow() {
                    tracing::debug!(?height, node_tip, "catching up");
                }
            }
        });
        follower.run(cancel).await?;
        Ok(())
    })
}
