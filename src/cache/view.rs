//! Cache view: a read-only snapshot pinned to one published tip, with zero-copy output records, blocks
//! by height, output index ranges to split across threads, and spent lookups. Owns the read API; not
//! writing, and not what an output means to a wallet.

use std::{
    ops::{Bound, Range, RangeBounds},
    path::Path,
    sync::Arc,
};

use super::{
    CacheError,
    error::Damage,
    files::{Part, segment_path},
    format::{BLOCK_OUTPUT_DETAILS, HASH_LEN, OFFSET_LEN, OUTPUT_LEN, RawBlock, RawOutput},
    header::Tip,
    integrity::{self, Opened},
    spent,
    state::{Checked, State},
};

/// A snapshot of the cache at one published tip. Cheap to clone and `Send + Sync`: scan threads share
/// it. Later appends and rollbacks never change what it shows; its maps stay valid until it is dropped.
#[derive(Clone)]
pub struct CacheView {
    state: Arc<State>,
}

/// One output, borrowed from the snapshot's maps. Decoding allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputRecord<'a> {
    pub output_hash: &'a [u8; 32],
    pub commitment: &'a [u8; 32],
    pub sender_offset_public_key: &'a [u8; 32],
    /// The key as stored decompressed (format 3); `None` in a format-2 cache, which scans decompress.
    pub stored_offset: Option<&'a [u8; OFFSET_LEN]>,
    pub output_type: u8,
    pub maturity: u64,
    /// Serialized script. Empty if the record's blob range is damaged; `CacheView::verify` reports that.
    pub script: &'a [u8],
    /// The output's `encrypted_data`. Empty if the record's blob range is damaged.
    pub encrypted_data: &'a [u8],
}

/// One block, borrowed from the snapshot's maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord<'a> {
    pub height: u64,
    pub hash: &'a [u8; 32],
    pub prev_hash: &'a [u8; 32],
    pub timestamp: u64,
    /// Global indices of the block's outputs, for `CacheView::output` and `outputs`.
    pub outputs: Range<u64>,
    /// Hashes of the outputs this block's inputs spend.
    pub spent: &'a [[u8; 32]],
    /// The outputs carry their genuine script, output type and maturity (see `BlockData`).
    pub output_details: bool,
}

fn decode_output<'a>(
    record: &'a [u8; OUTPUT_LEN],
    blobs: &'a [u8],
    stored_offset: Option<&'a [u8; OFFSET_LEN]>,
) -> OutputRecord<'a> {
    let raw = RawOutput::decode(record);
    let (script, encrypted_data) = raw.blobs(blobs).unwrap_or((&[], &[]));
    OutputRecord {
        output_hash: raw.output_hash,
        commitment: raw.commitment,
        sender_offset_public_key: raw.sender_offset_public_key,
        stored_offset,
        output_type: raw.output_type,
        maturity: raw.maturity,
        script,
        encrypted_data,
    }
}

