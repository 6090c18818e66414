//! The service over a live cache source, through real HTTP, on the real-node fixture: a (light)
//! follower of a fake node reaches `ready`, an outage turns it `degraded` (in `/ready` and `/metrics`)
//! while jobs are still scanned from the last published cache, their full outputs from the node's
//! database copy, and marked stale; the node's return makes it `ready` and current again with no block
//! lost or repeated; a staged source (importing, then following) keeps jobs queued until it scans.

mod node_fixture;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::{BlockData, Cache},
    demo::chain::DemoWallet,
    recognize::WalletKey,
    scan::{ScanRequest, scan_one},
    service::{CacheSource, WalletDbBuilder},
    source::{
        Follower, NodeClient, block_feed, blocks_from_view,
        full_outputs::{FullOutputSources, LmdbFullOutputs, NodeFetchOptions, NodeFullOutputs},
        lmdb::NodeDb,
    },
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    fake_node::{FakeNode, Fault, fast_follower_config},
    service::{
        TestServer, downloaded_wallet_balance, test_config,
        wallet_app::{SubmittedJob, last_event, submit},
    },
};
use tokio_util::sync::CancellationToken;

/// The fixture's chain (the node's own blocks) and its network byte.
fn fixture_chain(db_dir: &Path) -> (Vec<BlockData>, u8) {
    node_fixture::use_network();
    node_fixture::unpack(db_dir);
    let db = NodeDb::open(db_dir).unwrap();
    let tip = db.chain_info().unwrap().tip_height;
    let mut blocks = Vec::new();
    db.for_each_block(0..=tip, |b| {
        blocks.push(b);
        Ok(())
    })
    .unwrap();
    (blocks, node_fixture::manifest().network_byte)
}

async fn get(client: &Client, path: &str) -> (StatusCode, serde_json::Value) {
    let response = client.request(Method::GET, path, &[], None).await.unwrap();
    (response.status, response.json().unwrap())
}

async fn metrics(client: &Client) -> String {
    let response = client.request(Method::GET, "/metrics", &[], None).await.unwrap();
    String::from_utf8(response.body.to_vec()).unwrap()
}

