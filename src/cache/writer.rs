//! Writer: the one `Cache` per directory that appends blocks in height order, publishes them atomically
//! and rolls back for reorgs. Owns the directory lock, the write handles, the unpublished tail and the
//! removal of files no header slot needs; not reading (`view`) nor byte layouts (`format`, `header`).
//!
//! Publishing is: append data past the published lengths, fsync it, write the next header slot, fsync
//! that. Until the slot is durable every reader, and every reopen after a crash, sees the previous state.

use std::{
    borrow::Borrow,
    fs::{self, File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{
    BlockData, CacheError, CacheView,
    error::Damage,
    files::{Appender, LOCK_FILE, Part, collect_garbage, segment_path, sync_dir, write_new, write_slot},
    format::{BLOCK_OUTPUT_DETAILS, RawBlock, block_checksum, encode_output, set_block_checksum},
    header::{FORMAT_VERSION, Header, OFFSETS_SINCE, SegmentMeta, Tip, any_slot_exists, slot_path},
    integrity, migration, spent,
    state::{Reuse, State, part_lens},
};
use crate::recognize::stored_offset;

/// Tuning of the on-disk layout. Defaults suit mainnet; tests shrink them to exercise the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// A segment takes no more blocks once it holds this many outputs. A rollback copies at most one
    /// segment, so this bounds the cost of a reorg (about 60 MB at the default); it also sets how many
    /// files a large cache has (five per segment).
    pub segment_outputs: u64,
    /// Spends kept outside the sorted spent index before a publish sorts them into a run. A lookup scans
    /// this many hashes linearly (32 KB at the default).
    pub spent_tail_max: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            segment_outputs: 1 << 17,
            spent_tail_max: 1024,
        }
    }
}

/// The cache writer. At most one per directory (an advisory lock enforces it); readers take snapshots
/// with `view` or, from another process, `CacheView::open`.
pub struct Cache {
    dir: PathBuf,
    options: CacheOptions,
    _lock: File,
    published: Arc<State>,
    /// The header the next publish writes; equal to the published one outside a batch.
    pending: Header,
    /// Append handles of the last pending segment, opened on first use.
    active: Option<Segment>,
    /// Segments filled during the current batch, synced at publish.
    sealed: Vec<Segment>,
    scratch: Scratch,
    skipped: Option<CacheError>,
    /// Files with a lower id may be mapped by a reader at lengths past the published ones: a newer state
    /// failed the open checks, or a header slot's write failed after its bytes may have reached the disk
    /// (and a reader in another process may have opened it). Such a segment is never reopened to append
    /// (that would cut it under the reader: SIGBUS), and new files take ids from here up, never an id the
    /// uncertain header named.
    settled_from: u64,
    migrated_from: Option<u32>,
}

/// Per-block encode buffers, reused so a steady append allocates nothing.
#[derive(Default)]
struct Scratch {
    outputs: Vec<u8>,
    spent: Vec<u8>,
    blobs: Vec<u8>,
    offsets: Vec<u8>,
}

/// Append handles of one segment's five files, in `Part::ALL` order. The writer only ever writes the
/// current format: a format-2 cache is migrated when it is opened.
struct Segment([Appender; 5]);

impl Segment {
    fn create(dir: &Path, id: u64) -> Result<Segment, CacheError> {
        let [a, b, c, d, e] = Part::ALL.map(|p| Appender::create(segment_path(dir, id, p)));
        Ok(Segment([a?, b?, c?, d?, e?]))
    }

    /// Reopens a published segment for appending, cutting off bytes past its published lengths.
    fn open(dir: &Path, meta: &SegmentMeta) -> Result<Segment, CacheError> {
        let too_big = || CacheError::corrupt(segment_path(dir, meta.id, Part::Blocks), "segment length overflows");
        let lens = part_lens(meta, true).ok_or_else(too_big)?;
        let [a, b, c, d, e] =
            [0, 1, 2, 3, 4].map(|i| Appender::open_at(segment_path(dir, meta.id, Part::ALL[i]), lens[i]));
        Ok(Segment([a?, b?, c?, d?, e?]))
    }

    fn sync(&mut self) -> Result<(), CacheError> {
        self.0.iter_mut().try_for_each(Appender::sync)
    }
}

fn lock(dir: &Path) -> Result<File, CacheError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(CacheError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(CacheError::Locked { dir: dir.to_owned() }),
        Err(TryLockError::Error(e)) => Err(CacheError::io(&path)(e)),
    }
}

impl Cache {
    /// Creates an empty cache for `network` in `dir` (created if missing).
    pub fn create(dir: impl AsRef<Path>, network: u8) -> Result<Cache, CacheError> {
        Cache::create_with(dir, network, CacheOptions::default())
    }

