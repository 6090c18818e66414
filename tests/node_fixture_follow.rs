//! The follower against a fake node serving the real-node fixture (tests/fixtures/node-lmdb) over HTTP,
//! with the database's genuine full outputs: following from empty equals importing the database, a
//! reorg injected while following is rolled back and re-followed, and an outage degrades and recovers
//! without losing or duplicating a block. Prints the catch-up throughput (`--nocapture`).

mod node_fixture;

use std::{sync::atomic::AtomicBool, time::Duration};

use node_fixture::{manifest, unpack};
use tari_wallet_sync::{
    cache::{BlockData, Cache},
    source::{
        Follower, FollowerConfig, FollowerHandle, FollowerState, NodeClient, blocks_from_view,
        lmdb::{ImportOptions, NodeDb, import},
    },
};
use tari_wallet_sync_testkit::fake_node::{FakeNode, Fault, fast_follower_config, synthetic_blocks};
use tokio_util::sync::CancellationToken;

/// The fake node's fast timings, with full outputs so the followed cache equals the source.
fn config() -> FollowerConfig {
    FollowerConfig {
        full_outputs: true,
        ..fast_follower_config()
    }
}

/// The fixture's database, its blocks as imported, and a node serving them.
struct Setup {
    dir: tempfile::TempDir,
    network: u8,
    imported: Vec<BlockData>,
    node: FakeNode,
}

async fn setup() -> Setup {
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    unpack(&dir.path().join("db"));
    let network = manifest().network_byte;
    let db = NodeDb::open(dir.path().join("db")).unwrap();
    let mut cache = Cache::create(dir.path().join("imported"), network).unwrap();
    import(
        &db,
        &mut cache,
        ImportOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let node = FakeNode::from_lmdb(&db).await.unwrap();
    Setup {
        imported: blocks_from_view(&cache.view(), ..),
        network,
        node,
        dir,
    }
}

async fn state(handle: &FollowerHandle, what: &str, pred: impl FnMut(&FollowerState) -> bool) -> FollowerState {
    tokio::time::timeout(Duration::from_secs(20), handle.wait_for(pred))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", handle.state()))
        .expect("follower alive")
}

async fn at_height(handle: &FollowerHandle, height: u64) {
    let mut views = handle.views();
    tokio::time::timeout(
        Duration::from_secs(20),
        views.wait_for(|v| v.tip().is_some_and(|t| t.height == height)),
    )
    .await
    .expect("the follower reaches the height")
    .expect("follower alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_from_empty_equals_importing_the_database() {
    let s = setup().await;
    let cache = Cache::create(s.dir.path().join("followed"), s.network).unwrap();
    let mut follower = Follower::new(NodeClient::new(&s.node.url()).unwrap(), cache, config());
    let report = follower.sync_to_tip(&CancellationToken::new()).await.unwrap();
    assert_eq!(blocks_from_view(&follower.cache().view(), ..), s.imported);
    eprintln!(
        "follower catch-up of the real-node fixture with full outputs: {} blocks, {} outputs in {:.3} s ({:.0} \
         outputs/s)",
        report.blocks,
        report.outputs,
        report.elapsed.as_secs_f64(),
        report.outputs_per_sec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_while_following_is_rolled_back_and_refollowed() {
    let s = setup().await;
    let tip = s.imported.last().unwrap().height;
    let fork = tip - 5;
    let base = &s.imported[fork as usize];
    // The node first serves a longer branch of its own above the fork ...
    s.node.reorg(
        fork,
        synthetic_blocks(Some((base.height, base.hash)), &[1, 2, 0, 1, 3, 2, 1], 11),
    );
    let cache = Cache::create(s.dir.path().join("followed"), s.network).unwrap();
    let follower = Follower::new(NodeClient::new(&s.node.url()).unwrap(), cache, config());
    let handle = follower.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    at_height(&handle, fork + 7).await;
    // ... then reorgs back to the genuine chain.
    s.node.reorg(fork, s.imported[fork as usize + 1..].to_vec());
    let mut views = handle.views();
    tokio::time::timeout(
        Duration::from_secs(20),
        views.wait_for(|v| blocks_from_view(v, ..) == s.imported),
    )
    .await
    .expect("the cache returns to the genuine chain")
    .unwrap();
    cancel.cancel();
    let cache = task.await.unwrap().unwrap();
    assert_eq!(blocks_from_view(&cache.view(), ..), s.imported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_degrades_and_recovers_without_losing_a_block() {
    let s = setup().await;
    let tip = s.imported.last().unwrap().height;
    let held_back = tip - 40;
    s.node.reorg(held_back, Vec::new());
    let cache = Cache::create(s.dir.path().join("followed"), s.network).unwrap();
    let follower = Follower::new(NodeClient::new(&s.node.url()).unwrap(), cache, config());
    let handle = follower.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    at_height(&handle, held_back).await;
    state(&handle, "ready", FollowerState::is_ready).await;

    s.node.set_fault(Fault::Refuse).await;
    s.node.push_blocks(s.imported[held_back as usize + 1..].to_vec());
    state(&handle, "degraded", FollowerState::is_degraded).await;
    assert_eq!(
        handle.view().tip().unwrap().height,
        held_back,
        "a degraded cache keeps serving its state"
    );

    s.node.set_fault(Fault::None).await;
    at_height(&handle, tip).await;
    state(&handle, "ready again", FollowerState::is_ready).await;
    cancel.cancel();
    let cache = task.await.unwrap().unwrap();
    assert_eq!(
        blocks_from_view(&cache.view(), ..),
        s.imported,
        "no block lost or duplicated"
    );
}