/// Polls `/ready` until `done` holds; returns its status and body then.
async fn ready_until(
    client: &Client,
    what: &str,
    done: impl Fn(StatusCode, &serde_json::Value) -> bool,
) -> (StatusCode, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(client, "/ready").await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(client: &Client, job: &SubmittedJob) -> serde_json::Value {
    let url = job.json["status_url"].as_str().unwrap();
    let response = client
        .request(Method::GET, url, &[("authorization", &job.auth)], None)
        .await
        .unwrap();
    response.json().unwrap()
}

/// Follows the job's events to its `ready` event and downloads the file; returns `stale`, `tip_height`,
/// the download's `tws-stale` header and the file's balance.
async fn finish(client: &Client, job: &SubmittedJob) -> (bool, Option<u64>, String, u64) {
    let last = Some(last_event(client, job).await);
    let Some(JobEvent::Ready {
        download_url,
        stale,
        tip_height,
        ..
    }) = last
    else {
        panic!("the job ends ready, not {last:?}")
    };
    let file = client
        .request(Method::GET, &download_url, &[("authorization", &job.auth)], None)
        .await
        .unwrap();
    assert_eq!(file.status, StatusCode::OK);
    let header = file.header("tws-stale").unwrap_or_default().to_string();
    (stale, tip_height, header, downloaded_wallet_balance(&file.body))
}

/// The balance of `wallet` on a chain of `blocks` only.
fn balance_on(blocks: &[BlockData], network: u8, wallet: &DemoWallet) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::create(dir.path(), network).unwrap();
    cache.append_blocks(blocks).unwrap();
    let request = ScanRequest {
        key: WalletKey::from_hex(&wallet.view_key, &wallet.spend_public_key).unwrap(),
        birthday: wallet.birthday,
    };
    scan_one(&cache.view(), request).unwrap().balance()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_serves_stale_files_and_the_node_coming_back_makes_them_current() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    let (blocks, network) = fixture_chain(&db_dir);
    let manifest = node_fixture::manifest();
    let (cut, tip) = (250usize, blocks.len() as u64 - 1);
    // The wallet whose balance the last fifty blocks change, so a stale file is told from a current one.
    let (wallet, stale_balance) = manifest
        .wallets
        .iter()
        .map(|w| w.as_demo())
        .map(|w| {
            let b = balance_on(&blocks[..cut], network, &w);
            (w, b)
        })
        .find(|(w, b)| *b != w.expected_balance)
        .expect("a fixture wallet with outputs in the last fifty blocks");
    let wallet = &wallet;

    // A node that has the first 250 blocks so far (with the database's genuine full outputs).
    let node = FakeNode::from_lmdb(&NodeDb::open(&db_dir).unwrap()).await.unwrap();
    node.reorg(cut as u64 - 1, Vec::new());
    let cache = Cache::create(dir.path().join("cache"), network).unwrap();
    let follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, fast_follower_config());
    let handle = follower.handle();
    let stop_follower = CancellationToken::new();
    let following = tokio::spawn(follower.run(stop_follower.clone()));
    let source = CacheSource::follower(handle.clone());
    // Full outputs from the node's database copy first (it has them while the node is away), then the node.
    let sources = FullOutputSources::new(vec![
        Arc::new(LmdbFullOutputs::new(&db_dir)),
        Arc::new(NodeFullOutputs::new(
            NodeClient::new(&node.url()).unwrap(),
            tokio::runtime::Handle::current(),
            NodeFetchOptions::default(),
        )),
    ]);
    let builder = Arc::new(WalletDbBuilder::new(sources));
    let server = TestServer::start_with(test_config(&dir.path().join("data")), source, builder).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let before = cut as u64 - 1;

    // Caught up: ready at the node's tip.
    let (_, ready) = ready_until(&client, "ready at 249", |s, b| {
        s == StatusCode::OK && b["cache_tip_height"] == before
    })
    .await;
    assert_eq!(
        (ready["state"].as_str(), ready["node_tip_height"].as_u64()),
        (Some("ready"), Some(before))
    );
    assert_eq!(ready["blocks_behind"], 0);

    // The node goes away: degraded, with the node's error, in /ready and /metrics.
    node.set_fault(Fault::Refuse).await;
    let (_, ready) = ready_until(&client, "degraded", |s, b| {
        s == StatusCode::SERVICE_UNAVAILABLE && b["state"] == "degraded"
    })
    .await;
    assert_eq!(ready["error"]["code"], "UNAVAILABLE");
    assert_eq!(ready["node_error"]["code"], "NODE_UNREACHABLE", "{ready}");
    assert_eq!(
        (ready["cache_tip_height"].as_u64(), ready["node_tip_height"].as_u64()),
        (Some(before), Some(before))
    );
    assert!(ready["degraded_for_seconds"].is_u64() && ready["cache_tip_age_seconds"].is_u64());
    let text = metrics(&client).await;
    for needle in [
        "tws_lifecycle_state{state=\"degraded\"} 1\n".to_string(),
        "tws_lifecycle_state{state=\"ready\"} 0\n".to_string(),
        format!("tws_cache_tip_height {before}\n"),
        format!("tws_node_tip_height {before}\n"),
    ] {
        assert!(text.contains(&needle), "metrics lack {needle}:\n{text}");
    }

    // A job is still accepted and scanned from the cached chain, marked stale at its tip.
    let job = submit(&client, wallet, None).await;
    let (stale, at, header, balance) = finish(&client, &job).await;
    assert_eq!((stale, at, header.as_str()), (true, Some(before), "true"));
    assert_eq!(balance, stale_balance, "the balance on the cached chain");
    let result = &status(&client, &job).await["result"];
    assert_eq!(
        (result["stale"].as_bool(), result["tip_height"].as_u64()),
        (Some(true), Some(before))
    );

    // The node comes back fifty blocks further: ready again, and a new job is current.
    node.push_blocks(blocks[cut..].to_vec());
    node.set_fault(Fault::None).await;
    ready_until(&client, "ready at the tip", |s, b| {
        s == StatusCode::OK && b["cache_tip_height"] == tip
    })
    .await;
    assert!(
        metrics(&client)
            .await
            .contains("tws_lifecycle_state{state=\"ready\"} 1\n")
    );
    let job = submit(&client, wallet, Some("a second sync")).await;
    let (stale, at, header, balance) = finish(&client, &job).await;
    assert_eq!((stale, at, header.as_str()), (false, Some(tip), "false"));
    assert_eq!(balance, wallet.expected_balance);

    // No block lost or repeated through the outage: the cache is the node's chain, light.
    let light: Vec<BlockData> = blocks.iter().map(BlockData::light).collect();
    assert_eq!(blocks_from_view(&handle.view(), ..), light);
    server.stop().await.unwrap();
    stop_follower.cancel();
    let cache = following.await.unwrap().unwrap();
    assert_eq!(cache.tip().map(|t| t.height), Some(tip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_wait_while_the_source_imports_and_run_once_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    let (blocks, network) = fixture_chain(&db_dir);
    let tip = blocks.len() as u64 - 1;
    let (control, source) = CacheSource::controlled();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&db_dir))]);
    let builder = Arc::new(WalletDbBuilder::new(sources));
    let server = TestServer::start_with(test_config(&dir.path().join("data")), source, builder).await;
    let client = Client::new(&server.base_url, Protocol::Http2);

    // HTTP is up before the chain is: starting, then importing with its progress.
    let (status_code, ready) = get(&client, "/ready").await;
    assert_eq!(
        (status_code, ready["state"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("starting"))
    );
    control.importing(10, 40);
    let (status_code, ready) = get(&client, "/ready").await;
    assert_eq!(status_code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["state"], "importing");
    assert_eq!(
        (ready["import"]["done"].as_u64(), ready["import"]["total"].as_u64()),
        (Some(10), Some(40))
    );
    let text = metrics(&client).await;
    assert!(text.contains("tws_lifecycle_state{state=\"importing\"} 1\n"), "{text}");
    assert!(
        text.contains("tws_import_done 10\n") && text.contains("tws_import_total 40\n"),
        "{text}"
    );

    // A submission is accepted and waits: nothing is scanned from a half-imported chain. (The wait is
    // many batch delays; the job may not move whatever the timing.)
    let wallet = &node_fixture::manifest().wallets[1].as_demo();
    let job = submit(&client, wallet, None).await;
    control.importing(40, 40);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&client, &job).await["state"], "queued");

    // The import is done and a feed takes over: the job runs on the whole chain.
    let cache = Cache::create(dir.path().join("cache"), network).unwrap();
    let (feed, feed_follower) = block_feed(cache, 64);
    let handle = feed_follower.handle();
    let stop_feed = CancellationToken::new();
    let feeding = tokio::spawn(feed_follower.run(stop_feed.clone()));
    for block in blocks {
        tari_wallet_sync::source::BlockFeed::block_added(&feed, block)
            .await
            .unwrap();
    }
    feed.flush().await.unwrap();
    control.follow(handle);
    let (stale, at, _, balance) = finish(&client, &job).await;
    assert_eq!((stale, at), (false, Some(tip)));
    assert_eq!(balance, wallet.expected_balance);
    let (status_code, ready) = get(&client, "/ready").await;
    assert_eq!(
        (status_code, ready["cache_tip_height"].as_u64()),
        (StatusCode::OK, Some(tip))
    );
    assert!(ready.get("import").is_none());

    server.stop().await.unwrap();
    stop_feed.cancel();
    feeding.await.unwrap().unwrap();
}