impl CacheView {
    pub(crate) fn new(state: Arc<State>) -> CacheView {
        CacheView { state }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// Opens the newest published state of the cache in `dir` read-only, without taking the writer's
    /// lock; a writer in another process may keep appending. Checks every byte against the checksums
    /// the header publishes (a damaged segment is `CacheError::Damaged`, naming it): to follow a
    /// directory, `refresh` the view rather than open it again, so unchanged segments are not read again.
    pub fn open(dir: impl AsRef<Path>) -> Result<CacheView, CacheError> {
        CacheView::opened(integrity::open(dir.as_ref(), None)?)
    }

    /// The newest published state of this view's directory, sharing this view's maps where their files
    /// are unchanged: only segments that are new or grew since are mapped and checked, and those only
    /// over their new bytes. The way to follow a directory another process writes.
    pub fn refresh(&self) -> Result<CacheView, CacheError> {
        CacheView::opened(integrity::open(&self.state.dir, Some(&self.state))?)
    }

    fn opened(opened: Opened) -> Result<CacheView, CacheError> {
        // A torn header slot is a writer caught mid-publish; damaged data under a valid header is not,
        // and the state one publish older is served instead: say so.
        if let Some(error @ CacheError::Damaged(_)) = &opened.skipped {
            tracing::warn!(%error, "the newest cache state is damaged; reading the one published before it");
        }
        Ok(CacheView::new(Arc::new(opened.state)))
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    pub fn network(&self) -> u8 {
        self.state.header.network
    }

    /// The format of the header this snapshot shows: `FORMAT_VERSION`, or 2 for a cache no writer has
    /// migrated yet (its scans decompress each sender offset key).
    pub fn format_version(&self) -> u32 {
        self.state.header.version
    }

    /// Whether the demo generator wrote this cache: its outputs exist on no node, so a wallet file's
    /// full outputs may (only then) be rebuilt from the cache.
    pub fn is_demo(&self) -> bool {
        self.state.header.demo
    }

    /// Publish sequence number of the header this snapshot shows; grows with every publish.
    pub fn sequence(&self) -> u64 {
        self.state.header.seq
    }

    /// The last block, or `None` for an empty cache.
    pub fn tip(&self) -> Option<Tip> {
        self.state.header.tip
    }

    /// Height of the first block held (a cache may start above genesis).
    pub fn first_height(&self) -> Option<u64> {
        self.state.header.first_height()
    }

    pub fn block_count(&self) -> u64 {
        self.state.header.block_count()
    }

    /// Total outputs; valid output indices are `0..output_count()`.
    pub fn output_count(&self) -> u64 {
        self.state.header.output_count()
    }

    /// The output at `index`.
    ///
    /// # Panics
    /// If `index >= output_count()`, like slice indexing. `get_output` is the checked form.
    pub fn output(&self, index: u64) -> OutputRecord<'_> {
        match self.get_output(index) {
            Some(o) => o,
            None => panic!(
                "output {index} out of range: the snapshot has {} outputs",
                self.output_count()
            ),
        }
    }

    pub fn get_output(&self, index: u64) -> Option<OutputRecord<'_>> {
        let (segment, pos) = self.state.segment_at_output(index)?;
        let pos = usize::try_from(pos).ok()?;
        let record = self.state.output_records(segment).get(pos)?;
        let offset = self.state.offsets(segment).get(pos);
        Some(decode_output(record, self.state.blobs(segment), offset))
    }

