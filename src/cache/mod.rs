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

mod block;
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

pub use block::{BlockData, OutputData};
pub use error::{CacheError, Damage};
pub use header::Tip;
pub use integrity::{ADDED_HEADER_BYTES_PER_SEGMENT, DirReport, verify_dir};
pub use view::{BlockRecord, CacheView, OutputRecord};
pub use writer::{Batch, Cache, CacheOptions};

/// The cache's format version; a cache written by a newer version is refused, never modified.
pub const FORMAT_VERSION: u32 = header::FORMAT_VERSION;
