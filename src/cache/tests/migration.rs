//! Format migration: a format-2 cache (no offsets files) reads as it is, and the writer brings it to the
//! current format when it opens it, crash-safely, with every record and scan input unchanged (format 3
//! is in `integrity.rs`).

use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_POINT, scalar::Scalar};

use super::{Chain, SMALL, assert_holds, file_names};
use crate::{
    cache::{
        BlockData, Cache, CacheError, CacheView,
        header::{Header, LEGACY_VERSION, SLOTS},
    },
    recognize::stored_offset,
};

/// A chain whose outputs alternate valid sender offset points with bytes that are none.
fn chain() -> Vec<BlockData> {
    let mut blocks = Chain::new(0, 0).blocks(30);
    for (i, out) in blocks.iter_mut().flat_map(|b| b.outputs.iter_mut()).enumerate() {
        if i % 2 == 0 {
            let point = Scalar::from(i as u64 + 3) * RISTRETTO_BASEPOINT_POINT;
            out.sender_offset_public_key = point.compress().to_bytes();
        }
    }
    blocks
}

/// Rewrites the cache in `dir` as format 2 wrote it: both slots say version 2, no offsets files.
fn downgrade(dir: &std::path::Path) {
    for name in SLOTS {
        let path = dir.join(name);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let mut header = Header::decode(&bytes, &path).expect("valid slot");
        header.version = LEGACY_VERSION;
        std::fs::write(&path, header.encode()).expect("rewrite slot");
    }
    for name in file_names(dir).iter().filter(|n| n.ends_with(".offsets")) {
        std::fs::remove_file(dir.join(name)).expect("remove offsets");
    }
}

fn assert_offsets(view: &CacheView, chain: &[BlockData], stored: bool) {
    let expected = chain.iter().flat_map(|b| &b.outputs);
    for (record, out) in view.outputs(0..u64::MAX).zip(expected) {
        let want = stored.then(|| stored_offset::encode(&out.sender_offset_public_key));
        assert_eq!(record.stored_offset.copied(), want);
    }
}

#[test]
fn a_format_2_cache_reads_as_is_and_migrates_when_the_writer_opens_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = chain();
    let mut cache = Cache::create_with(dir.path(), 7, SMALL).expect("create");
    cache.append_blocks(&blocks).expect("append");
    assert_offsets(&cache.view(), &blocks, true);
    drop(cache);
    downgrade(dir.path());

    // Read-only: the scan decompresses each key, every record as before.
    let legacy = CacheView::open(dir.path()).expect("format 2 opens read-only");
    assert_eq!(legacy.format_version(), 2);
    assert_holds(&legacy, &blocks);
    assert_offsets(&legacy, &blocks, false);

    // A crash after some offsets files of a migration were written, before its header: debris.
    let first_segment = file_names(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".outputs"))
        .expect("a segment");
    let debris = dir.path().join(first_segment.replace(".outputs", ".offsets"));
    std::fs::write(&debris, b"torn").expect("debris");

    let mut cache = Cache::open_with(dir.path(), SMALL).expect("migrates");
    assert_eq!(cache.migrated_from(), Some(2));
    assert_eq!(cache.view().format_version(), crate::cache::FORMAT_VERSION);
    assert_holds(&cache.view(), &blocks);
    assert_offsets(&cache.view(), &blocks, true);
    // The old snapshot keeps reading the format-2 state.
    assert_offsets(&legacy, &blocks, false);
    let segments = file_names(dir.path())
        .iter()
        .filter(|n| n.ends_with(".outputs"))
        .count();
    let offsets = file_names(dir.path())
        .iter()
        .filter(|n| n.ends_with(".offsets"))
        .count();
    assert_eq!(segments, offsets);

    // It keeps appending and rolling back in the current format, and opens again without migrating.
    let mut more = blocks.clone();
    let tip = cache.tip().expect("tip");
    let next = Chain::after(tip, 1).blocks(9);
    cache.append_blocks(&next).expect("append after migration");
    more.extend(next);
    assert_holds(&cache.view(), &more);
    cache.rollback_to(20).expect("rollback");
    more.truncate(21);
    assert_holds(&cache.view(), &more);
    assert_offsets(&cache.view(), &more, true);
    drop(cache);
    let cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    assert_eq!(cache.migrated_from(), None);
    assert_holds(&cache.view(), &more);
    assert_offsets(&CacheView::open(dir.path()).expect("reader"), &more, true);
}

#[test]
fn a_wrong_offsets_file_fails_the_open_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = chain();
    let mut cache = Cache::create_with(dir.path(), 7, SMALL).expect("create");
    cache.append_blocks(&blocks).expect("append");
    let last = file_names(dir.path())
        .into_iter()
        .rfind(|n| n.ends_with(".offsets"))
        .expect("offsets");
    drop(cache);
    let path = dir.path().join(last);
    let mut bytes = std::fs::read(&path).expect("read");
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    // The newest state is refused; the one before it (the empty cache) opens, saying why.
    let cache = Cache::open_with(dir.path(), SMALL).expect("opens an older state");
    let why = cache.recovered().expect("fell back");
    assert!(matches!(why, CacheError::Damaged(d) if d.path == path), "{why}");
    assert_eq!(cache.tip(), None);
    drop(cache);
    // The same bytes under a matching checksum (a faulty writer): the check of the last offset finds them.
    std::fs::write(&path, &bytes).expect("write");
    super::reseal(dir.path());
    let cache = Cache::open_with(dir.path(), SMALL).expect("opens an older state");
    let why = cache.recovered().expect("fell back").to_string();
    assert!(why.contains("stored offset"), "{why}");
}
