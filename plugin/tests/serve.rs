//! `tari-wallet-sync serve` following a node, as an operator runs it: the binary with `node_url` in a
//! `[wallet_sync]` file, against a fake node on 127.0.0.1:0; it serves while it catches up, reaches
//! `ready` at the node's tip, and on SIGTERM drains, stops the follower and exits cleanly with the cache
//! whole on disk.

mod support;

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tari_wallet_sync::{cache::CacheView, demo::chain::DEMO_NETWORK, source::blocks_from_view};
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::{fake_node::FakeNode, service::demo_chain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_a_node_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = blocks_from_view(&CacheView::open(&demo_chain().cache_dir).unwrap(), ..);
    let node = FakeNode::start(blocks.clone()).await.unwrap();
    let config = dir.path().join("tws.toml");
    let cache_dir = dir.path().join("cache");
    std::fs::write(
        &config,
        format!(
            "[wallet_sync]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nnode_url = {:?}\ncache_dir = {:?}\n\
             network = \"localnet\"\npoll_interval = \"100ms\"\nfull_outputs = true\n",
            dir.path().join("data"),
            node.url(),
            cache_dir
        ),
    )
    .unwrap();
    assert_eq!(DEMO_NETWORK, 0x10, "the demo chain is a localnet chain");

    let served = support::serve(&config);
    let addr = served.addr.clone();

    let client = Client::new(&format!("http://{addr}"), Protocol::Http1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.request(Method::GET, "/ready", &[], None).await.unwrap();
        let body = response.json().unwrap();
        if response.status == StatusCode::OK {
            assert_eq!(
                (body["cache_tip_height"].as_u64(), body["node_tip_height"].as_u64()),
                (Some(39), Some(39))
            );
            break;
        }
        assert!(
            ["starting", "catching_up"].contains(&body["state"].as_str().unwrap()),
            "{body}"
        );
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let (success, log) = served.terminate().await;
    assert!(success, "a clean exit:\n{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "drained in {:?}",
        started.elapsed()
    );
    assert!(log.contains("cache source stopped"), "the follower was stopped:\n{log}");
    let cache = CacheView::open(&cache_dir).unwrap();
    assert_eq!(
        blocks_from_view(&cache, ..),
        blocks,
        "the followed cache is whole on disk"
    );
}
