//! Cache errors: the one enum the cache reports, each variant carrying the file, height or index it is
//! about, so callers can branch (reopen, roll back, re-import) and operators can see what broke.

use std::{io, ops::RangeInclusive, path::PathBuf};

/// Everything that can go wrong opening, reading, writing or checking a cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Neither header slot exists: the directory holds no cache.
    #[error("no cache in {dir}")]
    NotFound { dir: PathBuf },
    /// `Cache::create` on a directory that already holds a cache.
    #[error("a cache already exists in {dir}")]
    AlreadyExists { dir: PathBuf },
    /// Another `Cache` (writer) holds the directory's lock.
    #[error("the cache in {dir} is already open for writing")]
    Locked { dir: PathBuf },
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A header slot does not start with the cache magic.
    #[error("{path} is not a cache header (magic {found})")]
    BadMagic { path: PathBuf, found: String },
    /// A header slot written by a newer format; this build refuses to read or modify the cache.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },
    /// A header slot written by an earlier format. A cache holds only what a node can give again:
    /// remove the directory and import or follow the node anew.
    #[error(
        "{path} has format version {found}, from an earlier release; this build reads version {supported}. \
         Remove the cache directory and fill it again (import or follow)"
    )]
    OutdatedVersion { path: PathBuf, found: u32, supported: u32 },
    /// A header slot or spent-index run whose bytes do not match their checksum (torn or rotted).
    #[error("{path}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum { path: PathBuf, stored: u32, computed: u32 },
    /// A file shorter than the published state says it is.
    #[error("{path} is truncated: {len} bytes, the published state needs {needed}")]
    Truncated { path: PathBuf, len: u64, needed: u64 },
    /// A block whose record, outputs, spends or blobs do not match the block's checksum.
    #[error("{path}: block {height} does not match its checksum")]
    BlockChecksum { path: PathBuf, height: u64 },
    /// A segment file (or spent-index run) whose bytes do not match the checksum the header publishes
    /// for them: bit rot or a stray write, found when the segment was first mapped or by a full check.
    #[error(transparent)]
    Damaged(Damage),
    /// Bytes that decode but contradict each other (lengths, heights, offsets).
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// An appended block whose height is not the tip's successor.
    #[error("block {height} does not extend the cache: expected height {expected}")]
    NotNext { height: u64, expected: u64 },
    /// An appended block whose `prev_hash` is not the tip's hash: the source missed a reorg.
    #[error("block {height}: previous hash does not match the hash of tip {tip_height}")]
    PrevHashMismatch { height: u64, tip_height: u64 },
    /// A block field larger than the format can hold.
    #[error("block {height}: {what} is {len}, over the format's limit {max}")]
    TooLarge {
        height: u64,
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// An output index at or past the snapshot's output count.
    #[error("output {index} is outside the snapshot's {count} outputs")]
    OutputOutOfRange { index: u64, count: u64 },
}

impl CacheError {
    /// A short stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::NotFound { .. } => "CACHE_NOT_FOUND",
            CacheError::AlreadyExists { .. } => "CACHE_EXISTS",
            CacheError::Locked { .. } => "CACHE_LOCKED",
            CacheError::Io { .. } => "CACHE_IO",
            CacheError::UnsupportedVersion { .. } => "CACHE_VERSION_UNSUPPORTED",
            CacheError::OutdatedVersion { .. } => "CACHE_OUTDATED",
            CacheError::Damaged(_) => "CACHE_DAMAGED",
            CacheError::BadMagic { .. }
            | CacheError::BadChecksum { .. }
            | CacheError::Truncated { .. }
            | CacheError::BlockChecksum { .. }
            | CacheError::Corrupt { .. } => "CACHE_CORRUPT",
            CacheError::NotNext { .. } | CacheError::PrevHashMismatch { .. } => "BLOCK_NOT_NEXT",
            CacheError::TooLarge { .. } => "BLOCK_TOO_LARGE",
            CacheError::OutputOutOfRange { .. } => "OUTPUT_OUT_OF_RANGE",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> CacheError {
        let path = path.into();
        move |source| CacheError::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> CacheError {
        CacheError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A file the published state names is missing: a reader raced the writer's garbage collection.
    pub(crate) fn is_missing_file(&self) -> bool {
        matches!(self, CacheError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Damage found in a segment (or a spent-index run): the file, the blocks it covers and what did not
/// match. Its text says how to rebuild, and never holds anything but paths, heights and checksums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {what}; blocks {}..={} of the cache cannot be trusted: remove the cache directory and fill it again \
     (import or follow)",
    path.display(),
    heights.start(),
    heights.end()
)]
pub struct Damage {
    /// The damaged file.
    pub path: PathBuf,
    /// The file id of its segment or run.
    pub file_id: u64,
    /// The blocks it covers: a segment's blocks, or the heights of the spends a run indexes.
    pub heights: RangeInclusive<u64>,
    /// What did not match.
    pub what: String,
}

impl Damage {
    /// Whether a scan of `from..=to` read any of the damaged blocks.
    pub fn overlaps(&self, from: u64, to: u64) -> bool {
        from <= *self.heights.end() && *self.heights.start() <= to
    }
}
