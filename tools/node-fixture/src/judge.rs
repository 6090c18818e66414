//! Judge: what the official crates say a set of wallets owns on a node's chain, and whether wallet files
//! hold exactly that. Reads the node's database with tari_core's own storage code, recognises every
//! output with each wallet's official view-only `KeyManager` (`try_output_key_recovery`), takes spends
//! from the blocks' inputs, and checks each wallet file (the SQLite a wallet downloaded from the
//! service): the same outputs, values and spent states, and every `wallet_output_json` turning back into
//! the chain's own output (field by field, the same hash, a metadata signature and range proof the
//! official verifiers accept). Also writes test wallets' keys and addresses for a node to pay.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::Path,
};

use anyhow::{Context, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use tari_common::configuration::Network;
use tari_common_types::types::{CompressedPublicKey, FixedHash, PrivateKey};
use tari_core::consensus::BaseNodeConsensusManager;
use tari_transaction_components::{
    crypto_factories::CryptoFactories,
    key_manager::{
        KeyManager, TransactionKeyManagerInterface,
        wallet_types::{ViewWallet, WalletType},
    },
    transaction_components::{OutputType, TransactionOutput, WalletOutput},
};
use tari_utilities::{ByteArray, hex::Hex};

use crate::{
    generate::{database::open_db, parties::Party},
    hex,
};

/// A wallet as a payer and a wallet app know it (the view key is test data: never real funds).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TestWallet {
    pub name: String,
    pub address: String,
    pub view_key: String,
    pub spend_public_key: String,
    pub birthday: u64,
}

