//! Cache: the on-disk store of every block, output and spend a scan reads, in our own versioned format,
//! memory-mapped. Owns the files of one directory, the writer (append in height order, batch, roll back)
//! and read-only snapshots; it does not know where blocks come from (`source`) nor what an output means
//! to a wallet (`recognize`, `scan`). The format is specified in `docs/cache-format.md`.
//!
//! In short: blocks live in segments of five append-only files (block records, 128-byte output
//! records, spent hashes, script and encrypted-data blobs, and each output's sender offset key stored
//! decompressed so no scan pass decompresses it again); two checksummed header slots name the
//! segments with their published lengths and a checksum of every file; a spent index of sorted run
//! files maps output hashes to the spending height. A publish fsyncs data before the header that names
//! it, a rollback copies the cut segment instead of truncating it, and a snapshot maps only published
//! bytes, so neither a crash nor a reorg ever shows a reader a torn block; and every byte is checked
//! against its checksum when a process first maps it (`integrity`), so damage is an error, never a
//! missed output.

mod error;
mod files;
mod format;
mod header;
mod integrity;
mod migration;
mod spent;
mod state;
mod view;
mod writer;

#[cfg(test)]
mod tests;

pub use error::CacheError;
pub use header::Tip;
pub use integrity::{ADDED_HEADER_BYTES_PER_SEGMENT, Damage, DirReport, verify_dir};
pub use view::{BlockRecord, CacheView, OutputRecord};
pub use writer::{Batch, Cache, CacheOptions};

/// The cache's format version; a cache written by a newer version is refused, never modified.
pub const FORMAT_VERSION: u32 = header::FORMAT_VERSION;

/// One block as every source delivers it, in height order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockData {
    pub height: u64,
    pub hash: [u8; 32],
    pub prev_hash: [u8; 32],
    pub timestamp: u64,
    pub outputs: Vec<OutputData>,
    /// Hashes of the outputs this block's inputs spend.
    pub spent: Vec<[u8; 32]>,
    /// The outputs carry their genuine script, output type and maturity (a node's database, full
    /// outputs, the demo generator). `false` for the light sync route, which has only what recognition
    /// reads: there script, type and maturity are empty, 0 and 0, and a wallet file takes them from the
    /// output's full form at job time.
    pub output_details: bool,
}

impl BlockData {
    /// The block as the node's light sync route delivers it: each output's recognition fields only (no
    /// script, type 0, maturity 0), marked so.
    pub fn light(&self) -> BlockData {
        let mut block = self.clone();
        block.output_details = false;
        for out in &mut block.outputs {
            out.script.clear();
            (out.output_type, out.maturity) = (0, 0);
        }
        block
    }
}

/// One output of a block: what a scan needs to recognise it, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputData {
    pub output_hash: [u8; 32],
    pub commitment: [u8; 32],
    pub sender_offset_public_key: [u8; 32],
    /// Usually 80..=336 bytes; stored as given.
    pub encrypted_data: Vec<u8>,
    /// Serialized script; usually 33 bytes.
    pub script: Vec<u8>,
    pub output_type: u8,
    pub maturity: u64,
}
