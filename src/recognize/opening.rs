//! Opening checks: whether a decrypted value and mask open the commitment, and which spending path an
//! owned output's script offers. Runs only on the rare successful decryptions, never per candidate.

use std::sync::LazyLock;

use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint},
    scalar::Scalar,
};

use super::{kdf, output::ScriptClass};

/// Tari's value generator `H`, compressed: tari_crypto's first NUMS point (`ristretto_pedersen_h`,
/// pinned by a test). A constant rather than a call, so recognition builds without the Tari crates
/// (`tools/recognize-fallback`).
const VALUE_GENERATOR_COMPRESSED: [u8; 32] = [
    206, 56, 152, 65, 192, 200, 105, 138, 185, 91, 112, 36, 42, 238, 166, 72, 64, 177, 234, 197, 246, 68, 183, 208, 8,
    172, 5, 135, 207, 71, 29, 112,
];

/// Precomputed multiples of `H`.
static VALUE_GENERATOR: LazyLock<RistrettoBasepointTable> = LazyLock::new(|| {
    let h = CompressedRistretto(VALUE_GENERATOR_COMPRESSED)
        .decompress()
        .expect("a valid constant point");
    RistrettoBasepointTable::create(&h)
});

const OP_PUSH_PUBKEY: u8 = 0x7e;
const OP_NOP: u8 = 0x73;

/// `C == value·H + mask·G`, compared on the canonical encoding.
pub fn opens_commitment(commitment: &[u8; 32], value: u64, mask: &Scalar) -> bool {
    let expected = &Scalar::from(value) * &*VALUE_GENERATOR + RistrettoPoint::mul_base(mask);
    expected.compress().0 == *commitment
}

/// Classifies a script against the wallet's spend key `S` and the stealth key `S + H(mask)·G`.
pub fn classify_script(
    script: &[u8],
    spend_public: &CompressedRistretto,
    spend: &RistrettoPoint,
    mask: &[u8; 32],
) -> ScriptClass {
    match script {
        [OP_NOP] => ScriptClass::Nop,
        [OP_PUSH_PUBKEY, key @ ..] if key.len() == 32 => {
            if key == spend_public.as_bytes() {
                return ScriptClass::SpendKey;
            }
            let stealth = spend + RistrettoPoint::mul_base(&kdf::stealth_script_tweak(mask));
            if stealth.compress().as_bytes() == key {
                ScriptClass::Stealth
            } else {
                ScriptClass::Other
            }
        }
        _ => ScriptClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;

    use super::*;

    #[test]
    fn value_generator_is_tari_crypto_s() {
        let official = tari_crypto::ristretto::pedersen::ristretto_pedersen_h();
        assert_eq!(official.compress().0, VALUE_GENERATOR_COMPRESSED);
        assert_eq!(&Scalar::ONE * &*VALUE_GENERATOR, *official);
    }

    #[test]
    fn commitment_opens_only_with_its_value_and_mask() {
        let mask = Scalar::from(12345u64);
        let commitment = (&Scalar::from(77u64) * &*VALUE_GENERATOR + RISTRETTO_BASEPOINT_POINT * mask).compress();
        assert!(opens_commitment(&commitment.0, 77, &mask));
        assert!(!opens_commitment(&commitment.0, 78, &mask));
        assert!(!opens_commitment(&commitment.0, 77, &Scalar::from(12346u64)));
    }

    #[test]
    fn scripts_are_classified_by_shape_and_key() {
        let spend = RISTRETTO_BASEPOINT_POINT * Scalar::from(5u8);
        let spend_c = spend.compress();
        let mask = [3u8; 32];
        let stealth = spend + RistrettoPoint::mul_base(&kdf::stealth_script_tweak(&mask));
        let push = |p: &[u8; 32]| [&[OP_PUSH_PUBKEY][..], p].concat();
        assert_eq!(classify_script(&[OP_NOP], &spend_c, &spend, &mask), ScriptClass::Nop);
        assert_eq!(
            classify_script(&push(&spend_c.0), &spend_c, &spend, &mask),
            ScriptClass::SpendKey
        );
        assert_eq!(
            classify_script(&push(&stealth.compress().0), &spend_c, &spend, &mask),
            ScriptClass::Stealth
        );
        assert_eq!(
            classify_script(&push(&[9; 32]), &spend_c, &spend, &mask),
            ScriptClass::Other
        );
        assert_eq!(classify_script(&[], &spend_c, &spend, &mask), ScriptClass::Other);
        assert_eq!(
            classify_script(&[OP_PUSH_PUBKEY, 1, 2], &spend_c, &spend, &mask),
            ScriptClass::Other
        );
    }
}
