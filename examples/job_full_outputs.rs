//! What fetching full outputs per job costs: the same wallet's job through the real service on the
//! real-node fixture, its owned outputs' full outputs either in hand (an in-memory lookup, as a host
//! node's own storage would answer) or fetched per job from a fake node across a LAN
//! (`/get_utxos_by_block` delayed by `--delay-us`, default 1000: a round trip across a LAN plus the node's
//! own read). Jobs alternate between the two servers;
//! prints the median job time (submission to downloaded file) of each and their ratio (target ≤ 1.15
//! for a wallet with about 100 owned outputs). Also prints the catch-up throughput of the default (light)
//! follower and of the LMDB import on the fixture.
//!
//! `cargo run --release --example job_full_outputs [-- --jobs 15 --delay-us 1000 --concurrency 16]`

#[path = "../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::{
    collections::HashMap,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use tari_transaction_components::transaction_components::TransactionOutput;
use tari_wallet_sync::{
    cache::Cache,
    service::{CacheSource, WalletDbBuilder},
    source::{
        Follower, FollowerConfig, NodeClient,
        full_outputs::{FullOutputSources, FullOutputs, NodeFetchOptions, NodeFullOutputs, SourceFailure, Wanted},
        lmdb::{ImportOptions, NodeDb, import},
    },
};
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::{
    fake_node::FakeNode,
    service::{
        TestServer, test_config,
        wallet_app::{download, last_event, submit},
    },
};
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// Full outputs in hand: a lookup that answers from memory.
struct InHand(HashMap<[u8; 32], TransactionOutput>);

impl FullOutputs for InHand {
    fn describe(&self) -> String {
        "in memory".into()
    }

    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure> {
        Ok(wanted.iter().map(|w| self.0.get(&w.output_hash).cloned()).collect())
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs = arg("--jobs", 15) as usize;
    let delay = Duration::from_micros(arg("--delay-us", 1000));
    let concurrency = arg("--concurrency", NodeFetchOptions::default().concurrency as u64) as usize;
    node_fixture::use_network();
    let manifest = node_fixture::manifest();
    let dir = tempfile::tempdir().expect("temp dir");
    let db_dir = dir.path().join("node-db");
    node_fixture::unpack(&db_dir);
    let db = NodeDb::open(&db_dir).expect("the fixture");
    let genuine = node_fixture::genuine_outputs(&db);

    // The import, and the default follower, on the fixture.
    let cache_dir = dir.path().join("cache");
    let mut cache = Cache::create(&cache_dir, manifest.network_byte).expect("cache");
    let report = import(
        &db,
        &mut cache,
        ImportOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .expect("import");
    println!(
        "import: {} blocks, {} outputs in {:.1} ms: {:.0} outputs/s (one fsynced publish included)",
        report.blocks,
        report.outputs,
        report.elapsed.as_secs_f64() * 1e3,
        report.outputs_per_sec()
    );
    drop(cache);
    let node = FakeNode::from_lmdb(&db).await.expect("fake node");
    drop(db);
    let followed = Cache::create(dir.path().join("followed"), manifest.network_byte).expect("cache");
    let mut follower = Follower::new(
        NodeClient::new(&node.url()).unwrap(),
        followed,
        FollowerConfig::default(),
    );
    let sync = follower.sync_to_tip(&CancellationToken::new()).await.expect("follow");
    println!(
        "default (light) follower: {} blocks, {} outputs in {:.1} ms: {:.0} outputs/s",
        sync.blocks,
        sync.outputs,
        sync.elapsed.as_secs_f64() * 1e3,
        sync.outputs_per_sec()
    );
    drop(follower);

    // The same wallet's job on two servers over the same cache: full outputs in hand, or fetched.
    node.set_full_output_delay(delay);
    let wallet = manifest
        .wallets
        .iter()
        .max_by_key(|w| w.outputs.len())
        .expect("fixture wallets");
    let blocks: std::collections::HashSet<_> = wallet.outputs.iter().map(|o| &o.block_hash).collect();
    let server = |sources: FullOutputSources, name: &str| {
        let mut config = test_config(&dir.path().join(name));
        config.cache_dir = cache_dir.clone();
        config.sync_rate_per_wallet = tari_wallet_sync::service::RateLimit::OFF;
        TestServer::start_with(
            config,
            CacheSource::directory(&cache_dir),
            Arc::new(WalletDbBuilder::new(sources)),
        )
    };
    let in_hand = server(FullOutputSources::new(vec![Arc::new(InHand(genuine))]), "in-hand").await;
    let fetched = server(
        FullOutputSources::new(vec![Arc::new(NodeFullOutputs::new(
            NodeClient::new(&node.url()).unwrap(),
            tokio::runtime::Handle::current(),
            NodeFetchOptions {
                concurrency,
                ..NodeFetchOptions::default()
            },
        ))]),
        "fetched",
    )
    .await;
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..jobs + 1 {
        for (i, server) in [&in_hand, &fetched].into_iter().enumerate() {
            let client = Client::new(&server.base_url, Protocol::Http1);
            let started = Instant::now();
            // A new password each round: the service would otherwise hand back the last round's job.
            let password = format!("round {round}");
            let job = submit(&client, &wallet.as_demo(), Some(&password)).await;
            let ready = last_event(&client, &job).await;
            let tari_wallet_sync_sse::JobEvent::Ready { download_url, .. } = ready else {
                panic!("the job failed: {ready:?}")
            };
            download(&client, &job, &download_url).await;
            if round > 0 {
                times[i].push(started.elapsed()); // round 0 warms both up
            }
        }
    }
    let [hand, fetch] = times.map(median);
    println!(
        "wallet {} ({} owned outputs in {} blocks), {jobs} jobs each, full-output requests delayed {:.1} ms, at most \
         {concurrency} at once:",
        wallet.name,
        wallet.outputs.len(),
        blocks.len(),
        delay.as_secs_f64() * 1e3
    );
    println!(
        "  median job time: {:.1} ms with full outputs in hand, {:.1} ms fetched per job: {:.3}x",
        hand.as_secs_f64() * 1e3,
        fetch.as_secs_f64() * 1e3,
        fetch.as_secs_f64() / hand.as_secs_f64()
    );
    in_hand.stop().await.unwrap();
    fetched.stop().await.unwrap();
}
