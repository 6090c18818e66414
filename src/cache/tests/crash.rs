//! Crashes and header damage: a crash between the data write and the publish, a torn or rotted header
//! slot, a foreign or newer header, and leftovers of abandoned work.

use std::fs;

use super::*;
use crate::cache::{
    files::names,
    header::{FORMAT_VERSION, SLOTS, read_slots},
};

fn newest_slot(view: &CacheView) -> std::path::PathBuf {
    view.state().dir.join(SLOTS[(view.sequence() % 2) as usize])
}

/// Files the directory should hold: the lock, the slots, and the files both slots name.
fn expected_files(dir: &Path) -> Vec<String> {
    let slots = read_slots(dir).expect("slots");
    let mut expected: Vec<String> = slots
        .newest_first
        .iter()
        .flat_map(|h| names(h).collect::<Vec<_>>())
        .collect();
    expected.extend(["lock", "head.0", "head.1"].map(String::from));
    expected.sort();
    expected.dedup();
    expected
}

#[test]
fn crash_between_data_write_and_publish_keeps_the_last_published_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let first = chain.blocks(6);
    cache.append_blocks(&first).expect("append");
    let tip = cache.tip().expect("tip");

    let mut batch = cache.batch();
    for block in chain.blocks(15) {
        batch.append(&block).expect("stage");
    }
    // The crash: no publish, no discard. Dropping the writer flushes its buffers, so the unpublished
    // blocks really are in the files, past the published lengths, and in new segment files.
    std::mem::forget(batch);
    drop(cache);
    assert_ne!(
        file_names(dir.path()),
        expected_files(dir.path()),
        "unpublished segment files on disk"
    );

    let mut cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    assert!(cache.recovered().is_none());
    assert_holds(&cache.view(), &first);
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &first);

    // Appending a different branch from the same tip must not pick up any of the abandoned bytes.
    let mut fork = Chain::after(tip, 9);
    let more = fork.blocks(15);
    cache.append_blocks(&more).expect("append after crash");
    let extra = fork.block(2, vec![]);
    cache.append_block(&extra).expect("one more publish");
    let all: Vec<_> = first.iter().chain(&more).chain([&extra]).cloned().collect();
    assert_holds(&cache.view(), &all);
    assert_eq!(
        file_names(dir.path()),
        expected_files(dir.path()),
        "abandoned files collected"
    );
    drop(cache);
    assert_holds(&Cache::open_with(dir.path(), SMALL).expect("reopen").view(), &all);
}

#[test]
fn leftover_files_are_ignored_then_collected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let first = chain.blocks(10);
    cache.append_blocks(&first).expect("append");
    drop(cache);
    // What a crash after writing a run or a rollback copy, before the header, leaves behind.
    fs::write(dir.path().join("run-0000009999.index"), [1u8; 40]).expect("write");
    fs::write(dir.path().join("seg-0000009998.outputs"), [2u8; 128]).expect("write");
    fs::write(dir.path().join("notes.txt"), b"not ours").expect("write");

    let mut cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    assert_holds(&cache.view(), &first);
    cache.append_block(&chain.block(1, vec![])).expect("publish");
    let mut expected = expected_files(dir.path());
    expected.push("notes.txt".into());
    expected.sort();
    assert_eq!(file_names(dir.path()), expected);
}

fn two_states(dir: &Path) -> (Vec<BlockData>, Vec<BlockData>, Chain) {
    let mut cache = Cache::create_with(dir, 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let older = chain.blocks(8);
    cache.append_blocks(&older).expect("append");
    let newer: Vec<_> = older.iter().cloned().chain(chain.blocks(8)).collect();
    cache.append_blocks(&newer[8..]).expect("append");
    (older, newer, chain)
}

#[test]
fn torn_newest_header_falls_back_to_the_previous_publish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (older, _, _) = two_states(dir.path());
    let slot = newest_slot(&CacheView::open(dir.path()).expect("open"));
    let bytes = fs::read(&slot).expect("read");
    fs::write(&slot, &bytes[..bytes.len() / 2]).expect("tear");

    let mut cache = Cache::open_with(dir.path(), SMALL).expect("recovers");
    assert!(
        matches!(cache.recovered(), Some(CacheError::Truncated { .. })),
        "{:?}",
        cache.recovered()
    );
    assert_holds(&cache.view(), &older);
    assert_holds(&CacheView::open(dir.path()).expect("reader"), &older);

    // The next publish rewrites the torn slot and the cache carries on from the older state.
    let mut chain = Chain::after(cache.tip().expect("tip"), 3);
    let more = chain.blocks(5);
    cache.append_blocks(&more).expect("append");
    drop(cache);
    let cache = Cache::open_with(dir.path(), SMALL).expect("reopen");
    assert!(cache.recovered().is_none());
    assert_holds(&cache.view(), &[older, more].concat());
}

