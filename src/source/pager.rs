//! Pager: assembles whole blocks, in height order, from the node's `/sync_utxos_by_block` pages. Owns
//! the paging rules as the node applies them: `page` steps through one start block's window (which ends
//! at the next multiple of 100), `next_header_to_scan` starts the next window; a block's chunks (at most
//! 2000 outputs or inputs each) arrive together in one response and are merged; a block the node sends
//! twice (it repeats a window's last block as the next window's first) is dropped after checking its
//! hash; an empty block is one empty entry; when one block of more than `limit` chunks went out alone
//! and the node still offers `page + 1` (which would skip blocks), it continues from the next block's
//! header instead. Also checks that what arrives extends the cache's tip and,
//! once per response, that the new blocks link to the ones before (the sync route carries no previous
//! hash, so each response's first new block is checked against its header).
//!
//! A reorg on the node while pages are read shows up as a broken link, a repeated block with another
//! hash or a start block the node no longer knows (404): the pager then returns `Fetched::Fork` and the
//! follower finds the fork from the cache's side. Not checked: a reorg inside the node's handling of a
//! single response.

use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt, stream};
use tari_transaction_components::transaction_components::TransactionOutput;
use tokio_util::sync::CancellationToken;

use super::{NodeClient, NodeHeader, SourceError, SyncPage, wire::fill_details};
use crate::cache::BlockData;

/// The node routes the pager reads. `NodeClient` is the real node; the fuzz targets answer from their
/// input through the same decoding (`crate::fuzzing`).
pub(crate) trait PageSource {
    /// `/get_header_by_height`: `None` above the node's tip.
    async fn header(&self, height: u64) -> Result<Option<NodeHeader>, SourceError>;
    /// One page of `/sync_utxos_by_block`.
    async fn sync_page(&self, start_header_hash: &[u8; 32], limit: u64, page: u64) -> Result<SyncPage, SourceError>;
    /// `/get_utxos_by_block`: the block's full outputs.
    async fn full_outputs(&self, header_hash: &[u8; 32]) -> Result<Vec<TransactionOutput>, SourceError>;
}

impl PageSource for NodeClient {
    async fn header(&self, height: u64) -> Result<Option<NodeHeader>, SourceError> {
        NodeClient::header(self, height).await
    }
    async fn sync_page(&self, start_header_hash: &[u8; 32], limit: u64, page: u64) -> Result<SyncPage, SourceError> {
        NodeClient::sync_page(self, start_header_hash, limit, page).await
    }
    async fn full_outputs(&self, header_hash: &[u8; 32]) -> Result<Vec<TransactionOutput>, SourceError> {
        NodeClient::full_outputs(self, header_hash).await
    }
}

/// How much one fetch may gather and how.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// `limit` of each page request (`1..=2000`): blocks per page and, on current nodes, chunks per
    /// response before the node cuts the page short.
    pub page_limit: u64,
    /// Stop asking for pages once this many blocks are gathered (a response may add a page more).
    pub max_blocks: u64,
    /// Or once this many outputs are gathered: bounds the memory of a batch.
    pub max_outputs: u64,
    /// Fetch each block's full outputs for scripts, output types and maturities.
    pub full_outputs: bool,
    /// Full-output requests in flight at once.
    pub full_concurrency: usize,
}

/// What one fetch found.
#[derive(Debug)]
pub enum Fetched {
    /// Blocks extending the given tip, in height order; empty when the node has nothing above it.
    Blocks(Vec<BlockData>),
    /// The node's chain no longer extends the given tip, or changed while pages were read.
    Fork,
}

/// A response with no new block is allowed (a window's repeated last block alone), several in a row
/// are a node that makes no progress.
const MAX_IDLE_RESPONSES: u32 = 3;

/// Runs `f` unless `cancel` fires first.
pub async fn or_cancel<T>(
    cancel: &CancellationToken,
    f: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(SourceError::Cancelled),
        r = f => r,
    }
}

