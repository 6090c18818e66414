//! Wallet output: the `wallet_output_json` of one owned output and the memo columns beside it, made as
//! minotari-cli's scanner makes them: `WalletOutput::new_imported(value, mask key id, memo, output, key
//! manager)` with a view-only key manager. Owns the mask key id choice and the memo text; not the rows.
//!
//! The client's scanner takes the mask key id from `try_output_key_recovery`: a Diffie-Hellman output
//! whose mask is the standard `k_mask(v·R)` gets `DHCommitmentMask { R, ViewKey }`; any other mask (own
//! view key outputs, sender-chosen masks) is stored encrypted under the view key (`Encrypted`, with a
//! random nonce, so the JSON differs run to run in the client too). `new_imported` then finds the script
//! key id (spend key, commitment-mask derived or stealth); when it cannot, the client's scanner drops the
//! output without a word (`minotari-scanning` `to_wallet_output`). We report it (`Ok(None)`), and the builder
//! fails the file (`OUTPUT_IMPORT_FAILED`) rather than hand out a wallet missing a value it owns.

use tari_common_types::types::{CompressedPublicKey, FixedHash, PrivateKey};
use tari_transaction_components::{
    MicroMinotari,
    key_manager::{
        KeyManager, TariKeyId, TransactionKeyManagerInterface,
        wallet_types::{ViewWallet, WalletType},
    },
    transaction_components::{MemoField, TransactionOutput, WalletOutput},
};
use tari_utilities::ByteArray;

use super::WalletDbError;
use crate::{recognize::Provenance, recognize::WalletKey, scan::OwnedOutput};

/// An owned output as the client stores it.
pub struct BuiltOutput {
    pub json: String,
    pub is_burn: bool,
    pub is_coinbase: bool,
    /// The memo's payment-id bytes (`MemoField::get_payment_id`), empty for no memo.
    pub memo_bytes: Vec<u8>,
}

/// Makes wallet outputs for one wallet with a view-only key manager.
pub struct OutputMaker {
    key_manager: KeyManager,
}

impl OutputMaker {
    pub fn new(key: &WalletKey) -> Result<Self, WalletDbError> {
        let internal = |e: String| WalletDbError::WalletOutput { height: 0, reason: e };
        let view = PrivateKey::from_canonical_bytes(key.view_bytes()).map_err(|e| internal(e.to_string()))?;
        let spend = CompressedPublicKey::from_canonical_bytes(key.spend_public_key().as_bytes())
            .map_err(|e| internal(e.to_string()))?;
        // The birthday inside the key manager's wallet type plays no part in output building.
        let wallet = WalletType::ViewWallet(ViewWallet::new(spend, view, None));
        let key_manager = KeyManager::new(wallet).map_err(|e| internal(e.to_string()))?;
        Ok(OutputMaker { key_manager })
    }

    /// The wallet output of `owned` from its full output, or `None` when it cannot be imported (no script
    /// key the wallet can derive: the client would drop it). With `reconstructed`, the JSON carries the chain's output hash.
    pub fn make(
        &self,
        owned: &OwnedOutput,
        full: TransactionOutput,
        reconstructed: bool,
    ) -> Result<Option<BuiltOutput>, WalletDbError> {
        let failed = |reason: String| WalletDbError::WalletOutput {
            height: owned.height,
            reason,
        };
        if !reconstructed && full.hash().as_slice() != owned.output_hash {
            return Err(WalletDbError::OutputHashMismatch {
                height: owned.height,
                expected: hex::encode(owned.output_hash),
                got: hex::encode(full.hash().as_slice()),
            });
        }
        let key_id = if owned.provenance == Provenance::DiffieHellman && owned.mask_from_shared_secret {
            TariKeyId::DHCommitmentMask {
                public_key: full.sender_offset_public_key.clone(),
                private_key: TariKeyId::ViewKey.into(),
            }
        } else {
            let mask = PrivateKey::from_canonical_bytes(owned.mask.as_bytes()).map_err(|e| failed(e.to_string()))?;
            self.key_manager
                .create_encrypted_key(mask, None)
                .map_err(|e| failed(e.to_string()))?
        };
        let value = MicroMinotari::from(owned.value);
        let Ok(output) = WalletOutput::new_imported(value, key_id, owned.memo.clone(), full, &self.key_manager) else {
            return Ok(None);
        };
        let mut json = serde_json::to_value(&output)?;
        if reconstructed {
            json["output_hash"] = serde_json::to_value(FixedHash::from(owned.output_hash))?;
        }
        Ok(Some(BuiltOutput {
            json: json.to_string(),
            is_burn: output.is_burned(),
            is_coinbase: output.is_coinbase(),
            memo_bytes: output.payment_id().get_payment_id(),
        }))
    }
}

/// The memo as the client's `MemoInfo` shows it: lossy UTF-8 and lowercase hex, both `None` when empty.
pub fn memo_text(bytes: &[u8]) -> (Option<String>, Option<String>) {
    if bytes.is_empty() {
        (None, None)
    } else {
        (
            Some(String::from_utf8_lossy(bytes).into_owned()),
            Some(hex::encode(bytes)),
        )
    }
}

/// Claims the sender put in a memo, as the client's balance change reads them.
pub struct MemoClaims {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub fee: Option<u64>,
    pub amount: Option<u64>,
}

pub fn memo_claims(memo: &MemoField, coinbase: bool) -> MemoClaims {
    MemoClaims {
        sender: (!coinbase)
            .then(|| memo.claimed_sender_address().map(|a| a.to_base58()))
            .flatten(),
        recipient: (!coinbase)
            .then(|| memo.get_recipient_address().map(|a| a.to_base58()))
            .flatten(),
        fee: memo.get_fee().map(|v| v.as_u64()),
        amount: memo.get_amount().map(|v| v.as_u64()),
    }
}
