//! Integrity: the checksums that cover every byte of a segment, and their checks. From format 4 the header
//! holds a CRC-32 of each of a segment's five files (blocks, outputs, spent hashes, blobs, stored
//! offsets); formats 2 and 3 have only each block's checksum, which covers all but the offsets file. Owns
//! computing the file checksums (the writer extends them as it appends), loading a state (`load`: map,
//! then check each segment when it is first mapped and again from where that check ended when it grows),
//! opening a directory at its newest header whose files pass (`open`), the full re-check of one segment
//! (`CacheView::check_segment`, the service's background pass, `verify`), and the damage it finds. Not
//! what the bytes mean (`format`, `view`) nor when files are mapped (`state`).
//!
//! A check reads each byte once per process: a map a later state shares keeps what was checked, so a
//! scan pass over an unchanged cache costs nothing here, and a segment the writer grows is checked only
//! over the bytes it appended.

use std::path::Path;

use rayon::prelude::*;

use super::{
    CacheError,
    error::Damage,
    files::{Part, Region, run_path, segment_path},
    header::{Header, SegmentMeta, read_slots},
    spent,
    state::{Checked, Mapped, Reuse, SegmentMaps, State},
};

/// CRC-32 (IEEE, as `crc32fast`) of the bytes a checksum `crc` covers, followed by `bytes`: the checksum
/// of a file grown by `bytes`. `extend(0, b)` is the checksum of `b` alone.
pub(crate) fn extend(crc: u32, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(bytes);
    hasher.finalize()
}

/// Maps every file `header` names and checks every byte not checked before. Maps in `reuse` are shared
/// where a file's published length is unchanged, so publishing a block remaps and checks only the
/// segment it grew, and only over the bytes it added.
pub(crate) fn load(dir: &Path, header: Header, reuse: Reuse<'_>) -> Result<State, CacheError> {
    let Mapped {
        mut state,
        unchecked_segments,
        unchecked_runs,
    } = State::map(dir, header, reuse)?;
    // Every byte once, segments on all cores: a flipped byte anywhere is an error here, never an
    // output a scan silently misses.
    let checked: Vec<Result<Checked, Damage>> = unchecked_segments
        .par_iter()
        .map(|&i| check_segment(&state, i, state.segments[i].checked))
        .collect();
    for (i, checked) in unchecked_segments.into_iter().zip(checked) {
        state.segments[i].checked = checked.map_err(CacheError::Damaged)?;
    }
    for i in unchecked_runs {
        check_run(&state, i).map_err(CacheError::Damaged)?;
    }
    Ok(state)
}

/// The result of opening a directory: the state, and what was skipped to reach it.
pub(crate) struct Opened {
    pub state: State,
    pub skipped: Option<CacheError>,
    /// A newer valid header's files failed the checks, so `state` is an older publish.
    pub fell_back: bool,
}

/// Opens the newest header slot whose files pass `check`, falling back to the older slot. Retries
/// when a file is missing: the writer may have replaced the header between our read and our maps.
/// Maps of `prior` (an earlier snapshot of the same directory) are shared where they still apply.
pub(crate) fn open(dir: &Path, prior: Option<&State>) -> Result<Opened, CacheError> {
    let mut attempts = 0;
    loop {
        let slots = read_slots(dir)?;
        let mut skipped = slots.rejected;
        let mut newest_error = None;
        // Ids a failed newer header used are never reused, even though its files are abandoned.
        let next_file_id = slots.newest_first.iter().map(|h| h.next_file_id).max().unwrap_or(1);
        for header in slots.newest_first {
            let reuse = prior.map_or(Reuse::Nothing, Reuse::Snapshot);
            match load(dir, header, reuse).and_then(|s| s.check().map(|()| s)) {
                Ok(mut state) => {
                    state.header.next_file_id = state.header.next_file_id.max(next_file_id);
                    let fell_back = newest_error.is_some();
                    return Ok(Opened {
                        state,
                        skipped: newest_error.or(skipped.take()),
                        fell_back,
                    });
                }
                Err(e) => newest_error = newest_error.or(Some(e)),
            }
        }
        let error = newest_error.unwrap_or(CacheError::NotFound { dir: dir.to_owned() });
        attempts += 1;
        if !error.is_missing_file() || attempts >= 3 {
            return Err(error);
        }
    }
}

/// The damage of `part` of the segment `meta`.
fn damage(state: &State, meta: &SegmentMeta, part: Part, what: String) -> Damage {
    Damage {
        path: segment_path(&state.dir, meta.id, part),
        file_id: meta.id,
        heights: meta.heights(),
        what,
    }
}

/// Checks segment `segment` of `state` from where `prior` ended (`Checked::default()`: from the start)
/// to its published end: with file checksums, each file's CRC-32 extended over the bytes not yet covered
/// must be the header's; without, each block not yet checked must match its own checksum.
pub(crate) fn check_segment(state: &State, segment: usize, prior: Checked) -> Result<Checked, Damage> {
    let meta = &state.header.segments[segment];
    let maps = &state.segments[segment];
    if state.header.has_checksums() {
        check_files(state, meta, maps, prior)
    } else {
        check_blocks(state, segment, prior)
    }
}

