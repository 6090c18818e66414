//! Header: the published state of a cache (network, tip, segment list, spent-index runs) and its two
//! checksummed slot files, of which the newest valid one is the truth. Owns the header encoding and slot
//! selection; not the data files it names (see `files`, `state`).
//!
//! Publishing writes slot `seq % 2` whole and fsyncs it, so a crash mid-write tears only the slot being
//! written and the other one, one publish older, still opens.

use std::{
    cmp::Reverse,
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use super::CacheError;

pub(crate) const MAGIC: [u8; 8] = *b"TWSCACHE";
/// Bumped on any incompatible change. A future version keeps magic, version, total length at bytes
/// 0..16 and the trailing checksum, so this build can recognise and refuse it.
pub(crate) const FORMAT_VERSION: u32 = 4;
/// The oldest format still read: as it is (no file checksums; in format 2 no offsets files either, so
/// scans decompress each sender offset key), and migrated to this one by the writer when it opens the
/// cache (`Cache::open`).
pub(crate) const LEGACY_VERSION: u32 = 2;
/// The first version whose segments have an offsets file.
pub(crate) const OFFSETS_SINCE: u32 = 3;
/// The first version whose header holds a CRC-32 of every file of every segment.
pub(crate) const CHECKSUMS_SINCE: u32 = 4;
pub(crate) const SLOTS: [&str; 2] = ["head.0", "head.1"];

const FIXED_LEN: usize = 128;
/// A segment entry up to format 3: seven u64 fields and a reserved one.
const SEGMENT_LEN_V3: usize = 64;
/// A segment entry from format 4 on: the format-3 fields, flags, then the CRC-32 of each of its files.
const SEGMENT_LEN_V4: usize = 96;
/// Segment flag: its offsets file holds "not stored" entries (`stored_offset::NOT_STORED`) rather than
/// points, because the build that wrote it could not store them (its point layout probe failed).
const SEGMENT_OFFSETS_NOT_STORED: u8 = 1;
const RUN_LEN: usize = 40;
/// A header larger than this is corrupt rather than big: it would list over a million segments.
const MAX_HEADER_LEN: u64 = 64 << 20;

/// The last block of a published state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tip {
    pub height: u64,
    pub hash: [u8; 32],
}

/// One segment: a contiguous run of blocks whose records, outputs, spends, blobs and stored offsets live
/// in five files named by `id`. Lengths are the published ones; bytes past them are never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SegmentMeta {
    pub id: u64,
    pub first_height: u64,
    pub block_count: u64,
    /// Global index of the segment's first output.
    pub first_output: u64,
    pub output_count: u64,
    pub spent_count: u64,
    pub blob_len: u64,
    /// The writer could not store sender offset keys (format 4 on; see `SEGMENT_OFFSETS_NOT_STORED`).
    pub offsets_not_stored: bool,
    /// CRC-32 of each file's published bytes, in `Part::ALL` order (format 4 on; zero before).
    pub crcs: [u32; 5],
}

impl SegmentMeta {
    /// Heights of the segment's blocks, for messages.
    pub fn heights(&self) -> std::ops::RangeInclusive<u64> {
        self.first_height..=self.first_height.saturating_add(self.block_count.saturating_sub(1))
    }

    pub fn end_height(&self) -> Option<u64> {
        self.first_height.checked_add(self.block_count)
    }
    pub fn end_output(&self) -> Option<u64> {
        self.first_output.checked_add(self.output_count)
    }
}

/// One immutable spent-index run: entries for spends at heights `from_height..=to_height`. A rollback
/// lowers `to_height`; entries above it are ignored until a merge drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunMeta {
    pub id: u64,
    pub entries: u64,
    pub from_height: u64,
    pub to_height: u64,
    /// CRC-32 of the run file, checked by `CacheView::verify`.
    pub crc: u32,
}

