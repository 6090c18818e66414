//! Chain blocks: the block hashes and times a wallet file records (`scanned_tip_blocks`, spends,
//! confirmations), by height. Owns the `ChainBlocks` seam; the full outputs of owned outputs come
//! separately, already checked against the chain (`source::full_outputs`).

use crate::cache::CacheView;

/// One block of the scanned chain, as the wallet file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBlock {
    pub hash: [u8; 32],
    /// Unix seconds.
    pub timestamp: u64,
}

/// Blocks by height, for `scanned_tip_blocks`, spends and confirmation rows. Must be the chain the scan
/// read (the builder checks the tip and every owned output's block against it).
pub trait ChainBlocks {
    fn block(&self, height: u64) -> Option<ChainBlock>;
}

impl ChainBlocks for CacheView {
    fn block(&self, height: u64) -> Option<ChainBlock> {
        CacheView::block(self, height).map(|b| ChainBlock {
            hash: *b.hash,
            timestamp: b.timestamp,
        })
    }
}

impl<F: Fn(u64) -> Option<ChainBlock>> ChainBlocks for F {
    fn block(&self, height: u64) -> Option<ChainBlock> {
        self(height)
    }
}
