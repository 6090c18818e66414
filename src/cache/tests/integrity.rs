//! Checksums over every file: a flipped byte in any file of a segment, or of a run, fails the open and
//! names the file; a grown segment is checked over its new bytes only, and a full re-check finds damage
//! done after that; format 3 is read with its block checksums and migrated with file checksums (its
//! offsets checked first); offsets a build could not store are recorded per segment, never refused.

use std::{fs, path::Path};

use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_POINT, scalar::Scalar};

use super::*;
use crate::{
    cache::{
        files::{Part, segment_path},
        header::{Header, SLOTS},
    },
    recognize::stored_offset,
};

/// A cache of several segments and spent-index runs, published in two steps, the last adding one empty
/// block: every byte but that block's record is covered by both header slots, so damage anywhere in
/// the middle of a file cannot be skipped by falling back to the older slot.
fn two_slot_cache(dir: &Path) -> Vec<BlockData> {
    let mut cache = Cache::create_with(dir, 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let mut blocks = chain.blocks(12);
    for h in 12..30u64 {
        blocks.push(chain.block(h % 4 + 1, vec![output_hash(0, h - 10, 0), output_hash(0, h - 11, 1)]));
    }
    // Half the sender offset keys are points (the rest do not decompress), so offsets files hold both.
    for (i, out) in blocks.iter_mut().flat_map(|b| b.outputs.iter_mut()).enumerate() {
        if i % 2 == 0 {
            let point = Scalar::from(i as u64 + 3) * RISTRETTO_BASEPOINT_POINT;
            out.sender_offset_public_key = point.compress().to_bytes();
        }
    }
    cache.append_blocks(&blocks).expect("append");
    let empty = chain.block(0, vec![]);
    cache.append_block(&empty).expect("append");
    blocks.push(empty);
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    for name in file_names(from) {
        fs::copy(from.join(&name), to.join(&name)).expect("copy");
    }
}

fn flip_middle(path: &Path) {
    let mut bytes = fs::read(path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(path, &bytes).expect("write");
}

/// Rewrites both header slots through `edit`.
fn edit_slots(dir: &Path, edit: impl Fn(&mut Header)) {
    for name in SLOTS {
        let path = dir.join(name);
        let Ok(bytes) = fs::read(&path) else { continue };
        let mut header = Header::decode(&bytes, &path).expect("valid slot");
        edit(&mut header);
        fs::write(&path, header.encode()).expect("rewrite slot");
    }
}

#[test]
fn a_flipped_byte_in_any_file_fails_the_open_and_names_it() {
    let good = tempfile::tempdir().expect("tempdir");
    let blocks = two_slot_cache(good.path());
    assert_holds(&CacheView::open(good.path()).expect("intact"), &blocks);
    let files: Vec<String> = file_names(good.path())
        .into_iter()
        .filter(|n| n.starts_with("seg-") || n.starts_with("run-"))
        .collect();
    for kind in [".blocks", ".outputs", ".spent", ".blobs", ".offsets", ".index"] {
        assert!(files.iter().any(|n| n.ends_with(kind)), "the cache has {kind} files");
    }
    for name in &files {
        if fs::metadata(good.path().join(name)).expect("a file").len() == 0 {
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(good.path(), dir.path());
        let path = dir.path().join(name);
        flip_middle(&path);
        for error in [
            CacheView::open(dir.path()).err().expect("the reader refuses"),
            Cache::open_with(dir.path(), SMALL).err().expect("the writer refuses"),
        ] {
            let CacheError::Damaged(damage) = &error else {
                panic!("{name}: {error}")
            };
            assert_eq!(damage.path, path, "{name}");
            assert_eq!(error.code(), "CACHE_DAMAGED");
            assert!(error.to_string().contains(name.as_str()), "{error}");
        }
        let report = crate::cache::verify_dir(dir.path()).expect("a header");
        assert_eq!(report.damaged.len(), 1, "{name}: {:?}", report.damaged);
        assert_eq!(report.damaged[0].path, path);
    }
    let report = crate::cache::verify_dir(good.path()).expect("a header");
    assert!(
        report.damaged.is_empty() && report.segments > 3 && report.runs > 0,
        "{report:?}"
    );
}

#[test]
fn every_damaged_segment_is_reported_not_only_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_slot_cache(dir.path());
    let outputs: Vec<String> = file_names(dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".outputs"))
        .collect();
    for name in [&outputs[0], &outputs[2]] {
        flip_middle(&dir.path().join(name));
    }
    let _ = fs::remove_file(dir.path().join(outputs[1].replace(".outputs", ".blobs")));
    let report = crate::cache::verify_dir(dir.path()).expect("a header");
    let damaged: Vec<u64> = report.damaged.iter().map(|d| d.file_id).collect();
    assert_eq!(damaged.len(), 3, "{:?}", report.damaged);
    assert!(damaged.windows(2).all(|w| w[0] < w[1]), "oldest first");
}

#[test]
fn a_grown_segment_is_checked_over_its_new_bytes_and_a_full_check_finds_later_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create(dir.path(), 0).expect("create");
    let mut chain = Chain::new(0, 0);
    let mut blocks = chain.blocks(10);
    cache.append_blocks(&blocks).expect("append");
    let reader = CacheView::open(dir.path()).expect("open");
    let more = chain.blocks(10);
    cache.append_blocks(&more).expect("append");
    blocks.extend(more);
    let refreshed = reader.refresh().expect("refresh");
    assert_holds(&refreshed, &blocks);

    // Bytes already checked in this process rot afterwards: refreshing does not read them again...
    let outputs = segment_path(dir.path(), refreshed.state().header.segments[0].id, Part::Outputs);
    let mut bytes = fs::read(&outputs).expect("read");
    bytes[40] ^= 1;
    fs::write(&outputs, &bytes).expect("write");
    let stale = refreshed.refresh().expect("checked once per process");
    assert!(stale.damage().is_empty());
    // ... a full check of the segment does, and every view sharing its maps knows from then on.
    let damage = stale.check_segment(0).expect_err("the full check reads everything");
    assert_eq!(damage.path, outputs);
    assert_eq!(stale.damage(), vec![damage.clone()]);
    assert_eq!(
        refreshed.damage_between(0, 0),
        Some(damage.clone()),
        "shared with the older view"
    );
    assert_eq!(stale.refresh().expect("refresh").damage(), vec![damage.clone()]);
    assert_eq!(stale.damage_between(100, 200), None, "only the segment's blocks");
    assert_eq!(
        cache.view().damage(),
        Vec::<crate::cache::Damage>::new(),
        "the writer mapped its own"
    );
    // A process that maps it anew refuses it.
    assert!(matches!(CacheView::open(dir.path()), Err(CacheError::Damaged(_))));
    assert!(stale.check_run(0).is_ok(), "no run: nothing to check");
}

