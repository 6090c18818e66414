//! Files: the names of a cache's files, read-only maps of their published bytes, durable writes and the
//! removal of files no header slot names. Owns every `unsafe` of the cache (the `mmap` calls); not what
//! the bytes mean.

use std::{
    collections::HashSet,
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use memmap2::{Mmap, MmapOptions};

use super::{CacheError, header::Header};

/// The files of a segment: four in every format, the stored offsets from format 3 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Blocks,
    Outputs,
    Spent,
    Blobs,
    /// One stored sender offset key per output (`recognize::stored_offset`), in output order.
    Offsets,
}

impl Part {
    pub const ALL: [Part; 5] = [Part::Blocks, Part::Outputs, Part::Spent, Part::Blobs, Part::Offsets];

    fn ext(self) -> &'static str {
        match self {
            Part::Blocks => "blocks",
            Part::Outputs => "outputs",
            Part::Spent => "spent",
            Part::Blobs => "blobs",
            Part::Offsets => "offsets",
        }
    }

    /// The parts a header of `version` names for each segment.
    pub fn of_version(version: u32) -> &'static [Part] {
        if version >= super::header::OFFSETS_SINCE {
            &Part::ALL
        } else {
            &Part::ALL[..4]
        }
    }
}

pub(crate) fn segment_name(id: u64, part: Part) -> String {
    format!("seg-{id:010}.{}", part.ext())
}

pub(crate) fn segment_path(dir: &Path, id: u64, part: Part) -> PathBuf {
    dir.join(segment_name(id, part))
}

pub(crate) fn run_name(id: u64) -> String {
    format!("run-{id:010}.index")
}

pub(crate) fn run_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(run_name(id))
}

pub(crate) const LOCK_FILE: &str = "lock";

/// The published prefix of one file, mapped read-only and shared between snapshots, with the identity
/// of the file it maps.
#[derive(Clone, Default)]
pub(crate) struct Region(Option<Arc<Mapped>>);

struct Mapped {
    map: Mmap,
    /// Device and inode of the mapped file (Unix), to tell a file replaced under the same name from the
    /// one mapped.
    identity: Option<(u64, u64)>,
}

/// Device and inode of an open file; `None` where the platform has no such notion.
fn identity(metadata: &fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

impl Region {
    /// Maps the first `len` bytes of `path`. The file may be longer (unpublished appends, or bytes an
    /// older state published before a rollback); it must not be shorter.
    pub fn map(path: &Path, len: u64) -> Result<Region, CacheError> {
        if len == 0 {
            return Ok(Region(None));
        }
        let file = File::open(path).map_err(CacheError::io(path))?;
        let metadata = file.metadata().map_err(CacheError::io(path))?;
        let actual = metadata.len();
        if actual < len {
            return Err(CacheError::Truncated {
                path: path.to_owned(),
                len: actual,
                needed: len,
            });
        }
        let map_len = usize::try_from(len)
            .map_err(|_| CacheError::corrupt(path, "published length exceeds the address space"))?;
        // SAFETY: the writer never changes bytes within a length that any header slot publishes: it only
        // appends past them, and a rollback copies a segment's prefix into a new file instead of
        // truncating. Removing a file leaves existing maps intact on Unix. Another program truncating or
        // editing the file is outside the contract, as for every memory map.
        let map = unsafe { MmapOptions::new().len(map_len).map(&file) }.map_err(CacheError::io(path))?;
        Ok(Region(Some(Arc::new(Mapped {
            map,
            identity: identity(&metadata),
        }))))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |m| &m.map[..])
    }

    /// Whether `path` is still the file this region maps (an empty region maps none, so any file is).
    /// `false` when it cannot be told: the caller then maps the file anew.
    pub fn maps_file_at(&self, path: &Path) -> bool {
        let Some(mapped) = &self.0 else { return true };
        let now = fs::metadata(path).ok();
        mapped.identity.is_some() && now.as_ref().and_then(identity) == mapped.identity
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }
}