/// Writes `count` wallets (`<prefix>0`, ...) whose keys derive from `label`, with `network` addresses.
pub fn wallets(label: &str, prefix: &str, count: usize, network: Network, out: &Path) -> anyhow::Result<()> {
    let wallets = (0..count)
        .map(|i| {
            let party = Party::of(label, &format!("{prefix}{i}"), network)?;
            Ok(TestWallet {
                name: party.name.clone(),
                address: party.address.to_base58(),
                view_key: hex(party.view_key.as_bytes()),
                spend_public_key: hex(party.spend_public.as_bytes()),
                birthday: 0,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    fs::write(out, serde_json::to_string_pretty(&wallets)? + "\n")?;
    eprintln!("wrote {count} {network} wallets to {}", out.display());
    Ok(())
}

/// One owned output as the official recogniser and the chain say.
struct Owned {
    value: u64,
    height: u64,
    burn: bool,
    spent: Option<u64>,
}

/// Recognises every output of the chain in `db_dir` for every wallet of `wallets_file`, prints what each
/// owns, and checks the wallet files `files_dir/<name>.sqlite` against it (when given). Fails on any
/// difference.
pub fn judge(db_dir: &Path, network: Network, wallets_file: &Path, files_dir: Option<&Path>) -> anyhow::Result<()> {
    tari_common::network_check::set_network_if_choice_valid(network)?;
    let wallets: Vec<TestWallet> = serde_json::from_slice(&fs::read(wallets_file)?).context("wallets file")?;
    let managers = wallets
        .iter()
        .map(|w| {
            let view = PrivateKey::from_hex(&w.view_key).map_err(|e| anyhow!("{}: {e}", w.name))?;
            let spend = CompressedPublicKey::from_hex(&w.spend_public_key).map_err(|e| anyhow!("{}: {e}", w.name))?;
            KeyManager::new(WalletType::ViewWallet(ViewWallet::new(spend, view, None))).map_err(|e| anyhow!("{e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rules = BaseNodeConsensusManager::builder(network).build()?;
    let db = open_db(db_dir, &rules, true, false)?;
    let tip = db.get_chain_metadata()?.best_block_height();

    let mut chain: HashMap<FixedHash, TransactionOutput> = HashMap::new();
    let mut spent: HashMap<FixedHash, u64> = HashMap::new();
    let mut owned: Vec<BTreeMap<FixedHash, Owned>> = wallets.iter().map(|_| BTreeMap::new()).collect();
    for height in 0..=tip {
        let block = db.fetch_block(height, false)?.block().clone();
        for input in block.body.inputs() {
            spent.insert(input.output_hash(), height);
        }
        for output in block.body.outputs() {
            let hash = output.hash();
            for (k, km) in managers.iter().enumerate() {
                let found = km.try_output_key_recovery(
                    &output.commitment,
                    &output.encrypted_data,
                    &output.sender_offset_public_key,
                )?;
                if let Some((_, value, _, _)) = found {
                    let burn = output.features.output_type == OutputType::Burn;
                    owned[k].insert(
                        hash,
                        Owned {
                            value: value.as_u64(),
                            height,
                            burn,
                            spent: None,
                        },
                    );
                }
            }
            chain.insert(hash, output.clone());
        }
    }
    for wallet in &mut owned {
        for (hash, o) in wallet.iter_mut() {
            o.spent = spent.get(hash).copied();
        }
    }
    println!("chain: tip {tip}, {} outputs, {} spends", chain.len(), spent.len());
    for (w, outs) in wallets.iter().zip(&owned) {
        let balance: u64 = outs
            .values()
            .filter(|o| o.spent.is_none() && !o.burn)
            .map(|o| o.value)
            .sum();
        let spent = outs.values().filter(|o| o.spent.is_some()).count();
        let first = outs.values().map(|o| o.height).min();
        println!(
            "{}: {} outputs owned ({spent} spent, first at {first:?}), balance {balance} µT",
            w.name,
            outs.len()
        );
    }
    let Some(files_dir) = files_dir else { return Ok(()) };
    let factories = CryptoFactories::default();
    for (w, outs) in wallets.iter().zip(&owned) {
        let path = files_dir.join(format!("{}.sqlite", w.name));
        let checked = check_file(&path, outs, &chain, &factories).with_context(|| format!("{}", path.display()))?;
        println!(
            "{}: the wallet file holds exactly the {checked} outputs the official recogniser finds, each the chain's own",
            w.name
        );
    }
    Ok(())
}

fn check_file(
    path: &Path,
    owned: &BTreeMap<FixedHash, Owned>,
    chain: &HashMap<FixedHash, TransactionOutput>,
    factories: &CryptoFactories,
) -> anyhow::Result<usize> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut statement = conn.prepare("SELECT output_hash, value, status, wallet_output_json FROM outputs")?;
    let rows: Vec<(Vec<u8>, i64, String, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut seen = 0;
    for (hash, value, status, json) in rows {
        let hash = FixedHash::try_from(hash.as_slice()).map_err(|_| anyhow!("a bad output hash"))?;
        let official = owned
            .get(&hash)
            .with_context(|| format!("{hash}: in the file, but not the wallet's by the official recogniser"))?;
        ensure!(
            value as u64 == official.value,
            "{hash}: value {value}, officially {}",
            official.value
        );
        let spent_in_file = status == "SPENT";
        ensure!(
            spent_in_file == official.spent.is_some(),
            "{hash}: status {status}, spent officially at {:?}",
            official.spent
        );
        let wallet: WalletOutput =
            serde_json::from_str(&json).with_context(|| format!("{hash}: wallet_output_json"))?;
        let ours = wallet.to_transaction_output()?;
        let theirs = chain.get(&hash).with_context(|| format!("{hash}: not on the chain"))?;
        if &ours != theirs {
            bail!("{hash}: the wallet's output differs from the chain's");
        }
        ensure!(
            ours.hash() == hash && wallet.output_hash() == hash,
            "{hash}: another hash"
        );
        ours.verify_metadata_signature()?;
        ours.verify_range_proof(&factories.range_proof)?;
        seen += 1;
    }
    ensure!(
        seen == owned.len(),
        "the file holds {seen} outputs, the official recogniser finds {}",
        owned.len()
    );
    Ok(seen)
}
