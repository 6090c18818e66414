//! Rollbacks and the spent index: reorgs at every kind of height, re-appends on a new branch, snapshots
//! that outlive the blocks they show, and spent lookups checked against a naive model throughout.

use super::*;

#[test]
fn rollback_inside_a_segment_then_reappend_keeps_old_snapshots_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let blocks = chain.blocks(40);
    cache.append_blocks(&blocks[..20]).expect("append");
    cache.append_blocks(&blocks[20..]).expect("append");
    let old = cache.view();

    cache.rollback_to(25).expect("rollback");
    assert_holds(&cache.view(), &blocks[..26]);
    let mut fork = Chain::after(cache.tip().expect("tip"), 7);
    let more = fork.blocks(20);
    for block in &more[..3] {
        cache.append_block(block).expect("append one");
    }
    cache.append_blocks(&more[3..]).expect("append rest");
    let new_chain: Vec<_> = blocks[..26].iter().chain(&more).cloned().collect();
    assert_holds(&cache.view(), &new_chain);
    // The snapshot from before the reorg still reads the old branch: its files were copied, not cut.
    assert_holds(&old, &blocks);
    drop(cache);
    assert_holds(&Cache::open_with(dir.path(), SMALL).expect("reopen").view(), &new_chain);
    assert_holds(&old, &blocks);
}

#[test]
fn rollback_edges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 10);
    let blocks = chain.blocks(30);
    cache.append_blocks(&blocks).expect("append");
    let seq = cache.view().sequence();
    cache.rollback_to(39).expect("at the tip");
    cache.rollback_to(1000).expect("above the tip");
    assert_eq!(cache.view().sequence(), seq, "no-op publishes nothing");

    // To the last block of a segment: nothing is copied, appends continue in that segment.
    let first_segment = cache.view().state().header.segments[0];
    let boundary = first_segment.first_height + first_segment.block_count - 1;
    cache.rollback_to(boundary).expect("rollback");
    let segments = cache.view().state().header.segments.clone();
    assert_eq!(segments, vec![first_segment]);
    let kept = &blocks[..(boundary - 9) as usize];
    assert_holds(&cache.view(), kept);
    let mut fork = Chain::after(cache.tip().expect("tip"), 4);
    let block = fork.block(1, vec![]);
    cache.append_block(&block).expect("append");
    assert_eq!(cache.view().state().header.segments[0].id, first_segment.id);
    assert_holds(&cache.view(), &[kept, &[block]].concat());

    // Below the first block: empty, and the next block may start anywhere.
    cache.rollback_to(3).expect("rollback");
    assert_holds(&cache.view(), &[]);
    assert_eq!(cache.view().spent_by(&output_hash(0, 12, 0)), None);
    let restart = Chain::new(8, 500).blocks(5);
    cache.append_blocks(&restart).expect("append");
    assert_holds(&cache.view(), &restart);
    drop(cache);
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &restart);
}

/// A deterministic generator for which outputs get spent.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

/// Appends `count` blocks that spend up to three unspent outputs of `model` each (and sometimes an
/// output the cache never held), in batches of varying size.
fn grow(cache: &mut Cache, model: &mut Vec<BlockData>, chain: &mut Chain, count: usize, rng: &mut Lcg) {
    let spent: std::collections::HashSet<[u8; 32]> = model.iter().flat_map(|b| b.spent.clone()).collect();
    let mut unspent: Vec<[u8; 32]> = model
        .iter()
        .flat_map(|b| b.outputs.iter().map(|o| o.output_hash))
        .filter(|h| !spent.contains(h))
        .collect();
    let mut pending = Vec::new();
    for _ in 0..count {
        let mut spends = Vec::new();
        for _ in 0..rng.below(4) {
            if !unspent.is_empty() {
                let i = rng.below(unspent.len());
                spends.push(unspent.swap_remove(i));
            }
        }
        if rng.below(5) == 0 {
            spends.push(bytes32(77, chain.next_height, 0));
        }
        let block = chain.block(rng.below(5) as u64, spends);
        unspent.extend(block.outputs.iter().map(|o| o.output_hash));
        pending.push(block);
        if rng.below(4) == 0 {
            cache.append_blocks(&pending).expect("append");
            model.append(&mut pending);
        }
    }
    cache.append_blocks(&pending).expect("append");
    model.append(&mut pending);
}

/// Every hash ever used, spent or not, on any branch, against the naive answer.
fn check_spent(view: &CacheView, model: &[BlockData], every_hash: &[[u8; 32]]) {
    for hash in every_hash {
        assert_eq!(
            view.spent_by(hash),
            naive_spent_by(model, hash),
            "hash {}",
            hex::encode(hash)
        );
    }
    // Runs stay few: sizes roughly double from one to the next.
    let runs = view.state().header.runs.len();
    assert!(runs <= 12, "{runs} runs");
}

fn all_hashes(model: &[BlockData], seen: &mut Vec<[u8; 32]>) {
    for b in model {
        seen.extend(b.outputs.iter().map(|o| o.output_hash));
        seen.extend(b.spent.iter().copied());
    }
    seen.sort();
    seen.dedup();
}

#[test]
fn spent_index_matches_a_naive_model_across_rollbacks_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut rng = Lcg(42);
    let mut model = Vec::new();
    let mut seen = Vec::new();
    let mut chain = Chain::new(0, 0);
    grow(&mut cache, &mut model, &mut chain, 80, &mut rng);
    all_hashes(&model, &mut seen);
    check_spent(&cache.view(), &model, &seen);
    assert!(
        !cache.view().state().header.runs.is_empty(),
        "the tail was moved into runs"
    );
    let before = cache.view();
    let before_model = model.clone();

    for (fork, cut, count) in [(1u8, 55u64, 30usize), (2, 70, 10), (3, 12, 60), (4, 60, 5)] {
        cache.rollback_to(cut).expect("rollback");
        model.truncate(cut as usize + 1);
        check_spent(&cache.view(), &model, &seen);
        let mut chain = Chain::after(cache.tip().expect("tip"), fork);
        grow(&mut cache, &mut model, &mut chain, count, &mut rng);
        all_hashes(&model, &mut seen);
        check_spent(&cache.view(), &model, &seen);
        assert_holds(&cache.view(), &model);
    }
    check_spent(&before, &before_model, &seen);

    drop(cache);
    check_spent(&CacheView::open(dir.path()).expect("reader"), &model, &seen);
    let mut cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    check_spent(&cache.view(), &model, &seen);
    let mut chain = Chain::after(cache.tip().expect("tip"), 9);
    grow(&mut cache, &mut model, &mut chain, 25, &mut rng);
    all_hashes(&model, &mut seen);
    check_spent(&cache.view(), &model, &seen);
    cache.view().verify().expect("verifies");
}
