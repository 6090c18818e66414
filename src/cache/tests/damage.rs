//! Damaged data files: truncation, flipped bytes, impossible offsets, and random damage. Opening either
//! fails with a typed error or recovers to an older published state; a flipped byte anywhere a state
//! publishes fails its open; reading never panics, even on bytes a faulty writer checksummed; a view
//! that passes `verify` holds exactly a chain that was published.

use std::fs::{self, OpenOptions};

use super::*;
use crate::cache::files::{Part, segment_path};

/// The output file of the single segment of a default-options cache.
fn outputs_file(view: &CacheView) -> std::path::PathBuf {
    let id = view.state().header.segments[0].id;
    segment_path(&view.state().dir, id, Part::Outputs)
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(len)
        .expect("set_len");
}

/// Two publishes into one segment: 10 blocks, then 10 more.
fn two_publishes(dir: &Path) -> (Vec<BlockData>, Vec<BlockData>, u64) {
    let mut cache = Cache::create(dir, 0).expect("create");
    let mut chain = Chain::new(0, 0);
    let older = chain.blocks(10);
    cache.append_blocks(&older).expect("append");
    let older_len = cache.view().output_count() * 128;
    let newer: Vec<_> = older.iter().cloned().chain(chain.blocks(10)).collect();
    cache.append_blocks(&newer[10..]).expect("append");
    assert_eq!(cache.view().state().header.segments.len(), 1);
    (older, newer, older_len)
}

#[test]
fn truncated_data_falls_back_to_an_older_state_or_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (older, _, older_len) = two_publishes(dir.path());
    let path = outputs_file(&CacheView::open(dir.path()).expect("open"));

    set_len(&path, older_len + 100);
    let mut cache = Cache::open(dir.path()).expect("recovers");
    assert!(
        matches!(cache.recovered(), Some(CacheError::Truncated { .. })),
        "{:?}",
        cache.recovered()
    );
    assert_holds(&cache.view(), &older);
    // The abandoned newer state may still be mapped by a reader: appends go to a new segment rather
    // than cutting the old one.
    let old_segment = cache.view().state().header.segments[0].id;
    let more = Chain::after(cache.tip().expect("tip"), 6).blocks(4);
    cache.append_blocks(&more).expect("append");
    let segments: Vec<u64> = cache.view().state().header.segments.iter().map(|s| s.id).collect();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0], old_segment);
    assert_holds(&cache.view(), &[older.clone(), more].concat());
    drop(cache);
    set_len(&path, older_len + 100);
    let cache = Cache::open(dir.path()).expect("intact segment");
    assert!(cache.recovered().is_none());
    drop(cache);

    set_len(&path, older_len - 1);
    let error = CacheView::open(dir.path()).err().expect("nothing left to open");
    assert!(
        matches!(&error, CacheError::Truncated { len, .. } if *len == older_len - 1),
        "{error}"
    );
    assert!(matches!(Cache::open(dir.path()), Err(CacheError::Truncated { .. })));
}

#[test]
fn damaged_tip_block_falls_back_and_older_damage_fails_the_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (older, newer, _) = two_publishes(dir.path());
    let path = outputs_file(&CacheView::open(dir.path()).expect("open"));
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 60;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).expect("write");
    // The newest state's checksum covers the flipped byte, the older state's does not.
    let cache = Cache::open(dir.path()).expect("recovers");
    assert!(
        matches!(cache.recovered(), Some(CacheError::Damaged(d)) if d.path == path),
        "{:?}",
        cache.recovered()
    );
    assert_holds(&cache.view(), &older);
    drop(cache);

    bytes[last] ^= 1;
    bytes[40] ^= 1; // the commitment of output 0, in the first block with outputs
    fs::write(&path, &bytes).expect("write");
    // Both states cover it: the cache does not open, and says which segment and how to rebuild.
    let error = CacheView::open(dir.path())
        .err()
        .expect("damage in the middle is found at open");
    let CacheError::Damaged(damage) = &error else {
        panic!("{error}")
    };
    assert_eq!(
        (&damage.path, damage.heights.clone()),
        (&path, 0..=newer.len() as u64 - 1)
    );
    assert_eq!(error.code(), "CACHE_DAMAGED");
    assert!(error.to_string().contains("fill it again"), "{error}");
    assert!(Cache::open(dir.path()).is_err());

    // Bytes a writer got wrong under a right checksum: the block checksum still finds them.
    reseal(dir.path());
    let view = CacheView::open(dir.path()).expect("the file checksums match");
    let first_with_outputs = newer.iter().find(|b| !b.outputs.is_empty()).expect("outputs").height;
    let error = view.verify().expect_err("verify reads everything");
    assert!(
        matches!(error, CacheError::BlockChecksum { height, .. } if height == first_with_outputs),
        "{error}"
    );
}

