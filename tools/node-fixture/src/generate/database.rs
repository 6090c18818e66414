//! Database: the node's own storage. Opens `tari_core`'s LMDB backend as a `BlockchainDatabase` with the node's
//! real block-body validators (or mocks) and reorg tracking, and adds blocks to it, failing on any rejection. It
//! does not build blocks or decide which branch wins: the node does that in `add_block`.

use std::{path::Path, sync::Arc};

use anyhow::{anyhow, bail, ensure};
use tari_core::{
    chain_storage::{BlockAddResult, BlockchainDatabase, BlockchainDatabaseConfig, Validators},
    consensus::BaseNodeConsensusManager,
    test_helpers::blockchain::TempDatabase,
    validation::{
        DifficultyCalculator,
        block_body::{BlockBodyFullValidator, BlockBodyInternalConsistencyValidator},
        mocks::MockValidator,
    },
};
use tari_node_components::blocks::Block;
use tari_transaction_components::crypto_factories::CryptoFactories;

pub(crate) fn open_db(
    path: &Path,
    rules: &BaseNodeConsensusManager,
    mock_validators: bool,
    delete_on_drop: bool,
) -> anyhow::Result<BlockchainDatabase<TempDatabase>> {
    let mut backend = TempDatabase::from_path_with_rules(path, rules.clone());
    if !delete_on_drop {
        backend.disable_delete_on_drop();
    }
    let validators = if mock_validators {
        Validators::new(
            MockValidator::new(true),
            MockValidator::new(true),
            MockValidator::new(true),
        )
    } else {
        // The node's real block-body validators (range proofs, signatures, scripts, maturity, MMR roots); the
        // header validator is the test helpers' mock (it still checks the achieved proof of work, which on
        // LocalNet is pinned to difficulty 1).
        Validators::new(
            BlockBodyFullValidator::new(rules.clone(), false),
            MockValidator::new(true),
            BlockBodyInternalConsistencyValidator::new(rules.clone(), false, CryptoFactories::default()),
        )
    };
    let config = BlockchainDatabaseConfig {
        track_reorgs: true,
        cleanup_orphans_at_startup: false,
        clear_bad_blocks_at_startup: false,
        ..Default::default()
    };
    Ok(BlockchainDatabase::start_new(
        backend,
        rules.clone(),
        validators,
        config,
        DifficultyCalculator::new(rules.clone(), Default::default()),
    )?)
}

pub(crate) fn add(db: &BlockchainDatabase<TempDatabase>, block: &Block) -> anyhow::Result<BlockAddResult> {
    let outcome = db
        .add_block(Arc::new(block.clone()))
        .map_err(|e| anyhow!("add_block #{}: {e}", block.header.height))?;
    ensure!(
        outcome.rejected.is_empty(),
        "blocks rejected while adding #{}: {:?}",
        block.header.height,
        outcome.rejected
    );
    Ok(outcome.result)
}

pub(crate) fn add_expect_tip(db: &BlockchainDatabase<TempDatabase>, block: &Block) -> anyhow::Result<()> {
    match add(db, block)? {
        BlockAddResult::Ok(_) => Ok(()),
        other => bail!("block #{} was not added as the tip: {other:?}", block.header.height),
    }
}
