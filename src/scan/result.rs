//! Scan results: what a scan found for one wallet, ready for the wallet database and the CLI.

use curve25519_dalek::scalar::Scalar;
use tari_transaction_components::transaction_components::MemoField;
use zeroize::Zeroize;

use crate::recognize::{Provenance, ScriptClass};

/// Tari's output type byte for burns: never spendable, so never part of a balance.
pub const OUTPUT_TYPE_BURN: u8 = 2;

/// The block whose inputs spent an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    pub height: u64,
    pub block_hash: [u8; 32],
}

/// One output a wallet owns, where it is, what it holds and whether it is spent at the scanned tip.
#[derive(Debug, Clone)]
pub struct OwnedOutput {
    /// Global index of the output in the cache: with `height`, the output's position in the chain.
    pub position: u64,
    pub height: u64,
    pub block_hash: [u8; 32],
    pub block_timestamp: u64,
    pub output_hash: [u8; 32],
    pub commitment: [u8; 32],
    pub value: u64,
    pub mask: Scalar,
    pub memo: MemoField,
    pub provenance: Provenance,
    pub mask_from_shared_secret: bool,
    pub script_class: ScriptClass,
    pub output_type: u8,
    pub maturity: u64,
    /// `script_class`, `output_type` and `maturity` are the chain's: the cache held the output's
    /// details, or its full output filled them in (`source::full_outputs::apply_details`). On a light
    /// cache they are `Other`, 0 and 0 until then.
    pub output_details: bool,
    pub spent: Option<Spend>,
}

impl OwnedOutput {
    /// Spendable value at the tip: unspent and not a burn.
    pub fn is_unspent_value(&self) -> bool {
        self.spent.is_none() && self.output_type != OUTPUT_TYPE_BURN
    }

    /// The output as JSON for CLIs and summaries: hashes and mask in hex, the memo as text. Holds the
    /// mask: treat the value as wallet data.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "output_hash": hex::encode(self.output_hash),
            "commitment": hex::encode(self.commitment),
            "height": self.height,
            "block_hash": hex::encode(self.block_hash),
            "value": self.value,
            "mask": hex::encode(self.mask.as_bytes()),
            "memo": self.memo.to_string(),
            "provenance": self.provenance,
            "script_class": self.script_class,
            "output_type": self.output_type,
            "maturity": self.maturity,
            "output_details": self.output_details,
            "spent_height": self.spent.map(|s| s.height),
        })
    }
}

impl Drop for OwnedOutput {
    fn drop(&mut self) {
        self.mask.zeroize();
    }
}

/// The tip a scan read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedTip {
    pub height: u64,
    pub hash: [u8; 32],
}

/// Everything one scan found for one wallet, sorted by chain position.
#[derive(Debug, Clone)]
pub struct ScanResult {
    /// `None` for an empty cache.
    pub tip: Option<ScannedTip>,
    /// The height the scan started from (the wallet's birthday, or the cache's first block if later).
    pub from_height: u64,
    pub outputs: Vec<OwnedOutput>,
}

impl ScanResult {
    /// µT the wallet can spend at the tip (immature coinbases included, burns excluded).
    pub fn balance(&self) -> u64 {
        self.outputs
            .iter()
            .filter(|o| o.is_unspent_value())
            .map(|o| o.value)
            .sum()
    }
}
