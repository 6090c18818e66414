//! Published state: one header with every file it names mapped at its published length, a cheap
//! structural check, and the lookups from height or output index to a segment and a record. Owns the
//! mapped bytes; not the public API (`view`), writing (`writer`) nor the checksums (`integrity`, which
//! loads and opens states: mapping here, then checking every byte not checked before).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::recognize::stored_offset;

use super::{
    CacheError,
    error::Damage,
    files::{Part, Region, run_path, segment_path},
    format::{BLOCK_LEN, HASH_LEN, OFFSET_LEN, OUTPUT_LEN, RawBlock, RawOutput, block_checksum},
    header::{Header, SegmentMeta},
};

/// What checking a segment's maps established (`integrity`), kept with the maps: a later state sharing
/// them (or a grown version of them) continues from here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Bytes of each file covered so far, in `Part::ALL` order (format 4).
    pub lens: [u64; 5],
    /// Their CRC-32 (format 4).
    pub crcs: [u32; 5],
    /// Blocks whose own checksum was checked (formats 2 and 3).
    pub blocks: u64,
}

/// The maps of one segment's files; `offsets` is empty in a format-2 state.
#[derive(Clone, Default)]
pub(crate) struct SegmentMaps {
    pub blocks: Region,
    pub outputs: Region,
    pub spent: Region,
    pub blobs: Region,
    pub offsets: Region,
    /// What has been checked of these maps (`integrity`): a state sharing them checks nothing again, and
    /// one that grows them checks only the bytes added.
    pub checked: Checked,
    /// Damage a later full check of the segment found (the service's background pass), seen by every
    /// state that shares these maps. A segment's files never heal: a rebuild or a rollback's copy brings
    /// new ones.
    pub damage: Arc<OnceLock<Damage>>,
}

/// Which maps of an earlier state `State::load` may share.
#[derive(Clone, Copy)]
pub(crate) enum Reuse<'a> {
    Nothing,
    /// The writer's previous state: its files are its own (it holds the directory's lock), so a file
    /// with the same name is the same file.
    Own(&'a State),
    /// A reader's previous snapshot of a directory someone else writes: a map is shared only while its
    /// name still leads to the file it maps (the directory may have been filled anew meanwhile).
    Snapshot(&'a State),
}

impl SegmentMaps {
    pub fn region(&self, part: Part) -> &Region {
        match part {
            Part::Blocks => &self.blocks,
            Part::Outputs => &self.outputs,
            Part::Spent => &self.spent,
            Part::Blobs => &self.blobs,
            Part::Offsets => &self.offsets,
        }
    }
}

/// Published byte lengths of a segment's files, in `Part::ALL` order; `None` if one overflows.
pub(crate) fn part_lens(meta: &SegmentMeta, has_offsets: bool) -> Option<[u64; 5]> {
    Some([
        mul(meta.block_count, BLOCK_LEN)?,
        mul(meta.output_count, OUTPUT_LEN)?,
        mul(meta.spent_count, HASH_LEN)?,
        meta.blob_len,
        if has_offsets {
            mul(meta.output_count, OFFSET_LEN)?
        } else {
            0
        },
    ])
}

/// Says once per process when a segment and this build disagree about storing sender offset keys (each
/// format-4 segment records whether its writer could, `SegmentMeta::offsets_not_stored`): scans then
/// decompress those keys, with the same results. Nothing is refused for it.
fn note_offset_layout(header: &Header, meta: &SegmentMeta) {
    static WRITER_COULD_NOT: AtomicBool = AtomicBool::new(false);
    static READER_CANNOT: AtomicBool = AtomicBool::new(false);
    if !header.has_checksums() {
        return;
    }
    let holds = stored_offset::layout_holds();
    if meta.offsets_not_stored && holds && !WRITER_COULD_NOT.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            segment = meta.id,
            "a build that could not store sender offset keys wrote this cache segment: scans decompress them \
             (same results, slower); a cache this build fills stores them"
        );
    }
    if !meta.offsets_not_stored && !holds && !READER_CANNOT.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            segment = meta.id,
            "the cache stores sender offset keys in a point layout this build cannot load (its layout probe \
             failed): scans decompress them (same results, slower)"
        );
    }
}

