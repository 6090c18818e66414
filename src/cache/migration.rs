//! Migration: what bringing an older cache to the current format computes: the stored sender offset key
//! of every output (one decompression each, the work format 3 saves every later scan), written for a
//! format-2 cache and compared with a format-3 one's before format 4's checksums vouch for it. Owns
//! those computations; the writer decides when to run them and publishes the result (the file
//! checksums are `integrity`'s).

use rayon::prelude::*;

use super::format::{OFFSET_LEN, OUTPUT_LEN, RawOutput};
use crate::recognize::stored_offset;

/// Outputs per unit of parallel work: a few milliseconds of decompressions.
const PER_TASK: usize = 1024;

/// The offsets file of a segment with these output records, in record order.
pub(crate) fn offsets_of(records: &[[u8; OUTPUT_LEN]]) -> Vec<u8> {
    let mut offsets = vec![0u8; records.len() * OFFSET_LEN];
    offsets
        .par_chunks_mut(PER_TASK * OFFSET_LEN)
        .zip(records.par_chunks(PER_TASK))
        .for_each(|(out, records)| {
            for (slot, record) in out.chunks_exact_mut(OFFSET_LEN).zip(records) {
                slot.copy_from_slice(&stored_offset::encode(
                    RawOutput::decode(record).sender_offset_public_key,
                ));
            }
        });
    offsets
}

/// The first entry of a format-3 offsets file (`existing`) that is neither what this build computes nor
/// "not stored" (which a build that could not store offsets wrote; readers decompress those). Where this
/// build cannot compute a point itself (its layout probe failed) it cannot judge one either.
pub(crate) fn first_wrong_offset(existing: &[u8], computed: &[u8]) -> Option<usize> {
    if existing.len() != computed.len() {
        return Some(existing.len().min(computed.len()) / OFFSET_LEN);
    }
    let existing = existing.as_chunks::<OFFSET_LEN>().0;
    let computed = computed.as_chunks::<OFFSET_LEN>().0;
    existing.iter().zip(computed).position(|(stored, expected)| {
        stored != expected && *stored != stored_offset::NOT_STORED && *expected != stored_offset::NOT_STORED
    })
}

/// Whether an offsets file holds any "not stored" entry: its segment is marked so in format 4.
pub(crate) fn has_not_stored(offsets: &[u8]) -> bool {
    offsets.as_chunks::<OFFSET_LEN>().0.contains(&stored_offset::NOT_STORED)
}
