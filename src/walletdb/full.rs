//! Full outputs: where the whole `TransactionOutput` of an owned output comes from (features, script,
//! covenant, range proof, signatures), which the cache does not keep but `wallet_output_json` needs. Owns
//! the `FullOutputs` and `ChainBlocks` seams and the demo's reconstruction from the cache; it does not
//! fetch from a node (a node source implements `FullOutputs` for the few blocks with hits).

use tari_common_types::types::{ComAndPubSignature, CompressedCommitment, CompressedPublicKey};
use tari_script::TariScript;
use tari_transaction_components::{
    MicroMinotari,
    transaction_components::{
        EncryptedData, OutputFeatures, OutputFeaturesVersion, OutputType, RangeProofType, TransactionOutput,
        TransactionOutputVersion, covenants::Covenant,
    },
};
use tari_utilities::ByteArray;

use crate::{cache::CacheView, scan::OwnedOutput};

/// Why a source could not hand over a full output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Supplies the full `TransactionOutput` of owned outputs. Called once per owned output, in chain order.
pub trait FullOutputs {
    /// The output `owned` (at `owned.height`, hash `owned.output_hash`), or `None` if the source does not
    /// hold it.
    fn full_output(&self, owned: &OwnedOutput) -> Result<Option<TransactionOutput>, SourceError>;

    /// `true` when the outputs are rebuilt from partial data and so do not hash to the chain's output
    /// hash; the wallet output then carries the chain's hash. A real source returns `false` and a hash
    /// mismatch is an error.
    fn is_reconstruction(&self) -> bool {
        false
    }
}

/// One block of the scanned chain, as the wallet file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBlock {
    pub hash: [u8; 32],
    /// Unix seconds.
    pub timestamp: u64,
}

/// Blocks by height, for `scanned_tip_blocks`, spends and confirmation rows. Must be the chain the scan
/// read (the builder checks the tip and every owned output's block against it).
pub trait ChainBlocks {
    fn block(&self, height: u64) -> Option<ChainBlock>;
}

impl ChainBlocks for CacheView {
    fn block(&self, height: u64) -> Option<ChainBlock> {
        CacheView::block(self, height).map(|b| ChainBlock {
            hash: *b.hash,
            timestamp: b.timestamp,
        })
    }
}

impl<F: Fn(u64) -> Option<ChainBlock>> ChainBlocks for F {
    fn block(&self, height: u64) -> Option<ChainBlock> {
        self(height)
    }
}

/// Rebuilds owned outputs from what the cache keeps, for demo chains (whose outputs never had range
/// proofs or signatures) and for tests. Genuine: commitment, sender offset key, encrypted data, script,
/// output type, maturity. Standing in: current versions, no coinbase extra or side-chain feature, the
/// default range-proof type, empty covenant, minimum value promise 0, **no range proof and an all-zero
/// metadata signature**. Such a wallet output reads back and shows value, memo and history in the client,
/// but any transaction spending it is invalid (as it must be: nobody can sign for demo outputs).
pub struct CacheReconstruction<'a> {
    view: &'a CacheView,
}

impl<'a> CacheReconstruction<'a> {
    pub fn new(view: &'a CacheView) -> Self {
        CacheReconstruction { view }
    }
}

impl FullOutputs for CacheReconstruction<'_> {
    fn full_output(&self, owned: &OwnedOutput) -> Result<Option<TransactionOutput>, SourceError> {
        let Some(record) = self.view.get_output(owned.position) else {
            return Ok(None);
        };
        if record.output_hash != &owned.output_hash {
            return Err(SourceError(format!(
                "cache output {} is not the scanned output",
                owned.position
            )));
        }
        reconstruct(
            record.commitment,
            record.sender_offset_public_key,
            record.encrypted_data,
            record.script,
            record.output_type,
            record.maturity,
        )
        .map(Some)
    }

    fn is_reconstruction(&self) -> bool {
        true
    }
}

/// A `TransactionOutput` from the recognition fields, with the stand-ins listed on
/// [`CacheReconstruction`].
pub fn reconstruct(
    commitment: &[u8; 32],
    sender_offset_public_key: &[u8; 32],
    encrypted_data: &[u8],
    script: &[u8],
    output_type: u8,
    maturity: u64,
) -> Result<TransactionOutput, SourceError> {
    let bad = |what: &str, e: String| SourceError(format!("{what}: {e}"));
    let output_type = OutputType::from_byte(output_type).ok_or_else(|| bad("output type", output_type.to_string()))?;
    let features = OutputFeatures::new(
        OutputFeaturesVersion::get_current_version(),
        output_type,
        maturity,
        Default::default(),
        None,
        RangeProofType::default(),
    );
    Ok(TransactionOutput::new(
        TransactionOutputVersion::get_current_version(),
        features,
        CompressedCommitment::from_canonical_bytes(commitment).map_err(|e| bad("commitment", e.to_string()))?,
        None,
        TariScript::from_bytes(script).map_err(|e| bad("script", e.to_string()))?,
        CompressedPublicKey::from_canonical_bytes(sender_offset_public_key)
            .map_err(|e| bad("sender offset key", e.to_string()))?,
        ComAndPubSignature::default(),
        Covenant::default(),
        EncryptedData::from_bytes(encrypted_data).map_err(|e| bad("encrypted data", e.to_string()))?,
        MicroMinotari::zero(),
    ))
}
