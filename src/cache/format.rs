//! Record encoding: byte layouts of the fixed-width block and output records and of spent-index entries,
//! pinned by golden-byte tests. Owns layouts only; which file holds a record and when it becomes visible
//! belong to the header and the writer. All integers are little-endian.

use super::OutputData;

/// Bytes of one block record in a segment's `.blocks` file.
pub(crate) const BLOCK_LEN: usize = 128;
/// Bytes of one output record in a segment's `.outputs` file: two cache lines, so in a page-aligned map
/// every record is aligned and a scan decodes it in place.
pub(crate) const OUTPUT_LEN: usize = 128;
/// Bytes of one stored sender offset key in a segment's `.offsets` file (format 3 on), one per output
/// record in the same order: the decompressed point, so a scan never decompresses it again.
pub(crate) const OFFSET_LEN: usize = crate::recognize::STORED_OFFSET_LEN;
/// Bytes of one spent output hash in a segment's `.spent` file.
pub(crate) const HASH_LEN: usize = 32;
/// Bytes of one spent-index entry: output hash, then the spending height.
pub(crate) const RUN_ENTRY_LEN: usize = 40;

/// Offset of the block checksum; the checksum covers the record without these four bytes.
const BLOCK_CRC_AT: usize = 120;

/// `N` bytes at `at` of a fixed-width record. Offsets are constants of the layout and every caller
/// passes a whole record, so this never depends on file contents.
fn array<const N: usize>(record: &[u8], at: usize) -> &[u8; N] {
    record
        .get(at..)
        .and_then(<[u8]>::first_chunk)
        .expect("constant offset inside a fixed-width record")
}

fn u64_at(record: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(*array(record, at))
}

fn u32_at(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(*array(record, at))
}

fn put(record: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = record.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// One block record as stored. Offsets into the segment's other files are segment-relative; the output
/// start is the global output index.
///
/// ```text
///   0  height u64          8  hash [32]        40  prev_hash [32]    72  timestamp u64
///  80  output_start u64   88  output_count u32  92  spent_count u32   96  spent_start u64 (entries)
/// 104  blob_start u64    112  blob_len u64     120  crc32 u32        124  flags u8
/// 125  reserved, zero (3 bytes)
/// ```
/// Flags: bit 0 [`BLOCK_OUTPUT_DETAILS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawBlock<'a> {
    pub height: u64,
    pub hash: &'a [u8; 32],
    pub prev_hash: &'a [u8; 32],
    pub timestamp: u64,
    pub output_start: u64,
    pub output_count: u32,
    pub spent_count: u32,
    pub spent_start: u64,
    pub blob_start: u64,
    pub blob_len: u64,
    pub crc: u32,
    pub flags: u8,
}

/// Block flag: the block's outputs carry their genuine script, output type and maturity. Unset for
/// blocks from the light sync route, which has only what recognition reads.
pub(crate) const BLOCK_OUTPUT_DETAILS: u8 = 1;
/// Offset of the block flags.
const BLOCK_FLAGS_AT: usize = 124;

impl<'a> RawBlock<'a> {
    pub fn decode(r: &'a [u8; BLOCK_LEN]) -> Self {
        RawBlock {
            height: u64_at(r, 0),
            hash: array(r, 8),
            prev_hash: array(r, 40),
            timestamp: u64_at(r, 72),
            output_start: u64_at(r, 80),
            output_count: u32_at(r, 88),
            spent_count: u32_at(r, 92),
            spent_start: u64_at(r, 96),
            blob_start: u64_at(r, 104),
            blob_len: u64_at(r, 112),
            crc: u32_at(r, BLOCK_CRC_AT),
            flags: r[BLOCK_FLAGS_AT],
        }
    }

    pub fn encode(&self) -> [u8; BLOCK_LEN] {
        let mut r = [0u8; BLOCK_LEN];
        put(&mut r, 0, &self.height.to_le_bytes());
        put(&mut r, 8, self.hash);
        put(&mut r, 40, self.prev_hash);
        put(&mut r, 72, &self.timestamp.to_le_bytes());
        put(&mut r, 80, &self.output_start.to_le_bytes());
        put(&mut r, 88, &self.output_count.to_le_bytes());
        put(&mut r, 92, &self.spent_count.to_le_bytes());
        put(&mut r, 96, &self.spent_start.to_le_bytes());
        put(&mut r, 104, &self.blob_start.to_le_bytes());
        put(&mut r, 112, &self.blob_len.to_le_bytes());
        put(&mut r, BLOCK_CRC_AT, &self.crc.to_le_bytes());
        r[BLOCK_FLAGS_AT] = self.flags;
        r
    }