/// A decoded header slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// `FORMAT_VERSION`, or `LEGACY_VERSION` for a slot read from a cache not migrated yet.
    pub version: u32,
    pub seq: u64,
    pub network: u8,
    /// Written by the demo generator (header flag bit 1); fixed at creation.
    pub demo: bool,
    pub tip: Option<Tip>,
    /// Spends at heights below this are in `runs`; spends at or above it are the unindexed tail.
    pub spent_indexed_to: u64,
    /// Ids of new segment and run files are taken from here, so a published id is never reused.
    pub next_file_id: u64,
    pub segments: Vec<SegmentMeta>,
    pub runs: Vec<RunMeta>,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

impl Header {
    pub fn empty(network: u8) -> Header {
        Header {
            version: FORMAT_VERSION,
            seq: 0,
            network,
            demo: false,
            tip: None,
            spent_indexed_to: 0,
            next_file_id: 1,
            segments: vec![],
            runs: vec![],
        }
    }

    /// Whether every segment has an offsets file (format 3 on).
    pub fn has_offsets(&self) -> bool {
        self.version >= OFFSETS_SINCE
    }

    /// Whether every segment's files have their CRC-32 here (format 4 on).
    pub fn has_checksums(&self) -> bool {
        self.version >= CHECKSUMS_SINCE
    }

    fn segment_len(version: u32) -> usize {
        if version >= CHECKSUMS_SINCE {
            SEGMENT_LEN_V4
        } else {
            SEGMENT_LEN_V3
        }
    }

    pub fn block_count(&self) -> u64 {
        self.segments.iter().map(|s| s.block_count).sum()
    }

    pub fn output_count(&self) -> u64 {
        self.segments.last().and_then(SegmentMeta::end_output).unwrap_or(0)
    }

    pub fn first_height(&self) -> Option<u64> {
        self.segments.first().map(|s| s.first_height)
    }

    /// Takes the next file id for a new segment or run.
    pub fn take_file_id(&mut self, dir: &Path) -> Result<u64, CacheError> {
        let id = self.next_file_id;
        self.next_file_id = id
            .checked_add(1)
            .ok_or_else(|| CacheError::corrupt(dir, "file ids exhausted"))?;
        Ok(id)
    }

