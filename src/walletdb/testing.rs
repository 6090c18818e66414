//! Synthetic wallets for tests and benches: any number of owned outputs without a chain, built from one
//! genuine output so every row is one the client reads. Not for production: the outputs share one
//! commitment and are not on any chain.

use curve25519_dalek::ristretto::RistrettoPoint;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tari_transaction_components::transaction_components::{EncryptedData, MemoField, TransactionOutput};

use super::full::{ChainBlock, FullOutputs, SourceError, reconstruct};
use crate::{
    demo::outputs::{own_output, random_scalar},
    recognize::{Provenance, ScriptClass, WalletKey},
    scan::{OwnedOutput, ScanResult, ScannedTip, Spend},
};

/// Blocks per owned output in a synthetic chain: wallets own a few outputs spread over many blocks.
const BLOCKS_PER_OUTPUT: u64 = 3;
const GENESIS: u64 = 1_700_000_000;

/// A wallet with `outputs` owned outputs, a third of them spent, and everything to build its file.
pub struct SyntheticWallet {
    pub key: WalletKey,
    pub result: ScanResult,
    pub full: SyntheticOutputs,
}

/// Hands out the one genuine output for every owned output, with encrypted data of the same length made
/// unique per output (real encrypted data is random bytes; identical copies would flatter compression).
/// A reconstruction: hashes differ from the chain's.
pub struct SyntheticOutputs {
    template: TransactionOutput,
}

impl FullOutputs for SyntheticOutputs {
    fn full_output(&self, owned: &OwnedOutput) -> Result<Option<TransactionOutput>, SourceError> {
        let mut output = self.template.clone();
        let len = output.encrypted_data.as_bytes().len();
        let mut rng = ChaCha20Rng::from_seed(owned.output_hash);
        let mut bytes = vec![0u8; len];
        rand::RngCore::fill_bytes(&mut rng, &mut bytes);
        output.encrypted_data = EncryptedData::from_bytes(&bytes).map_err(|e| SourceError(e.to_string()))?;
        Ok(Some(output))
    }

    fn is_reconstruction(&self) -> bool {
        true
    }
}

/// The synthetic chain's block at `height`.
pub fn synthetic_block(height: u64) -> Option<ChainBlock> {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&height.to_le_bytes());
    hash[31] = 0xb1;
    Some(ChainBlock {
        hash,
        timestamp: GENESIS + height * 120,
    })
}

pub fn synthetic_wallet(outputs: u64, seed: u64) -> SyntheticWallet {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let view = random_scalar(&mut rng);
    let spend = RistrettoPoint::mul_base(&random_scalar(&mut rng));
    let key = WalletKey::from_bytes(view.as_bytes(), spend.compress().as_bytes()).expect("valid keys");
    let value = 1_000_000;
    let memo = MemoField::new_open(b"synthetic payment".to_vec(), Default::default()).expect("short memo");
    let built = own_output(&mut rng, &view, &spend, value, memo.clone());
    let template = reconstruct(
        &built.commitment,
        &built.sender_offset_public_key,
        &built.encrypted_data,
        &built.script,
        0,
        0,
    )
    .expect("genuine fields");
    let tip = outputs * BLOCKS_PER_OUTPUT + 10;
    let owned = (0..outputs)
        .map(|i| {
            let height = i * BLOCKS_PER_OUTPUT + 1;
            let block = synthetic_block(height).expect("every height");
            let mut output_hash = [0u8; 32];
            output_hash[..8].copy_from_slice(&i.to_le_bytes());
            output_hash[8..16].copy_from_slice(&seed.to_le_bytes());
            let spent = (i % 3 == 0).then(|| {
                let at = height + 2;
                Spend {
                    height: at,
                    block_hash: synthetic_block(at).expect("every height").hash,
                }
            });
            OwnedOutput {
                position: i * 50,
                height,
                block_hash: block.hash,
                block_timestamp: block.timestamp,
                output_hash,
                commitment: built.commitment,
                value,
                mask: built.mask,
                memo: memo.clone(),
                provenance: Provenance::OwnViewKey,
                mask_from_shared_secret: false,
                script_class: ScriptClass::SpendKey,
                output_type: 0,
                maturity: 0,
                spent,
            }
        })
        .collect();
    let result = ScanResult {
        tip: Some(ScannedTip {
            height: tip,
            hash: synthetic_block(tip).expect("every height").hash,
        }),
        from_height: 0,
        outputs: owned,
    };
    SyntheticWallet {
        key,
        result,
        full: SyntheticOutputs { template },
    }
}
