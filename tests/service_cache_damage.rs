//! Damage to a served cache, found after the service mapped and checked it (bit rot): the background
//! re-check (`cache_verify_interval`) finds it, `/ready` turns `degraded` with `CACHE_DAMAGED`, a job
//! whose scan reads the damaged blocks fails `CACHE_DAMAGED` (no file built from bytes that no longer
//! match their checksums), and a job whose birthday lies past them is served as usual, not stale.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::{Cache, CacheOptions, CacheView},
    demo::chain::{DemoChainSpec, DemoWallet, write_demo_chain},
    service::{CacheSource, WalletDbBuilder},
    source::blocks_from_view,
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{
    TestServer, test_config,
    wallet_app::{last_event, submit},
};

/// A demo chain (its wallet outputs rebuilt from the cache, so no node is needed) in small segments;
/// returns its wallets and the height of the last block of the first segment.
fn demo_in_segments(work: &Path) -> (Vec<DemoWallet>, u64) {
    let spec = DemoChainSpec {
        outputs: 2000,
        blocks: 40,
        wallets: 3,
        seed: 9,
    };
    let wallets = write_demo_chain(&spec, &work.join("demo")).unwrap();
    let view = CacheView::open(work.join("demo")).unwrap();
    let options = CacheOptions {
        segment_outputs: 400,
        spent_tail_max: 1024,
    };
    let mut cache = Cache::create_demo(work.join("cache"), view.network(), options).unwrap();
    cache.append_blocks(blocks_from_view(&view, ..)).unwrap();
    let first_segment_end = (0..view.block_count())
        .find(|&h| cache.view().first_output_at(h + 1) >= 400)
        .unwrap();
    (wallets, first_segment_end)
}

async fn ready(client: &Client) -> (StatusCode, serde_json::Value) {
    let response = client.request(Method::GET, "/ready", &[], None).await.unwrap();
    (response.status, response.json().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_found_in_the_background_fails_only_the_jobs_that_read_it() {
    let work = tempfile::tempdir().unwrap();
    let (wallets, first_segment_end) = demo_in_segments(work.path());
    let cache_dir = work.path().join("cache");
    let mut config = test_config(&work.path().join("data"));
    config.cache_dir = cache_dir.clone();
    config.cache_verify_interval = Duration::from_millis(200);
    let source = CacheSource::directory(cache_dir.clone());
    let server = TestServer::start_with(config, source, Arc::new(WalletDbBuilder::default())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let (status, body) = ready(&client).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The first segment rots after the service checked it: its outputs file, in place.
    let outputs = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "outputs"))
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&outputs).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&outputs, bytes).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = ready(&client).await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["node_error"]["code"] == "CACHE_DAMAGED" {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the background check did not report: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["state"], "degraded");
    let text = body.to_string();
    assert!(
        !text.contains(".outputs") && !text.contains("/tmp"),
        "no path on /ready: {text}"
    );

    // A wallet scanned from genesis reads the damaged blocks: no file.
    let from_genesis = DemoWallet {
        birthday: 0,
        ..wallets[0].clone()
    };
    let job = submit(&client, &from_genesis, None).await;
    match last_event(&client, &job).await {
        JobEvent::Failed { code, .. } => assert_eq!(code, "CACHE_DAMAGED"),
        other => panic!("{other:?}"),
    }
    // One born after them does not: its file is built, and it is current (the node is not behind).
    let born_later = DemoWallet {
        birthday: first_segment_end + 1,
        ..wallets[1].clone()
    };
    let job = submit(&client, &born_later, None).await;
    match last_event(&client, &job).await {
        JobEvent::Ready { stale, .. } => assert!(!stale),
        other => panic!("{other:?}"),
    }
    server.stop().await.unwrap();
}
