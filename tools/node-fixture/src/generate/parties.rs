//! Parties: who takes part in the chain (the four scanned test wallets, the funder, the stranger) and their fixed
//! keys, each behind an official `KeyManager`. Also how an owner recognises its own outputs with that key manager.
//! It does not decide who is paid when (that is the schedule) nor build anything.

use anyhow::anyhow;
use blake2::{Blake2b512, Digest};
use tari_common_types::{
    tari_address::TariAddress,
    types::{CompressedPublicKey, PrivateKey},
};
use tari_crypto::keys::SecretKey;
use tari_script::{ExecutionStack, push_pubkey_script};
use tari_transaction_components::{
    key_manager::{
        KeyManager, TransactionKeyManagerInterface,
        wallet_types::{SpendWallet, WalletType},
    },
    transaction_components::{MemoField, TransactionOutput, WalletOutput},
};

use tari_common::configuration::Network;

use super::NETWORK;

/// Parties: the four scanned test wallets, then the funder and a stranger (decoy owners).
pub(super) const TEST_WALLETS: usize = 4;
pub(super) const FUNDER: usize = 4;
pub(super) const STRANGER: usize = 5;
pub(super) const PARTY_NAMES: [&str; 6] = ["w0", "w1", "w2", "w3", "funder", "stranger"];
pub(super) const KEY_LABEL: &str = "tari-wallet-sync/node-fixture";

fn derive_key(label: &str) -> anyhow::Result<PrivateKey> {
    let wide = Blake2b512::digest(label.as_bytes());
    PrivateKey::from_uniform_bytes(&wide).map_err(|e| anyhow!("key from {label}: {e}"))
}

pub(crate) struct Party {
    pub(crate) name: String,
    pub(crate) km: KeyManager,
    pub(crate) address: TariAddress,
    pub(crate) view_key: PrivateKey,
    pub(crate) view_public: CompressedPublicKey,
    pub(crate) spend_public: CompressedPublicKey,
}

impl Party {
    /// The party `name` of the fixture's label, on the fixture's network.
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        Party::of(KEY_LABEL, name, NETWORK)
    }

    /// The party `name` whose keys derive from `label`, with an address on `network`.
    pub(crate) fn of(label: &str, name: &str, network: Network) -> anyhow::Result<Self> {
        let spend = derive_key(&format!("{label}/{name}/spend"))?;
        let view = derive_key(&format!("{label}/{name}/view"))?;
        let km = KeyManager::new(WalletType::SpendWallet(SpendWallet::new(spend, view, None)))
            .map_err(|e| anyhow!("key manager {name}: {e}"))?;
        let view_public = km.get_view_key().pub_key;
        let spend_public = km.get_spend_key().pub_key;
        let address =
            TariAddress::new_dual_address_with_default_features(view_public.clone(), spend_public.clone(), network)?;
        Ok(Party {
            name: name.to_string(),
            view_key: km.get_private_view_key(),
            km,
            address,
            view_public,
            spend_public,
        })
    }
}

/// The owner's own key manager recovers an output and, when it can, its spendable form (mask and script key).
pub(crate) fn recover(
    party: &Party,
    output: &TransactionOutput,
) -> anyhow::Result<Option<(u64, MemoField, Option<WalletOutput>)>> {
    let Some((mask_id, value, memo, _provenance)) = party.km.try_output_key_recovery(
        &output.commitment,
        &output.encrypted_data,
        &output.sender_offset_public_key,
    )?
    else {
        return Ok(None);
    };
    let script_key_id = if output.script == push_pubkey_script(&party.spend_public) {
        Some(party.km.get_spend_key().key_id)
    } else {
        match party
            .km
            .find_script_key_id_from_commitment_mask_key_id(&mask_id, None)?
        {
            Some(id) if push_pubkey_script(&party.km.get_public_key_at_key_id(&id)?) == output.script => Some(id),
            _ => None,
        }
    };
    let spendable = script_key_id.map(|script_key_id| {
        WalletOutput::new_from_transaction_output(
            value,
            mask_id,
            memo.clone(),
            output.clone(),
            ExecutionStack::default(),
            script_key_id,
        )
    });
    Ok(Some((value.as_u64(), memo, spendable)))
}