/// A published header and its maps. Immutable; snapshots share it through an `Arc`.
pub(crate) struct State {
    pub dir: PathBuf,
    pub header: Header,
    pub segments: Vec<SegmentMaps>,
    pub runs: Vec<Region>,
    /// Damage a later full check of each run found, shared like the segments' (`SegmentMaps::damage`).
    pub run_damage: Vec<Arc<OnceLock<Damage>>>,
}

/// The bytes of one block's outputs, spent hashes and blobs.
pub(crate) struct BlockParts<'a> {
    pub outputs: &'a [u8],
    pub spent: &'a [u8],
    pub blobs: &'a [u8],
}

/// A state just mapped, and which of its segments and runs `integrity` has yet to check.
pub(crate) struct Mapped {
    pub state: State,
    pub unchecked_segments: Vec<usize>,
    pub unchecked_runs: Vec<usize>,
}

fn mul(a: u64, b: usize) -> Option<u64> {
    a.checked_mul(b as u64)
}

impl State {
    /// Maps every file `header` names, checking nothing: the segments and runs whose bytes are not yet
    /// checked are listed beside the state (`integrity::load` checks them). Maps in `reuse` are shared
    /// where a file's published length is unchanged, so publishing a block remaps only the segment it
    /// grew.
    pub fn map(dir: &Path, header: Header, reuse: Reuse<'_>) -> Result<Mapped, CacheError> {
        let too_big = |id: u64| CacheError::corrupt(segment_path(dir, id, Part::Blocks), "segment length overflows");
        let (prior, snapshot) = match reuse {
            Reuse::Nothing => (None, false),
            Reuse::Own(state) => (Some(state), false),
            Reuse::Snapshot(state) => (Some(state), true),
        };
        // A migration adds files and checksums to unchanged segments: maps are shared within one format.
        let prior = prior.filter(|r| r.header.version == header.version);
        let mut segments = Vec::with_capacity(header.segments.len());
        let mut unchecked = Vec::new();
        for meta in &header.segments {
            let old = prior.and_then(|r| {
                let i = r.header.segments.iter().position(|s| s.id == meta.id)?;
                let maps = &r.segments[i];
                let same_files = !snapshot
                    || Part::of_version(header.version)
                        .iter()
                        .all(|&part| maps.region(part).maps_file_at(&segment_path(dir, meta.id, part)));
                same_files.then(|| (r.header.segments[i], maps.clone()))
            });
            if let Some((old_meta, maps)) = &old
                && old_meta == meta
            {
                segments.push(maps.clone());
                continue;
            }
            let lens = part_lens(meta, header.has_offsets()).ok_or_else(|| too_big(meta.id))?;
            // A grown segment is checked from where its last check ended.
            let mut maps = SegmentMaps {
                checked: old.as_ref().map_or_else(Checked::default, |(_, m)| m.checked),
                damage: old
                    .as_ref()
                    .map_or_else(Default::default, |(_, m)| Arc::clone(&m.damage)),
                ..SegmentMaps::default()
            };
            unchecked.push(segments.len());
            note_offset_layout(&header, meta);
            for (part, len) in Part::ALL.into_iter().zip(lens) {
                // A grown file keeps its prefix, so an old map that covers the new length is reused too.
                let slot = match part {
                    Part::Blocks => &mut maps.blocks,
                    Part::Outputs => &mut maps.outputs,
                    Part::Spent => &mut maps.spent,
                    Part::Blobs => &mut maps.blobs,
                    Part::Offsets => &mut maps.offsets,
                };
                *slot = match old.as_ref().map(|(_, m)| m.region(part)) {
                    Some(m) if m.len() == len => m.clone(),
                    _ => Region::map(&segment_path(dir, meta.id, part), len)?,
                };
            }
            segments.push(maps);
        }
        let mut runs = Vec::with_capacity(header.runs.len());
        let mut run_damage = Vec::with_capacity(header.runs.len());
        let mut unchecked_runs = Vec::new();
        for meta in &header.runs {
            let path = run_path(dir, meta.id);
            let old = prior.and_then(|r| {
                let i = r.header.runs.iter().position(|m| m.id == meta.id)?;
                let run = &r.runs[i];
                (!snapshot || run.maps_file_at(&path)).then(|| (run.clone(), Arc::clone(&r.run_damage[i])))
            });
            let len = mul(meta.entries, super::format::RUN_ENTRY_LEN)
                .ok_or_else(|| CacheError::corrupt(&path, "run length overflows"))?;
            match old {
                // Runs are immutable: one mapped before was checked then.
                Some((region, damage)) if region.len() == len => {
                    runs.push(region);
                    run_damage.push(damage);
                }
                _ => {
                    unchecked_runs.push(runs.len());
                    runs.push(Region::map(&path, len)?);
                    run_damage.push(Arc::default());
                }
            }
        }
        let state = State {
            dir: dir.to_owned(),
            header,
            segments,
            runs,
            run_damage,
        };
        Ok(Mapped {
            state,
            unchecked_segments: unchecked,
            unchecked_runs,
        })
    }

