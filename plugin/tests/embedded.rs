//! The embedded plugin as a node runs it: started on 127.0.0.1:0 over an empty cache, fed the demo
//! chain block by block, each pushed block visible in `/ready` and `/metrics` as soon as the push is
//! flushed, a rollback reflected, a refused block reported as degraded, a wallet synced over HTTP to its
//! expected balance, a drain on shutdown, and the cache still there after a restart.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::CacheView,
    demo::chain::DEMO_NETWORK,
    service::{
        Lifecycle,
        testing::{demo_chain, downloaded_wallet_balance, test_config, wallet_app::sync_wallet},
    },
    source::{blocks_from_view, fake_node::synthetic_blocks},
};
use tari_wallet_sync_plugin::{Config, FeedOptions, WalletSyncPlugin};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir.join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.network = DEMO_NETWORK;
    config.cache_dir = Some(dir.join("cache"));
    config.service = test_config(&dir.join("data"));
    config
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
    let dir = tempfile::tempdir().unwrap();
    let chain = demo_chain();
    let blocks = blocks_from_view(&CacheView::open(&chain.cache_dir).unwrap(), ..);
    assert_eq!(blocks.len(), 40);

    let plugin = WalletSyncPlugin::start(config(dir.path()), FeedOptions::default())
        .await
        .unwrap();
    let client = Client::new(&format!("http://{}", plugin.local_addr()), Protocol::Http1);
    let (_, ready) = get(&client, "/ready").await;
    assert!(ready["cache_tip_height"].is_null(), "an empty cache: {ready}");
    assert_eq!(plugin.cache_tip(), None);

    // Each pushed block is in the cache, and in /ready and /metrics, as soon as the push is flushed.
    for block in &blocks[..30] {
        plugin.block_added(block.clone()).await.unwrap();
        if block.height % 10 == 9 {
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

    // The node rolls back blocks 25..=29: the cache follows at once, then takes the chain again.
    plugin.block_rolled_back(25).await.unwrap();
    assert_eq!(plugin.flush().await.unwrap().map(|t| t.height), Some(24));
    let (_, ready) = get(&client, "/ready").await;
    assert_eq!(
        (ready["cache_tip_height"].as_u64(), ready["node_tip_height"].as_u64()),
        (Some(24), Some(24))
    );
    for block in &blocks[25..] {
        plugin.block_added(block.clone()).await.unwrap();
    }
    assert_eq!(plugin.flush().await.unwrap().map(|t| t.height), Some(39));
    let followed = blocks_from_view(&CacheView::open(dir.path().join("cache")).unwrap(), ..);
    assert_eq!(
        followed, blocks,
        "the cache holds the node's chain, no block lost or repeated"
    );

    // A wallet syncs over HTTP to its balance on the pushed chain, and the file is current.
    let wallet = &chain.wallets[0];
    let (ready_event, file) = sync_wallet(&client, wallet).await;
    let JobEvent::Ready { stale, tip_height, .. } = ready_event else {
        unreachable!()
    };
    assert_eq!((stale, tip_height), (false, Some(39)));
    assert_eq!(downloaded_wallet_balance(&file), wallet.expected_balance);

    // A block that skips a height is refused: degraded, with the reason, until a block that fits.
    let next = synthetic_blocks(Some((39, blocks[39].hash)), &[2, 2], 9);
    plugin.block_added(next[1].clone()).await.unwrap();
    plugin.flush().await.unwrap();
    let (status, ready) = get(&client, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["error"]["code"], "UNAVAILABLE");
    assert_eq!(ready["state"], "degraded");
    assert_eq!(ready["node_error"]["code"], "BLOCK_REFUSED");
    assert_eq!(ready["cache_tip_height"], 39);
    plugin.block_added(next[0].clone()).await.unwrap();
    plugin.flush().await.unwrap();
    let (status, ready) = get(&client, "/ready").await;
    assert_eq!((status, ready["cache_tip_height"].as_u64()), (StatusCode::OK, Some(40)));

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
    let plugin = WalletSyncPlugin::start(config(dir.path()), FeedOptions::default())
        .await
        .unwrap();
    assert_eq!(plugin.cache_tip().map(|t| (t.height, t.hash)), Some((40, next[0].hash)));
    plugin.shutdown().await.unwrap();
}
