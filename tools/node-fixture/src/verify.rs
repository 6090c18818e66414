//! Reads a node database as an outside reader would: plain LMDB, read-only, values decoded with bincode 1.x
//! (default options) into the node's public types, and checks every table a scanner needs against a manifest.

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
};

use anyhow::{Context, anyhow, bail, ensure};
use lmdb_zero as lmdb;
use lmdb_zero::LmdbResultExt;
use serde::Deserialize;
use tari_common_types::types::FixedHash;
use tari_node_components::blocks::BlockHeader;
use tari_transaction_components::transaction_components::{TransactionInput, TransactionOutput};
use tari_utilities::ByteArray;

use crate::{hex, manifest::Manifest};

/// The layout of tari_core's `pub(crate) TransactionOutputRowData` (chain_storage/lmdb_db/mod.rs).
#[derive(Deserialize)]
#[allow(dead_code)]
struct TransactionOutputRowData {
    output: TransactionOutput,
    header_hash: FixedHash,
    hash: FixedHash,
    mined_height: u64,
    mined_timestamp: u64,
}

/// The layout of tari_core's `pub(crate) TransactionInputRowData` (chain_storage/lmdb_db/mod.rs).
#[derive(Deserialize)]
#[allow(dead_code)]
struct TransactionInputRowData {
    input: TransactionInput,
    header_hash: FixedHash,
    spent_timestamp: u64,
    spent_height: u64,
    hash: FixedHash,
}

/// Every entry of one table, in key order.
fn entries(env: &lmdb::Environment, name: &str, flags: lmdb::db::Flags) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let db = lmdb::Database::open(env, Some(name), &lmdb::DatabaseOptions::new(flags))
        .map_err(|e| anyhow!("open table {name}: {e}"))?;
    let txn = lmdb::ReadTransaction::new(env)?;
    let access = txn.access();
    let mut cursor = txn.cursor(&db)?;
    let mut rows = Vec::new();
    let mut next = cursor.first::<[u8], [u8]>(&access).to_opt()?;
    while let Some((k, v)) = next {
        rows.push((k.to_vec(), v.to_vec()));
        next = cursor.next::<[u8], [u8]>(&access).to_opt()?;
    }
    Ok(rows)
}

/// `txos_hash_to_index` and `deleted_txo_hash_to_header_index` hold one key (bincode `Vec<u8>`) or, once an output
/// hash has more than one index entry, a bincode `Vec<Vec<u8>>`; tari_core tries the vector first.
fn index_entries(value: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Ok(many) = bincode::deserialize::<Vec<Vec<u8>>>(value) {
        return Ok(many);
    }
    Ok(vec![bincode::deserialize::<Vec<u8>>(value)?])
}

fn hash_of(bytes: &[u8]) -> anyhow::Result<FixedHash> {
    FixedHash::try_from(bytes).map_err(|_| anyhow!("a 32-byte hash"))
}

