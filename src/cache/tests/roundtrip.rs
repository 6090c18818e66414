//! Round trips: what is appended reads back identically, through every read path, across segments,
//! publishes and reopens; batches stay invisible until published; snapshots stay pinned.

use super::*;
use crate::cache::BlockRecord;

#[test]
fn round_trip_across_segments_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 2, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let mut blocks = chain.blocks(30);
    // A block heavier than a whole segment, and empty blocks around it.
    blocks.push(chain.block(20, vec![]));
    blocks.push(chain.block(0, vec![]));
    blocks.extend(chain.blocks(8));
    for block in &blocks[..10] {
        cache.append_block(block).expect("append one");
    }
    cache.append_blocks(&blocks[10..]).expect("append many");
    assert_holds(&cache.view(), &blocks);
    assert!(cache.view().sequence() >= 11);
    drop(cache);

    let cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    assert!(cache.recovered().is_none());
    assert_holds(&cache.view(), &blocks);
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &blocks);
    assert_eq!(cache.view().network(), 2);
}

#[test]
fn chunks_cover_every_output_once_within_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let blocks = Chain::new(0, 0).blocks(60);
    cache.append_blocks(&blocks).expect("append");
    let view = cache.view();
    for max in [1, 3, 7, 1000] {
        let chunks = view.chunks(max);
        let mut next = 0;
        for chunk in &chunks {
            assert_eq!(chunk.start, next, "contiguous");
            assert!(chunk.end > chunk.start && chunk.end - chunk.start <= max);
            next = chunk.end;
            // Never across a segment boundary: one map per chunk.
            let seg = |i| view.state().segment_at_output(i).map(|(s, _)| s);
            assert_eq!(seg(chunk.start), seg(chunk.end - 1));
        }
        assert_eq!(next, view.output_count());
    }
    let from = view.first_output_at(30);
    let tail = view.chunks_from(from, 4);
    assert_eq!(tail.first().map(|c| c.start), Some(from));
    let sum: u64 = tail.iter().map(|c| c.end - c.start).sum();
    assert_eq!(sum, view.output_count() - from);
    assert_eq!(view.first_output_at(10_000), view.output_count());
    assert_eq!(
        view.chunks(0).len() as u64,
        view.output_count(),
        "a zero length means one"
    );
}

#[test]
fn blocks_iterate_by_height_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    // A cache may start above genesis.
    let blocks = Chain::new(0, 100).blocks(20);
    cache.append_blocks(&blocks).expect("append");
    let view = cache.view();
    let heights = |it: Vec<BlockRecord<'_>>| it.iter().map(|b| b.height).collect::<Vec<_>>();
    assert_eq!(heights(view.blocks(..).collect()), (100..120).collect::<Vec<_>>());
    assert_eq!(heights(view.blocks(105..108).collect()), vec![105, 106, 107]);
    assert_eq!(heights(view.blocks(118..=500).collect()), vec![118, 119]);
    assert_eq!(heights(view.blocks(0..=100).collect()), vec![100]);
    assert!(view.blocks(0..100).next().is_none());
    assert!(view.blocks(120..).next().is_none());
    assert!(view.blocks(..0).next().is_none());
    assert!(view.block(99).is_none() && view.block(120).is_none());
    assert_eq!(view.first_output_at(0), 0);
}

#[test]
fn batch_is_invisible_until_published_and_snapshots_stay_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let first = chain.blocks(5);
    cache.append_blocks(&first).expect("append");
    let before = cache.view();

    let more = chain.blocks(12);
    let mut batch = cache.batch();
    for block in &more {
        batch.append(block).expect("stage");
    }
    assert_eq!(batch.tip().map(|t| t.height), Some(16));
    // Another process sees only the published state while the batch is written.
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &first);
    batch.publish().expect("publish");

    assert_holds(&before, &first);
    let all: Vec<_> = first.iter().chain(&more).cloned().collect();
    assert_holds(&cache.view(), &all);
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &all);
}

#[test]
fn dropped_batch_and_bad_blocks_publish_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let first = chain.blocks(4);
    cache.append_blocks(&first).expect("append");
    let saved = (chain.next_height, chain.prev_hash);

    {
        let mut batch = cache.batch();
        for block in chain.blocks(10) {
            batch.append(&block).expect("stage");
        }
    }
    assert_holds(&cache.view(), &first);

    (chain.next_height, chain.prev_hash) = saved;
    let mut next = chain.blocks(3);
    let mut skipped = next[1].clone();
    skipped.prev_hash = next[0].hash;
    assert!(matches!(
        cache.append_block(&skipped),
        Err(CacheError::NotNext { height: 5, expected: 4 })
    ));
    let mut wrong_parent = next[0].clone();
    wrong_parent.prev_hash = [9; 32];
    assert!(matches!(
        cache.append_block(&wrong_parent),
        Err(CacheError::PrevHashMismatch {
            height: 4,
            tip_height: 3
        })
    ));
    // A failure inside a batch discards what the batch staged before it.
    let mut broken = next.clone();
    broken[2].prev_hash = [7; 32];
    assert!(cache.append_blocks(&broken).is_err());
    assert_holds(&cache.view(), &first);

    cache.append_blocks(&next).expect("append the good ones");
    let mut all = first.clone();
    all.append(&mut next);
    assert_holds(&cache.view(), &all);
    drop(cache);
    assert_holds(&Cache::open_with(dir.path(), SMALL).expect("reopen").view(), &all);
}

#[test]
fn views_are_shared_across_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let blocks = Chain::new(0, 0).blocks(40);
    cache.append_blocks(&blocks).expect("append");
    let view = cache.view();
    let serial: Vec<[u8; 32]> = view.outputs(0..view.output_count()).map(|o| *o.commitment).collect();
    let chunks = view.chunks(5);
    let parallel: Vec<Vec<[u8; 32]>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|c| {
                let view = view.clone();
                let c = c.clone();
                s.spawn(move || view.outputs(c).map(|o| *o.commitment).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(parallel.concat(), serial);
}
