//! Spend proof: a wallet file made by the service holds outputs the wallet can really spend. Takes one
//! unspent output from a fixture wallet's file (its `wallet_output_json` as stored), spends it with the
//! official `TransactionBuilder` and the wallet's own spend key, puts the transaction in the next block
//! on top of the fixture chain (a copy of its database) and adds that block through the node's real
//! block-body validators (`BlockBodyFullValidator`: range proofs, signatures, scripts, maturity): it must
//! be accepted. As a control, the same spend from the output as the product used to rebuild it (no range
//! proof, an all-zero metadata signature) must be refused.
//!
//! `submit` does the same against a real node: it spends an output of a wallet file of the real-node
//! test wallets and submits the transaction to the node's mempool over its gRPC (`SubmitTransaction`),
//! whose own validators must accept it; mining a block then puts it on the chain.

use std::path::Path;

use anyhow::{Context, anyhow, bail, ensure};
use tari_common_types::{tari_address::TariAddress, types::ComAndPubSignature};
use tari_core::{
    chain_storage::BlockchainDatabase,
    test_helpers::{apply_mmr_to_block, blockchain::TempDatabase, create_consensus_rules, mine_to_difficulty},
};
use tari_node_components::blocks::{Block, BlockHeader};
use tari_transaction_components::{
    MicroMinotari, TransactionBuilder, generate_coinbase_with_wallet_output,
    key_manager::TariKeyId,
    tari_proof_of_work::{Difficulty, PowAlgorithm},
    transaction_builder::RecipientSpec,
    transaction_components::{
        CoinBaseExtra, MemoField, OutputFeatures, RangeProofType, Transaction, WalletOutput, memo_field::TxType,
    },
};
use tari_utilities::epoch_time::EpochTime;

use crate::generate::{
    BLOCK_TIME, NETWORK,
    database::{add, open_db},
    parties::Party,
};

/// Spends an output of `wallet`'s file `file` (SQLite) in a block on top of the database in `db_dir`.
pub fn spend(db_dir: &Path, file: &Path, wallet: &str) -> anyhow::Result<()> {
    tari_common::network_check::set_network_if_choice_valid(NETWORK)?;
    let rules = create_consensus_rules();
    let db = open_db(db_dir, &rules, false, false)?;
    let tip = db.get_chain_metadata()?.best_block_height();
    let height = tip + 1;
    let party = Party::new(wallet)?;
    let output = spendable_output(file, height)?;
    let chain_hash = output.output_hash();
    println!(
        "spending {} µT from {wallet}'s file: output {chain_hash} (maturity {})",
        output.value().as_u64(),
        output.features().maturity
    );

    // The control first (a refused block leaves the tip where it was): the rebuilt form cannot spend.
    let mut rebuilt = output.clone();
    rebuilt.set_metadata_signature(ComAndPubSignature::default());
    rebuilt.set_range_proof(None);
    match spend_tx(&party, &rebuilt, height).and_then(|tx| block_with(&db, tx, height)) {
        Ok(block) => match add(&db, &block) {
            Ok(_) => bail!("a rebuilt output's spend was accepted"),
            Err(e) => println!("control: the same spend from the rebuilt output is refused: {e}"),
        },
        Err(e) => println!("control: the same spend from the rebuilt output cannot even be built: {e}"),
    }

    let tx = spend_tx(&party, &output, height)?;
    let input = &tx.body.inputs()[0];
    ensure!(
        input.output_hash() == chain_hash,
        "the input spends the chain's output hash"
    );
    let block = block_with(&db, tx, height)?;
    match add(&db, &block).context("the node's validators refused the block with the spend")? {
        tari_core::chain_storage::BlockAddResult::Ok(_) => {}
        other => bail!("the block was not added as the tip: {other:?}"),
    }
    println!(
        "accepted: block {height} ({}) spending it passed the node's block-body validators and is the tip",
        block.hash()
    );
    ensure!(
        db.get_chain_metadata()?.best_block_height() == height,
        "the block is the new tip"
    );
    Ok(())
}

/// The first unspent, mature, non-burn output in the wallet file.
fn spendable_output(file: &Path, height: u64) -> anyhow::Result<WalletOutput> {
    let conn = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut statement = conn.prepare(
        "SELECT wallet_output_json FROM outputs WHERE status = 'UNSPENT' AND is_burn = 0 ORDER BY value DESC",
    )?;
    let jsons: Vec<String> = statement.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for json in jsons {
        let output: WalletOutput = serde_json::from_str(&json)?;
        if output.features().maturity <= height && output.value() > MicroMinotari::from(1_000_000) {
            return Ok(output);
        }
    }
    bail!("no mature unspent output in {}", file.display())
}

/// `wallet` pays a third of `input` to the stranger, change back to itself.
fn spend_tx(wallet: &Party, input: &WalletOutput, height: u64) -> anyhow::Result<Transaction> {
    spend_to(wallet, input, height, &Party::new("stranger")?.address)
}

