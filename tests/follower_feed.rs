//! The in-process block feed: a node pushing added and rolled-back blocks keeps the cache equal to its
//! chain, a fast run of blocks is published in few batches, a block that does not extend the tip is
//! refused (degraded) without stopping the feed, and the feed ends when the node drops its sender.

use std::time::Duration;

use tari_wallet_sync::{
    cache::{BlockData, Cache},
    demo::chain::DEMO_NETWORK,
    source::{BlockFeed, FollowerState, SourceError, block_feed, blocks_from_view},
};
use tari_wallet_sync_testkit::fake_node::synthetic_blocks;
use tokio_util::sync::CancellationToken;

async fn add_all(feed: &impl BlockFeed, blocks: &[BlockData]) {
    for block in blocks {
        feed.block_added(block.clone()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_chain_with_a_reorg_ends_equal_to_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::create(dir.path(), DEMO_NETWORK).unwrap();
    let (feed, follower) = block_feed(cache, 64);
    let handle = follower.handle();
    let task = tokio::spawn(follower.run(CancellationToken::new()));

    let chain = synthetic_blocks(None, &[3; 300], 1);
    let sequence_before = handle.view().sequence();
    add_all(&feed, &chain).await;
    let tip = feed.flush().await.unwrap().unwrap();
    assert_eq!((tip.height, tip.hash), (299, chain[299].hash));
    assert!(handle.state().is_ready());
    let publishes = handle.view().sequence() - sequence_before;
    assert!(
        publishes < 300,
        "{publishes} publishes for 300 pushed blocks: not batched"
    );

    // The node reorgs: blocks 281..=299 leave its chain, a longer branch follows.
    feed.block_rolled_back(281).await.unwrap();
    let branch = synthetic_blocks(Some((280, chain[280].hash)), &[2; 30], 2);
    add_all(&feed, &branch).await;
    feed.flush().await.unwrap();
    let want: Vec<BlockData> = chain[..=280].iter().chain(&branch).cloned().collect();
    let view = handle.view();
    assert_eq!(blocks_from_view(&view, ..), want);
    // Block 281 of the losing branch spent the first output of block 280; that spend is gone.
    assert_eq!(view.spent_by(&chain[280].outputs[0].output_hash), None);
    view.verify().unwrap();

    // A block that skips a height is refused; the feed degrades and goes on.
    let tip = (want.last().unwrap().height, want.last().unwrap().hash);
    let next = synthetic_blocks(Some(tip), &[1; 2], 3);
    feed.block_added(next[1].clone()).await.unwrap();
    feed.flush().await.unwrap();
    match handle.state() {
        FollowerState::Degraded { error, .. } => assert!(matches!(*error, SourceError::Cache(_)), "{error}"),
        s => panic!("expected degraded, got {s:?}"),
    }
    add_all(&feed, &next).await;
    assert_eq!(feed.flush().await.unwrap().map(|t| t.height), Some(tip.0 + 2));
    assert!(handle.state().is_ready());

    // The node stops: dropping the sender ends the feed with the cache.
    drop(feed);
    let cache = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(cache.tip().map(|t| t.height), Some(tip.0 + 2));
    assert!(matches!(handle.state(), FollowerState::Stopped { reason: None }));
}