    /// Maps every file `header` names without checking anything, for a report of every damaged file
    /// (`cache::verify_dir`): a file that cannot be mapped (missing, shorter than published) leaves its
    /// segment's or run's maps empty, with the error beside it.
    pub fn map_all(dir: &Path, header: Header) -> (State, Vec<Option<CacheError>>, Vec<Option<CacheError>>) {
        let mut segment_errors = Vec::with_capacity(header.segments.len());
        let mut segments = Vec::with_capacity(header.segments.len());
        for meta in &header.segments {
            let mapped = part_lens(meta, header.has_offsets())
                .ok_or_else(|| {
                    CacheError::corrupt(segment_path(dir, meta.id, Part::Blocks), "segment length overflows")
                })
                .and_then(|lens| {
                    let mut maps = SegmentMaps::default();
                    for (part, len) in Part::ALL.into_iter().zip(lens) {
                        let region = Region::map(&segment_path(dir, meta.id, part), len)?;
                        match part {
                            Part::Blocks => maps.blocks = region,
                            Part::Outputs => maps.outputs = region,
                            Part::Spent => maps.spent = region,
                            Part::Blobs => maps.blobs = region,
                            Part::Offsets => maps.offsets = region,
                        }
                    }
                    Ok(maps)
                });
            let (maps, error) = match mapped {
                Ok(maps) => (maps, None),
                Err(error) => (SegmentMaps::default(), Some(error)),
            };
            segments.push(maps);
            segment_errors.push(error);
        }
        let mut run_errors = Vec::with_capacity(header.runs.len());
        let mut runs = Vec::with_capacity(header.runs.len());
        for meta in &header.runs {
            let path = run_path(dir, meta.id);
            let mapped = mul(meta.entries, super::format::RUN_ENTRY_LEN)
                .ok_or_else(|| CacheError::corrupt(&path, "run length overflows"))
                .and_then(|len| Region::map(&path, len));
            let (region, error) = match mapped {
                Ok(region) => (region, None),
                Err(error) => (Region::default(), Some(error)),
            };
            runs.push(region);
            run_errors.push(error);
        }
        let run_damage = header.runs.iter().map(|_| Arc::default()).collect();
        let state = State {
            dir: dir.to_owned(),
            header,
            segments,
            runs,
            run_damage,
        };
        (state, segment_errors, run_errors)
    }