/// `wallet` pays a third of `input` to `to` (one-sided, stealth), change back to itself.
fn spend_to(wallet: &Party, input: &WalletOutput, height: u64, to: &TariAddress) -> anyhow::Result<Transaction> {
    let rules = create_consensus_rules();
    let mut builder = TransactionBuilder::new(rules.consensus_constants(height).clone(), wallet.km.clone(), NETWORK)?;
    builder.with_lock_height(0).with_fee_per_gram(MicroMinotari::from(5));
    builder.with_input(input.clone())?;
    builder.with_recipient_spec(RecipientSpec::stealth(
        to.clone(),
        MicroMinotari::from(input.value().as_u64() / 3),
        OutputFeatures::default(),
        MemoField::new_open(b"spent from a tari-wallet-sync file".to_vec(), TxType::PaymentToOther)
            .map_err(|e| anyhow!(e))?,
    ))?;
    builder.reserve_sender_offset_keys(&[])?;
    Ok(builder.build()?.transaction)
}

/// The next block: a coinbase to the funder and `tx`, MMR roots from `db`'s tip, proof of work.
fn block_with(db: &BlockchainDatabase<TempDatabase>, tx: Transaction, height: u64) -> anyhow::Result<Block> {
    let rules = create_consensus_rules();
    let prev = db.fetch_block(height - 1, false)?.block().clone();
    let reward = rules
        .calculate_coinbase_and_fees(height, tx.body.kernels())
        .map_err(|e| anyhow!("coinbase reward: {e}"))?;
    let pool = Party::new("pool")?;
    let funder = Party::new("funder")?;
    let (coinbase, _, _, _) = generate_coinbase_with_wallet_output(
        MicroMinotari::from(0),
        reward,
        height,
        &CoinBaseExtra::default(),
        &pool.km,
        &TariKeyId::default(),
        &funder.address,
        true,
        rules.consensus_constants(height),
        RangeProofType::BulletProofPlus,
        MemoField::new_empty(),
    )
    .map_err(|e| anyhow!("coinbase: {e}"))?;
    let mut header = BlockHeader::from_previous(&prev.header);
    header.version = rules.consensus_constants(height).blockchain_version().into();
    header.height = height;
    header.pow.pow_algo = PowAlgorithm::Sha3x;
    let mut block = header.into_builder().with_transactions(vec![coinbase, tx]).build();
    block.header.timestamp = prev
        .header
        .timestamp
        .checked_add(EpochTime::from(BLOCK_TIME))
        .context("timestamp")?;
    db.calculate_mmr_roots(block.clone())
        .map_err(|e| anyhow!("MMR roots: {e}"))?;
    let block = apply_mmr_to_block(db, block);
    mine_to_difficulty(block, Difficulty::min()).map_err(|e| anyhow!("mining: {e}"))
}

/// Spends an output of `wallet`'s (a real-node test wallet, keys from `label`) file `file` to `to`'s
/// address and submits it to the node at `grpc` (host:port), whose mempool must accept it.
pub fn submit(grpc: &str, label: &str, file: &Path, wallet: &str, to: &str) -> anyhow::Result<()> {
    use minotari_app_grpc::tari_rpc::{self as rpc, SubmitTransactionResult, base_node_client::BaseNodeClient};
    use tari_utilities::ByteArray;
    tari_common::network_check::set_network_if_choice_valid(NETWORK)?;
    let party = Party::of(label, wallet, NETWORK)?;
    let recipient = Party::of(label, to, NETWORK)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut node = BaseNodeClient::connect(format!("http://{grpc}")).await?;
        let tip = node
            .get_tip_info(rpc::Empty {})
            .await?
            .into_inner()
            .metadata
            .context("the node's chain metadata")?
            .best_block_height;
        let output = spendable_output(file, tip + 1)?;
        let chain_hash = output.output_hash();
        let tx = spend_to(&party, &output, tip + 1, &recipient.address)?;
        ensure!(
            tx.body.inputs()[0].output_hash() == chain_hash,
            "the input spends the chain's output hash"
        );
        let excess = tx.body.kernels()[0].excess_sig.get_signature().to_vec();
        println!(
            "submitting a spend of {wallet}'s output {chain_hash} ({} µT) to {to} at tip {tip}",
            output.value().as_u64()
        );
        let request = rpc::SubmitTransactionRequest {
            transaction: Some(rpc::Transaction::try_from(tx).map_err(|e| anyhow!("{e}"))?),
        };
        let result = node.submit_transaction(request).await?.into_inner().result;
        match SubmitTransactionResult::try_from(result) {
            Ok(SubmitTransactionResult::Accepted) => {
                println!(
                    "accepted into the node's mempool (kernel signature {})",
                    crate::hex(&excess)
                );
                Ok(())
            }
            other => bail!("the node did not accept the spend: {other:?}"),
        }
    })
}