pub fn run(db_dir: &Path, manifest_path: &Path) -> anyhow::Result<()> {
    let manifest: Manifest = serde_json::from_slice(&fs::read(manifest_path)?).context("manifest")?;
    // Hashes below are recomputed under the manifest's network, set as a node sets it.
    let network: tari_common::configuration::Network = manifest.network.parse()?;
    tari_common::network_check::set_network_if_choice_valid(network)?;
    let mut builder = lmdb::EnvBuilder::new()?;
    builder.set_maxdbs(64)?;
    let path = db_dir.to_str().context("utf-8 path")?;
    // Read-only, and without LMDB's lock file: the node itself opens with MDB_NOLOCK.
    let env = unsafe { builder.open(path, lmdb::open::RDONLY | lmdb::open::NOLOCK, 0o400) }
        .map_err(|e| anyhow!("open {path}: {e}"))?;

    // metadata: u32 keys (MetadataKey as u32), values bincode `MetadataValue` (u32 variant index first).
    let mut metadata = HashMap::new();
    let mut variants = Vec::new();
    for (k, v) in entries(&env, "metadata", lmdb::db::INTEGERKEY)? {
        ensure!(k.len() == 4, "metadata keys are u32");
        let key = u32::from_ne_bytes(k[..4].try_into()?);
        let variant = u32::from_le_bytes(v[..4].try_into()?);
        // MetadataKey and MetadataValue share their order up to 9; keys 10 and 11 both hold the
        // `BlockchainCheckStatus` value (variant 10), so from there the variant index is one less than the key.
        ensure!(
            variant == key || (key >= 10 && variant + 1 >= key),
            "MetadataValue variant {variant} under key {key}"
        );
        variants.push((key, variant, v.len()));
        metadata.insert(key, v[4..].to_vec());
    }
    println!("metadata (key, MetadataValue variant, value bytes): {variants:?}");
    let chain_height = u64::from_le_bytes(metadata[&0][..8].try_into()?);
    let best_block = hash_of(&metadata[&1][..32])?;
    let pruning_horizon = u64::from_le_bytes(metadata[&3][..8].try_into()?);
    let pruned_height = u64::from_le_bytes(metadata[&4][..8].try_into()?);
    ensure!(
        chain_height == manifest.tip_height,
        "metadata ChainHeight {chain_height}"
    );
    ensure!(hex(best_block.as_slice()) == manifest.tip_hash, "metadata BestBlock");
    ensure!(pruning_horizon == manifest.pruning_horizon, "metadata PruningHorizon");
    println!(
        "metadata: {} keys; ChainHeight {chain_height}, BestBlock {}, PruningHorizon {pruning_horizon}, PrunedHeight \
         {pruned_height}",
        metadata.len(),
        hex(best_block.as_slice())
    );

    // headers: u64 native-endian keys, bincode BlockHeader values.
    let headers = entries(&env, "headers", lmdb::db::INTEGERKEY)?;
    ensure!(headers.len() == manifest.headers.len(), "{} headers", headers.len());
    let mut header_sizes = Vec::new();
    for ((k, v), expected) in headers.iter().zip(&manifest.headers) {
        let height = u64::from_ne_bytes(k[..8].try_into()?);
        let header: BlockHeader = bincode::deserialize(v).context("bincode BlockHeader")?;
        ensure!(
            bincode::serialize(&header)? == *v,
            "BlockHeader round-trips byte for byte"
        );
        ensure!(
            height == expected.height && header.height == height,
            "header height {height}"
        );
        ensure!(
            hex(header.hash().as_slice()) == expected.hash,
            "header hash at {height}"
        );
        ensure!(
            hex(header.prev_hash.as_slice()) == expected.prev_hash,
            "prev_hash at {height}"
        );
        ensure!(header.timestamp.as_u64() == expected.timestamp, "timestamp at {height}");
        header_sizes.push(v.len());
    }
    println!(
        "headers: {} rows, bincode BlockHeader {}..={} bytes, all hashes match",
        headers.len(),
        header_sizes.iter().min().unwrap_or(&0),
        header_sizes.iter().max().unwrap_or(&0)
    );

    // block_hashes: header hash -> bincode u64 height (best chain only).
    let block_hashes = entries(&env, "block_hashes", lmdb::db::Flags::empty())?;
    let mut height_of = HashMap::new();
    for (k, v) in &block_hashes {
        height_of.insert(hex(k), bincode::deserialize::<u64>(v)?);
    }
    for h in &manifest.headers {
        ensure!(
            height_of.get(&h.hash) == Some(&h.height),
            "block_hashes entry for {}",
            h.height
        );
    }
    for orphan in &manifest.reorg.orphaned_block_hashes {
        ensure!(
            !height_of.contains_key(orphan),
            "orphaned block {orphan} is not in block_hashes"
        );
    }
    println!("block_hashes: {} rows, best chain only", block_hashes.len());

    // utxos: header_hash || output_hash -> TransactionOutputRowData.
    let utxos = entries(&env, "utxos", lmdb::db::Flags::empty())?;
    let mut outputs = HashMap::new();
    let mut per_height: HashMap<u64, usize> = HashMap::new();
    for (k, v) in &utxos {
        ensure!(k.len() == 64, "utxos keys are 64 bytes");
        let row: TransactionOutputRowData = bincode::deserialize(v).context("bincode TransactionOutputRowData")?;
        ensure!(
            k[..32] == *row.header_hash.as_slice() && k[32..] == *row.hash.as_slice(),
            "utxos key layout"
        );
        ensure!(row.output.hash() == row.hash, "stored hash is the output's hash");
        *per_height.entry(row.mined_height).or_default() += 1;
        outputs.insert(hex(row.hash.as_slice()), row);
    }
    for h in &manifest.headers {
        ensure!(
            per_height.get(&h.height).copied().unwrap_or(0) == h.output_count,
            "output count at height {}",
            h.height
        );
    }

    // inputs: header_hash || input_hash -> TransactionInputRowData (compact input: the spent output's hash).
    let inputs = entries(&env, "inputs", lmdb::db::Flags::empty())?;
    let mut spends = HashMap::new();
    for (k, v) in &inputs {
        let row: TransactionInputRowData = bincode::deserialize(v).context("bincode TransactionInputRowData")?;
        ensure!(
            k[..32] == *row.header_hash.as_slice() && k[32..] == *row.hash.as_slice(),
            "inputs key layout"
        );
        spends.insert(
            hex(row.input.output_hash().as_slice()),
            (row.spent_height, hex(row.header_hash.as_slice())),
        );
    }

    let txos_index = entries(&env, "txos_hash_to_index", lmdb::db::Flags::empty())?;
    let mut index = HashMap::new();
    for (k, v) in &txos_index {
        index.insert(hex(k), index_entries(v)?);
    }
    let deleted_index = entries(&env, "deleted_txo_hash_to_header_index", lmdb::db::Flags::empty())?;
    let deleted: HashSet<String> = deleted_index.iter().map(|(k, _)| hex(k.as_slice())).collect();

    let mut checked = 0;
    let mut spent = 0;
    for wallet in &manifest.wallets {
        let mut balance = 0;
        for o in &wallet.outputs {
            let row = outputs
                .get(&o.output_hash)
                .with_context(|| format!("{} output {} in utxos", wallet.name, o.output_hash))?;
            ensure!(row.mined_height == o.height, "mined height of {}", o.output_hash);
            ensure!(
                hex(row.header_hash.as_slice()) == o.block_hash,
                "block of {}",
                o.output_hash
            );
            ensure!(
                hex(row.output.commitment.as_bytes()) == o.commitment,
                "commitment of {}",
                o.output_hash
            );
            ensure!(
                row.output.is_coinbase() == o.is_coinbase,
                "coinbase flag of {}",
                o.output_hash
            );
            let keys = index.get(&o.output_hash).context("txos_hash_to_index entry")?;
            let mut expected_key = row.header_hash.to_vec();
            expected_key.extend_from_slice(row.hash.as_slice());
            ensure!(
                keys.contains(&expected_key),
                "txos_hash_to_index points at the utxos row"
            );
            match (&o.spent_height, spends.get(&o.output_hash)) {
                (None, None) => {
                    ensure!(
                        !deleted.contains(&o.output_hash),
                        "unspent output is not in the deleted index"
                    );
                    balance += o.value;
                }
                (Some(h), Some((height, hash))) => {
                    ensure!(
                        h == height && o.spent_block_hash.as_ref() == Some(hash),
                        "spend of {}",
                        o.output_hash
                    );
                    ensure!(deleted.contains(&o.output_hash), "spent output is in the deleted index");
                    spent += 1;
                }
                (expected, found) => bail!("spend of {}: manifest {expected:?}, inputs {found:?}", o.output_hash),
            }
            checked += 1;
        }
        ensure!(balance == wallet.balance, "{} balance", wallet.name);
        for o in &wallet.orphaned_outputs {
            ensure!(
                !outputs.contains_key(&o.output_hash),
                "orphaned output {} is not in utxos",
                o.output_hash
            );
            ensure!(
                !index.contains_key(&o.output_hash),
                "orphaned output {} is not indexed",
                o.output_hash
            );
        }
    }
    for spend in &manifest.reorg.orphaned_spends {
        ensure!(
            spends.get(&spend.output_hash).map(|(h, _)| *h) == spend.spent_height,
            "an output spent only by the orphaned branch has its best-chain status"
        );
    }
    println!(
        "utxos: {} rows; inputs: {} rows; txos_hash_to_index: {} rows; deleted_txo_hash_to_header_index: {} rows",
        utxos.len(),
        inputs.len(),
        txos_index.len(),
        deleted_index.len()
    );
    println!(
        "wallet outputs checked: {checked} ({spent} spent), orphaned outputs absent: {}",
        manifest.wallets.iter().map(|w| w.orphaned_outputs.len()).sum::<usize>()
    );

    let orphans = entries(&env, "orphans", lmdb::db::Flags::empty())?;
    println!(
        "orphans: {} rows (the replaced branch is kept there as full blocks)",
        orphans.len()
    );
    println!("OK");
    Ok(())
}