    /// Like `get_output`, but a damaged blob range is an error instead of empty slices.
    pub fn try_output(&self, index: u64) -> Result<OutputRecord<'_>, CacheError> {
        let out_of_range = || CacheError::OutputOutOfRange {
            index,
            count: self.output_count(),
        };
        let (segment, pos) = self.state.segment_at_output(index).ok_or_else(out_of_range)?;
        let pos = usize::try_from(pos).map_err(|_| out_of_range())?;
        let record = self.state.output_records(segment).get(pos).ok_or_else(out_of_range)?;
        let raw = RawOutput::decode(record);
        if raw.blobs(self.state.blobs(segment)).is_none() {
            let id = self.state.header.segments[segment].id;
            let path = segment_path(&self.state.dir, id, Part::Outputs);
            return Err(CacheError::corrupt(
                path,
                format!("output {index} points outside the blob file"),
            ));
        }
        let offset = self.state.offsets(segment).get(pos);
        Ok(decode_output(record, self.state.blobs(segment), offset))
    }

    /// The outputs with indices in `range` (clamped to the snapshot), in order.
    pub fn outputs(&self, range: Range<u64>) -> impl Iterator<Item = OutputRecord<'_>> + '_ {
        let end = range.end.min(self.output_count());
        let start = range.start.min(end);
        let first = self
            .state
            .segment_at_output(start)
            .map_or(self.state.segments.len(), |(s, _)| s);
        (first..self.state.segments.len())
            .map_while(move |segment| {
                let meta = &self.state.header.segments[segment];
                (meta.first_output < end).then_some((segment, meta))
            })
            .flat_map(move |(segment, meta)| {
                let lo = start.max(meta.first_output) - meta.first_output;
                let hi = end.min(meta.end_output().unwrap_or(end)) - meta.first_output;
                let records = self.state.output_records(segment);
                let slice = records.get(lo as usize..hi as usize).unwrap_or(&[]);
                let offsets = self.state.offsets(segment).get(lo as usize..hi as usize).unwrap_or(&[]);
                let blobs = self.state.blobs(segment);
                slice
                    .iter()
                    .enumerate()
                    .map(move |(i, r)| decode_output(r, blobs, offsets.get(i)))
            })
    }

    /// Splits all outputs into index ranges of at most `max_len` (at least 1) that never cross a segment
    /// boundary, so each range reads one contiguous map. Hand them to rayon.
    pub fn chunks(&self, max_len: u64) -> Vec<Range<u64>> {
        self.chunks_from(0, max_len)
    }

    /// Like `chunks`, from output index `start` on (see `first_output_at`).
    pub fn chunks_from(&self, start: u64, max_len: u64) -> Vec<Range<u64>> {
        let step = max_len.max(1);
        let mut chunks = Vec::new();
        for meta in &self.state.header.segments {
            let Some(end) = meta.end_output() else { break };
            let mut at = meta.first_output.max(start);
            while at < end {
                let next = at.saturating_add(step).min(end);
                chunks.push(at..next);
                at = next;
            }
        }
        chunks
    }

    /// Index of the first output in a block at or above `height`: where a scan from a wallet's birthday
    /// starts. `output_count()` if no such block is held.
    pub fn first_output_at(&self, height: u64) -> u64 {
        match (self.first_height(), self.tip()) {
            (Some(first), _) if height <= first => 0,
            (_, Some(tip)) if height <= tip.height => self.state.block_at(height).map_or(0, |b| b.output_start),
            _ => self.output_count(),
        }
    }

    /// Height of the block holding output `index`.
    pub fn output_height(&self, index: u64) -> Option<u64> {
        let (segment, _) = self.state.segment_at_output(index)?;
        let pos = self.state.block_of_output(segment, index)?;
        self.state.block(segment, pos).map(|b| b.height)
    }

    pub fn block(&self, height: u64) -> Option<BlockRecord<'_>> {
        let (segment, pos) = self.state.segment_at_height(height)?;
        self.block_record(segment, pos)
    }

    fn block_record(&self, segment: usize, pos: u64) -> Option<BlockRecord<'_>> {
        let raw = self.state.block(segment, pos)?;
        let spent = self
            .state
            .parts(segment, &raw)
            .map_or(&[][..], |p| p.spent.as_chunks::<HASH_LEN>().0);
        Some(BlockRecord {
            height: raw.height,
            hash: raw.hash,
            prev_hash: raw.prev_hash,
            timestamp: raw.timestamp,
            outputs: raw.output_start..raw.output_end().unwrap_or(raw.output_start),
            spent,
            output_details: raw.flags & BLOCK_OUTPUT_DETAILS != 0,
        })
    }

    /// The blocks with heights in `heights` (clamped to what the snapshot holds), in order.
    pub fn blocks(&self, heights: impl RangeBounds<u64>) -> impl Iterator<Item = BlockRecord<'_>> + '_ {
        let (first, tip) = match (self.first_height(), self.tip()) {
            (Some(first), Some(tip)) => (first, tip.height),
            _ => (1, 0),
        };
        let lo = match heights.start_bound() {
            Bound::Included(&h) => h,
            Bound::Excluded(&h) => h.saturating_add(1),
            Bound::Unbounded => first,
        };
        let hi = match heights.end_bound() {
            Bound::Included(&h) => Some(h),
            Bound::Excluded(&h) => h.checked_sub(1),
            Bound::Unbounded => Some(tip),
        };
        // Nothing when `heights` ends below zero; an empty cache has `first > tip`.
        let range = hi.map(|hi| lo.max(first)..=hi.min(tip)).into_iter().flatten();
        range.filter_map(move |h| self.block(h))
    }

    /// The height and hash of the block whose inputs spent the output `output_hash`, in this snapshot's
    /// chain.
    pub fn spent_by(&self, output_hash: &[u8; 32]) -> Option<(u64, [u8; 32])> {
        let height = spent::lookup(&self.state, output_hash)?;
        self.state.block_at(height).map(|b| (height, *b.hash))
    }

    /// Segments of the snapshot (`check_segment` takes their index).
    pub fn segment_count(&self) -> usize {
        self.state.header.segments.len()
    }

    /// Spent-index runs of the snapshot (`check_run` takes their index).
    pub fn run_count(&self) -> usize {
        self.state.header.runs.len()
    }

    /// Reads segment `segment` whole again and checks it against its checksums (file checksums from
    /// format 4, each block's before): what a background pass does to find damage done after the
    /// segment was first mapped. Damage found is kept with the maps, for every view that shares them
    /// (`damage`). An index past the last segment checks nothing.
    pub fn check_segment(&self, segment: usize) -> Result<(), Damage> {
        let Some(maps) = self.state.segments.get(segment) else {
            return Ok(());
        };
        integrity::check_segment(&self.state, segment, Checked::default()).map_err(|damage| {
            tracing::error!(error = %damage, "cache segment damaged");
            maps.damage.get_or_init(|| damage).clone()
        })?;
        Ok(())
    }

    /// Reads spent-index run `run` whole again and checks it against its checksum and order; like
    /// `check_segment`, damage found is kept.
    pub fn check_run(&self, run: usize) -> Result<(), Damage> {
        let Some(cell) = self.state.run_damage.get(run) else {
            return Ok(());
        };
        integrity::check_run(&self.state, run).map_err(|damage| {
            tracing::error!(error = %damage, "cache spent-index run damaged");
            cell.get_or_init(|| damage).clone()
        })
    }

    /// Damage a full check (`check_segment`, `check_run`) found in this snapshot's files, oldest blocks
    /// first.
    pub fn damage(&self) -> Vec<Damage> {
        let segments = self.state.segments.iter().map(|m| &m.damage);
        let mut found: Vec<Damage> = segments
            .chain(&self.state.run_damage)
            .filter_map(|cell| cell.get().cloned())
            .collect();
        found.sort_by_key(|d| *d.heights.start());
        found
    }

    /// The first damage found in files that hold blocks `from..=to` or their spends: a scan of that range
    /// read bytes that no longer match their checksums, and its result may miss outputs.
    pub fn damage_between(&self, from: u64, to: u64) -> Option<Damage> {
        self.damage().into_iter().find(|d| d.overlaps(from, to))
    }

    /// Full check of every byte the snapshot publishes: file checksums, block chain, block checksums,
    /// offsets and runs. O(size of the cache), with a decompression per output; opening checks every
    /// byte against its checksum, this also checks what the bytes mean.
    pub fn verify(&self) -> Result<(), CacheError> {
        let state = &*self.state;
        let mut prev: Option<[u8; 32]> = None;
        let mut next_output = 0u64;
        for (segment, meta) in state.header.segments.iter().enumerate() {
            integrity::check_segment(state, segment, Checked::default()).map_err(CacheError::Damaged)?;
            let path = segment_path(&state.dir, meta.id, Part::Blocks);
            let (mut spent_at, mut blob_at) = (0u64, 0u64);
            for pos in 0..meta.block_count {
                let raw = state
                    .block(segment, pos)
                    .ok_or_else(|| CacheError::corrupt(&path, "missing block"))?;
                let bad = |what: &str| CacheError::corrupt(&path, format!("block {}: {what}", raw.height));
                if Some(raw.height) != meta.first_height.checked_add(pos) {
                    return Err(bad("height out of sequence"));
                }
                if prev.is_some_and(|p| p != *raw.prev_hash) {
                    return Err(bad("previous hash does not match the block before"));
                }
                if raw.output_start != next_output || raw.spent_start != spent_at || raw.blob_start != blob_at {
                    return Err(bad("offsets do not follow the block before"));
                }
                state.check_block(segment, &raw)?;
                verify_outputs(state, segment, &raw).map_err(bad)?;
                verify_offsets(state, segment, &raw)?;
                prev = Some(*raw.hash);
                next_output = raw.output_end().ok_or_else(|| bad("output count overflows"))?;
                spent_at = spent_at
                    .checked_add(u64::from(raw.spent_count))
                    .ok_or_else(|| bad("spent overflows"))?;
                blob_at = blob_at
                    .checked_add(raw.blob_len)
                    .ok_or_else(|| bad("blob length overflows"))?;
            }
        }
        state.check()?;
        (0..state.runs.len()).try_for_each(|i| spent::check_run(state, i))
    }
}

