//! Scanned tips: the `scanned_tip_blocks` rows a wallet file carries, the client's resume point and reorg
//! anchor. Owns which heights are kept; the hashes come from a `ChainBlocks`.
//!
//! The client records every block it scans and, after each batch, deletes rows below `tip - 1000` whose
//! height is not a multiple of 500 (`db/scanned_tip_blocks.rs` `prune_scanned_tip_blocks`). We write that
//! end state directly. On open it walks the rows from the highest down, asking its node for each height's
//! header: the top row matching means "no reorg, resume at top + 1"; rows below are fork anchors.

use rusqlite::{Connection, params};

use super::{WalletDbError, chain::ChainBlocks};

/// Heights kept in full below the tip (the client's `RECENT_BLOCKS_TO_KEEP`).
pub const RECENT_BLOCKS: u64 = 1000;
/// Below the recent window only multiples of this are kept (`OLD_BLOCKS_PRUNING_INTERVAL`).
pub const SPARSE_INTERVAL: u64 = 500;

/// The heights the client would keep after scanning `from..=tip`, lowest first.
pub fn kept_heights(from: u64, tip: u64) -> Vec<u64> {
    if from > tip {
        return Vec::new();
    }
    let recent = tip.saturating_sub(RECENT_BLOCKS).max(from);
    let first_sparse = from.div_ceil(SPARSE_INTERVAL) * SPARSE_INTERVAL;
    let sparse = (first_sparse..recent).step_by(SPARSE_INTERVAL as usize);
    sparse.chain(recent..=tip).collect()
}

/// Inserts the kept rows of `from..=tip` for `account_id`, lowest first, so the highest row is the tip.
pub fn insert(
    conn: &Connection,
    account_id: i64,
    from: u64,
    tip: u64,
    chain: &dyn ChainBlocks,
) -> Result<usize, WalletDbError> {
    let mut stmt =
        conn.prepare("INSERT OR IGNORE INTO scanned_tip_blocks (account_id, height, hash) VALUES (?1, ?2, ?3)")?;
    let heights = kept_heights(from, tip);
    for &height in &heights {
        let hash = chain.block(height).ok_or(WalletDbError::MissingBlock(height))?.hash;
        stmt.execute(params![account_id, height as i64, &hash[..]])?;
    }
    Ok(heights.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client's own pruning rule applied to every height it scanned.
    fn client_keeps(from: u64, tip: u64) -> Vec<u64> {
        let min_recent = tip.saturating_sub(RECENT_BLOCKS);
        (from..=tip)
            .filter(|h| !(*h < min_recent && h % SPARSE_INTERVAL != 0))
            .collect()
    }

    #[test]
    fn keeps_what_the_client_keeps() {
        for (from, tip) in [
            (0, 0),
            (0, 999),
            (0, 1000),
            (0, 1001),
            (0, 5_432),
            (7, 5_432),
            (1_499, 3_000),
            (1_500, 3_000),
            (4_000, 4_100),
            (10, 9),
        ] {
            assert_eq!(kept_heights(from, tip), client_keeps(from, tip), "{from}..={tip}");
        }
        let kept = kept_heights(0, 1_000_000);
        assert_eq!(kept.len(), 1001 + 1998);
        assert_eq!(kept.last(), Some(&1_000_000));
    }
}
