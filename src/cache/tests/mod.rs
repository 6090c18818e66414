//! Cache tests: shared chain builders and checks, and the small tests of opening and locking. Round trips,
//! crashes, damage and rollbacks have their own files.

mod crash;
mod damage;
mod integrity;
mod migration;
mod rollback;
mod roundtrip;

use std::path::Path;

use super::{BlockData, Cache, CacheError, CacheOptions, CacheView, OutputData, Tip};

/// Small segments and a small spent tail, so a few dozen blocks cross every boundary.
pub(super) const SMALL: CacheOptions = CacheOptions {
    segment_outputs: 7,
    spent_tail_max: 5,
};

/// Deterministic 32 bytes from a tag and two numbers (splitmix64).
pub(super) fn bytes32(tag: u8, a: u64, b: u64) -> [u8; 32] {
    let mut x = (u64::from(tag) << 56) ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.rotate_left(29);
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// Hash of output `i` of the block at `height` on fork `fork`.
pub(super) fn output_hash(fork: u8, height: u64, i: u64) -> [u8; 32] {
    bytes32(fork.wrapping_add(100), height, i)
}

pub(super) fn output(fork: u8, height: u64, i: u64) -> OutputData {
    let n = height * 31 + i * 7 + u64::from(fork);
    OutputData {
        output_hash: output_hash(fork, height, i),
        commitment: bytes32(1, n, 1),
        sender_offset_public_key: bytes32(2, n, 2),
        // Every length the chain allows, and now and then an empty script.
        encrypted_data: (0..80 + n % 257).map(|k| (k as u8) ^ (n as u8)).collect(),
        script: if n.is_multiple_of(5) {
            vec![]
        } else {
            vec![0x7e ^ n as u8; 33]
        },
        output_type: (n % 5) as u8,
        maturity: n * 1000,
    }
}

/// Builds blocks on top of a tip, one fork tag per branch.
pub(super) struct Chain {
    pub fork: u8,
    pub next_height: u64,
    pub prev_hash: [u8; 32],
}

impl Chain {
    pub fn new(fork: u8, first_height: u64) -> Chain {
        Chain {
            fork,
            next_height: first_height,
            prev_hash: [0; 32],
        }
    }

    /// Continues from `tip` on a new fork.
    pub fn after(tip: Tip, fork: u8) -> Chain {
        Chain {
            fork,
            next_height: tip.height + 1,
            prev_hash: tip.hash,
        }
    }

    pub fn block(&mut self, outputs: u64, spent: Vec<[u8; 32]>) -> BlockData {
        let height = self.next_height;
        let block = BlockData {
            height,
            hash: bytes32(self.fork, height, 0xb10c),
            prev_hash: self.prev_hash,
            timestamp: 1_700_000_000 + height * 120,
            outputs: (0..outputs).map(|i| output(self.fork, height, i)).collect(),
            spent,
            output_details: true,
        };
        self.next_height += 1;
        self.prev_hash = block.hash;
        block
    }

    /// `count` blocks with 0..=5 outputs each, none spending.
    pub fn blocks(&mut self, count: u64) -> Vec<BlockData> {
        (0..count)
            .map(|_| self.block((self.next_height * 7 + u64::from(self.fork)) % 6, vec![]))
            .collect()
    }
}

/// Asserts that `view` holds exactly `chain`, record by record, through every read path.
pub(super) fn assert_holds(view: &CacheView, chain: &[BlockData]) {
    assert_eq!(view.block_count(), chain.len() as u64);
    assert_eq!(view.first_height(), chain.first().map(|b| b.height));
    assert_eq!(
        view.tip(),
        chain.last().map(|b| Tip {
            height: b.height,
            hash: b.hash
        })
    );
    let total: u64 = chain.iter().map(|b| b.outputs.len() as u64).sum();
    assert_eq!(view.output_count(), total);
    let mut index = 0u64;
    for block in chain {
        let record = view.block(block.height).expect("block held");
        assert_eq!(
            (record.height, *record.hash, *record.prev_hash),
            (block.height, block.hash, block.prev_hash)
        );
        assert_eq!(record.timestamp, block.timestamp);
        assert_eq!(record.outputs, index..index + block.outputs.len() as u64);
        assert_eq!(record.spent, &block.spent[..]);
        assert_eq!(view.first_output_at(block.height), index);
        for (k, out) in block.outputs.iter().enumerate() {
            let got = view.output(index + k as u64);
            assert_eq!(got, view.try_output(index + k as u64).expect("intact"));
            assert_eq!(*got.output_hash, out.output_hash);
            assert_eq!(*got.commitment, out.commitment);
            assert_eq!(*got.sender_offset_public_key, out.sender_offset_public_key);
            // "Not stored" (a build that could not store it wrote it) is read by decompressing.
            if let Some(stored) = got
                .stored_offset
                .filter(|s| **s != crate::recognize::stored_offset::NOT_STORED)
            {
                assert_eq!(
                    *stored,
                    crate::recognize::stored_offset::encode(&out.sender_offset_public_key)
                );
            }
            assert_eq!(got.encrypted_data, &out.encrypted_data[..]);
            assert_eq!(got.script, &out.script[..]);
            assert_eq!((got.output_type, got.maturity), (out.output_type, out.maturity));
            assert_eq!(view.output_height(index + k as u64), Some(block.height));
        }
        index += block.outputs.len() as u64;
    }
    let streamed: Vec<_> = view.outputs(0..u64::MAX).map(|o| *o.output_hash).collect();
    let expected: Vec<_> = chain
        .iter()
        .flat_map(|b| b.outputs.iter().map(|o| o.output_hash))
        .collect();
    assert_eq!(streamed, expected);
    assert!(view.get_output(total).is_none());
    assert!(matches!(
        view.try_output(total),
        Err(CacheError::OutputOutOfRange { .. })
    ));
    view.verify().expect("verifies");
}

/// The spend of `hash` in `chain`, computed the slow way.
pub(super) fn naive_spent_by(chain: &[BlockData], hash: &[u8; 32]) -> Option<(u64, [u8; 32])> {
    chain
        .iter()
        .find(|b| b.spent.contains(hash))
        .map(|b| (b.height, b.hash))
}

/// Sets the file checksums in both header slots to what the segment files hold now, as a writer that
/// wrote wrong bytes would have: the damage then reaches the checks behind the checksums.
pub(super) fn reseal(dir: &Path) {
    use super::{
        files::{Part, segment_path},
        header::{Header, SLOTS},
        state::part_lens,
    };
    for name in SLOTS {
        let path = dir.join(name);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(mut header) = Header::decode(&bytes, &path) else {
            continue;
        };
        let has_offsets = header.has_offsets();
        for meta in &mut header.segments {
            let lens = part_lens(meta, has_offsets).expect("lengths");
            for part in Part::ALL {
                let file = std::fs::read(segment_path(dir, meta.id, part)).unwrap_or_default();
                let len = (lens[part as usize] as usize).min(file.len());
                meta.crcs[part as usize] = crc32fast::hash(&file[..len]);
            }
        }
        std::fs::write(&path, header.encode()).expect("rewrite slot");
    }
}

pub(super) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn views_and_writer_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CacheView>();
    send::<Cache>();
}