    pub fn create_with(dir: impl AsRef<Path>, network: u8, options: CacheOptions) -> Result<Cache, CacheError> {
        Cache::create_marked(dir.as_ref(), network, false, options)
    }

    /// Creates a cache for the demo generator's chain: marked so (`CacheView::is_demo`), because its
    /// outputs exist on no node and only a demo's wallet files may rebuild them from the cache.
    pub fn create_demo(dir: impl AsRef<Path>, network: u8, options: CacheOptions) -> Result<Cache, CacheError> {
        Cache::create_marked(dir.as_ref(), network, true, options)
    }

    fn create_marked(dir: &Path, network: u8, demo: bool, options: CacheOptions) -> Result<Cache, CacheError> {
        let dir = dir.to_owned();
        fs::create_dir_all(&dir).map_err(CacheError::io(&dir))?;
        let lock = lock(&dir)?;
        if any_slot_exists(&dir) {
            return Err(CacheError::AlreadyExists { dir });
        }
        let mut header = Header::empty(network);
        header.seq = 1;
        header.demo = demo;
        write_slot(&slot_path(&dir, header.seq), &header.encode())?;
        sync_dir(&dir)?;
        let state = integrity::load(&dir, header, Reuse::Nothing)?;
        Ok(Cache::with_state(dir, options, lock, state, None))
    }

    /// Opens the cache in `dir` for writing, at its newest published state that passes the open checks.
    /// Nothing is modified until the first append or rollback.
    pub fn open(dir: impl AsRef<Path>) -> Result<Cache, CacheError> {
        Cache::open_with(dir, CacheOptions::default())
    }

    pub fn open_with(dir: impl AsRef<Path>, options: CacheOptions) -> Result<Cache, CacheError> {
        let dir = dir.as_ref().to_owned();
        if !any_slot_exists(&dir) {
            return Err(CacheError::NotFound { dir });
        }
        let lock = lock(&dir)?;
        let opened = integrity::open(&dir, None)?;
        let mut cache = Cache::with_state(dir, options, lock, opened.state, opened.skipped);
        if opened.fell_back {
            cache.settled_from = cache.published.header.next_file_id;
        }
        if !cache.published.header.has_checksums() {
            cache.migrate()?;
        }
        Ok(cache)
    }

    /// Brings a cache of format 2 or 3 to the current format in place. Format 2 first gets each
    /// segment's offsets file (one decompression per output, on all cores); a format-3 offsets file is
    /// checked against the same computation, every entry, since the checksum written next vouches for
    /// it. Then every file of every segment is checksummed and a format-4 header names the same files
    /// with their checksums. No published byte changes, so a crash leaves the older state, and the next
    /// open migrates again.
    fn migrate(&mut self) -> Result<(), CacheError> {
        let state = Arc::clone(&self.published);
        let mut header = state.header.clone();
        for (segment, meta) in header.segments.iter_mut().enumerate() {
            let computed = migration::offsets_of(state.output_records(segment));
            let path = segment_path(&self.dir, meta.id, Part::Offsets);
            let offsets = if state.header.version < OFFSETS_SINCE {
                // A file that already starts with these bytes (a newer state this open fell back from)
                // may be mapped by a reader: keep it rather than truncate it under the reader.
                if !fs::read(&path).is_ok_and(|existing| existing.starts_with(&computed)) {
                    write_new(&path, &computed)?;
                }
                computed
            } else {
                let existing = state.offsets(segment).as_flattened();
                if let Some(i) = migration::first_wrong_offset(existing, &computed) {
                    let what = format!("the stored offset of output {i} differs from its sender offset key");
                    return Err(CacheError::Damaged(Damage {
                        path,
                        file_id: meta.id,
                        heights: meta.heights(),
                        what,
                    }));
                }
                existing.to_vec()
            };
            meta.offsets_not_stored = migration::has_not_stored(&offsets);
            let maps = &state.segments[segment];
            let mut crcs = integrity::file_crcs(maps);
            crcs[Part::Offsets as usize] = crc32fast::hash(&offsets);
            meta.crcs = crcs;
        }
        header.version = FORMAT_VERSION;
        // Twice, so both slots name the migrated state: a damaged file is then never read through the
        // older format's weaker checks by falling back to the slot one publish older.
        self.publish_header(header.clone())?;
        self.publish_header(header)?;
        self.migrated_from = Some(state.header.version);
        Ok(())
    }

    /// The format this cache was migrated from when it was opened, if it was.
    pub fn migrated_from(&self) -> Option<u32> {
        self.migrated_from
    }