/// What a failed import left (the first blocks of the chain), served without a node to follow: never
/// `ready`, and every file stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_imported_cache_is_never_served_as_current() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    let (blocks, network) = fixture_chain(&db_dir);
    let cache_dir = dir.path().join("cache");
    let mut cache = Cache::create(&cache_dir, network).unwrap();
    cache.append_blocks(&blocks[..200]).unwrap();
    drop(cache);
    let (control, source) = CacheSource::controlled();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&db_dir))]);
    let builder = Arc::new(WalletDbBuilder::new(sources));
    let server = TestServer::start_with(test_config(&dir.path().join("data")), source, builder).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    control.importing(200, blocks.len() as u64);
    control.partial_directory(&cache_dir);

    let (_, ready) = ready_until(&client, "degraded", |s, b| {
        s == StatusCode::SERVICE_UNAVAILABLE && b["state"] == "degraded"
    })
    .await;
    assert_eq!(ready["node_error"]["code"], "IMPORT_FAILED", "{ready}");
    let wallet = &node_fixture::manifest().wallets[0].as_demo();
    let job = submit(&client, wallet, None).await;
    let (stale, at, header, _) = finish(&client, &job).await;
    assert_eq!((stale, at, header.as_str()), (true, Some(199), "true"));
    server.stop().await.unwrap();
}