/// Rewrites a format-4 cache as format 3 wrote it: version 3, no file checksums, no segment flags.
fn to_format_3(dir: &Path) {
    edit_slots(dir, |h| h.version = 3);
}

#[test]
fn format_3_is_read_with_its_block_checksums_and_migrates_to_file_checksums() {
    let good = tempfile::tempdir().expect("tempdir");
    let blocks = two_slot_cache(good.path());
    to_format_3(good.path());
    let view = CacheView::open(good.path()).expect("format 3 opens read-only");
    assert_eq!(view.format_version(), 3);
    assert_holds(&view, &blocks);

    // Its block checksums cover blocks, outputs, spends and blobs: damage there fails the open.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(good.path(), dir.path());
    let blobs = file_names(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".blobs"))
        .expect("blobs");
    flip_middle(&dir.path().join(&blobs));
    let error = CacheView::open(dir.path()).err().expect("refused");
    assert!(
        matches!(&error, CacheError::Damaged(d) if d.what.contains("checksum")),
        "{error}"
    );

    // The writer adds file checksums: format 4, the same files, every byte now covered.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(good.path(), dir.path());
    let cache = Cache::open_with(dir.path(), SMALL).expect("migrates");
    assert_eq!(cache.migrated_from(), Some(3));
    assert_eq!(cache.view().format_version(), crate::cache::FORMAT_VERSION);
    assert_holds(&cache.view(), &blocks);
    assert!(
        cache
            .view()
            .state()
            .header
            .segments
            .iter()
            .all(|s| s.crcs != [0; 5] && !s.offsets_not_stored)
    );
    drop(cache);
    let offsets = file_names(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".offsets"))
        .expect("offsets");
    flip_middle(&dir.path().join(&offsets));
    assert!(matches!(CacheView::open(dir.path()), Err(CacheError::Damaged(_))));

    // A format-3 offsets file the block checksums do not cover is checked entry by entry before the
    // migration vouches for it.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(good.path(), dir.path());
    let first_offsets = dir.path().join(&offsets);
    let mut bytes = fs::read(&first_offsets).expect("read");
    bytes[5] ^= 1; // the first output's x coordinate
    fs::write(&first_offsets, &bytes).expect("write");
    CacheView::open(dir.path()).expect("format 3 cannot tell");
    let error = Cache::open_with(dir.path(), SMALL)
        .err()
        .expect("the migration refuses");
    assert!(
        matches!(&error, CacheError::Damaged(d) if d.path == first_offsets && d.what.contains("output 0")),
        "{error}"
    );
}

