//! Steps: the recogniser's stages one at a time, so the bench can price each per output-key
//! (`benches/recognize.rs`, breakdown). Each is the very code `Recognizer::scan` runs; this is not an
//! API for scanning (use the batch), and it is hidden from the docs.

use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};

use super::{
    aead::{self, Plaintext},
    batch, kdf,
    key::WalletKey,
    output::OutputView,
    shared::{Multiplication, Products},
};

/// Scratch for the stages that decrypt and multiply.
#[derive(Default)]
pub struct Steps {
    plaintext: Plaintext,
    lanes: Products,
}

impl Steps {
    /// `R` as a point: loaded from the stored form when the view has one, else decompressed.
    pub fn offset(output: &OutputView<'_>) -> Option<RistrettoPoint> {
        batch::offset_point(output)
    }

    /// `(v/2)·R`, dalek's constant-time multiplication (the per-key path).
    pub fn product(key: &WalletKey, point: &RistrettoPoint) -> RistrettoPoint {
        key.view_half() * point
    }

    /// `(v/2)·R` for every point and key, point-major, appended to `out` by one of our paths (the shared
    /// tables or our per-key windows): the multiplication of a pass alone. `false` when it cannot run.
    pub fn products(
        &mut self,
        how: Multiplication,
        points: &[RistrettoPoint],
        keys: &[WalletKey],
        out: &mut Vec<RistrettoPoint>,
    ) -> bool {
        how != Multiplication::PerKey && how.can_run() && self.lanes.compute(how, points, keys, out)
    }

    /// The own-key attempt: AEAD key from `v` and `C`, tag check (and decryption when it verifies).
    pub fn own_key_attempt(&mut self, output: &OutputView<'_>, key: &WalletKey) -> bool {
        batch::own_key_opens(output, key, &mut self.plaintext)
    }

    /// `k_enc(D)`: the Diffie-Hellman encryption key from the shared point.
    pub fn encryption_key(shared_secret: &CompressedRistretto) -> Scalar {
        kdf::output_encryption_key(shared_secret.as_bytes())
    }

    /// The Diffie-Hellman AEAD attempt under `k_enc`: AEAD key from `k_enc` and `C`, tag check.
    pub fn diffie_hellman_attempt(&mut self, output: &OutputView<'_>, encryption_key: &Scalar) -> bool {
        aead::open(
            encryption_key.as_bytes(),
            output.commitment,
            output.encrypted_data,
            &mut self.plaintext,
        )
        .is_some()
    }

    /// The tag check alone of an attempt under `aead_key`, as `aead::open` makes it (ours).
    pub fn tag_check(output: &OutputView<'_>, aead_key: &[u8; 32]) -> bool {
        aead::valid_length(output.encrypted_data.len()) && aead::tag_verifies(aead_key, output.encrypted_data)
    }

    /// For comparison: the same check by the `chacha20poly1305` crate (the path before ours).
    pub fn crate_tag_check(&mut self, output: &OutputView<'_>, aead_key: &[u8; 32]) -> bool {
        aead::valid_length(output.encrypted_data.len())
            && aead::crate_tag_verifies(aead_key, output.encrypted_data, &mut self.plaintext)
    }
}
