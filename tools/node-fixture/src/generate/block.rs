//! Block: assembles the next block of a branch as `tari_core::test_helpers::create_block` does: the schedule's
//! payments, then a coinbase from the official `generate_coinbase_with_wallet_output` (built by the pool's key
//! manager, paid to the owner's address), a header on the branch tip, MMR roots from a database whose tip is that
//! branch tip, and proof of work. It returns the block with its ledger entries; adding it is the database's job.

use anyhow::{Context, anyhow};
use tari_core::{
    chain_storage::BlockchainDatabase,
    test_helpers::{apply_mmr_to_block, blockchain::TempDatabase, mine_to_difficulty},
};
use tari_node_components::blocks::{Block, BlockHeader};
use tari_transaction_components::{
    MicroMinotari, generate_coinbase_with_wallet_output,
    key_manager::TariKeyId,
    tari_proof_of_work::{Difficulty, PowAlgorithm},
    transaction_components::{CoinBaseExtra, MemoField, RangeProofType, memo_field::TxType},
};
use tari_utilities::epoch_time::EpochTime;

use super::{
    BLOCK_TIME, Ctx,
    ledger::{Branch, Kind, Txo, received_txo},
    payments::{funder_payment, wallet_spend},
    schedule::{Rng, coinbase_owner, funder_pays, wallet_spender},
};

/// Builds, completes (MMR roots from `builder_db`, whose tip must be the branch tip) and mines the next block.
pub(super) fn build_block(
    ctx: &Ctx,
    builder_db: &BlockchainDatabase<TempDatabase>,
    branch: &Branch,
    height: u64,
    fork: bool,
) -> anyhow::Result<(Block, Vec<Txo>, Vec<usize>)> {
    let mut rng = Rng::new(height, fork);
    let mut txs = Vec::new();
    let mut new = Vec::new();
    let mut spent = Vec::new();
    if funder_pays(height, fork)
        && let Some(built) = funder_payment(ctx, branch, height, &mut rng)?
    {
        txs.push(built.tx);
        new.extend(built.new);
        spent.extend(built.spent);
    }
    if let Some(spender) = wallet_spender(height, fork)
        && let Some(built) = wallet_spend(ctx, branch, height, spender, &mut rng)?
    {
        txs.push(built.tx);
        new.extend(built.new);
        spent.extend(built.spent);
    }

    let kernels: Vec<_> = txs.iter().flat_map(|tx| tx.body.kernels().clone()).collect();
    let reward = ctx
        .rules
        .calculate_coinbase_and_fees(height, &kernels)
        .map_err(|e| anyhow!("coinbase reward: {e}"))?;
    let owner = coinbase_owner(height, fork);
    let stealth = ((height / 6) + owner as u64) % 2 == 1;
    // Both depend on height / 6 (one rotation of coinbase owners), so every owner gets every combination.
    let range_proof = if (height / 12) % 3 == 2 {
        RangeProofType::RevealedValue
    } else {
        RangeProofType::BulletProofPlus
    };
    let base_address = ctx.parties[owner].address.clone();
    let (address, memo) = match (height / 6) % 3 {
        0 => (base_address, MemoField::new_empty()),
        1 => (
            base_address,
            MemoField::new_open(format!("coinbase {height}").into_bytes(), TxType::Coinbase).map_err(|e| anyhow!(e))?,
        ),
        // The address's payment id replaces the memo.
        _ => (
            base_address.with_memo_field_payment_id(format!("pid-{height}").into_bytes())?,
            MemoField::new_empty(),
        ),
    };
    let (coinbase_tx, coinbase_output, _kernel, _pool_view) = generate_coinbase_with_wallet_output(
        MicroMinotari::from(0),
        reward,
        height,
        &CoinBaseExtra::default(),
        &ctx.pool,
        &TariKeyId::default(),
        &address,
        stealth,
        ctx.rules.consensus_constants(height),
        range_proof,
        memo,
    )
    .map_err(|e| anyhow!("coinbase at {height}: {e}"))?;
    new.push(received_txo(ctx, owner, Kind::Coinbase, coinbase_output)?);

    let prev = &branch.tip;
    let mut header = BlockHeader::from_previous(&prev.header);
    header.version = ctx.rules.consensus_constants(height).blockchain_version().into();
    header.height = height;
    header.pow.pow_algo = PowAlgorithm::Sha3x;
    let mut block = header
        .into_builder()
        .with_transactions(std::iter::once(coinbase_tx).chain(txs).collect())
        .build();
    block.header.timestamp = prev
        .header
        .timestamp
        .checked_add(EpochTime::from(BLOCK_TIME))
        .context("timestamp")?;
    // `apply_mmr_to_block` silently leaves the roots empty when the block does not build on the tip: check first.
    builder_db
        .calculate_mmr_roots(block.clone())
        .map_err(|e| anyhow!("MMR roots at {height}: {e}"))?;
    let block = apply_mmr_to_block(builder_db, block);
    let block = mine_to_difficulty(block, Difficulty::min()).map_err(|e| anyhow!("mining {height}: {e}"))?;
    Ok((block, new, spent))
}
