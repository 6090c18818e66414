//! Record: turns the ledger into the manifest. Before it does, it cross-checks the ledger against the node's view
//! (tip, every best-chain header, every block's output count) and against the official key managers (every output,
//! best chain and orphaned, is tried against all four test wallets: each must recognise exactly its own, with the
//! recorded value). The ledger stays the source of truth; the checks only catch a generator that disagrees with the
//! node. Writing the file is the caller's job.

use anyhow::{Context, bail, ensure};
use tari_core::{chain_storage::BlockchainDatabase, test_helpers::blockchain::TempDatabase};
use tari_script::push_pubkey_script;
use tari_transaction_components::transaction_components::TransactionOutput;
use tari_utilities::ByteArray;

use super::{
    Ctx, FINAL_TIP, FORK_HEIGHT, FORK_TIP, NETWORK, ORPHANED_TIP,
    chain::History,
    ledger::Txo,
    parties::{KEY_LABEL, PARTY_NAMES, TEST_WALLETS, recover},
};
use crate::{
    hex,
    manifest::{
        HeaderEntry, Manifest, OrphanedOutputEntry, OrphanedSpendEntry, OutputEntry, ReorgEntry, Totals, WalletEntry,
    },
};

fn range_proof_name(output: &TransactionOutput) -> String {
    format!("{:?}", output.features.range_proof_type)
}