#[test]
fn impossible_blob_offset_reads_as_empty_and_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_publishes(dir.path());
    let path = outputs_file(&CacheView::open(dir.path()).expect("open"));
    let mut bytes = fs::read(&path).expect("read");
    bytes[104..112].copy_from_slice(&u64::MAX.to_le_bytes());
    fs::write(&path, &bytes).expect("write");
    assert!(matches!(CacheView::open(dir.path()), Err(CacheError::Damaged(_))));
    // Written so by a writer (checksums that match): reading copes.
    reseal(dir.path());
    let view = CacheView::open(dir.path()).expect("open");
    let out = view.output(0);
    assert!(out.script.is_empty() && out.encrypted_data.is_empty());
    assert!(matches!(view.try_output(0), Err(CacheError::Corrupt { .. })));
    assert!(view.verify().is_err());
}

/// A tiny deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for name in file_names(from) {
        fs::copy(from.join(&name), to.join(&name)).expect("copy");
    }
}

/// Everything a reader can do with a view; must not panic whatever the bytes.
fn exercise(view: &CacheView) {
    let n = view.output_count();
    for o in view.outputs(0..n) {
        std::hint::black_box(o);
    }
    for i in (0..n).step_by(3) {
        let _ = view.try_output(i);
        let _ = view.output_height(i);
    }
    for b in view.blocks(..) {
        for h in b.spent {
            let _ = view.spent_by(h);
        }
    }
    let _ = view.chunks(4);
    let _ = view.first_output_at(7);
    let _ = view.spent_by(&output_hash(0, 3, 0));
}

#[test]
fn random_damage_never_panics_and_never_verifies_wrong() {
    let good = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(good.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let mut blocks = chain.blocks(12);
    for h in 12..30u64 {
        blocks.push(chain.block(h % 4, vec![output_hash(0, h - 10, 0), output_hash(0, h - 11, 1)]));
    }
    cache.append_blocks(&blocks[..20]).expect("append");
    cache.append_blocks(&blocks[20..]).expect("append");
    drop(cache);
    let published = [&blocks[..20], &blocks[..]];

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let names = file_names(good.path());
    for round in 0..120 {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(good.path(), dir.path());
        for _ in 0..=rng.below(3) {
            let path = dir.path().join(&names[rng.below(names.len() as u64) as usize]);
            let mut bytes = fs::read(&path).expect("read");
            match rng.below(4) {
                0 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                1 => bytes.extend((0..rng.below(300)).map(|_| rng.next() as u8)),
                _ if !bytes.is_empty() => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                _ => {}
            }
            fs::write(&path, &bytes).expect("write");
        }
        // Every other round the damage comes with matching file checksums, as a faulty writer would
        // leave it, so it reaches the checks behind them.
        if round % 2 == 1 {
            reseal(dir.path());
        }
        let Ok(view) = CacheView::open(dir.path()) else {
            continue;
        };
        exercise(&view);
        if view.verify().is_ok() {
            let matching = published.iter().find(|p| p.len() as u64 == view.block_count());
            let chain = matching.unwrap_or_else(|| panic!("round {round}: verified a chain never published"));
            assert_holds(&view, chain);
            for b in chain.iter() {
                for h in &b.spent {
                    assert_eq!(view.spent_by(h), naive_spent_by(chain, h), "round {round}");
                }
            }
        }
        // The writer must cope too: open, append, roll back, whatever it reports (every other round:
        // its publishes fsync).
        if round % 2 == 0
            && let Ok(mut cache) = Cache::open_with(dir.path(), SMALL)
        {
            if let Some(tip) = cache.tip() {
                let _ = cache.append_block(&Chain::after(tip, 5).block(3, vec![]));
                let _ = cache.rollback_to(tip.height.saturating_sub(7));
            }
            exercise(&cache.view());
        }
    }
}
