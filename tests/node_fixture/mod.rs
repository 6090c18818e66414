//! The real-node fixture (tests/fixtures/node-lmdb): a base node database written by tari_core itself
//! (tools/node-fixture) and the manifest of what its generator put in it. Unpacks the database into a
//! temporary directory and reads the manifest's facts the tests compare against.

#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use serde::Deserialize;
use tari_transaction_components::transaction_components::TransactionOutput;
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    network::{self, Network},
    recognize::WalletKey,
    source::lmdb::NodeDb,
};

/// The fixture directory, from the root package or from a member (`plugin/`) that includes this module.
fn fixture_dir() -> std::path::PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [manifest, manifest.parent().unwrap_or(manifest)]
        .iter()
        .map(|dir| dir.join("tests/fixtures/node-lmdb"))
        .find(|dir| dir.is_dir())
        .expect("tests/fixtures/node-lmdb")
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub network: String,
    pub network_byte: u8,
    pub tip_height: u64,
    pub tip_hash: String,
    pub genesis_hash: String,
    pub pruning_horizon: u64,
    pub headers: Vec<Header>,
    pub reorg: Reorg,
    pub wallets: Vec<Wallet>,
}

#[derive(Debug, Deserialize)]
pub struct Header {
    pub height: u64,
    pub hash: String,
    pub prev_hash: String,
    pub timestamp: u64,
    pub output_count: usize,
    pub input_count: usize,
}

#[derive(Debug, Deserialize)]
pub struct Reorg {
    pub fork_height: u64,
    pub orphaned_block_hashes: Vec<String>,
    pub new_block_hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Wallet {
    pub name: String,
    pub view_private_key: String,
    pub spend_public_key: String,
    pub outputs: Vec<Output>,
    pub orphaned_outputs: Vec<Orphaned>,
    pub balance: u64,
}

#[derive(Debug, Deserialize)]
pub struct Output {
    pub output_hash: String,
    pub commitment: String,
    pub value: u64,
    pub height: u64,
    pub block_hash: String,
    pub is_coinbase: bool,
    pub kind: String,
    pub maturity: u64,
    pub spent_height: Option<u64>,
    pub spent_block_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Orphaned {
    pub output_hash: String,
    pub value: u64,
    pub height: u64,
}

impl Wallet {
    pub fn key(&self) -> WalletKey {
        WalletKey::from_hex(&self.view_private_key, &self.spend_public_key).expect("manifest keys are valid")
    }

    /// What a scan must find: output hash -> (value, height, spent height).
    pub fn expected(&self) -> BTreeMap<String, (u64, u64, Option<u64>)> {
        self.outputs
            .iter()
            .map(|o| (o.output_hash.clone(), (o.value, o.height, o.spent_height)))
            .collect()
    }
}

impl Wallet {
    /// The wallet as a wallet app submits it (from genesis), with the manifest's balance and counts.
    pub fn as_demo(&self) -> DemoWallet {
        DemoWallet {
            name: self.name.clone(),
            view_key: self.view_private_key.clone(),
            spend_public_key: self.spend_public_key.clone(),
            birthday: 0,
            expected_balance: self.balance,
            expected_outputs: self.outputs.len() as u64,
            expected_spent: self.outputs.iter().filter(|o| o.spent_height.is_some()).count() as u64,
        }
    }
}

/// Makes the fixture's network (LocalNet, as the node that wrote it) the process network, as every entry
/// point of the plugin does before it hashes.
pub fn use_network() -> Network {
    let network: Network = manifest().network.parse().expect("a network name");
    network::use_network(network).expect("one network per test process");
    network
}

/// Every output of the database's main chain as the node stored it, by output hash.
pub fn genuine_outputs(db: &NodeDb) -> HashMap<[u8; 32], TransactionOutput> {
    let tip = db.chain_info().expect("chain info").tip_height;
    let mut all = HashMap::new();
    db.for_each_block_with_outputs(0..=tip, |block, outputs| {
        for (data, output) in block.outputs.iter().zip(outputs) {
            all.insert(data.output_hash, output);
        }
        Ok(())
    })
    .expect("the fixture reads");
    all
}

pub fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("fixture manifest");
    serde_json::from_str(&text).expect("fixture manifest parses")
}

/// Unpacks the fixture's `data.mdb` into `dir` (a copy, as `mdb_copy -c` leaves it: no lock files).
pub fn unpack(dir: &Path) {
    let packed = std::fs::read(fixture_dir().join("data.mdb.zst")).expect("fixture database");
    let data = zstd::decode_all(&packed[..]).expect("fixture database decompresses");
    std::fs::create_dir_all(dir).expect("fixture dir");
    std::fs::write(dir.join("data.mdb"), data).expect("unpacking the fixture");
}

pub fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text).expect("hex").try_into().expect("32 bytes")
}
