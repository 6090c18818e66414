//! Follower against a fake node over real HTTP: a demo chain followed from empty equals the directly
//! written cache (and scans the same), reorgs at the tip and during a catch-up are rolled back and
//! re-followed, outages degrade and recover without losing or duplicating a block, the node's paging
//! edge cases (chunked blocks, empty blocks, 100-block windows, repeated blocks) come out whole, and
//! broken answers are typed errors. Prints the catch-up throughput (`--nocapture`).

use std::{
    future::Future,
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use tari_wallet_sync::{
    cache::{BlockData, Cache, CacheView},
    demo::chain::{DEMO_NETWORK, DemoChainSpec, write_demo_chain},
    recognize::WalletKey,
    scan::{ScanOptions, ScanRequest, scan},
    source::{Follower, FollowerConfig, FollowerHandle, FollowerState, NodeClient, SourceError, blocks_from_view},
};
use tari_wallet_sync_testkit::fake_node::{FakeNode, Fault, fast_follower_config, synthetic_blocks};
use tokio_util::sync::CancellationToken;

/// The fake node's fast timings: polls and retries in milliseconds.
fn config() -> FollowerConfig {
    fast_follower_config()
}

/// The blocks as the sync route alone delivers them: no script, type or maturity, and marked so.
fn minimal(blocks: &[BlockData]) -> Vec<BlockData> {
    blocks.iter().map(BlockData::light).collect()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn state(handle: &FollowerHandle, what: &str, pred: impl FnMut(&FollowerState) -> bool) -> FollowerState {
    tokio::time::timeout(Duration::from_secs(15), handle.wait_for(pred))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", handle.state()))
        .expect("follower alive")
}

fn tip_is(handle: &FollowerHandle, block: &BlockData) -> bool {
    handle
        .view()
        .tip()
        .is_some_and(|t| t.height == block.height && t.hash == block.hash)
}

/// Follows `node` into a new cache in `dir` once, to the tip.
async fn follow_once(node: &FakeNode, dir: &std::path::Path, config: FollowerConfig) -> (Cache, f64) {
    let cache = Cache::create(dir, DEMO_NETWORK).unwrap();
    let mut follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, config);
    let report = follower.sync_to_tip(&CancellationToken::new()).await.unwrap();
    assert_eq!(report.tip.map(|t| t.height), node.tip_height());
    (follower.into_cache(), report.outputs_per_sec())
}

fn spawn(
    node: &FakeNode,
    cache: Cache,
    config: FollowerConfig,
) -> (FollowerHandle, CancellationToken, impl Future<Output = Cache>) {
    let follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, config);
    let handle = follower.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    (handle, cancel, async move { task.await.unwrap().unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_chain_followed_from_empty_equals_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DemoChainSpec {
        outputs: 20_000,
        blocks: 250,
        wallets: 3,
        seed: 7,
    };
    let wallets = write_demo_chain(&spec, &dir.path().join("source")).unwrap();
    let source = CacheView::open(dir.path().join("source")).unwrap();
    let blocks = blocks_from_view(&source, ..);
    let node = FakeNode::start(blocks.clone()).await.unwrap();

    let (minimal_cache, minimal_rate) = follow_once(&node, &dir.path().join("minimal"), config()).await;
    assert_eq!(blocks_from_view(&minimal_cache.view(), ..), minimal(&blocks));
    let full = FollowerConfig {
        full_outputs: true,
        ..config()
    };
    let (full_cache, full_rate) = follow_once(&node, &dir.path().join("full"), full).await;
    let followed = full_cache.view();
    followed.verify().unwrap();
    assert_eq!(blocks_from_view(&followed, ..), blocks);
    eprintln!(
        "follower catch-up through the fake node: {:.0} outputs/s (sync route only), {:.0} outputs/s (with full \
         outputs); {} outputs in {} blocks",
        minimal_rate, full_rate, spec.outputs, spec.blocks
    );

    // Every response stays within its 100-block window (the window's last block included).
    for r in node.sync_requests() {
        let window_end = (r.start_height + 100) / 100 * 100;
        assert!(r.entry_heights.iter().all(|&h| h <= window_end), "{r:?}");
    }

    // The followed cache scans exactly like the source.
    let requests: Vec<ScanRequest> = wallets
        .iter()
        .map(|w| ScanRequest {
            key: WalletKey::from_hex(&w.view_key, &w.spend_public_key).unwrap(),
            birthday: w.birthday,
        })
        .collect();
    let run = |view: &CacheView| {
        scan(
            view,
            &requests,
            &ScanOptions::default(),
            &|_| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    };
    for ((ours, theirs), wallet) in run(&followed).iter().zip(run(&source)).zip(&wallets) {
        assert_eq!(ours.balance(), wallet.expected_balance);
        assert_eq!(ours.balance(), theirs.balance());
        assert_eq!(ours.outputs.len(), theirs.outputs.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_at_the_tip_is_rolled_back_and_refollowed() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(synthetic_blocks(None, &[3; 151], 1)).await.unwrap();
    let config = FollowerConfig {
        full_outputs: true,
        ..config()
    };
    let (handle, cancel, done) = spawn(&node, Cache::create(dir.path(), DEMO_NETWORK).unwrap(), config);
    let old = node.blocks();
    eventually("the old tip", || tip_is(&handle, &old[150])).await;
    state(&handle, "ready", FollowerState::is_ready).await;
    // The losing branch's block 141 spends the first output of block 140; the new branch does not.
    let spent_on_losing_branch = old[140].outputs[0].output_hash;
    assert_eq!(handle.view().spent_by(&spent_on_losing_branch).map(|s| s.0), Some(141));

    let branch = synthetic_blocks(Some((140, old[140].hash)), &[2; 15], 2);
    node.reorg(140, branch.clone());
    eventually("the new tip", || tip_is(&handle, &branch[14])).await;
    let view = handle.view();
    assert_eq!(blocks_from_view(&view, ..), node.blocks());
    assert_eq!(view.spent_by(&spent_on_losing_branch), None);
    view.verify().unwrap();
    cancel.cancel();
    done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_during_a_catch_up_is_rolled_back_and_refollowed() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(synthetic_blocks(None, &[4; 400], 3)).await.unwrap();
    node.set_page_delay(Duration::from_millis(3));
    let config = FollowerConfig {
        batch_blocks: 40,
        page_limit: 10,
        ..config()
    };
    let (handle, cancel, done) = spawn(&node, Cache::create(dir.path(), DEMO_NETWORK).unwrap(), config);
    eventually("a partial catch-up", || {
        handle.view().tip().is_some_and(|t| t.height >= 150)
    })
    .await;
    // Replace everything above 120 (below the cache's tip) with a longer branch.
    let old = node.blocks();
    let branch = synthetic_blocks(Some((120, old[120].hash)), &[5; 300], 4);
    node.reorg(120, branch.clone());
    node.set_page_delay(Duration::ZERO);
    eventually("the new tip", || tip_is(&handle, branch.last().unwrap())).await;
    assert_eq!(blocks_from_view(&handle.view(), ..), minimal(&node.blocks()));
    cancel.cancel();
    done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_degrades_and_recovers_without_losing_or_duplicating_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(synthetic_blocks(None, &[2; 201], 5)).await.unwrap();
    let config = FollowerConfig {
        batch_blocks: 25,
        page_limit: 10,
        ..config()
    };
    let (handle, cancel, done) = spawn(&node, Cache::create(dir.path(), DEMO_NETWORK).unwrap(), config);
    state(&handle, "ready", FollowerState::is_ready).await;

    // Refused connections at the tip.
    node.set_fault(Fault::Refuse).await;
    let tip = node.blocks().last().map(|b| (b.height, b.hash)).unwrap();
    node.push_blocks(synthetic_blocks(Some(tip), &[2; 100], 6));
    match state(&handle, "degraded", FollowerState::is_degraded).await {
        FollowerState::Degraded { error, .. } => assert!(matches!(*error, SourceError::Request { .. }), "{error}"),
        s => unreachable!("{s:?}"),
    }
    node.set_fault(Fault::None).await;
    state(&handle, "ready", FollowerState::is_ready).await;
    assert_eq!(blocks_from_view(&handle.view(), ..), minimal(&node.blocks()));

    // 503s in the middle of a catch-up.
    let tip = node.blocks().last().map(|b| (b.height, b.hash)).unwrap();
    node.push_blocks(synthetic_blocks(Some(tip), &[2; 300], 7));
    node.set_page_delay(Duration::from_millis(3));
    eventually("a partial catch-up", || {
        handle.view().tip().is_some_and(|t| t.height >= 360)
    })
    .await;
    node.set_fault(Fault::Unavailable).await;
    match state(&handle, "degraded", FollowerState::is_degraded).await {
        FollowerState::Degraded { error, .. } => {
            assert!(matches!(*error, SourceError::Status { status: 503, .. }), "{error}")
        }
        s => unreachable!("{s:?}"),
    }
    node.set_page_delay(Duration::ZERO);
    node.set_fault(Fault::None).await;
    eventually("the tip", || tip_is(&handle, node.blocks().last().unwrap())).await;
    state(&handle, "ready", FollowerState::is_ready).await;
    let view = handle.view();
    view.verify().unwrap();
    assert_eq!(blocks_from_view(&view, ..), minimal(&node.blocks()));
    cancel.cancel();
    let cache = done.await;
    assert_eq!(cache.tip().map(|t| t.height), Some(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_edge_cases_come_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Empty blocks, a block of 4,500 outputs (three chunks), one of exactly 2,000 and one of 2,001, a
    // run across the window boundaries at 100 and 200.
    let mut sizes = vec![1usize; 230];
    for h in [0, 1, 2, 50, 99, 100, 101, 150, 199, 200] {
        sizes[h] = 0;
    }
    sizes[97] = 4500;
    sizes[98] = 2000;
    sizes[102] = 2001;
    let mut blocks = synthetic_blocks(None, &sizes, 8);
    // A block spending 25 outputs: with a chunk of 10, inputs also spill into input-only chunks.
    blocks[120].spent = (0..25u8).map(|i| [i; 32]).collect();
    let node = FakeNode::start(blocks.clone()).await.unwrap();
    for (i, page_limit) in [1u64, 3, 50, 2000].into_iter().enumerate() {
        let config = FollowerConfig {
            page_limit,
            full_outputs: page_limit == 3,
            ..config()
        };
        let (cache, _) = follow_once(&node, &dir.path().join(format!("limit-{page_limit}")), config).await;
        let want = if page_limit == 3 {
            blocks.clone()
        } else {
            minimal(&blocks)
        };
        assert_eq!(blocks_from_view(&cache.view(), ..), want, "page limit {page_limit}");
        if i == 0 {
            let log = node.sync_requests();
            assert!(log.iter().flat_map(|r| &r.entry_outputs).all(|&n| n <= 2000));
            assert!(
                log.iter()
                    .any(|r| r.entry_heights.iter().filter(|&&h| h == 97).count() == 3)
            );
            // The node's quirk: one over-long block alone, with `has_next_page` still set.
            assert!(
                log.iter()
                    .any(|r| r.has_next_page && r.entry_heights.len() as u64 > r.limit)
            );
        }
    }
    // Small chunks: the spending block's inputs come in output chunks and input-only chunks.
    node.set_chunk_size(10);
    let (cache, _) = follow_once(&node, &dir.path().join("chunk-10"), config()).await;
    assert_eq!(blocks_from_view(&cache.view(), ..), minimal(&blocks));
    // An empty cache that starts above genesis, off the window grid.
    let start = FollowerConfig {
        start_height: 37,
        page_limit: 7,
        ..config()
    };
    let (cache, _) = follow_once(&node, &dir.path().join("from-37"), start).await;
    assert_eq!(blocks_from_view(&cache.view(), ..), minimal(&blocks[37..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answers_are_typed_errors() {
    let node = FakeNode::start(synthetic_blocks(None, &[2; 5], 9)).await.unwrap();
    let client = NodeClient::new(&node.url()).unwrap();
    let start = node.blocks()[0].hash;

    node.set_fault(Fault::TruncatedJson).await;
    assert!(matches!(client.tip().await, Err(SourceError::Json { .. })));
    assert!(matches!(client.header(1).await, Err(SourceError::Json { .. })));
    assert!(matches!(
        client.sync_page(&start, 10, 0).await,
        Err(SourceError::Json { .. })
    ));
    assert!(matches!(
        client.full_outputs(&start).await,
        Err(SourceError::Json { .. })
    ));

    node.set_fault(Fault::ShortHash).await;
    let err = client.sync_page(&start, 10, 0).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Malformed { reason, .. } if reason.contains("header_hash")),
        "{err}"
    );

    node.set_fault(Fault::None).await;
    assert_eq!(client.header(99).await.unwrap(), None);
    let err = client.sync_page(&[1; 32], 10, 0).await.unwrap_err();
    assert!(matches!(&err, SourceError::Status { status: 404, .. }), "{err}");
    assert!(matches!(
        client.sync_page(&start, 0, 0).await,
        Err(SourceError::Malformed { .. })
    ));

    // A follower meeting broken JSON degrades, then recovers when the node does.
    let dir = tempfile::tempdir().unwrap();
    node.set_fault(Fault::TruncatedJson).await;
    let (handle, cancel, done) = spawn(&node, Cache::create(dir.path(), DEMO_NETWORK).unwrap(), config());
    match state(&handle, "degraded", FollowerState::is_degraded).await {
        FollowerState::Degraded { error, .. } => assert!(matches!(*error, SourceError::Json { .. }), "{error}"),
        s => unreachable!("{s:?}"),
    }
    node.set_fault(Fault::None).await;
    state(&handle, "ready", FollowerState::is_ready).await;
    assert_eq!(blocks_from_view(&handle.view(), ..), minimal(&node.blocks()));
    cancel.cancel();
    done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_node_times_out_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(synthetic_blocks(None, &[1; 30], 10)).await.unwrap();
    node.set_page_delay(Duration::from_millis(300));
    let options = tari_wallet_sync::source::ClientOptions {
        request_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let client = NodeClient::with_options(&node.url(), options).unwrap();
    let follower = Follower::new(client, Cache::create(dir.path(), DEMO_NETWORK).unwrap(), config());
    let handle = follower.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    match state(&handle, "degraded", FollowerState::is_degraded).await {
        FollowerState::Degraded { error, .. } => assert!(matches!(*error, SourceError::Timeout { .. }), "{error}"),
        s => unreachable!("{s:?}"),
    }
    node.set_page_delay(Duration::ZERO);
    state(&handle, "ready", FollowerState::is_ready).await;
    assert_eq!(handle.view().tip().map(|t| t.height), Some(29));
    cancel.cancel();
    task.await.unwrap().unwrap();
}
