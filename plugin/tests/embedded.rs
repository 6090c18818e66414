//! The embedded plugin as a node runs it: the host node (here: the real-node fixture, a database
//! tari_core wrote, with LocalNet set for the process as a node sets it) starts the plugin on 127.0.0.1:0
//! over an empty cache with a lookup of its own outputs, and feeds its chain block by block. Each pushed
//! block is visible in `/ready` and `/metrics` as soon as the push is flushed, a rollback is reflected, a
//! refused block is reported as degraded, fixture wallets synced over HTTP hold exactly the chain's
//! outputs (from the host's lookup) and the manifest's balance, shutdown drains, the cache is still there
//! after a restart, and a configuration naming another network than the host's is refused.

#[path = "../../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::{BlockData, CacheView},
    network::Network,
    service::Lifecycle,
    source::{
        blocks_from_view,
        full_outputs::{FullOutputs, LmdbFullOutputs},
        lmdb::NodeDb,
    },
};
use tari_wallet_sync_plugin::{Config, FeedOptions, WalletSyncPlugin};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    fake_node::synthetic_blocks,
    service::{downloaded_wallet_balance, test_config, wallet_app::sync_wallet},
    synthetic::check_outputs_against_chain,
};

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir.join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.cache_dir = Some(dir.join("cache"));
    config.service = test_config(&dir.join("data"));
    config
}

/// The host node's chain, read from its database once (the node's own blocks, as it would push them).
fn host_chain(db_dir: &std::path::Path) -> Vec<BlockData> {
    let db = NodeDb::open(db_dir).unwrap();
    let tip = db.chain_info().unwrap().tip_height;
    let mut blocks = Vec::new();
    db.for_each_block(0..=tip, |b| {
        blocks.push(b);
        Ok(())
    })
    .unwrap();
    blocks
}

async fn get(client: &Client, path: &str) -> (StatusCode, serde_json::Value) {
    let response = client.request(Method::GET, path, &[], None).await.unwrap();
    (response.status, response.json().unwrap())
}

