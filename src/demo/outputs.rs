//! Genuine outputs: builds the recognition-relevant part of Tari outputs (commitment, sender offset key,
//! encrypted data, script) with the official crate's own functions, for demo chains and benches.
//! Not a wallet: no range proofs, signatures or kernels, which recognition never reads.

use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_POINT, ristretto::RistrettoPoint, scalar::Scalar};
use rand::{CryptoRng, RngCore};
use tari_common_types::types::{CommitmentFactory, CompressedCommitment, CompressedPublicKey, PrivateKey};
use tari_crypto::commitment::HomomorphicCommitmentFactory;
use tari_transaction_components::{
    MicroMinotari,
    transaction_components::{
        EncryptedData, MemoField,
        one_sided::{public_key_to_output_encryption_key, public_key_to_output_spending_key},
    },
};
use tari_utilities::ByteArray;

const OP_PUSH_PUBKEY: u8 = 0x7e;

/// The fields of an output a scanner reads, plus what its owner knows (value, mask).
#[derive(Debug, Clone)]
pub struct BuiltOutput {
    pub commitment: [u8; 32],
    pub sender_offset_public_key: [u8; 32],
    pub encrypted_data: Vec<u8>,
    pub script: Vec<u8>,
    pub value: u64,
    pub mask: Scalar,
}

/// A uniformly random scalar from `rng`.
pub fn random_scalar(rng: &mut (impl RngCore + CryptoRng)) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn private_key(scalar: &Scalar) -> PrivateKey {
    PrivateKey::from_canonical_bytes(scalar.as_bytes()).expect("a reduced scalar is canonical")
}

fn push_pubkey(point: &RistrettoPoint) -> Vec<u8> {
    let mut script = Vec::with_capacity(33);
    script.push(OP_PUSH_PUBKEY);
    script.extend_from_slice(point.compress().as_bytes());
    script
}

/// Commits to `value` under `mask` and encrypts both (and the memo) under `encryption_key`, exactly as
/// `EncryptedData::encrypt_data` does for every Tari output.
fn seal(encryption_key: &Scalar, value: u64, mask: Scalar, memo: MemoField) -> ([u8; 32], Vec<u8>) {
    let mask_key = private_key(&mask);
    let commitment = CompressedCommitment::from_commitment(CommitmentFactory::default().commit_value(&mask_key, value));
    let data = EncryptedData::encrypt_data(
        &private_key(encryption_key),
        &commitment,
        MicroMinotari::from(value),
        &mask_key,
        memo,
    )
    .expect("memo within the size limit");
    let mut commitment_bytes = [0u8; 32];
    commitment_bytes.copy_from_slice(commitment.as_bytes());
    (commitment_bytes, data.into_vec())
}

/// An output a wallet makes for itself (change, split, to-self): encrypted under its own view key, with
/// a fresh random mask and sender offset key, spendable with its spend key.
pub fn own_output(
    rng: &mut (impl RngCore + CryptoRng),
    view_key: &Scalar,
    spend_public: &RistrettoPoint,
    value: u64,
    memo: MemoField,
) -> BuiltOutput {
    let mask = random_scalar(rng);
    let (commitment, encrypted_data) = seal(view_key, value, mask, memo);
    let sender_offset = RistrettoPoint::mul_base(&random_scalar(rng));
    BuiltOutput {
        commitment,
        sender_offset_public_key: sender_offset.compress().0,
        encrypted_data,
        script: push_pubkey(spend_public),
        value,
        mask,
    }
}

/// A one-sided payment to the address `(view_public, spend_public)`, as senders and coinbase builders
/// make it: fresh sender offset key `r`, shared secret `D = r·V`, mask `k_mask(D)`, data under `k_enc(D)`;
/// a stealth output's script key is `S + H(mask)·G`, otherwise `S`.
pub fn one_sided_output(
    rng: &mut (impl RngCore + CryptoRng),
    view_public: &RistrettoPoint,
    spend_public: &RistrettoPoint,
    value: u64,
    memo: MemoField,
    stealth: bool,
) -> BuiltOutput {
    let sender_offset = random_scalar(rng);
    let shared_secret = CompressedPublicKey::from_canonical_bytes((sender_offset * view_public).compress().as_bytes())
        .expect("a compressed point");
    let encryption_key = public_key_to_output_encryption_key(&shared_secret).expect("uniform bytes");
    let mask_key = public_key_to_output_spending_key(&shared_secret).expect("uniform bytes");
    let encryption_key =
        Scalar::from_canonical_bytes(encryption_key.as_bytes().try_into().expect("32 bytes")).expect("canonical");
    let mask = Scalar::from_canonical_bytes(mask_key.as_bytes().try_into().expect("32 bytes")).expect("canonical");
    let (commitment, encrypted_data) = seal(&encryption_key, value, mask, memo);
    let script_key = if stealth {
        spend_public + RISTRETTO_BASEPOINT_POINT * stealth_tweak(&mask)
    } else {
        *spend_public
    };
    BuiltOutput {
        commitment,
        sender_offset_public_key: RistrettoPoint::mul_base(&sender_offset).compress().0,
        encrypted_data,
        script: push_pubkey(&script_key),
        value,
        mask,
    }
}

/// The stealth script-key tweak as Tari's key manager derives it.
fn stealth_tweak(mask: &Scalar) -> Scalar {
    use blake2::Blake2b512;
    use tari_crypto::{hash_domain, hashing::DomainSeparatedHasher};
    hash_domain!(
        KeyManagerTransactionsHashDomain,
        "com.tari.base_layer.core.transactions.key_manager",
        1
    );
    let hash = DomainSeparatedHasher::<Blake2b512, KeyManagerTransactionsHashDomain>::new_with_label("script key")
        .chain(mask.as_bytes())
        .finalize();
    Scalar::from_bytes_mod_order_wide(hash.as_ref().try_into().expect("64 bytes"))
}