    /// ```text
    ///   0  magic "TWSCACHE"   8  version u32      12  total_len u32     16  seq u64
    ///  24  network u8        25  flags u8 (bit 0: has a tip; bit 1: demo chain)  26  reserved, zero
    ///  32  tip_height u64    40  tip_hash [32]    72  block_count u64   80  output_count u64
    ///  88  spent_indexed_to u64                   96  next_file_id u64
    /// 104  segment_count u32 108  run_count u32   112 reserved, zero (16 bytes)
    /// 128  segments, 96 bytes each (64 up to format 3): id, first_height, block_count, first_output,
    ///      output_count, spent_count, blob_len (u64 each), flags u8, reserved (7 bytes); from format 4:
    ///      crc32 of the blocks, outputs, spent, blobs and offsets files (u32 each), reserved (12 bytes)
    ///      runs, 40 bytes each: id, entries, from_height, to_height (u64 each), crc32 u32, reserved u32
    ///      crc32 u32 of every byte before it
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let segment_len = Header::segment_len(self.version);
        let total = FIXED_LEN + segment_len * self.segments.len() + RUN_LEN * self.runs.len() + 4;
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes());
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.push(self.network);
        b.push(u8::from(self.tip.is_some()) | (u8::from(self.demo) << 1));
        b.extend_from_slice(&[0; 6]);
        let tip = self.tip.unwrap_or(Tip {
            height: 0,
            hash: [0; 32],
        });
        b.extend_from_slice(&tip.height.to_le_bytes());
        b.extend_from_slice(&tip.hash);
        for v in [
            self.block_count(),
            self.output_count(),
            self.spent_indexed_to,
            self.next_file_id,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for n in [self.segments.len(), self.runs.len()] {
            b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
        }
        b.extend_from_slice(&[0; 16]);
        for s in &self.segments {
            for v in [
                s.id,
                s.first_height,
                s.block_count,
                s.first_output,
                s.output_count,
                s.spent_count,
                s.blob_len,
            ] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            if !self.has_checksums() {
                b.extend_from_slice(&[0; 8]);
                continue;
            }
            let flags = if s.offsets_not_stored {
                SEGMENT_OFFSETS_NOT_STORED
            } else {
                0
            };
            b.push(flags);
            b.extend_from_slice(&[0; 7]);
            for crc in s.crcs {
                b.extend_from_slice(&crc.to_le_bytes());
            }
            b.extend_from_slice(&[0; 12]);
        }
        for r in &self.runs {
            for v in [r.id, r.entries, r.from_height, r.to_height] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&r.crc.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes one slot. Order matters: magic, then length and checksum, and only then the version, so
    /// a torn slot is never mistaken for a newer format.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Header, CacheError> {
        let truncated = |needed: usize| CacheError::Truncated {
            path: path.to_owned(),
            len: bytes.len() as u64,
            needed: needed as u64,
        };
        let magic = bytes.get(..8).ok_or_else(|| truncated(FIXED_LEN))?;
        if magic != MAGIC {
            return Err(CacheError::BadMagic {
                path: path.to_owned(),
                found: hex::encode(magic),
            });
        }
        if bytes.len() < 16 {
            return Err(truncated(FIXED_LEN));
        }
        let total = u32_at(bytes, 12) as usize;
        if total < FIXED_LEN + 4 || total > bytes.len() {
            return Err(truncated(total.max(FIXED_LEN + 4)));
        }
        if total != bytes.len() {
            return Err(CacheError::corrupt(
                path,
                format!("{} bytes after a {total}-byte header", bytes.len() - total),
            ));
        }
        let stored = u32_at(bytes, total - 4);
        let computed = crc32fast::hash(&bytes[..total - 4]);
        if stored != computed {
            return Err(CacheError::BadChecksum {
                path: path.to_owned(),
                stored,
                computed,
            });
        }
        let version = u32_at(bytes, 8);
        if version < LEGACY_VERSION {
            return Err(CacheError::OutdatedVersion {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version > FORMAT_VERSION {
            return Err(CacheError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let segment_count = u32_at(bytes, 104) as usize;
        let run_count = u32_at(bytes, 108) as usize;
        let segment_len = Header::segment_len(version);
        let expected = segment_count
            .checked_mul(segment_len)
            .and_then(|s| run_count.checked_mul(RUN_LEN).and_then(|r| r.checked_add(s)))
            .and_then(|n| n.checked_add(FIXED_LEN + 4));
        if expected != Some(total) {
            return Err(CacheError::corrupt(
                path,
                "header length does not match its segment and run counts",
            ));
        }
        let has_tip = bytes[25] & 1 == 1;
        let demo = bytes[25] & 2 == 2;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[40..72]);
        let segments = (0..segment_count)
            .map(|i| {
                let at = FIXED_LEN + i * segment_len;
                let f = |k: usize| u64_at(bytes, at + 8 * k);
                let checksums = version >= CHECKSUMS_SINCE;
                SegmentMeta {
                    id: f(0),
                    first_height: f(1),
                    block_count: f(2),
                    first_output: f(3),
                    output_count: f(4),
                    spent_count: f(5),
                    blob_len: f(6),
                    offsets_not_stored: checksums && bytes[at + 56] & SEGMENT_OFFSETS_NOT_STORED != 0,
                    crcs: std::array::from_fn(|k| if checksums { u32_at(bytes, at + 64 + 4 * k) } else { 0 }),
                }
            })
            .collect();
        let runs_at = FIXED_LEN + segment_count * segment_len;
        let runs = (0..run_count)
            .map(|i| {
                let at = runs_at + i * RUN_LEN;
                let f = |k: usize| u64_at(bytes, at + 8 * k);
                RunMeta {
                    id: f(0),
                    entries: f(1),
                    from_height: f(2),
                    to_height: f(3),
                    crc: u32_at(bytes, at + 32),
                }
            })
            .collect();
        let header = Header {
            version,
            seq: u64_at(bytes, 16),
            network: bytes[24],
            demo,
            tip: has_tip.then_some(Tip {
                height: u64_at(bytes, 32),
                hash,
            }),
            spent_indexed_to: u64_at(bytes, 88),
            next_file_id: u64_at(bytes, 96),
            segments,
            runs,
        };
        header.validate().map_err(|reason| CacheError::corrupt(path, reason))?;
        if header.block_count() != u64_at(bytes, 72) || header.output_count() != u64_at(bytes, 80) {
            return Err(CacheError::corrupt(
                path,
                "block or output count does not match the segments",
            ));
        }
        Ok(header)
    }

    /// Checks that segments and runs describe one contiguous chain; the data files are checked on open.
    fn validate(&self) -> Result<(), &'static str> {
        let (mut height, mut output) = match self.segments.first() {
            Some(s) => (s.first_height, 0),
            None => (0, 0),
        };
        for s in &self.segments {
            if s.block_count == 0 {
                return Err("empty segment");
            }
            if s.first_height != height || s.first_output != output {
                return Err("segments are not contiguous");
            }
            if s.id == 0 || s.id >= self.next_file_id {
                return Err("segment id not below the next file id");
            }
            height = s.end_height().ok_or("segment heights overflow")?;
            output = s.end_output().ok_or("segment outputs overflow")?;
        }
        match (self.tip, self.segments.is_empty()) {
            (None, true) => {
                if !self.runs.is_empty() || self.spent_indexed_to != 0 {
                    return Err("spent index without blocks");
                }
                return Ok(());
            }
            (Some(tip), false) if tip.height.checked_add(1) == Some(height) => {}
            _ => return Err("tip does not match the segments"),
        }
        let first = self.segments.first().map_or(0, |s| s.first_height);
        if self.spent_indexed_to > height {
            return Err("spent index past the tip");
        }
        let mut next_from = first;
        for r in &self.runs {
            if r.from_height < next_from || r.to_height < r.from_height || r.to_height >= self.spent_indexed_to {
                return Err("spent-index runs are not ordered below the indexed height");
            }
            if r.id == 0 || r.id >= self.next_file_id {
                return Err("run id not below the next file id");
            }
            next_from = r.to_height + 1;
        }
        Ok(())
    }
}

/// The valid header slots of a directory, newest first, and why any other slot was rejected.
pub(crate) struct Slots {
    pub newest_first: Vec<Header>,
    pub rejected: Option<CacheError>,
}

/// Reads both slots. A slot of a newer format is a hard error even if the other slot is valid: a newer
/// writer has touched the cache and this build must not undo its work.
pub(crate) fn read_slots(dir: &Path) -> Result<Slots, CacheError> {
    let mut valid = Vec::new();
    let mut rejected: Vec<CacheError> = Vec::new();
    let mut present = 0;
    for name in SLOTS {
        let path = dir.join(name);
        let Some(bytes) = read_capped(&path)? else { continue };
        present += 1;
        match Header::decode(&bytes, &path) {
            Ok(h) => valid.push(h),
            Err(e @ (CacheError::UnsupportedVersion { .. } | CacheError::OutdatedVersion { .. })) => return Err(e),
            Err(e) => rejected.push(e),
        }
    }
    if present == 0 {
        return Err(CacheError::NotFound { dir: dir.to_owned() });
    }
    // The most telling rejection: a slot that got further through decoding says more.
    rejected.sort_by_key(|e| {
        Reverse(match e {
            CacheError::Corrupt { .. } => 3,
            CacheError::BadChecksum { .. } => 2,
            CacheError::Truncated { .. } => 1,
            _ => 0,
        })
    });
    let mut rejected = rejected.into_iter();
    if valid.is_empty() {
        return Err(rejected.next().unwrap_or(CacheError::NotFound { dir: dir.to_owned() }));
    }
    valid.sort_by_key(|h| Reverse(h.seq));
    Ok(Slots {
        newest_first: valid,
        rejected: rejected.next(),
    })
}

pub(crate) fn slot_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(SLOTS[(seq % 2) as usize])
}

pub(crate) fn any_slot_exists(dir: &Path) -> bool {
    SLOTS.iter().any(|name| dir.join(name).exists())
}

fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io(path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_HEADER_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(CacheError::io(path))?;
    if bytes.len() as u64 > MAX_HEADER_LEN {
        return Err(CacheError::corrupt(path, "header file larger than any header"));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            version: FORMAT_VERSION,
            seq: 5,
            network: 0x26,
            demo: true,
            tip: Some(Tip {
                height: 11,
                hash: [0xab; 32],
            }),
            spent_indexed_to: 10,
            next_file_id: 4,
            segments: vec![
                SegmentMeta {
                    id: 1,
                    first_height: 0,
                    block_count: 10,
                    first_output: 0,
                    output_count: 30,
                    spent_count: 5,
                    blob_len: 3000,
                    offsets_not_stored: false,
                    crcs: [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444, 0x5555_5555],
                },
                SegmentMeta {
                    id: 3,
                    first_height: 10,
                    block_count: 2,
                    first_output: 30,
                    output_count: 4,
                    spent_count: 1,
                    blob_len: 400,
                    offsets_not_stored: true,
                    crcs: [0xa1a2_a3a4, 0xb1b2_b3b4, 0xc1c2_c3c4, 0xd1d2_d3d4, 0xe1e2_e3e4],
                },
            ],
            runs: vec![RunMeta {
                id: 2,
                entries: 5,
                from_height: 0,
                to_height: 9,
                crc: 0x0102_0304,
            }],
        }
    }

    #[test]
    fn header_golden_bytes() {
        let b = sample().encode();
        let le = |v: u64| hex::encode(v.to_le_bytes());
        let fixed = format!(
            "{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}",
            hex::encode(b"TWSCACHE"),
            "04000000", // version
            "6c010000", // total length 364 = 128 + 2 * 96 + 40 + 4
            le(5),
            "26",
            "03", // flags: a tip, a demo chain
            "00".repeat(6),
            le(11),
            "ab".repeat(32),
            le(12), // block count
            le(34), // output count
            le(10),
            le(4),
            "0200000001000000", // 2 segments, 1 run
            "00".repeat(16),
        );
        let fields = |v: [u64; 7]| v.iter().map(|&v| le(v)).collect::<String>();
        let segs = format!(
            "{}{}{}{}{}{}{}{}",
            fields([1, 0, 10, 0, 30, 5, 3000]),
            "00".repeat(8), // flags: offsets stored
            "1111111122222222333333334444444455555555",
            "00".repeat(12),
            fields([3, 10, 2, 30, 4, 1, 400]),
            "01".to_owned() + &"00".repeat(7), // flags: offsets not stored
            "a4a3a2a1b4b3b2b1c4c3c2c1d4d3d2d1e4e3e2e1",
            "00".repeat(12),
        );
        let run = format!("{}{}{}{}0403020100000000", le(2), le(5), le(0), le(9));
        let body = format!("{fixed}{segs}{run}");
        assert_eq!(hex::encode(&b[..b.len() - 4]), body);
        assert_eq!(b.len(), 128 + 2 * 96 + 40 + 4);
        assert_eq!(&b[b.len() - 4..], crc32fast::hash(&b[..b.len() - 4]).to_le_bytes());
        assert_eq!(Header::decode(&b, Path::new("h")).expect("decodes"), sample());
    }

    #[test]
    fn format_3_header_golden_bytes() {
        // Format 3: 64-byte segment entries, no flags and no file checksums.
        let mut h = sample();
        h.version = 3;
        let b = h.encode();
        assert_eq!(b.len(), 128 + 2 * 64 + 40 + 4);
        assert_eq!(&b[8..16], &[3, 0, 0, 0, 0x2c, 0x01, 0, 0]);
        let le = |v: u64| hex::encode(v.to_le_bytes());
        let segs: String = [[1u64, 0, 10, 0, 30, 5, 3000, 0], [3, 10, 2, 30, 4, 1, 400, 0]]
            .iter()
            .flat_map(|s| s.iter().map(|&v| le(v)))
            .collect();
        assert_eq!(hex::encode(&b[128..128 + 128]), segs);
        let decoded = Header::decode(&b, Path::new("h")).expect("format 3 decodes");
        assert_eq!(
            (decoded.version, decoded.has_offsets(), decoded.has_checksums()),
            (3, true, false)
        );
        assert!(
            decoded
                .segments
                .iter()
                .all(|s| s.crcs == [0; 5] && !s.offsets_not_stored)
        );
        assert_eq!(decoded.encode(), b, "re-encodes as format 3");
    }

    #[test]
    fn empty_header_round_trips() {
        let h = Header::empty(3);
        assert_eq!(Header::decode(&h.encode(), Path::new("h")).expect("decodes"), h);
    }

    #[test]
    fn decode_rejects_damage_with_typed_errors() {
        let p = Path::new("h");
        let good = sample().encode();
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(matches!(
            Header::decode(&bad_magic, p),
            Err(CacheError::BadMagic { .. })
        ));
        let mut flipped = good.clone();
        flipped[50] ^= 1;
        assert!(matches!(
            Header::decode(&flipped, p),
            Err(CacheError::BadChecksum { .. })
        ));
        assert!(matches!(
            Header::decode(&good[..100], p),
            Err(CacheError::Truncated { .. })
        ));
        assert!(matches!(
            Header::decode(&good[..4], p),
            Err(CacheError::Truncated { .. })
        ));
        assert!(matches!(Header::decode(&[], p), Err(CacheError::Truncated { .. })));
        let with_version = |version: u8| {
            let mut h = sample();
            h.version = 3;
            let mut b = h.encode();
            b[8] = version;
            let n = b.len();
            let crc = crc32fast::hash(&b[..n - 4]);
            b[n - 4..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let mut newer = good.clone();
        newer[8] = 5;
        let n = newer.len();
        let crc = crc32fast::hash(&newer[..n - 4]);
        newer[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            Header::decode(&newer, p),
            Err(CacheError::UnsupportedVersion {
                found: 5,
                supported: 4,
                ..
            })
        ));
        // Format 2 (no offsets files) still decodes: the writer migrates it when it opens the cache.
        let legacy = Header::decode(&with_version(2), p).expect("format 2 decodes");
        assert_eq!((legacy.version, legacy.has_offsets()), (2, false));
        assert_eq!(legacy.encode(), with_version(2), "re-encodes as format 2");
        // A format-4 slot whose length is that of format-3 entries is refused.
        assert!(matches!(
            Header::decode(&with_version(4), p),
            Err(CacheError::Corrupt { .. })
        ));
        // A cache of the first format (no block flags, no demo flag) is refused with a rebuild hint.
        let outdated = Header::decode(&with_version(1), p).unwrap_err();
        assert!(matches!(
            outdated,
            CacheError::OutdatedVersion {
                found: 1,
                supported: 4,
                ..
            }
        ));
        assert!(outdated.to_string().contains("fill it again"), "{outdated}");
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(Header::decode(&longer, p), Err(CacheError::Corrupt { .. })));
    }

    #[test]
    fn decode_rejects_inconsistent_segments() {
        let mut h = sample();
        h.segments[1].first_output = 31;
        let e = Header::decode(&h.encode(), Path::new("h")).expect_err("gap");
        assert!(matches!(e, CacheError::Corrupt { .. }), "{e}");
        let mut h = sample();
        h.tip = Some(Tip {
            height: 12,
            hash: [0; 32],
        });
        assert!(Header::decode(&h.encode(), Path::new("h")).is_err());
        let mut h = sample();
        h.runs[0].to_height = 10;
        assert!(Header::decode(&h.encode(), Path::new("h")).is_err());
    }
}
