//! Scan: finds every wallet's outputs in a cache snapshot, many wallets per pass, on all cores. Owns the
//! split of the output range into chunks, the key schedule (each wallet from its own birthday), progress,
//! cancellation and spend resolution; recognition itself is `recognize`, storage is `cache`.

mod progress;
mod result;

use std::{
    ops::Range,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

pub use progress::Progress;
use progress::Reporter;
use rayon::prelude::*;
pub use result::{OUTPUT_TYPE_BURN, OwnedOutput, ScanResult, ScannedTip, Spend};

use crate::{
    cache::{CacheView, OutputRecord},
    recognize::{OutputView, Recognized, Recognizer, ScriptClass, WalletKey},
};

/// One wallet to scan for: its key and the height it was created at (nothing before can be its own).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub key: WalletKey,
    pub birthday: u64,
}

/// How a scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Outputs per unit of parallel work: big enough to amortise scheduling, small enough to balance two
    /// to dozens of cores and to make cancellation prompt (a chunk takes milliseconds).
    pub chunk_outputs: u64,
    /// Minimum time between progress reports.
    pub progress_interval: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            chunk_outputs: 2048,
            progress_interval: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the scan was cancelled")]
    Cancelled,
    #[error("cache output {index} is unreadable: {reason}")]
    Cache { index: u64, reason: String },
}

/// Scans `view` for every request in one pass, on the current rayon pool (run it inside
/// `ThreadPool::install` to choose the threads). Results come back in request order, each sorted by
/// chain position, identical whatever the thread count. `cancel` is checked between chunks.
pub fn scan(
    view: &CacheView,
    requests: &[ScanRequest],
    options: &ScanOptions,
    on_progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<Vec<ScanResult>, ScanError> {
    let starts: Vec<u64> = requests.iter().map(|r| view.first_output_at(r.birthday)).collect();
    let start = starts.iter().copied().min().unwrap_or(view.output_count());
    let chunks = view.chunks_from(start, options.chunk_outputs.max(1));
    let total = view.output_count().saturating_sub(start);
    let first_height = view.output_height(start).unwrap_or(0);
    let tip = view.tip().map(|t| ScannedTip {
        height: t.height,
        hash: t.hash,
    });
    let blocks_total = tip.map_or(0, |t| t.height.saturating_sub(first_height) + 1);
    let height_of = |relative: u64| view.output_height(start + relative).unwrap_or(first_height);
    let reporter = Reporter::new(
        total,
        first_height,
        blocks_total,
        options.progress_interval,
        &height_of,
        on_progress,
    );

    let keys: Vec<WalletKey> = requests.iter().map(|r| r.key.clone()).collect();
    let per_chunk: Vec<Result<Vec<(u64, Recognized)>, ScanError>> = chunks
        .par_iter()
        .map_init(ChunkScanner::default, |scanner, range| {
            if cancel.load(Ordering::Relaxed) {
                return Err(ScanError::Cancelled);
            }
            let hits = scanner.scan(view, range.clone(), &keys, &starts)?;
            reporter.add(range.end - range.start);
            Ok(hits)
        })
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return Err(ScanError::Cancelled);
    }
    let mut results: Vec<ScanResult> = requests
        .iter()
        .zip(&starts)
        .map(|(_, &s)| ScanResult {
            tip,
            from_height: view.output_height(s).unwrap_or(first_height),
            outputs: Vec::new(),
        })
        .collect();
    for chunk in per_chunk {
        for (position, hit) in chunk? {
            let owned = owned_output(view, position, &hit)?;
            results[hit.key_index].outputs.push(owned);
        }
    }
    reporter.finish();
    Ok(results)
}

/// Scans `view` for one wallet with default options, no progress and no cancellation: for tools that
/// wait for the answer.
pub fn scan_one(view: &CacheView, request: ScanRequest) -> Result<ScanResult, ScanError> {
    let mut results = scan(
        view,
        &[request],
        &ScanOptions::default(),
        &|_| {},
        &AtomicBool::new(false),
    )?;
    Ok(results.pop().expect("one result per request"))
}

/// Per-thread state: the recogniser's scratch buffers, reused across chunks.
#[derive(Default)]
struct ChunkScanner {
    recognizer: Recognizer,
}

impl ChunkScanner {
    fn scan(
        &mut self,
        view: &CacheView,
        range: Range<u64>,
        keys: &[WalletKey],
        starts: &[u64],
    ) -> Result<Vec<(u64, Recognized)>, ScanError> {
        // Keys whose birthday lies beyond this chunk are left out; one whose start falls inside it drops
        // hits before its start below.
        let active: Vec<usize> = (0..keys.len()).filter(|&k| starts[k] < range.end).collect();
        let mut hits = Vec::new();
        if active.is_empty() {
            return Ok(hits);
        }
        // Usually every key is active: pass them as they are rather than copying secrets around.
        let subset: Vec<WalletKey>;
        let active_keys = if active.len() == keys.len() {
            keys
        } else {
            subset = active.iter().map(|&k| keys[k].clone()).collect();
            &subset
        };
        let records: Vec<OutputRecord<'_>> = view.outputs(range.clone()).collect();
        if records.len() as u64 != range.end - range.start {
            return Err(ScanError::Cache {
                index: range.start + records.len() as u64,
                reason: "missing record".into(),
            });
        }
        let views: Vec<OutputView<'_>> = records.iter().map(output_view).collect();
        self.recognizer.scan(&views, active_keys, |mut hit| {
            let position = range.start + hit.output_index as u64;
            hit.key_index = active[hit.key_index];
            if position >= starts[hit.key_index] {
                hits.push((position, hit));
            }
        });
        Ok(hits)
    }
}

fn output_view<'a>(record: &OutputRecord<'a>) -> OutputView<'a> {
    OutputView {
        commitment: record.commitment,
        sender_offset_public_key: record.sender_offset_public_key,
        stored_offset: record.stored_offset,
        encrypted_data: record.encrypted_data,
        script: Some(record.script),
    }
}

fn owned_output(view: &CacheView, position: u64, hit: &Recognized) -> Result<OwnedOutput, ScanError> {
    let unreadable = |reason: &str| ScanError::Cache {
        index: position,
        reason: reason.to_string(),
    };
    let record = view.get_output(position).ok_or_else(|| unreadable("no record"))?;
    let height = view.output_height(position).ok_or_else(|| unreadable("no block"))?;
    let block = view.block(height).ok_or_else(|| unreadable("no block"))?;
    let spent = view
        .spent_by(record.output_hash)
        .map(|(height, block_hash)| Spend { height, block_hash });
    Ok(OwnedOutput {
        position,
        height,
        block_hash: *block.hash,
        block_timestamp: block.timestamp,
        output_hash: *record.output_hash,
        commitment: *record.commitment,
        value: hit.value,
        mask: hit.mask,
        memo: hit.memo(),
        provenance: hit.provenance,
        mask_from_shared_secret: hit.mask_from_shared_secret,
        script_class: hit.script_class.unwrap_or(ScriptClass::Other),
        output_type: record.output_type,
        maturity: record.maturity,
        output_details: block.output_details,
        spent,
    })
}