/// Replaces every stored point of the segments in `dir` with "not stored", as a build whose point
/// layout probe failed writes them (unusable keys stay all zero, which such a build writes too).
fn as_if_not_stored(dir: &Path) {
    for name in file_names(dir).into_iter().filter(|n| n.ends_with(".offsets")) {
        let path = dir.join(name);
        let mut bytes = fs::read(&path).expect("read");
        for entry in bytes.chunks_exact_mut(stored_offset::STORED_OFFSET_LEN) {
            if entry.iter().any(|&b| b != 0) {
                entry.copy_from_slice(&stored_offset::NOT_STORED);
            }
        }
        fs::write(&path, bytes).expect("write");
    }
}

#[test]
fn offsets_a_build_could_not_store_are_recorded_per_segment_not_refused() {
    let good = tempfile::tempdir().expect("tempdir");
    let blocks = two_slot_cache(good.path());

    // Format 4, segments marked: they open and verify, and scans decompress those keys.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(good.path(), dir.path());
    as_if_not_stored(dir.path());
    edit_slots(dir.path(), |h| {
        h.segments.iter_mut().for_each(|s| s.offsets_not_stored = true)
    });
    reseal(dir.path());
    let view = CacheView::open(dir.path()).expect("opens");
    view.verify().expect("verifies");
    assert_holds(&view, &blocks);
    let not_stored = view
        .outputs(0..u64::MAX)
        .filter(|o| o.stored_offset == Some(&stored_offset::NOT_STORED))
        .count();
    assert!(not_stored > 0);
    // A writer that can store them starts a segment of its own rather than mix the two.
    let mut cache = Cache::open_with(dir.path(), SMALL).expect("writer");
    let segments = cache.view().segment_count();
    let last = *cache.view().state().header.segments.last().expect("segment");
    assert!(last.output_count < SMALL.segment_outputs, "the last segment has room");
    cache
        .append_block(&Chain::after(cache.tip().expect("tip"), 3).block(1, vec![]))
        .expect("append");
    let view = cache.view();
    let header = &view.state().header;
    assert_eq!(header.segments.len(), segments + 1);
    assert!(!header.segments.last().expect("segment").offsets_not_stored);
    drop(cache);

    // The same entries in a segment that says it stored them contradict it.
    edit_slots(dir.path(), |h| {
        h.segments.iter_mut().for_each(|s| s.offsets_not_stored = false)
    });
    let error = CacheView::open(dir.path()).err().expect("refused");
    assert!(error.to_string().contains("stored offset"), "{error}");

    // Format 3 did not record it: such entries are read, never refused, and the migration records it.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(good.path(), dir.path());
    as_if_not_stored(dir.path());
    to_format_3(dir.path());
    let view = CacheView::open(dir.path()).expect("format 3 with entries not stored opens");
    view.verify().expect("and verifies");
    let cache = Cache::open_with(dir.path(), SMALL).expect("migrates");
    let view = cache.view();
    for (i, meta) in view.state().header.segments.iter().enumerate() {
        let any = view.state().offsets(i).contains(&stored_offset::NOT_STORED);
        assert_eq!(meta.offsets_not_stored, any, "segment {}", meta.id);
    }
    assert!(view.state().header.segments.iter().any(|s| s.offsets_not_stored));
    view.verify().expect("verifies after the migration");
}