    /// Cheap consistency check, O(segments): the first and last block of every segment agree with the
    /// header and the last one matches its checksum. A full check is `CacheView::verify`.
    pub fn check(&self) -> Result<(), CacheError> {
        for (i, meta) in self.header.segments.iter().enumerate() {
            let path = segment_path(&self.dir, meta.id, Part::Blocks);
            let first = self
                .block(i, 0)
                .ok_or_else(|| CacheError::corrupt(&path, "segment has no blocks"))?;
            if first.height != meta.first_height
                || first.output_start != meta.first_output
                || first.spent_start != 0
                || first.blob_start != 0
            {
                return Err(CacheError::corrupt(
                    &path,
                    format!("block {} disagrees with the header", first.height),
                ));
            }
            let last = self
                .block(i, meta.block_count - 1)
                .ok_or_else(|| CacheError::corrupt(&path, "segment has no blocks"))?;
            let ends_match = Some(last.height) == meta.end_height().map(|h| h - 1)
                && last.output_end() == meta.end_output()
                && last.spent_start.checked_add(u64::from(last.spent_count)) == Some(meta.spent_count)
                && last.blob_start.checked_add(last.blob_len) == Some(meta.blob_len);
            if !ends_match {
                return Err(CacheError::corrupt(
                    &path,
                    format!("block {} disagrees with the header", last.height),
                ));
            }
            self.check_block(i, &last)?;
            self.check_last_offset(i)?;
        }
        if let Some(tip) = self.header.tip
            && self.block_at(tip.height).is_none_or(|b| *b.hash != tip.hash)
        {
            return Err(CacheError::corrupt(
                &self.dir,
                format!("tip {} differs from its block", tip.height),
            ));
        }
        Ok(())
    }

    /// The last output's stored offset must be the one its record's key gives: catches an offsets file
    /// that does not belong to its segment. `CacheView::verify` checks every output.
    fn check_last_offset(&self, segment: usize) -> Result<(), CacheError> {
        if !self.header.has_offsets() {
            return Ok(());
        }
        let (Some(record), offset) = (self.output_records(segment).last(), self.offsets(segment).last()) else {
            return Ok(());
        };
        self.check_offset(segment, record, offset)
    }

    /// Checks one output's stored offset against its record. A "not stored" entry is right only where
    /// the segment says its writer could not store offsets (or in a format-3 segment, which does not
    /// say); any other entry must be what this build computes from the record's key, when this build can
    /// compute it (a build whose point layout probe fails can judge only unusable keys).
    pub fn check_offset(
        &self,
        segment: usize,
        record: &[u8; OUTPUT_LEN],
        offset: Option<&[u8; OFFSET_LEN]>,
    ) -> Result<(), CacheError> {
        let meta = self.header.segments.get(segment);
        let not_stored_allowed = !self.header.has_checksums() || meta.is_some_and(|m| m.offsets_not_stored);
        let expected = stored_offset::encode(RawOutput::decode(record).sender_offset_public_key);
        let fine = match offset {
            None => false,
            Some(stored) if *stored == stored_offset::NOT_STORED => not_stored_allowed,
            Some(_) if expected == stored_offset::NOT_STORED => true,
            Some(stored) => *stored == expected,
        };
        if !fine {
            let id = meta.map_or(0, |s| s.id);
            return Err(CacheError::corrupt(
                segment_path(&self.dir, id, Part::Offsets),
                "stored offset differs from the output's sender offset key",
            ));
        }
        Ok(())
    }

    /// Checks one block against its checksum.
    pub fn check_block(&self, segment: usize, block: &RawBlock<'_>) -> Result<(), CacheError> {
        let id = self.header.segments.get(segment).map_or(0, |s| s.id);
        let path = segment_path(&self.dir, id, Part::Blocks);
        let pos = self
            .header
            .segments
            .get(segment)
            .and_then(|s| block.height.checked_sub(s.first_height));
        let record = pos.and_then(|p| self.record(segment, p));
        let parts = self.parts(segment, block);
        let (Some(record), Some(parts)) = (record, parts) else {
            return Err(CacheError::corrupt(
                path,
                format!("block {} points outside its segment", block.height),
            ));
        };
        if block_checksum(record, parts.outputs, parts.spent, parts.blobs) != block.crc {
            return Err(CacheError::BlockChecksum {
                path,
                height: block.height,
            });
        }
        Ok(())
    }

    fn record(&self, segment: usize, pos: u64) -> Option<&[u8; BLOCK_LEN]> {
        let maps = self.segments.get(segment)?;
        maps.blocks
            .bytes()
            .as_chunks::<BLOCK_LEN>()
            .0
            .get(usize::try_from(pos).ok()?)
    }