/// Each output's stored offset (format 3) must be the one its sender offset key gives.
fn verify_offsets(state: &State, segment: usize, raw: &RawBlock<'_>) -> Result<(), CacheError> {
    if !state.header.has_offsets() {
        return Ok(());
    }
    let first = state.header.segments[segment].first_output;
    let start = raw.output_start.saturating_sub(first) as usize;
    let end = start + raw.output_count as usize;
    let records = state.output_records(segment).get(start..end).unwrap_or(&[]);
    let offsets = state.offsets(segment);
    for (i, record) in records.iter().enumerate() {
        state.check_offset(segment, record, offsets.get(start + i))?;
    }
    Ok(())
}

/// Each output's blobs must lie inside its block's blob range, back to back.
fn verify_outputs(state: &State, segment: usize, raw: &RawBlock<'_>) -> Result<(), &'static str> {
    let parts = state.parts(segment, raw).ok_or("points outside its segment")?;
    let mut at = raw.blob_start;
    for record in parts.outputs.as_chunks::<OUTPUT_LEN>().0 {
        let o = RawOutput::decode(record);
        if o.blob_offset != at {
            return Err("output blobs are not back to back");
        }
        at = at
            .checked_add(u64::from(o.script_len))
            .and_then(|a| a.checked_add(u64::from(o.encrypted_len)))
            .ok_or("output blob length overflows")?;
    }
    if Some(at) != raw.blob_start.checked_add(raw.blob_len) {
        return Err("output blobs do not fill the block's blob range");
    }
    Ok(())
}
