//! Demo reconstruction: full outputs rebuilt from what a demo cache keeps, for demo chains only (their
//! outputs never had range proofs or signatures and exist on no node). Genuine: commitment, sender
//! offset key, encrypted data, script, output type, maturity. Standing in: current versions, no
//! coinbase extra or side-chain feature, the default range-proof type, empty covenant, minimum value
//! promise 0, **no range proof and an all-zero metadata signature**. Such a wallet output reads back and
//! shows value, memo and history in the client, but a spend of it is invalid, as it must be: nobody can
//! sign for demo outputs. `FullOutputSources` uses it only when the cache itself says it is a demo.

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

use super::failure::SourceFailure;
use crate::{cache::CacheView, scan::OwnedOutput};

/// Rebuilds a demo cache's owned outputs.
pub struct DemoReconstruction<'a> {
    view: &'a CacheView,
}

impl<'a> DemoReconstruction<'a> {
    pub fn new(view: &'a CacheView) -> Self {
        DemoReconstruction { view }
    }

    /// The rebuilt output of each of `owned`, in order. Refuses a cache that is not a demo chain's.
    pub fn rebuild(&self, owned: &[OwnedOutput]) -> Result<Vec<TransactionOutput>, SourceFailure> {
        let failure = |reason: String| SourceFailure {
            source_name: "demo reconstruction".into(),
            reason,
        };
        if !self.view.is_demo() {
            return Err(failure(
                "the cache is not a demo chain: its outputs must come from the node".into(),
            ));
        }
        owned
            .iter()
            .map(|o| {
                let record = self
                    .view
                    .get_output(o.position)
                    .ok_or_else(|| failure(format!("no cache output {}", o.position)))?;
                if record.output_hash != &o.output_hash {
                    return Err(failure(format!(
                        "cache output {} is not the scanned output",
                        o.position
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
                .map_err(failure)
            })
            .collect()
    }
}

/// A `TransactionOutput` from the recognition fields, with the stand-ins listed on this module.
pub fn reconstruct(
    commitment: &[u8; 32],
    sender_offset_public_key: &[u8; 32],
    encrypted_data: &[u8],
    script: &[u8],
    output_type: u8,
    maturity: u64,
) -> Result<TransactionOutput, String> {
    let bad = |what: &str, e: String| format!("{what}: {e}");
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
