//! Follower lag at steady state: how long after a node gains a block it is in the cache. Polling: a
//! fake node on loopback grows by one block at a random moment, the follower polls at its default
//! interval (5 s; `--poll-ms` to change); pushed: the same blocks through the in-process feed. Prints
//! each mode's median and worst lag, and polling's worst against its interval.
//!
//! `cargo run --release --example follower_lag [-- --blocks 10 --poll-ms 5000]`

use std::time::{Duration, Instant};

use rand::Rng;
use tari_wallet_sync::{
    cache::{BlockData, Cache, CacheView},
    demo::chain::{DEMO_NETWORK, DemoChainSpec, write_demo_chain},
    source::{BlockFeed, Follower, FollowerConfig, FollowerHandle, NodeClient, block_feed, blocks_from_view},
};
use tari_wallet_sync_testkit::fake_node::FakeNode;
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

async fn until_tip(handle: &FollowerHandle, height: u64) {
    let mut views = handle.views();
    views
        .wait_for(|v| v.tip().is_some_and(|t| t.height >= height))
        .await
        .expect("follower alive");
}

fn summary(name: &str, mut lags: Vec<Duration>) -> Duration {
    lags.sort();
    let median = lags[lags.len() / 2];
    let worst = *lags.last().expect("some blocks");
    println!(
        "{name}: {} blocks, median lag {:.3} ms, worst {:.3} ms",
        lags.len(),
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    worst
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let blocks_to_add = arg("--blocks", 10) as usize;
    let poll = Duration::from_millis(arg("--poll-ms", 5000));
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = DemoChainSpec {
        outputs: 4_000,
        blocks: 100 + blocks_to_add as u64,
        wallets: 2,
        seed: 5,
    };
    write_demo_chain(&spec, &dir.path().join("source")).expect("demo chain");
    let blocks: Vec<BlockData> = blocks_from_view(&CacheView::open(dir.path().join("source")).expect("source"), ..);
    let (start, new) = blocks.split_at(blocks.len() - blocks_to_add);

    // Polling through HTTP.
    let node = FakeNode::start(start.to_vec()).await.expect("fake node");
    let config = FollowerConfig {
        poll_interval: poll,
        ..FollowerConfig::default()
    };
    let cache = Cache::create(dir.path().join("polled"), DEMO_NETWORK).expect("cache");
    let follower = Follower::new(NodeClient::new(&node.url()).expect("url"), cache, config);
    let handle = follower.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(follower.run(cancel.clone()));
    until_tip(&handle, start.last().expect("blocks").height).await;
    let mut polled = Vec::new();
    for block in new {
        tokio::time::sleep(poll.mul_f64(rand::thread_rng().gen_range(0.1..1.0))).await;
        let added = Instant::now();
        node.push_blocks(vec![block.clone()]);
        until_tip(&handle, block.height).await;
        polled.push(added.elapsed());
    }
    cancel.cancel();
    let worst = summary(&format!("polling every {:.1} s", poll.as_secs_f64()), polled);
    println!(
        "  worst / poll interval: {:.2}",
        worst.as_secs_f64() / poll.as_secs_f64()
    );

    // Pushed in-process.
    let mut cache = Cache::create(dir.path().join("pushed"), DEMO_NETWORK).expect("cache");
    cache.append_blocks(start).expect("start blocks");
    let (sender, feed) = block_feed(cache, 64);
    let handle = feed.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(feed.run(cancel.clone()));
    let mut pushed = Vec::new();
    for block in new {
        let added = Instant::now();
        sender.block_added(block.clone()).await.expect("feed open");
        until_tip(&handle, block.height).await;
        pushed.push(added.elapsed());
    }
    cancel.cancel();
    summary("pushed in-process", pushed);
}