    /// Index one past the block's last output.
    pub fn output_end(&self) -> Option<u64> {
        self.output_start.checked_add(u64::from(self.output_count))
    }
}

/// Checksum of one block: its record without the checksum field, then its output records, spent hashes
/// and blob bytes, in that order. Catches a torn or rotted block that a length check would miss.
pub(crate) fn block_checksum(record: &[u8; BLOCK_LEN], outputs: &[u8], spent: &[u8], blobs: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&record[..BLOCK_CRC_AT]);
    h.update(&record[BLOCK_CRC_AT + 4..]);
    h.update(outputs);
    h.update(spent);
    h.update(blobs);
    h.finalize()
}

/// Writes the checksum into an encoded block record.
pub(crate) fn set_block_checksum(record: &mut [u8; BLOCK_LEN], crc: u32) {
    put(record, BLOCK_CRC_AT, &crc.to_le_bytes());
}

/// One output record as stored. The script and the encrypted data sit back to back in the segment's
/// `.blobs` file at `blob_offset` (segment-relative): script first.
///
/// ```text
///   0  output_hash [32]    32  commitment [32]    64  sender_offset_public_key [32]
///  96  maturity u64       104  blob_offset u64    112  script_len u32    116  encrypted_len u32
/// 120  output_type u8     121  reserved, zero (7 bytes)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawOutput<'a> {
    pub output_hash: &'a [u8; 32],
    pub commitment: &'a [u8; 32],
    pub sender_offset_public_key: &'a [u8; 32],
    pub maturity: u64,
    pub blob_offset: u64,
    pub script_len: u32,
    pub encrypted_len: u32,
    pub output_type: u8,
}

impl<'a> RawOutput<'a> {
    pub fn decode(r: &'a [u8; OUTPUT_LEN]) -> Self {
        RawOutput {
            output_hash: array(r, 0),
            commitment: array(r, 32),
            sender_offset_public_key: array(r, 64),
            maturity: u64_at(r, 96),
            blob_offset: u64_at(r, 104),
            script_len: u32_at(r, 112),
            encrypted_len: u32_at(r, 116),
            output_type: r[120],
        }
    }

    /// The script and encrypted data inside `blobs`, or `None` when the stored range lies outside it.
    pub fn blobs<'b>(&self, blobs: &'b [u8]) -> Option<(&'b [u8], &'b [u8])> {
        let start = usize::try_from(self.blob_offset).ok()?;
        let mid = start.checked_add(usize::try_from(self.script_len).ok()?)?;
        let end = mid.checked_add(usize::try_from(self.encrypted_len).ok()?)?;
        Some((blobs.get(start..mid)?, blobs.get(mid..end)?))
    }
}

/// Encodes one output whose blobs start at `blob_offset`. Lengths were checked to fit `u32` by the
/// writer; `u32::MAX` stands in otherwise, which a reader then rejects as out of range.
pub(crate) fn encode_output(out: &OutputData, blob_offset: u64) -> [u8; OUTPUT_LEN] {
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut r = [0u8; OUTPUT_LEN];
    put(&mut r, 0, &out.output_hash);
    put(&mut r, 32, &out.commitment);
    put(&mut r, 64, &out.sender_offset_public_key);
    put(&mut r, 96, &out.maturity.to_le_bytes());
    put(&mut r, 104, &blob_offset.to_le_bytes());
    put(&mut r, 112, &len32(out.script.len()).to_le_bytes());
    put(&mut r, 116, &len32(out.encrypted_data.len()).to_le_bytes());
    r[120] = out.output_type;
    r
}

/// One spent-index entry: `output_hash [32] ‖ height u64`. Runs sort entries by these bytes' hash
/// part, then by height.
pub(crate) fn encode_run_entry(hash: &[u8; 32], height: u64) -> [u8; RUN_ENTRY_LEN] {
    let mut e = [0u8; RUN_ENTRY_LEN];
    put(&mut e, 0, hash);
    put(&mut e, 32, &height.to_le_bytes());
    e
}