/// A node that says it is not synced (as a lone LocalNet node always does): by default jobs run and
/// their files are stale; with `unsynced_node = wait` they wait until it says it is synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_is_not_synced_makes_files_stale_or_jobs_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    let (blocks, network) = fixture_chain(&db_dir);
    let tip = blocks.len() as u64 - 1;
    let node = FakeNode::from_lmdb(&NodeDb::open(&db_dir).unwrap()).await.unwrap();
    node.set_synced(false);
    let cache = Cache::create(dir.path().join("cache"), network).unwrap();
    let follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, fast_follower_config());
    let handle = follower.handle();
    let stop_follower = CancellationToken::new();
    let following = tokio::spawn(follower.run(stop_follower.clone()));
    let builder = || {
        let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&db_dir))]);
        Arc::new(WalletDbBuilder::new(sources))
    };
    let wallet = &node_fixture::manifest().wallets[2].as_demo();

    // Stale (the default): at the node's tip, yet degraded with the reason, and the file is stale.
    let data = dir.path().join("data");
    let server = TestServer::start_with(test_config(&data), CacheSource::follower(handle.clone()), builder()).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let (_, ready) = ready_until(&client, "degraded at the tip", |s, b| {
        s == StatusCode::SERVICE_UNAVAILABLE && b["cache_tip_height"] == tip
    })
    .await;
    assert_eq!(
        (ready["state"].as_str(), ready["node_error"]["code"].as_str()),
        (Some("degraded"), Some("NODE_NOT_SYNCED")),
        "{ready}"
    );
    let job = submit(&client, wallet, None).await;
    let (stale, at, _, balance) = finish(&client, &job).await;
    assert_eq!((stale, at, balance), (true, Some(tip), wallet.expected_balance));
    server.stop().await.unwrap();

    // Wait: the job stays queued until the node says it is synced, then is current.
    let mut config = test_config(&data);
    config.unsynced_node = tari_wallet_sync::service::UnsyncedNode::Wait;
    let server = TestServer::start_with(config, CacheSource::follower(handle.clone()), builder()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = submit(&client, wallet, Some("waiting")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&client, &job).await["state"], "queued");
    let (code, ready) = get(&client, "/ready").await;
    assert_eq!(
        (code, ready["state"].as_str(), ready["node_error"]["code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("catching_up"),
            Some("NODE_NOT_SYNCED")
        )
    );
    node.set_synced(true);
    let (stale, at, _, balance) = finish(&client, &job).await;
    assert_eq!((stale, at, balance), (false, Some(tip), wallet.expected_balance));
    ready_until(&client, "ready", |s, _| s == StatusCode::OK).await;
    server.stop().await.unwrap();
    stop_follower.cancel();
    following.await.unwrap().unwrap();
}