    /// The block at position `pos` of segment `segment`.
    pub fn block(&self, segment: usize, pos: u64) -> Option<RawBlock<'_>> {
        self.record(segment, pos).map(RawBlock::decode)
    }

    /// The segment holding `height`, and the block's position in it.
    pub fn segment_at_height(&self, height: u64) -> Option<(usize, u64)> {
        let segs = &self.header.segments;
        let i = segs.partition_point(|s| s.first_height <= height).checked_sub(1)?;
        let pos = height - segs[i].first_height;
        (pos < segs[i].block_count).then_some((i, pos))
    }

    pub fn block_at(&self, height: u64) -> Option<RawBlock<'_>> {
        let (segment, pos) = self.segment_at_height(height)?;
        self.block(segment, pos)
    }

    /// The segment holding output `index`, and the output's position in it.
    pub fn segment_at_output(&self, index: u64) -> Option<(usize, u64)> {
        let segs = &self.header.segments;
        let i = segs.partition_point(|s| s.first_output <= index).checked_sub(1)?;
        let pos = index - segs[i].first_output;
        (pos < segs[i].output_count).then_some((i, pos))
    }

    /// The output records of a segment, as fixed-width arrays borrowed from the map.
    pub fn output_records(&self, segment: usize) -> &[[u8; OUTPUT_LEN]] {
        self.segments
            .get(segment)
            .map_or(&[], |m| m.outputs.bytes().as_chunks::<OUTPUT_LEN>().0)
    }

    /// The stored offsets of a segment, one per output record; empty in a format-2 state.
    pub fn offsets(&self, segment: usize) -> &[[u8; OFFSET_LEN]] {
        self.segments
            .get(segment)
            .map_or(&[], |m| m.offsets.bytes().as_chunks::<OFFSET_LEN>().0)
    }

    pub fn blobs(&self, segment: usize) -> &[u8] {
        self.segments.get(segment).map_or(&[], |m| m.blobs.bytes())
    }

    /// The spent hashes of a segment.
    pub fn spent_hashes(&self, segment: usize) -> &[[u8; HASH_LEN]] {
        self.segments
            .get(segment)
            .map_or(&[], |m| m.spent.bytes().as_chunks::<HASH_LEN>().0)
    }

    /// Position within its segment of the block holding the segment's `entry`-th spent hash.
    pub fn block_of_spent(&self, segment: usize, entry: u64) -> Option<u64> {
        let records = self.segments.get(segment)?.blocks.bytes().as_chunks::<BLOCK_LEN>().0;
        // The last block starting at or before `entry` holds it; blocks without spends share their
        // start with the next block and come before it.
        let pos = records
            .partition_point(|r| RawBlock::decode(r).spent_start <= entry)
            .checked_sub(1)?;
        Some(pos as u64)
    }

    /// Position within its segment of the block holding output `index` (global).
    pub fn block_of_output(&self, segment: usize, index: u64) -> Option<u64> {
        let records = self.segments.get(segment)?.blocks.bytes().as_chunks::<BLOCK_LEN>().0;
        let pos = records
            .partition_point(|r| RawBlock::decode(r).output_start <= index)
            .checked_sub(1)?;
        Some(pos as u64)
    }

    /// The bytes a block record points at, or `None` if they fall outside its segment's files.
    pub fn parts(&self, segment: usize, block: &RawBlock<'_>) -> Option<BlockParts<'_>> {
        let meta = self.header.segments.get(segment)?;
        let maps = self.segments.get(segment)?;
        let range = |start: u64, count: u64, width: usize| -> Option<std::ops::Range<usize>> {
            let a = usize::try_from(start.checked_mul(width as u64)?).ok()?;
            let b = a.checked_add(usize::try_from(count.checked_mul(width as u64)?).ok()?)?;
            Some(a..b)
        };
        let rel = block.output_start.checked_sub(meta.first_output)?;
        Some(BlockParts {
            outputs: maps
                .outputs
                .bytes()
                .get(range(rel, u64::from(block.output_count), OUTPUT_LEN)?)?,
            spent: maps
                .spent
                .bytes()
                .get(range(block.spent_start, u64::from(block.spent_count), HASH_LEN)?)?,
            blobs: maps.blobs.bytes().get(range(block.blob_start, block.blob_len, 1)?)?,
        })
    }
}