    fn with_state(dir: PathBuf, options: CacheOptions, lock: File, state: State, skipped: Option<CacheError>) -> Cache {
        Cache {
            dir,
            options,
            _lock: lock,
            pending: state.header.clone(),
            published: Arc::new(state),
            active: None,
            sealed: Vec::new(),
            scratch: Scratch::default(),
            skipped,
            settled_from: 0,
            migrated_from: None,
        }
    }

    /// A snapshot of the published state.
    pub fn view(&self) -> CacheView {
        CacheView::new(Arc::clone(&self.published))
    }

    /// The published tip.
    pub fn tip(&self) -> Option<Tip> {
        self.published.header.tip
    }

    pub fn network(&self) -> u8 {
        self.published.header.network
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening skipped to reach a good state: a damaged header slot, or the newest published state
    /// when its files failed the open checks (the cache then serves the state one publish older). Worth a
    /// warning in the log; the next publish rewrites the damaged slot.
    pub fn recovered(&self) -> Option<&CacheError> {
        self.skipped.as_ref()
    }

    /// Appends one block and publishes it: fsyncs the data, then the header. For many blocks use
    /// `append_blocks` or `batch`, which fsync once.
    pub fn append_block(&mut self, block: &BlockData) -> Result<(), CacheError> {
        let mut batch = self.batch();
        batch.append(block)?;
        batch.publish()
    }

    /// Appends blocks in height order and publishes them once. On error nothing of this call is
    /// published.
    pub fn append_blocks<I>(&mut self, blocks: I) -> Result<(), CacheError>
    where
        I: IntoIterator,
        I::Item: Borrow<BlockData>,
    {
        let mut batch = self.batch();
        for block in blocks {
            batch.append(block.borrow())?;
        }
        batch.publish()
    }

    /// Starts a batch: appends are written but stay invisible until `Batch::publish`; dropping the batch
    /// discards them.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            cache: self,
            done: false,
        }
    }

    /// Removes every block above `height` and publishes the result; a no-op at or above the tip, and an
    /// empty cache below the first block. Snapshots taken before keep showing the old chain: the cut
    /// segment is copied, never truncated in place (at most `segment_outputs` outputs are copied).
    pub fn rollback_to(&mut self, height: u64) -> Result<(), CacheError> {
        self.discard();
        let state = Arc::clone(&self.published);
        let Some(tip) = state.header.tip else { return Ok(()) };
        if height >= tip.height {
            return Ok(());
        }
        let mut header = state.header.clone();
        match header.first_height() {
            Some(first) if height >= first => {
                let missing = || CacheError::corrupt(&self.dir, format!("block {height} missing"));
                let (segment, pos) = state.segment_at_height(height).ok_or_else(missing)?;
                let block = state.block(segment, pos).ok_or_else(missing)?;
                header.segments.truncate(segment + 1);
                if pos + 1 < header.segments[segment].block_count {
                    let id = header.take_file_id(&self.dir)?;
                    header.segments[segment] = copy_prefix(&state, segment, &block, id)?;
                }
                header.tip = Some(Tip {
                    height,
                    hash: *block.hash,
                });
                header.runs.retain(|r| r.from_height <= height);
                for run in &mut header.runs {
                    run.to_height = run.to_height.min(height);
                }
                header.spent_indexed_to = header.spent_indexed_to.min(height + 1);
            }
            _ => {
                header.segments.clear();
                header.runs.clear();
                header.tip = None;
                header.spent_indexed_to = 0;
            }
        }
        let result = self.publish_header(header);
        if result.is_err() {
            self.discard();
        }
        result
    }

    fn stage(&mut self, block: &BlockData) -> Result<(), CacheError> {
        let result = self.stage_inner(block);
        if result.is_err() {
            self.discard();
        }
        result
    }

    fn stage_inner(&mut self, block: &BlockData) -> Result<(), CacheError> {
        let height = block.height;
        if let Some(tip) = self.pending.tip {
            let expected = tip.height.saturating_add(1);
            if height != expected || tip.height == u64::MAX {
                return Err(CacheError::NotNext { height, expected });
            }
            if block.prev_hash != tip.hash {
                return Err(CacheError::PrevHashMismatch {
                    height,
                    tip_height: tip.height,
                });
            }
        }
        let max = u64::from(u32::MAX);
        let too_large = |what, len: usize| CacheError::TooLarge {
            height,
            what,
            len: len as u64,
            max,
        };
        if block.outputs.len() as u64 > max {
            return Err(too_large("output count", block.outputs.len()));
        }
        if block.spent.len() as u64 > max {
            return Err(too_large("spent count", block.spent.len()));
        }
        for out in &block.outputs {
            if out.script.len() as u64 > max {
                return Err(too_large("script length", out.script.len()));
            }
            if out.encrypted_data.len() as u64 > max {
                return Err(too_large("encrypted data length", out.encrypted_data.len()));
            }
        }
        self.prepare_segment(height)?;
        let seg_index = self.pending.segments.len() - 1;
        let seg = self.pending.segments[seg_index];

        let s = &mut self.scratch;
        s.outputs.clear();
        s.spent.clear();
        s.blobs.clear();
        s.offsets.clear();
        for out in &block.outputs {
            s.outputs
                .extend_from_slice(&encode_output(out, seg.blob_len + s.blobs.len() as u64));
            s.blobs.extend_from_slice(&out.script);
            s.blobs.extend_from_slice(&out.encrypted_data);
            // Decompressed once here rather than in every scan pass.
            s.offsets
                .extend_from_slice(&stored_offset::encode(&out.sender_offset_public_key));
        }
        for hash in &block.spent {
            s.spent.extend_from_slice(hash);
        }
        let raw = RawBlock {
            height,
            hash: &block.hash,
            prev_hash: &block.prev_hash,
            timestamp: block.timestamp,
            output_start: seg.first_output + seg.output_count,
            output_count: block.outputs.len() as u32,
            spent_count: block.spent.len() as u32,
            spent_start: seg.spent_count,
            blob_start: seg.blob_len,
            blob_len: s.blobs.len() as u64,
            crc: 0,
            flags: if block.output_details { BLOCK_OUTPUT_DETAILS } else { 0 },
        };
        let mut record = raw.encode();
        let crc = block_checksum(&record, &s.outputs, &s.spent, &s.blobs);
        set_block_checksum(&mut record, crc);

        let Some(Segment([blocks, outputs, spent, blobs, offsets])) = self.active.as_mut() else {
            return Err(CacheError::corrupt(&self.dir, "no open segment"));
        };
        offsets.write(&s.offsets)?;
        outputs.write(&s.outputs)?;
        spent.write(&s.spent)?;
        blobs.write(&s.blobs)?;
        blocks.write(&record)?;

        let seg = &mut self.pending.segments[seg_index];
        // The published checksums grow with the files, in `Part::ALL` order.
        for (crc, bytes) in seg
            .crcs
            .iter_mut()
            .zip([&record[..], &s.outputs, &s.spent, &s.blobs, &s.offsets])
        {
            *crc = integrity::extend(*crc, bytes);
        }
        seg.block_count += 1;
        seg.output_count += block.outputs.len() as u64;
        seg.spent_count += block.spent.len() as u64;
        seg.blob_len += s.blobs.len() as u64;
        self.pending.tip = Some(Tip {
            height,
            hash: block.hash,
        });
        Ok(())
    }

    /// Makes sure the last pending segment is open for appending, starting a new one when it is full,
    /// or when its writer could store sender offset keys and this build cannot (or the other way round):
    /// each segment says one thing about its offsets.
    fn prepare_segment(&mut self, height: u64) -> Result<(), CacheError> {
        let last = self.pending.segments.last().copied();
        let not_stored = !stored_offset::layout_holds();
        if let Some(last) = last
            && last.output_count < self.options.segment_outputs.max(1)
            && last.id >= self.settled_from
            && last.offsets_not_stored == not_stored
        {
            if self.active.is_none() {
                self.active = Some(Segment::open(&self.dir, &last)?);
            }
            return Ok(());
        }
        let first_output = match last {
            Some(last) => last
                .end_output()
                .ok_or_else(|| CacheError::corrupt(&self.dir, "output count overflows"))?,
            None => 0,
        };
        let id = self.pending.take_file_id(&self.dir)?;
        let segment = Segment::create(&self.dir, id)?;
        self.sealed.extend(self.active.replace(segment));
        self.pending.segments.push(SegmentMeta {
            id,
            first_height: height,
            first_output,
            offsets_not_stored: not_stored,
            ..SegmentMeta::default()
        });
        Ok(())
    }

    fn publish(&mut self) -> Result<(), CacheError> {
        let result = self.publish_pending();
        if result.is_err() {
            self.discard();
        }
        result
    }

    fn publish_pending(&mut self) -> Result<(), CacheError> {
        if self.pending == self.published.header {
            return Ok(());
        }
        for segment in self.sealed.iter_mut().chain(self.active.as_mut()) {
            segment.sync()?;
        }
        self.sealed.clear();
        self.publish_header(self.pending.clone())
    }

    /// Writes `header` as the next slot once the files it names are durable, then drops files that
    /// neither the new nor the previous slot names.
    fn publish_header(&mut self, mut header: Header) -> Result<(), CacheError> {
        header.seq = self
            .published
            .header
            .seq
            .checked_add(1)
            .ok_or_else(|| CacheError::corrupt(&self.dir, "sequence exhausted"))?;
        let mut state = integrity::load(&self.dir, header, Reuse::Own(&self.published))?;
        if let Some(indexed) = spent::maintain(&state, self.options.spent_tail_max)? {
            state = integrity::load(&self.dir, indexed, Reuse::Own(&state))?;
        }
        // New segment or run files: their directory entries must be durable before a header names them.
        let old = &self.published.header;
        let new_files = state
            .header
            .segments
            .iter()
            .any(|s| !old.segments.iter().any(|o| o.id == s.id))
            || state.header.runs.iter().any(|r| !old.runs.iter().any(|o| o.id == r.id));
        if new_files {
            sync_dir(&self.dir)?;
        }
        let slot = slot_path(&self.dir, state.header.seq);
        let new_slot = !slot.exists();
        let written = write_slot(&slot, &state.header.encode()).and_then(|()| match new_slot {
            true => sync_dir(&self.dir),
            false => Ok(()),
        });
        if let Err(e) = written {
            // The slot may be on disk all the same: treat everything it names as published.
            self.settled_from = self.settled_from.max(state.header.next_file_id);
            return Err(e);
        }
        let old = std::mem::replace(&mut self.published, Arc::new(state));
        self.pending = self.published.header.clone();
        collect_garbage(&self.dir, &[&old.header, &self.published.header]);
        Ok(())
    }

    /// Forgets everything unpublished. Bytes already written past the published lengths stay until the
    /// next append reopens the segment and cuts them off (never a segment below `settled_from`).
    fn discard(&mut self) {
        self.pending = self.published.header.clone();
        self.pending.next_file_id = self.pending.next_file_id.max(self.settled_from);
        self.active = None;
        self.sealed.clear();
    }
}

