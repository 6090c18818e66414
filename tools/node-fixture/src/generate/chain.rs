//! Chain: builds the whole chain into the node's database, branch by branch, including the reorg. The shared chain
//! goes into both the main and the shadow database; the first branch into the main one only; the competing branch
//! is built on the shadow database (MMR roots can only be computed on a tip, and the main database's tip is the
//! first branch) and handed to the main one, which reorgs to it; then the chain continues on the winner. It checks
//! that the node added every block as expected; what the chain holds is the ledger's and the manifest's business.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use tari_common_types::types::FixedHash;
use tari_core::{
    chain_storage::{BlockAddResult, BlockchainDatabase},
    test_helpers::blockchain::TempDatabase,
};
use tari_node_components::blocks::Block;

use super::{
    Ctx, FINAL_TIP, FORK_HEIGHT, FORK_TIP, ORPHANED_TIP,
    block::build_block,
    database::{add, add_expect_tip},
    ledger::Branch,
};

/// Both branches as built, and where they part.
pub(super) struct History {
    pub(super) genesis: Block,
    /// The first branch: genesis to `ORPHANED_TIP`, the best chain until the reorg orphaned its blocks past
    /// `FORK_HEIGHT`.
    pub(super) main: Branch,
    /// The best chain: the shared blocks, the competing branch and the continuation to `FINAL_TIP`.
    pub(super) chain: Branch,
    pub(super) fork_hash: FixedHash,
    pub(super) orphaned_hashes: Vec<FixedHash>,
    /// The height whose block made the node switch to the competing branch.
    pub(super) reorg_at: u64,
}

/// Builds the chain into `db`. `shadow` must be a fresh database with the same genesis; it is dropped (and, being a
/// temporary database, deleted) once the competing branch is in.
pub(super) fn build(
    ctx: &Ctx,
    db: &BlockchainDatabase<TempDatabase>,
    shadow: BlockchainDatabase<TempDatabase>,
    started: Instant,
) -> anyhow::Result<History> {
    let genesis = db.fetch_block(0, false)?.block().clone();
    ensure!(
        shadow.fetch_block(0, false)?.block().hash() == genesis.hash(),
        "both databases share the genesis block"
    );
    let mut main = Branch {
        tip: genesis.clone(),
        txos: Vec::new(),
        hashes: vec![genesis.hash()],
    };

    for height in 1..=FORK_HEIGHT {
        let (block, new, spent) = build_block(ctx, db, &main, height, false)?;
        add_expect_tip(db, &block)?;
        add_expect_tip(&shadow, &block)?;
        main.apply(&block, new, spent);
        if height % 50 == 0 {
            eprintln!("height {height} ({:.1?})", started.elapsed());
        }
    }
    let mut fork = main.clone();
    let fork_hash = main.tip.hash();

    // The first branch: best chain for a while, then orphaned.
    for height in FORK_HEIGHT + 1..=ORPHANED_TIP {
        let (block, new, spent) = build_block(ctx, db, &main, height, false)?;
        add_expect_tip(db, &block)?;
        main.apply(&block, new, spent);
    }
    let orphaned_hashes: Vec<FixedHash> = main.hashes[(FORK_HEIGHT + 1) as usize..].to_vec();

    // The competing branch, built on the shadow database and handed to the main one, which reorgs to it.
    let mut reorg_at = None;
    for height in FORK_HEIGHT + 1..=FORK_TIP {
        let (block, new, spent) = build_block(ctx, &shadow, &fork, height, true)?;
        add_expect_tip(&shadow, &block)?;
        let result = add(db, &block)?;
        match &result {
            BlockAddResult::ChainReorg { added, removed } => {
                ensure!(reorg_at.is_none(), "a second reorg at {height}");
                let removed: Vec<FixedHash> = removed.iter().rev().map(|b| *b.hash()).collect();
                ensure!(removed == orphaned_hashes, "the reorg removed exactly the first branch");
                eprintln!(
                    "reorg at height {height}: {} blocks added, {} removed",
                    added.len(),
                    removed.len()
                );
                reorg_at = Some(height);
            }
            BlockAddResult::Ok(_) if reorg_at.is_some() => {}
            BlockAddResult::OrphanBlock if reorg_at.is_none() => {}
            other => bail!("unexpected result adding competing block #{height}: {other:?}"),
        }
        fork.apply(&block, new, spent);
    }
    let reorg_at = reorg_at.context("the competing branch never became the best chain")?;
    drop(shadow);

    for height in FORK_TIP + 1..=FINAL_TIP {
        let (block, new, spent) = build_block(ctx, db, &fork, height, false)?;
        add_expect_tip(db, &block)?;
        fork.apply(&block, new, spent);
    }
    let chain = fork;
    let build_time = started.elapsed();
    eprintln!("chain built in {build_time:.1?}");

    Ok(History {
        genesis,
        main,
        chain,
        fork_hash,
        orphaned_hashes,
        reorg_at,
    })
}
