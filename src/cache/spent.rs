//! Spent index: output hash -> height of the block that spent it. Owns the immutable sorted run files,
//! their merging, and lookups over the runs plus the unindexed tail; not the per-block spent lists,
//! which live in the segments and are the index's source of truth.
//!
//! Why runs: opening must not read the chain, and appends must stay cheap. Recent spends (the tail,
//! fewer than `spent_tail_max`) are searched linearly in the segments' spent files; at a publish where
//! the tail is full it is sorted into a new run file, and runs of similar size are merged, so each entry
//! is rewritten O(log n) times and a lookup binary-searches O(log n) runs. A rollback never rewrites a
//! run: it lowers the run's `to_height`, and lookups ignore entries above it.

use super::{
    CacheError,
    files::{run_path, write_new},
    format::{HASH_LEN, RUN_ENTRY_LEN, decode_run_entry, encode_run_entry},
    header::{Header, RunMeta},
    state::State,
};

/// Height of the block that spent `hash`, if any block of the state did.
pub(crate) fn lookup(state: &State, hash: &[u8; 32]) -> Option<u64> {
    lookup_tail(state, hash).or_else(|| lookup_runs(state, hash))
}

/// Segments overlapping the tail, each with the position of its first tail block.
fn tail_segments(state: &State) -> impl Iterator<Item = (usize, u64)> + '_ {
    let from = state.header.spent_indexed_to;
    state.header.segments.iter().enumerate().filter_map(move |(i, meta)| {
        let end = meta.end_height()?;
        (end > from).then(|| (i, from.saturating_sub(meta.first_height)))
    })
}

fn lookup_tail(state: &State, hash: &[u8; 32]) -> Option<u64> {
    for (segment, pos) in tail_segments(state) {
        let Some(first) = state.block(segment, pos) else {
            continue;
        };
        let start = usize::try_from(first.spent_start).ok()?;
        let Some(tail) = state.spent_hashes(segment).get(start..) else {
            continue;
        };
        if let Some(k) = tail.iter().position(|h| h == hash) {
            let pos = state.block_of_spent(segment, first.spent_start.checked_add(k as u64)?)?;
            return state.header.segments.get(segment)?.first_height.checked_add(pos);
        }
    }
    None
}

fn lookup_runs(state: &State, hash: &[u8; 32]) -> Option<u64> {
    for (meta, region) in state.header.runs.iter().zip(&state.runs).rev() {
        let entries = region.bytes().as_chunks::<RUN_ENTRY_LEN>().0;
        let start = entries.partition_point(|e| decode_run_entry(e).0 < hash);
        for e in entries.get(start..).unwrap_or(&[]) {
            let (h, height) = decode_run_entry(e);
            if h != hash {
                break;
            }
            if (meta.from_height..=meta.to_height).contains(&height) {
                return Some(height);
            }
        }
    }
    None
}

/// Spends not yet in a run.
pub(crate) fn tail_len(state: &State) -> u64 {
    tail_segments(state)
        .filter_map(|(segment, pos)| {
            let first = state.block(segment, pos)?;
            state
                .header
                .segments
                .get(segment)?
                .spent_count
                .checked_sub(first.spent_start)
        })
        .sum()
}

fn collect_tail(state: &State) -> Result<Vec<([u8; 32], u64)>, CacheError> {
    let mut entries = Vec::new();
    for (segment, pos) in tail_segments(state) {
        let meta = state.header.segments[segment];
        for p in pos..meta.block_count {
            let block = state.block(segment, p);
            let parts = block.as_ref().and_then(|b| state.parts(segment, b));
            let (Some(block), Some(parts)) = (block, parts) else {
                let path = super::files::segment_path(&state.dir, meta.id, super::files::Part::Blocks);
                return Err(CacheError::corrupt(
                    path,
                    format!("block at position {p} points outside its segment"),
                ));
            };
            entries.extend(parts.spent.as_chunks::<HASH_LEN>().0.iter().map(|h| (*h, block.height)));
        }
    }
    Ok(entries)
}

fn encode_run(mut entries: Vec<([u8; 32], u64)>) -> Vec<u8> {
    entries.sort_unstable();
    entries.dedup();
    entries
        .iter()
        .flat_map(|(hash, height)| encode_run_entry(hash, *height))
        .collect()
}