/// A file being appended to through a buffer, with its path for errors.
pub(crate) struct Appender {
    path: PathBuf,
    out: std::io::BufWriter<File>,
    /// Written since the last sync; a block without spends leaves the spent file clean, and a clean file
    /// costs no fsync.
    dirty: bool,
}

/// Bulk import appends megabytes per publish: one large buffer per file keeps syscalls rare.
const APPEND_BUFFER: usize = 1 << 20;

impl Appender {
    /// Opens `path` for appending at `len`, cutting off anything past it (a crashed, unpublished append).
    pub fn open_at(path: PathBuf, len: u64) -> Result<Appender, CacheError> {
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(CacheError::io(&path))?;
        let actual = file.metadata().map_err(CacheError::io(&path))?.len();
        if actual < len {
            return Err(CacheError::Truncated {
                path,
                len: actual,
                needed: len,
            });
        }
        file.set_len(len).map_err(CacheError::io(&path))?;
        let mut out = std::io::BufWriter::with_capacity(APPEND_BUFFER, file);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(len)).map_err(CacheError::io(&path))?;
        Ok(Appender {
            path,
            out,
            dirty: false,
        })
    }

    /// Creates an empty file. Its id was never published (ids only grow), so any older file by that name
    /// is debris of an abandoned batch and is replaced.
    pub fn create(path: PathBuf) -> Result<Appender, CacheError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(CacheError::io(&path))?;
        let out = std::io::BufWriter::with_capacity(APPEND_BUFFER, file);
        // A new file's length and name must reach the disk even if nothing is written to it.
        Ok(Appender { path, out, dirty: true })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        self.dirty |= !bytes.is_empty();
        self.out.write_all(bytes).map_err(CacheError::io(&self.path))
    }

    /// Flushes the buffer and makes the file's data durable.
    pub fn sync(&mut self) -> Result<(), CacheError> {
        if !self.dirty {
            return Ok(());
        }
        self.out.flush().map_err(CacheError::io(&self.path))?;
        self.out.get_ref().sync_data().map_err(CacheError::io(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}

/// Writes a whole new file durably (spent-index runs, rollback copies).
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(CacheError::io(path))?;
    file.write_all(bytes).map_err(CacheError::io(path))?;
    file.sync_data().map_err(CacheError::io(path))
}

/// Overwrites a header slot and fsyncs it. Never renamed or truncated first: a crash leaves either the
/// old bytes, the new bytes, or a mix whose checksum fails.
pub(crate) fn write_slot(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(CacheError::io(path))?;
    file.write_all(bytes).map_err(CacheError::io(path))?;
    file.set_len(bytes.len() as u64).map_err(CacheError::io(path))?;
    #[cfg(test)]
    if injected_faults::SLOT_SYNC_FAILS.replace(false) {
        return Err(CacheError::io(path)(std::io::Error::other("injected fsync failure")));
    }
    file.sync_all().map_err(CacheError::io(path))
}

/// Makes new directory entries durable, so a published header never names a file a crash forgot.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CacheError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(CacheError::io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Every segment and run file `header` names.
pub(crate) fn names(header: &Header) -> impl Iterator<Item = String> + '_ {
    let parts = Part::of_version(header.version);
    let segments = header
        .segments
        .iter()
        .flat_map(move |s| parts.iter().map(move |&p| segment_name(s.id, p)));
    segments.chain(header.runs.iter().map(|r| run_name(r.id)))
}

/// Removes segment and run files that neither header names: files the previous slot still needed,
/// copies abandoned by a crash, runs replaced by a merge. Best effort: a file that cannot be removed now
/// is removed by a later publish. Open snapshots keep their maps of removed files (Unix semantics).
pub(crate) fn collect_garbage(dir: &Path, keep: &[&Header]) {
    let keep: HashSet<String> = keep.iter().flat_map(|h| names(h)).collect();
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("seg-") || name.starts_with("run-");
        if ours && !keep.contains(name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Faults the cache tests inject: a header slot whose bytes are written but whose fsync fails.
#[cfg(test)]
pub(crate) mod injected_faults {
    thread_local! {
        pub static SLOT_SYNC_FAILS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
}