#[test]
fn rotted_newest_header_falls_back_and_both_rotted_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (older, _, _) = two_states(dir.path());
    let newest = newest_slot(&CacheView::open(dir.path()).expect("open"));
    let flip = |path: &Path| {
        let mut bytes = fs::read(path).expect("read");
        bytes[40] ^= 0x10;
        fs::write(path, bytes).expect("write");
    };
    flip(&newest);
    let view = CacheView::open(dir.path()).expect("recovers");
    assert_holds(&view, &older);
    assert!(matches!(
        Cache::open(dir.path()).expect("writer").recovered(),
        Some(CacheError::BadChecksum { .. })
    ));

    for name in SLOTS {
        if dir.path().join(name) != newest {
            flip(&dir.path().join(name));
        }
    }
    let error = CacheView::open(dir.path()).err().expect("both damaged");
    assert!(matches!(error, CacheError::BadChecksum { .. }), "{error}");
    assert!(matches!(Cache::open(dir.path()), Err(CacheError::BadChecksum { .. })));
    for name in SLOTS {
        fs::write(dir.path().join(name), b"").expect("empty");
    }
    assert!(matches!(CacheView::open(dir.path()), Err(CacheError::Truncated { .. })));
}

#[test]
fn wrong_magic_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (older, _, _) = two_states(dir.path());
    let newest = newest_slot(&CacheView::open(dir.path()).expect("open"));
    let mut bytes = fs::read(&newest).expect("read");
    bytes[..8].copy_from_slice(b"SQLite f");
    fs::write(&newest, &bytes).expect("write");
    // One foreign slot: the other still opens.
    assert_holds(&CacheView::open(dir.path()).expect("recovers"), &older);
    for name in SLOTS {
        fs::write(dir.path().join(name), &bytes).expect("write");
    }
    let error = CacheView::open(dir.path()).err().expect("foreign");
    assert!(
        matches!(&error, CacheError::BadMagic { found, .. } if found == &hex::encode(b"SQLite f")),
        "{error}"
    );
}

#[test]
fn newer_version_is_refused_even_with_a_valid_older_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_states(dir.path());
    let newest = newest_slot(&CacheView::open(dir.path()).expect("open"));
    let mut bytes = fs::read(&newest).expect("read");
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    fs::write(&newest, &bytes).expect("write");
    for error in [CacheView::open(dir.path()).err(), Cache::open(dir.path()).err()] {
        assert!(
            matches!(
                error,
                Some(CacheError::UnsupportedVersion {
                    found,
                    supported: FORMAT_VERSION,
                    ..
                }) if found == FORMAT_VERSION + 1
            ),
            "{error:?}"
        );
    }
}

#[test]
fn a_header_whose_fsync_failed_counts_as_published_and_nothing_it_names_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create_with(dir.path(), 0, SMALL).expect("create");
    let mut chain = Chain::new(0, 0);
    let first: Vec<_> = (0..2).map(|_| chain.block(1, vec![])).collect();
    cache.append_blocks(&first).expect("append");
    let tip = cache.tip().expect("tip");

    // The slot's bytes are written, then its fsync fails: the writer reports the error and keeps its
    // published state, but the header is on disk all the same.
    let failed: Vec<_> = (0..2).map(|_| chain.block(1, vec![])).collect();
    crate::cache::files::injected_faults::SLOT_SYNC_FAILS.set(true);
    assert!(cache.append_blocks(&failed).is_err());
    assert_eq!(cache.tip(), Some(tip));
    // A reader in another process opens the directory meanwhile and maps what that header names.
    let reader = CacheView::open(dir.path()).expect("reader");
    let seen: Vec<_> = first.iter().chain(&failed).cloned().collect();
    assert_holds(&reader, &seen);
    let lengths: Vec<(String, u64)> = file_names(dir.path())
        .into_iter()
        .filter(|name| name.starts_with("seg") || name.starts_with("run"))
        .map(|name| {
            let len = fs::metadata(dir.path().join(&name)).expect("file").len();
            (name, len)
        })
        .collect();

    // The writer goes on from its published tip, on another branch, over several publishes.
    let mut fork = Chain::after(tip, 9);
    let more: Vec<_> = (0..3).map(|_| fork.block(1, vec![])).collect();
    for block in &more {
        cache.append_block(block).expect("append after the failure");
    }
    for (name, len) in &lengths {
        if let Ok(now) = fs::metadata(dir.path().join(name)) {
            assert!(
                now.len() >= *len,
                "{name} was cut from {len} to {} under a reader",
                now.len()
            );
        }
    }
    // Reading every byte of the reader's snapshot would raise SIGBUS past a cut.
    assert_holds(&reader, &seen);
    let all: Vec<_> = first.iter().chain(&more).cloned().collect();
    assert_holds(&cache.view(), &all);
    drop(cache);
    assert_holds(&Cache::open_with(dir.path(), SMALL).expect("reopen").view(), &all);
}