/// The entries of a run its `to_height` does not hide.
fn live<'a>(bytes: &'a [u8], meta: &RunMeta) -> impl Iterator<Item = &'a [u8; RUN_ENTRY_LEN]> + use<'a> {
    let heights = meta.from_height..=meta.to_height;
    let entries = bytes.as_chunks::<RUN_ENTRY_LEN>().0.iter();
    entries.filter(move |e| heights.contains(&decode_run_entry(e).1))
}

/// Merges two runs into one sorted run, dropping entries each run's `to_height` hides.
fn merge(a: &[u8], a_meta: &RunMeta, b: &[u8], b_meta: &RunMeta) -> Vec<u8> {
    let (mut a, mut b) = (live(a, a_meta).peekable(), live(b, b_meta).peekable());
    let mut out = Vec::with_capacity((a_meta.entries + b_meta.entries) as usize * RUN_ENTRY_LEN);
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if decode_run_entry(x) <= decode_run_entry(y) => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(e) => out.extend_from_slice(e),
            None => return out,
        }
    }
}

/// Moves a full tail into a new run and merges runs of similar size. Writes the run files durably and
/// returns the header naming them, or `None` when nothing changed. The caller publishes the header.
pub(crate) fn maintain(state: &State, tail_max: u64) -> Result<Option<Header>, CacheError> {
    let Some(tip) = state.header.tip else { return Ok(None) };
    if tail_len(state) < tail_max.max(1) {
        return Ok(None);
    }
    let mut header = state.header.clone();
    let mut fresh: Vec<(u64, Vec<u8>)> = Vec::new();
    let from = header.spent_indexed_to.max(header.first_height().unwrap_or(0));
    let run = encode_run(collect_tail(state)?);
    let meta = write_run(state, &mut header, from, tip.height, run, &mut fresh)?;
    header.runs.push(meta);
    header.spent_indexed_to = tip.height + 1;
    // Merge while the older run is at most twice the newer: sizes then double from run to run.
    while let [.., a, b] = header.runs[..] {
        if a.entries > b.entries.saturating_mul(2) {
            break;
        }
        let merged = merge(run_bytes(state, &fresh, &a), &a, run_bytes(state, &fresh, &b), &b);
        let meta = write_run(state, &mut header, a.from_height, b.to_height, merged, &mut fresh)?;
        header.runs.truncate(header.runs.len() - 2);
        header.runs.push(meta);
    }
    Ok(Some(header))
}

fn write_run(
    state: &State,
    header: &mut Header,
    from_height: u64,
    to_height: u64,
    bytes: Vec<u8>,
    fresh: &mut Vec<(u64, Vec<u8>)>,
) -> Result<RunMeta, CacheError> {
    let id = header.take_file_id(&state.dir)?;
    write_new(&run_path(&state.dir, id), &bytes)?;
    let meta = RunMeta {
        id,
        entries: (bytes.len() / RUN_ENTRY_LEN) as u64,
        from_height,
        to_height,
        crc: crc32fast::hash(&bytes),
    };
    fresh.push((id, bytes));
    Ok(meta)
}

fn run_bytes<'a>(state: &'a State, fresh: &'a [(u64, Vec<u8>)], meta: &RunMeta) -> &'a [u8] {
    if let Some((_, bytes)) = fresh.iter().find(|(id, _)| *id == meta.id) {
        return bytes;
    }
    let i = state.header.runs.iter().position(|r| r.id == meta.id);
    i.and_then(|i| state.runs.get(i)).map_or(&[], |r| r.bytes())
}

/// Full check of run `i`: checksum, order, heights. O(entries); used by `CacheView::verify`.
pub(crate) fn check_run(state: &State, i: usize) -> Result<(), CacheError> {
    let (Some(meta), Some(region)) = (state.header.runs.get(i), state.runs.get(i)) else {
        return Ok(());
    };
    let path = run_path(&state.dir, meta.id);
    let computed = crc32fast::hash(region.bytes());
    if computed != meta.crc {
        return Err(CacheError::BadChecksum {
            path,
            stored: meta.crc,
            computed,
        });
    }
    let entries = region.bytes().as_chunks::<RUN_ENTRY_LEN>().0;
    if entries
        .windows(2)
        .any(|w| decode_run_entry(&w[0]) > decode_run_entry(&w[1]))
    {
        return Err(CacheError::corrupt(path, "run entries are not sorted"));
    }
    if entries.iter().any(|e| decode_run_entry(e).1 < meta.from_height) {
        return Err(CacheError::corrupt(path, "run entry below the run's first height"));
    }
    Ok(())
}