fn check_files(state: &State, meta: &SegmentMeta, maps: &SegmentMaps, prior: Checked) -> Result<Checked, Damage> {
    let mut checked = Checked::default();
    for part in Part::ALL {
        let i = part as usize;
        let bytes = maps.region(part).bytes();
        // A prior check of a longer map (a rollback's copy is a new segment, so this cannot happen
        // within one segment id) would not describe these bytes: start over then.
        let (from, crc) = match prior.lens[i] {
            len if len <= bytes.len() as u64 => (len as usize, prior.crcs[i]),
            _ => (0, 0),
        };
        let computed = extend(crc, &bytes[from..]);
        if computed != meta.crcs[i] {
            let what = format!(
                "checksum mismatch (stored {:#010x}, computed {computed:#010x})",
                meta.crcs[i]
            );
            return Err(damage(state, meta, part, what));
        }
        checked.lens[i] = bytes.len() as u64;
        checked.crcs[i] = computed;
    }
    Ok(checked)
}

fn check_blocks(state: &State, segment: usize, prior: Checked) -> Result<Checked, Damage> {
    let meta = &state.header.segments[segment];
    for pos in prior.blocks..meta.block_count {
        let damaged = |what: String| damage(state, meta, Part::Blocks, what);
        let block = state
            .block(segment, pos)
            .ok_or_else(|| damaged(format!("block record {pos} is missing")))?;
        state.check_block(segment, &block).map_err(|e| damaged(e.to_string()))?;
    }
    Ok(Checked {
        blocks: meta.block_count,
        ..Checked::default()
    })
}

/// Checks spent-index run `run` of `state` whole against its checksum and order.
pub(crate) fn check_run(state: &State, run: usize) -> Result<(), Damage> {
    spent::check_run(state, run).map_err(|error| {
        let meta = state.header.runs.get(run);
        Damage {
            path: run_path(&state.dir, meta.map_or(0, |m| m.id)),
            file_id: meta.map_or(0, |m| m.id),
            heights: meta.map_or(0..=0, |m| m.from_height..=m.to_height),
            what: error.to_string(),
        }
    })
}

/// What `verify_dir` found: the format, how much it read, and every damaged segment or run.
#[derive(Debug, Clone)]
pub struct DirReport {
    pub format_version: u32,
    pub segments: usize,
    pub runs: usize,
    pub outputs: u64,
    /// Bytes of segment and run files read.
    pub bytes: u64,
    /// One per damaged segment or run (its first damaged file), oldest blocks first.
    pub damaged: Vec<Damage>,
}

/// Checks every segment and run of the newest valid header of the cache in `dir` against its checksums,
/// all of them (unlike opening, which stops at the first damage), segments on all cores: what the
/// `verify` command reports. Errors only when no header can be read.
pub fn verify_dir(dir: &Path) -> Result<DirReport, CacheError> {
    let slots = read_slots(dir)?;
    let header = slots
        .newest_first
        .into_iter()
        .next()
        .ok_or_else(|| CacheError::NotFound { dir: dir.to_owned() })?;
    let (state, segment_errors, run_errors) = State::map_all(dir, header);
    let header = &state.header;
    let damaged_segments: Vec<Option<Damage>> = (0..header.segments.len())
        .into_par_iter()
        .map(|i| {
            let meta = &header.segments[i];
            match &segment_errors[i] {
                Some(error) => Some(damage(&state, meta, Part::Blocks, error.to_string())),
                None => check_segment(&state, i, Checked::default()).err(),
            }
        })
        .collect();
    let damaged_runs = (0..header.runs.len()).map(|i| match &run_errors[i] {
        Some(error) => Some(Damage {
            path: run_path(dir, header.runs[i].id),
            file_id: header.runs[i].id,
            heights: header.runs[i].from_height..=header.runs[i].to_height,
            what: error.to_string(),
        }),
        None => check_run(&state, i).err(),
    });
    let mut damaged: Vec<Damage> = damaged_segments.into_iter().chain(damaged_runs).flatten().collect();
    damaged.sort_by_key(|d| *d.heights.start());
    let segment_bytes: u64 = state
        .segments
        .iter()
        .flat_map(|m| Part::ALL.map(|p| m.region(p).len()))
        .sum();
    Ok(DirReport {
        format_version: header.version,
        segments: header.segments.len(),
        runs: header.runs.len(),
        outputs: header.output_count(),
        bytes: segment_bytes + state.runs.iter().map(Region::len).sum::<u64>(),
        damaged,
    })
}

/// The checksum of each of a segment's files as they are now (a migration adding checksums to a cache
/// that had none, a rollback's copy), in `Part::ALL` order.
pub(crate) fn file_crcs(maps: &SegmentMaps) -> [u32; 5] {
    Part::ALL.map(|part| crc32fast::hash(maps.region(part).bytes()))
}

/// Bytes of header per segment that the file checksums add: the format-4 entry over the format-3 one.
pub const ADDED_HEADER_BYTES_PER_SEGMENT: usize = 96 - 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::format::BLOCK_LEN;

    #[test]
    fn extending_a_checksum_equals_checksumming_the_whole() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cut in [0, 1, 127, BLOCK_LEN, 5_000, 10_000] {
            let head = crc32fast::hash(&bytes[..cut]);
            assert_eq!(extend(head, &bytes[cut..]), crc32fast::hash(&bytes), "cut at {cut}");
        }
        assert_eq!(extend(0, &[]), 0);
        assert_eq!(
            crc32fast::hash(&[]),
            0,
            "an empty file's checksum is zero, as a new segment starts"
        );
    }
}
