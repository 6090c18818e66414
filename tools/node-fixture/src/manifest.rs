//! The manifest written beside the database: what the generator built, from its own records.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
pub struct Manifest {
    pub generator: String,
    pub tari_core_version: String,
    pub network: String,
    pub network_byte: u8,
    pub tip_height: u64,
    pub tip_hash: String,
    pub genesis_hash: String,
    pub pruning_horizon: u64,
    pub pruned_height: u64,
    /// Whether blocks went through the node's real block-body validators (false: mock validators).
    pub real_body_validation: bool,
    pub headers: Vec<HeaderEntry>,
    pub reorg: ReorgEntry,
    pub wallets: Vec<WalletEntry>,
    /// Counts over the whole best chain, including outputs of the funder and the stranger (decoys).
    pub totals: Totals,
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct HeaderEntry {
    pub height: u64,
    pub hash: String,
    pub prev_hash: String,
    pub timestamp: u64,
    pub output_count: usize,
    pub input_count: usize,
    pub kernel_count: usize,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ReorgEntry {
    /// The last block both branches share.
    pub fork_height: u64,
    pub fork_hash: String,
    /// Blocks that were the best chain (heights fork_height+1..) and were replaced, lowest first.
    pub orphaned_block_hashes: Vec<String>,
    /// The competing branch that replaced them, lowest first.
    pub new_block_hashes: Vec<String>,
    /// The old tip before the reorg.
    pub orphaned_tip_height: u64,
    /// Height of the block whose addition made the node switch branches.
    pub reorg_at_height: u64,
    /// Test-wallet outputs that the orphaned branch spent: the reorg undid those spends.
    pub orphaned_spends: Vec<OrphanedSpendEntry>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OrphanedSpendEntry {
    pub wallet: String,
    pub output_hash: String,
    /// Where the orphaned branch spent it.
    pub orphaned_spent_height: u64,
    pub orphaned_spent_block_hash: String,
    /// Its status on the best chain (null: unspent at the tip).
    pub spent_height: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct WalletEntry {
    pub name: String,
    pub view_private_key: String,
    pub spend_public_key: String,
    pub view_public_key: String,
    /// Base58, as `TariAddress::to_base58` prints it.
    pub address: String,
    pub address_emoji: String,
    pub outputs: Vec<OutputEntry>,
    pub orphaned_outputs: Vec<OrphanedOutputEntry>,
    /// Sum of the values of unspent outputs at the tip, in µT.
    pub balance: u64,
    /// Sum of the values of all outputs ever received on the best chain, in µT.
    pub total_received: u64,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OutputEntry {
    pub output_hash: String,
    pub commitment: String,
    /// µT
    pub value: u64,
    pub height: u64,
    pub block_hash: String,
    pub is_coinbase: bool,
    /// `coinbase`, `stealth_payment` (one-sided, from another wallet), `change`, `to_self`.
    pub kind: String,
    /// True when the script key is a stealth (one-sided) key; false for a coinbase paid to the plain spend key,
    /// and for the wallet's own change / to-self outputs (own keys).
    pub stealth: bool,
    /// How the data is encrypted: `diffie_hellman` (sender offset key x view key) or `own_view_key`.
    pub encryption: String,
    /// `BulletProofPlus` or `RevealedValue`.
    pub range_proof: String,
    /// `MemoField`'s Display form ("None" when empty), the payment id / user data as text (null when empty), the
    /// memo's wire bytes (`MemoField::to_bytes`), and its tx type.
    pub memo: String,
    pub payment_id: Option<String>,
    pub memo_hex: String,
    /// None for an empty memo.
    pub tx_type: Option<String>,
    /// The height from which the output may be spent (coinbases: mined height + coinbase maturity).
    pub maturity: u64,
    pub spent_height: Option<u64>,
    pub spent_block_hash: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OrphanedOutputEntry {
    pub output_hash: String,
    pub commitment: String,
    pub value: u64,
    pub height: u64,
    pub block_hash: String,
    pub kind: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Totals {
    pub outputs: usize,
    pub inputs: usize,
    pub kernels: usize,
    pub wallet_outputs: usize,
    pub wallet_outputs_spent: usize,
    pub decoy_outputs: usize,
}