async fn metrics(client: &Client) -> String {
    let response = client.request(Method::GET, "/metrics", &[], None).await.unwrap();
    String::from_utf8(response.body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_feeds_the_embedded_plugin_and_a_wallet_syncs() {
    // The host node set its process network while loading its configuration.
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    node_fixture::unpack(&db_dir);
    let manifest = node_fixture::manifest();
    let blocks = host_chain(&db_dir);
    let genuine = node_fixture::genuine_outputs(&NodeDb::open(&db_dir).unwrap());
    let tip = manifest.tip_height;
    assert_eq!(blocks.len() as u64, tip + 1);
    let lookup: Arc<dyn FullOutputs> = Arc::new(LmdbFullOutputs::new(&db_dir));

    // Another network in the configuration than the host's is refused.
    let mut wrong = config(dir.path());
    wrong.network = Some(Network::MainNet);
    let refused = WalletSyncPlugin::start(wrong, FeedOptions::default(), lookup.clone()).await;
    let error = format!("{:#}", refused.err().expect("refused"));
    assert!(
        error.contains("NETWORK_CONFLICT") || error.contains("NETWORK_MISMATCH"),
        "{error}"
    );

    let plugin = WalletSyncPlugin::start(config(dir.path()), FeedOptions::default(), lookup.clone())
        .await
        .unwrap();
    let client = Client::new(&format!("http://{}", plugin.local_addr()), Protocol::Http1);
    let (_, ready) = get(&client, "/ready").await;
    assert!(ready["cache_tip_height"].is_null(), "an empty cache: {ready}");
    assert_eq!(plugin.cache_tip(), None);

    // Each pushed block is in the cache, and in /ready and /metrics, as soon as the push is flushed.
    for block in &blocks[..250] {
        plugin.block_added(block.clone()).await.unwrap();
        if block.height % 50 == 49 {
            assert_eq!(plugin.flush().await.unwrap().map(|t| t.height), Some(block.height));
            let (status, ready) = get(&client, "/ready").await;
            assert_eq!(status, StatusCode::OK, "{ready}");
            assert_eq!(
                (ready["state"].as_str(), ready["cache_tip_height"].as_u64()),
                (Some("ready"), Some(block.height))
            );
            assert_eq!(ready["node_tip_height"], block.height);
            let text = metrics(&client).await;
            assert!(
                text.contains(&format!("tws_cache_tip_height {}\n", block.height)),
                "{text}"
            );
            assert!(text.contains("tws_lifecycle_state{state=\"ready\"} 1\n"), "{text}");
        }
    }
    assert_eq!(plugin.lifecycle(), Lifecycle::Ready);

    // The node rolls back blocks 245..=249: the cache follows at once, then takes the chain again.
    plugin.block_rolled_back(245).await.unwrap();
    assert_eq!(plugin.flush().await.unwrap().map(|t| t.height), Some(244));
    let (_, ready) = get(&client, "/ready").await;
    assert_eq!(
        (ready["cache_tip_height"].as_u64(), ready["node_tip_height"].as_u64()),
        (Some(244), Some(244))
    );
    for block in &blocks[245..] {
        plugin.block_added(block.clone()).await.unwrap();
    }
    assert_eq!(plugin.flush().await.unwrap().map(|t| t.height), Some(tip));
    let followed = blocks_from_view(&CacheView::open(dir.path().join("cache")).unwrap(), ..);
    assert_eq!(
        followed, blocks,
        "the cache holds the node's chain, no block lost or repeated"
    );

    // Wallets sync over HTTP: current files holding the chain's own outputs, from the host's lookup.
    for wallet in &manifest.wallets[..2] {
        let (ready_event, file) = sync_wallet(&client, &wallet.as_demo()).await;
        let JobEvent::Ready { stale, tip_height, .. } = ready_event else {
            unreachable!()
        };
        assert_eq!((stale, tip_height), (false, Some(tip)));
        assert_eq!(
            downloaded_wallet_balance(&file),
            wallet.balance,
            "wallet {}",
            wallet.name
        );
        let checked = check_outputs_against_chain(&file, &|hash| genuine.get(hash).cloned()).unwrap();
        assert_eq!(checked, wallet.outputs.len(), "wallet {}", wallet.name);
    }

    // A block that skips a height is refused: degraded, with the reason, until a block that fits.
    let next = synthetic_blocks(Some((tip, blocks[tip as usize].hash)), &[2, 2], 9);
    plugin.block_added(next[1].clone()).await.unwrap();
    plugin.flush().await.unwrap();
    let (status, ready) = get(&client, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["error"]["code"], "UNAVAILABLE");
    assert_eq!(ready["state"], "degraded");
    assert_eq!(ready["node_error"]["code"], "BLOCK_REFUSED");
    assert_eq!(ready["cache_tip_height"], tip);
    plugin.block_added(next[0].clone()).await.unwrap();
    plugin.flush().await.unwrap();
    let (status, ready) = get(&client, "/ready").await;
    assert_eq!(
        (status, ready["cache_tip_height"].as_u64()),
        (StatusCode::OK, Some(tip + 1))
    );

    // Shutdown drains promptly; the cache keeps every block for the next start.
    let started = Instant::now();
    plugin.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained in {:?}",
        started.elapsed()
    );
    assert!(
        client.request(Method::GET, "/live", &[], None).await.is_err(),
        "no longer serving"
    );
    let plugin = WalletSyncPlugin::start(config(dir.path()), FeedOptions::default(), lookup)
        .await
        .unwrap();
    assert_eq!(
        plugin.cache_tip().map(|t| (t.height, t.hash)),
        Some((tip + 1, next[0].hash))
    );
    plugin.shutdown().await.unwrap();
}