pub(crate) fn decode_run_entry(e: &[u8; RUN_ENTRY_LEN]) -> (&[u8; 32], u64) {
    (array(e, 0), u64_at(e, 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> OutputData {
        OutputData {
            output_hash: [0x11; 32],
            commitment: [0x22; 32],
            sender_offset_public_key: [0x33; 32],
            encrypted_data: vec![0xee; 80],
            script: vec![0x5c; 33],
            output_type: 2,
            maturity: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn output_record_golden_bytes() {
        let r = encode_output(&output(), 0x1_0000_0001);
        let expected = format!(
            "{}{}{}{}{}{}{}{}{}",
            "11".repeat(32),
            "22".repeat(32),
            "33".repeat(32),
            "0807060504030201", // maturity
            "0100000001000000", // blob offset
            "21000000",         // script length 33
            "50000000",         // encrypted length 80
            "02",               // output type
            "00".repeat(7),
        );
        assert_eq!(hex::encode(r), expected);
        let raw = RawOutput::decode(&r);
        assert_eq!(raw.maturity, 0x0102_0304_0506_0708);
        assert_eq!(
            (raw.blob_offset, raw.script_len, raw.encrypted_len, raw.output_type),
            (0x1_0000_0001, 33, 80, 2)
        );
    }

    #[test]
    fn block_record_golden_bytes() {
        let raw = RawBlock {
            height: 7,
            hash: &[0xaa; 32],
            prev_hash: &[0xbb; 32],
            timestamp: 1_700_000_000,
            output_start: 1000,
            output_count: 3,
            spent_count: 2,
            spent_start: 40,
            blob_start: 4096,
            blob_len: 339,
            crc: 0xdead_beef,
            flags: BLOCK_OUTPUT_DETAILS,
        };
        let r = raw.encode();
        let expected = format!(
            "{}{}{}{}{}{}{}{}{}{}{}{}",
            "0700000000000000",
            "aa".repeat(32),
            "bb".repeat(32),
            "00f1536500000000", // 1_700_000_000
            "e803000000000000", // output start 1000
            "03000000",
            "02000000",
            "2800000000000000", // spent start 40
            "0010000000000000", // blob start 4096
            "5301000000000000", // blob length 339
            "efbeadde",
            "01000000", // flags: output details
        );
        assert_eq!(hex::encode(r), expected);
        assert_eq!(RawBlock::decode(&r), raw);
    }

    #[test]
    fn block_checksum_ignores_its_own_field_only() {
        let raw = RawBlock {
            height: 1,
            hash: &[1; 32],
            prev_hash: &[0; 32],
            timestamp: 0,
            output_start: 0,
            output_count: 0,
            spent_count: 0,
            spent_start: 0,
            blob_start: 0,
            blob_len: 0,
            crc: 0,
            flags: 0,
        };
        let mut r = raw.encode();
        let crc = block_checksum(&r, b"o", b"s", b"b");
        set_block_checksum(&mut r, crc);
        assert_eq!(block_checksum(&r, b"o", b"s", b"b"), crc);
        assert_ne!(block_checksum(&r, b"o", b"s", b"x"), crc);
        r[127] = 1;
        assert_ne!(block_checksum(&r, b"o", b"s", b"b"), crc);
        r[127] = 0;
        r[124] = BLOCK_OUTPUT_DETAILS;
        assert_ne!(block_checksum(&r, b"o", b"s", b"b"), crc, "the flags are covered");
    }

    #[test]
    fn blobs_out_of_range_are_none() {
        let mut o = output();
        o.script.clear();
        let r = encode_output(&o, 10);
        assert!(RawOutput::decode(&r).blobs(&[0; 89]).is_none());
        let (script, enc) = RawOutput::decode(&r).blobs(&[0; 90]).expect("in range");
        assert_eq!((script.len(), enc.len()), (0, 80));
        let r = encode_output(&o, u64::MAX);
        assert!(RawOutput::decode(&r).blobs(&[0; 90]).is_none());
    }

    #[test]
    fn run_entry_golden_bytes() {
        let e = encode_run_entry(&[0x44; 32], 0x0a0b);
        assert_eq!(hex::encode(e), format!("{}0b0a000000000000", "44".repeat(32)));
        assert_eq!(decode_run_entry(&e), (&[0x44; 32], 0x0a0b));
    }
}
