//! Migration: what bringing a format-2 cache to format 3 computes, the stored sender offset key of every
//! output (one decompression each, the work format 3 saves every later scan). Owns that computation; the
//! writer decides when to run it and publishes the result.

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
