//! Synthetic wallets for tests and benches: any number of owned outputs without a chain, built from one
//! genuine output so every row is one the client reads. Not for production: the outputs share one
//! commitment and are not on any chain.

use curve25519_dalek::ristretto::RistrettoPoint;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tari_transaction_components::transaction_components::{EncryptedData, MemoField, TransactionOutput};

use tari_wallet_sync::{
    demo::outputs::{own_output, random_scalar},
    recognize::{Provenance, ScriptClass, WalletKey},
    scan::{OwnedOutput, ScanResult, ScannedTip, Spend},
    source::full_outputs::{ResolvedOutputs, reconstruct},
    walletdb::ChainBlock,
};

/// Blocks per owned output in a synthetic chain: wallets own a few outputs spread over many blocks.
const BLOCKS_PER_OUTPUT: u64 = 3;
const GENESIS: u64 = 1_700_000_000;

/// A wallet with `outputs` owned outputs, a third of them spent, and everything to build its file.
pub struct SyntheticWallet {
    pub key: WalletKey,
    pub result: ScanResult,
    pub full: ResolvedOutputs,
}

/// The one genuine output handed out for every owned output, with encrypted data of the same length made
/// unique per output (real encrypted data is random bytes; identical copies would flatter compression).
/// A reconstruction: hashes differ from the chain's.
fn synthetic_outputs(template: &TransactionOutput, owned: &[OwnedOutput]) -> ResolvedOutputs {
    let outputs = owned
        .iter()
        .map(|o| {
            let mut output = template.clone();
            let len = output.encrypted_data.as_bytes().len();
            let mut rng = ChaCha20Rng::from_seed(o.output_hash);
            let mut bytes = vec![0u8; len];
            rand::RngCore::fill_bytes(&mut rng, &mut bytes);
            output.encrypted_data = EncryptedData::from_bytes(&bytes).expect("a valid length");
            output
        })
        .collect();
    ResolvedOutputs {
        outputs,
        reconstructed: true,
        block_leaves: Default::default(),
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
                output_details: true,
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
    let full = synthetic_outputs(&template, &result.outputs);
    SyntheticWallet { key, result, full }
}

/// Opens a downloaded wallet file (zstd-compressed SQLite) in memory, as a client would read it.
pub fn open_download(download: &[u8]) -> rusqlite::Connection {
    let raw = zstd::decode_all(download).expect("a zstd download");
    let mut conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    conn.deserialize_read_exact(rusqlite::MAIN_DB, &raw[..], raw.len(), true)
        .expect("the download is a SQLite database");
    conn
}

/// Checks every owned output a wallet file holds against the chain's own output (`genuine`, by output
/// hash), as a spend needs it: the `wallet_output_json` read back as the official `WalletOutput` and
/// turned into its `TransactionOutput` must equal the chain's field by field (commitment, features,
/// script, sender offset key, metadata signature, covenant, encrypted data, minimum value promise, range
/// proof), hash under the process network to the chain's output hash, and carry a metadata signature
/// and a range proof the official verifiers accept. Returns how many outputs were checked, or what differs.
pub fn check_outputs_against_chain(
    download: &[u8],
    genuine: &dyn Fn(&[u8; 32]) -> Option<TransactionOutput>,
) -> Result<usize, String> {
    use tari_transaction_components::{crypto_factories::CryptoFactories, transaction_components::WalletOutput};
    let factories = CryptoFactories::default();
    let conn = open_download(download);
    let mut statement = conn
        .prepare("SELECT output_hash, wallet_output_json FROM outputs ORDER BY id")
        .map_err(|e| e.to_string())?;
    let rows: Vec<(Vec<u8>, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    for (stored_hash, json) in &rows {
        let hash: [u8; 32] = stored_hash
            .as_slice()
            .try_into()
            .map_err(|_| format!("an output_hash of {} bytes", stored_hash.len()))?;
        let label = hex::encode(hash);
        let chain = genuine(&hash).ok_or_else(|| format!("{label}: not an output of the chain"))?;
        let wallet: WalletOutput = serde_json::from_str(json).map_err(|e| format!("{label}: {e}"))?;
        let ours = wallet.to_transaction_output().map_err(|e| format!("{label}: {e}"))?;
        let differs = |field: &str| Err(format!("{label}: {field} differs from the chain's"));
        if ours.commitment != chain.commitment {
            return differs("commitment");
        }
        if ours.features != chain.features {
            return differs("features");
        }
        if ours.script != chain.script {
            return differs("script");
        }
        if ours.sender_offset_public_key != chain.sender_offset_public_key {
            return differs("sender offset public key");
        }
        if ours.metadata_signature != chain.metadata_signature {
            return differs("metadata signature");
        }
        if ours.covenant != chain.covenant {
            return differs("covenant");
        }
        if ours.encrypted_data != chain.encrypted_data {
            return differs("encrypted data");
        }
        if ours.minimum_value_promise != chain.minimum_value_promise {
            return differs("minimum value promise");
        }
        if ours.proof != chain.proof {
            return differs("range proof");
        }
        if ours.version != chain.version {
            return differs("version");
        }
        if ours.hash().as_slice() != hash || wallet.output_hash().as_slice() != hash {
            return Err(format!("{label}: does not hash to the chain's output hash"));
        }
        ours.verify_metadata_signature()
            .map_err(|e| format!("{label}: the metadata signature does not verify: {e}"))?;
        ours.verify_range_proof(&factories.range_proof)
            .map_err(|e| format!("{label}: the range proof does not verify: {e}"))?;
    }
    Ok(rows.len())
}