/// Copies segment `segment` up to and including `block` into new files `id`: a rollback never shortens a
/// file that a snapshot may have mapped.
fn copy_prefix(state: &State, segment: usize, block: &RawBlock<'_>, id: u64) -> Result<SegmentMeta, CacheError> {
    let meta = state.header.segments[segment];
    let maps = &state.segments[segment];
    let bad = || {
        CacheError::corrupt(
            segment_path(&state.dir, meta.id, Part::Blocks),
            "rollback block out of range",
        )
    };
    let block_count = block
        .height
        .checked_sub(meta.first_height)
        .and_then(|p| p.checked_add(1))
        .ok_or_else(bad)?;
    let output_count = block
        .output_end()
        .and_then(|e| e.checked_sub(meta.first_output))
        .ok_or_else(bad)?;
    let spent_count = block
        .spent_start
        .checked_add(u64::from(block.spent_count))
        .ok_or_else(bad)?;
    let blob_len = block.blob_start.checked_add(block.blob_len).ok_or_else(bad)?;
    let mut copy = SegmentMeta {
        id,
        first_height: meta.first_height,
        block_count,
        first_output: meta.first_output,
        output_count,
        spent_count,
        blob_len,
        offsets_not_stored: meta.offsets_not_stored,
        crcs: [0; 5],
    };
    let lens = part_lens(&copy, state.header.has_offsets()).ok_or_else(bad)?;
    for &part in Part::of_version(state.header.version) {
        let len = usize::try_from(lens[part as usize]).map_err(|_| bad())?;
        let bytes = maps.region(part).bytes().get(..len).ok_or_else(bad)?;
        write_new(&segment_path(&state.dir, id, part), bytes)?;
        copy.crcs[part as usize] = crc32fast::hash(bytes);
    }
    Ok(copy)
}

/// Appends that become visible together. Dropping a batch without `publish` discards its appends.
pub struct Batch<'c> {
    cache: &'c mut Cache,
    done: bool,
}

impl Batch<'_> {
    /// Writes one block after the batch's tip. On error everything unpublished is discarded and the
    /// batch continues from the published tip.
    pub fn append(&mut self, block: &BlockData) -> Result<(), CacheError> {
        self.cache.stage(block)
    }

    /// The tip including unpublished appends.
    pub fn tip(&self) -> Option<Tip> {
        self.cache.pending.tip
    }

    /// Makes the batch durable, then visible: fsync the data, then write and fsync the next header slot.
    pub fn publish(mut self) -> Result<(), CacheError> {
        self.done = true;
        self.cache.publish()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cache.discard();
        }
    }
}