#[test]
fn create_then_open_an_empty_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::create(dir.path(), 0x26).expect("create");
    assert_eq!((cache.network(), cache.tip()), (0x26, None));
    let view = cache.view();
    assert_eq!(
        (view.block_count(), view.output_count(), view.first_height()),
        (0, 0, None)
    );
    assert_eq!(view.outputs(0..10).count(), 0);
    assert_eq!(view.blocks(..).count(), 0);
    assert!(view.chunks(100).is_empty());
    assert_eq!(view.spent_by(&[0; 32]), None);
    view.verify().expect("empty verifies");
    drop(cache);
    let cache = Cache::open(dir.path()).expect("open");
    assert_eq!(
        (cache.network(), cache.tip(), cache.recovered().is_none()),
        (0x26, None, true)
    );
}

#[test]
fn create_refuses_an_existing_cache_and_open_a_missing_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(Cache::open(dir.path()), Err(CacheError::NotFound { .. })));
    assert!(matches!(CacheView::open(dir.path()), Err(CacheError::NotFound { .. })));
    assert!(matches!(
        Cache::open(dir.path().join("nope")),
        Err(CacheError::NotFound { .. })
    ));
    drop(Cache::create(dir.path(), 1).expect("create"));
    assert!(matches!(
        Cache::create(dir.path(), 1),
        Err(CacheError::AlreadyExists { .. })
    ));
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::create(dir.path(), 1).expect("create");
    assert!(matches!(Cache::open(dir.path()), Err(CacheError::Locked { .. })));
    // Readers take no lock.
    CacheView::open(dir.path()).expect("reader");
    drop(cache);
    Cache::open(dir.path()).expect("lock released on drop");
}