/// The manifest of what was built, and how many recogniser checks passed on the way.
pub(super) fn manifest(
    ctx: &Ctx,
    db: &BlockchainDatabase<TempDatabase>,
    history: History,
    mock_validators: bool,
) -> anyhow::Result<(Manifest, usize)> {
    let History {
        genesis,
        main,
        chain,
        fork_hash,
        orphaned_hashes,
        reorg_at,
    } = history;

    // Cross-check the generator's records against the node's view and the official key managers.
    let metadata = db.get_chain_metadata()?;
    ensure!(metadata.best_block_height() == FINAL_TIP, "tip height");
    ensure!(*metadata.best_block_hash() == chain.tip.hash(), "tip hash");
    let mut headers = Vec::new();
    let mut totals = Totals {
        outputs: 0,
        inputs: 0,
        kernels: 0,
        wallet_outputs: 0,
        wallet_outputs_spent: 0,
        decoy_outputs: 0,
    };
    for height in 0..=FINAL_TIP {
        let header = db.fetch_header(height)?.with_context(|| format!("header {height}"))?;
        ensure!(
            header.hash() == chain.hashes[height as usize],
            "header {height} is the generator's"
        );
        let block = db.fetch_block(height, false)?;
        let body = &block.block().body;
        totals.outputs += body.outputs().len();
        totals.inputs += body.inputs().len();
        totals.kernels += body.kernels().len();
        if height > 0 {
            let mine = chain.txos.iter().filter(|t| t.height == height).count();
            ensure!(
                mine == body.outputs().len(),
                "every output of block {height} is the generator's"
            );
        }
        headers.push(HeaderEntry {
            height,
            hash: hex(header.hash().as_slice()),
            prev_hash: hex(header.prev_hash.as_slice()),
            timestamp: header.timestamp.as_u64(),
            output_count: body.outputs().len(),
            input_count: body.inputs().len(),
            kernel_count: body.kernels().len(),
        });
    }
    let orphaned: Vec<&Txo> = main.txos.iter().filter(|t| t.height > FORK_HEIGHT).collect();
    let mut recogniser_checks = 0usize;
    for txo in chain.txos.iter().chain(orphaned.iter().copied()) {
        for (wallet, party) in ctx.parties.iter().enumerate().take(TEST_WALLETS) {
            let recovered = recover(party, &txo.output)?;
            recogniser_checks += 1;
            match (&recovered, txo.owner == wallet) {
                (Some((value, _, _)), true) => ensure!(*value == txo.value, "recovered value of {}", txo.output.hash()),
                (None, false) => {}
                (Some(_), false) => bail!("{} recognises an output of {}", party.name, PARTY_NAMES[txo.owner]),
                (None, true) => bail!("{} does not recognise its own output", party.name),
            }
        }
    }

    let mut wallets = Vec::new();
    for (index, party) in ctx.parties.iter().enumerate().take(TEST_WALLETS) {
        let mut owned: Vec<&Txo> = chain.txos.iter().filter(|t| t.owner == index).collect();
        owned.sort_by_key(|t| (t.height, t.output.hash()));
        let outputs: Vec<OutputEntry> = owned
            .iter()
            .map(|t| OutputEntry {
                output_hash: hex(t.output.hash().as_slice()),
                commitment: hex(t.output.commitment.as_bytes()),
                value: t.value,
                height: t.height,
                block_hash: hex(t.block_hash.as_slice()),
                is_coinbase: t.output.is_coinbase(),
                kind: t.kind.as_str().to_string(),
                stealth: t.output.script != push_pubkey_script(&party.spend_public),
                encryption: if t.dh_encrypted {
                    "diffie_hellman"
                } else {
                    "own_view_key"
                }
                .to_string(),
                range_proof: range_proof_name(&t.output),
                memo: t.memo.to_string(),
                payment_id: (!t.memo.is_empty()).then(|| t.memo.payment_id_as_string()),
                memo_hex: hex(&t.memo.to_bytes()),
                tx_type: t.memo.get_tx_type().map(|t| t.to_string()),
                maturity: t.maturity,
                spent_height: t.spent.map(|(h, _)| h),
                spent_block_hash: t.spent.map(|(_, hash)| hex(hash.as_slice())),
            })
            .collect();
        let orphaned_outputs = orphaned
            .iter()
            .filter(|t| t.owner == index)
            .map(|t| OrphanedOutputEntry {
                output_hash: hex(t.output.hash().as_slice()),
                commitment: hex(t.output.commitment.as_bytes()),
                value: t.value,
                height: t.height,
                block_hash: hex(t.block_hash.as_slice()),
                kind: t.kind.as_str().to_string(),
            })
            .collect();
        totals.wallet_outputs += outputs.len();
        totals.wallet_outputs_spent += outputs.iter().filter(|o| o.spent_height.is_some()).count();
        wallets.push(WalletEntry {
            name: party.name.to_string(),
            view_private_key: hex(party.view_key.as_bytes()),
            spend_public_key: hex(party.spend_public.as_bytes()),
            view_public_key: hex(party.view_public.as_bytes()),
            address: party.address.to_base58(),
            address_emoji: party.address.to_emoji_string(),
            balance: outputs
                .iter()
                .filter(|o| o.spent_height.is_none())
                .map(|o| o.value)
                .sum(),
            total_received: outputs.iter().map(|o| o.value).sum(),
            outputs,
            orphaned_outputs,
        });
    }
    totals.decoy_outputs = chain.txos.iter().filter(|t| t.owner >= TEST_WALLETS).count();

    let mut orphaned_spends = Vec::new();
    for txo in &main.txos {
        if let (true, Some((height, hash))) = (txo.owner < TEST_WALLETS, txo.spent)
            && height > FORK_HEIGHT
        {
            let output_hash = txo.output.hash();
            let now = chain
                .txos
                .iter()
                .find(|t| t.output.hash() == output_hash)
                .context("an output the orphaned branch spent predates the fork")?;
            orphaned_spends.push(OrphanedSpendEntry {
                wallet: PARTY_NAMES[txo.owner].to_string(),
                output_hash: hex(output_hash.as_slice()),
                orphaned_spent_height: height,
                orphaned_spent_block_hash: hex(hash.as_slice()),
                spent_height: now.spent.map(|(h, _)| h),
            });
        }
    }
    ensure!(
        !orphaned_spends.is_empty(),
        "the orphaned branch spends a test wallet's output"
    );

    let manifest = Manifest {
        generator: "tools/node-fixture (tari_core test_helpers + BlockchainDatabase::add_block)".to_string(),
        tari_core_version: "6.3.0-pre.2".to_string(),
        network: NETWORK.to_string(),
        network_byte: NETWORK.as_byte(),
        tip_height: metadata.best_block_height(),
        tip_hash: hex(metadata.best_block_hash().as_slice()),
        genesis_hash: hex(genesis.hash().as_slice()),
        pruning_horizon: metadata.pruning_horizon(),
        pruned_height: metadata.pruned_height(),
        real_body_validation: !mock_validators,
        headers,
        reorg: ReorgEntry {
            fork_height: FORK_HEIGHT,
            fork_hash: hex(fork_hash.as_slice()),
            orphaned_block_hashes: orphaned_hashes.iter().map(|h| hex(h.as_slice())).collect(),
            new_block_hashes: chain.hashes[(FORK_HEIGHT + 1) as usize..=FORK_TIP as usize]
                .iter()
                .map(|h| hex(h.as_slice()))
                .collect(),
            orphaned_tip_height: ORPHANED_TIP,
            reorg_at_height: reorg_at,
            orphaned_spends,
        },
        wallets,
        totals,
        notes: vec![
            format!(
                "Wallet keys: private spend key = from_uniform_bytes(Blake2b-512(\"{KEY_LABEL}/<name>/spend\")), view \
                 key likewise with \"/view\"; key managers are SpendWallet key managers over those keys."
            ),
            "Parties not listed: funder (pays one-sided outputs, owns change), stranger (receives decoy outputs), \
             pool (builds coinbases). Their outputs are decoys: no listed wallet recognises them."
                .to_string(),
            "Ground truth is the generator's own record of what it built; as a consistency check every output was \
             also tried against all four wallets with the official key manager (try_output_key_recovery): each \
             recognised exactly its own."
                .to_string(),
            "stealth = the output's script key is not the wallet's plain public spend key (one-sided stealth key, or \
             the own-key script of change/to-self outputs)."
                .to_string(),
            "Orphaned blocks stay in the node's `orphans` table (full blocks): read outputs from `utxos` only."
                .to_string(),
            "Block timestamps advance 120 s per block from the LocalNet genesis; header difficulty is LocalNet's \
             fixed 1 (sha3x)."
                .to_string(),
        ],
    };
    Ok((manifest, recogniser_checks))
}