/// Gathers the blocks from height `from` up, which must extend `prev` (the hash of block `from - 1`, or
/// `None` for an empty cache).
pub async fn fetch_blocks(
    client: &impl PageSource,
    from: u64,
    prev: Option<[u8; 32]>,
    limits: &FetchLimits,
    cancel: &CancellationToken,
) -> Result<Fetched, SourceError> {
    const PATH: &str = "/sync_utxos_by_block";
    let started = Instant::now();
    let Some(start) = or_cancel(cancel, client.header(from)).await? else {
        // Nothing at `from`: the caller saw a taller tip, so the node's chain moved under us.
        return Ok(Fetched::Fork);
    };
    if prev.is_some_and(|p| p != start.prev_hash) {
        return Ok(Fetched::Fork);
    }
    let mut blocks: Vec<BlockData> = Vec::new();
    let mut outputs = 0u64;
    let (mut cursor, mut page) = (start.hash, 0u64);
    let mut idle = 0;
    loop {
        let response = match or_cancel(cancel, client.sync_page(&cursor, limits.page_limit, page)).await {
            Err(SourceError::Status { status: 404, .. }) => return Ok(Fetched::Fork),
            r => r?,
        };
        let before = blocks.len();
        let entries = response.entries.len() as u64;
        // Index in `blocks` of the block this response is adding chunks to.
        let mut open: Option<usize> = None;
        for entry in response.entries {
            let next = from + blocks.len() as u64;
            if let Some(i) = open
                && blocks[i].height == entry.height
            {
                if blocks[i].hash != entry.header_hash {
                    return Err(SourceError::malformed(
                        PATH,
                        format!("two hashes for block {}", entry.height),
                    ));
                }
                outputs += entry.outputs.len() as u64;
                blocks[i].outputs.extend(entry.outputs);
                blocks[i].spent.extend(entry.inputs);
                continue;
            }
            open = None;
            if entry.height < next {
                // A repeat of a block already gathered (or of the tip we extend): same hash or a reorg.
                let known = match entry.height.checked_sub(from) {
                    Some(i) => Some(blocks[i as usize].hash),
                    None if entry.height + 1 == from => prev,
                    None => None,
                };
                if known.is_some_and(|k| k != entry.header_hash) {
                    return Ok(Fetched::Fork);
                }
                continue;
            }
            if entry.height > next {
                return Err(SourceError::malformed(
                    PATH,
                    format!("block {} follows block {}", entry.height, next.wrapping_sub(1)),
                ));
            }
            if blocks.is_empty() && entry.header_hash != start.hash {
                return Ok(Fetched::Fork);
            }
            let prev_hash = blocks.last().map_or(start.prev_hash, |b| b.hash);
            outputs += entry.outputs.len() as u64;
            blocks.push(BlockData {
                height: entry.height,
                hash: entry.header_hash,
                prev_hash,
                timestamp: entry.mined_timestamp,
                outputs: entry.outputs,
                spent: entry.inputs,
                output_details: false,
            });
            open = Some(blocks.len() - 1);
        }
        if blocks.len() > before {
            idle = 0;
            // The first response starts at `start`, whose header was checked; later ones are checked here.
            if before > 0 && !links(client, &blocks[before], cancel).await? {
                return Ok(Fetched::Fork);
            }
        } else {
            idle += 1;
            if idle >= MAX_IDLE_RESPONSES {
                return Err(SourceError::malformed(PATH, "pages without new blocks"));
            }
        }
        let full = blocks.len() as u64 >= limits.max_blocks || outputs >= limits.max_outputs;
        if response.has_next_page && entries > limits.page_limit {
            // One block of more than `limit` chunks went out alone, and the node still offers the next
            // page of its window, which starts `limit` blocks on and would skip the blocks between.
            // Continue from the next block instead.
            match or_cancel(cancel, client.header(from + blocks.len() as u64)).await? {
                Some(h) => (cursor, page) = (h.hash, 0),
                None => break,
            }
        } else if response.has_next_page {
            page += 1;
        } else if let Some(next) = response.next_header_to_scan {
            (cursor, page) = (next, 0);
        } else {
            break; // the node's tip
        }
        if full {
            break;
        }
    }
    if limits.full_outputs {
        match fill_full_outputs(client, &mut blocks, limits.full_concurrency, cancel).await {
            // A gathered block the node no longer knows: it reorged since the pages were read.
            Err(SourceError::Status { status: 404, .. }) => return Ok(Fetched::Fork),
            r => r?,
        }
    }
    tracing::debug!(from, blocks = blocks.len(), outputs, elapsed = ?started.elapsed(), "fetched blocks");
    Ok(Fetched::Blocks(blocks))
}

/// Whether `block`'s header on the node has `block`'s hash and previous hash.
async fn links(client: &impl PageSource, block: &BlockData, cancel: &CancellationToken) -> Result<bool, SourceError> {
    let header = or_cancel(cancel, client.header(block.height)).await?;
    Ok(header.is_some_and(|h| h.hash == block.hash && h.prev_hash == block.prev_hash))
}

async fn fill_full_outputs(
    client: &impl PageSource,
    blocks: &mut [BlockData],
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<(), SourceError> {
    const PATH: &str = "/get_utxos_by_block";
    let wanted: Vec<(usize, [u8; 32])> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.outputs.is_empty())
        .map(|(i, b)| (i, b.hash))
        .collect();
    let fetched: Vec<_> = or_cancel(
        cancel,
        stream::iter(wanted)
            .map(|(i, hash)| async move { client.full_outputs(&hash).await.map(|outputs| (i, outputs)) })
            .buffered(concurrency.max(1))
            .try_collect(),
    )
    .await?;
    for (i, full) in fetched {
        fill_details(PATH, &mut blocks[i], &full)?;
    }
    // A block without outputs has all of its (none) in full.
    for block in blocks.iter_mut().filter(|b| b.outputs.is_empty()) {
        block.output_details = true;
    }
    Ok(())
}
