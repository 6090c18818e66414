//! Digits: a scalar as 64 signed radix-16 digits, the form the windowed multiplications consume. Constant
//! time: shifts and additions only, whatever the scalar.

/// Digits `d[i]` in −8..=8 with Σ d[i]·16^i = the scalar, for a scalar below 2^255 (every reduced scalar:
/// they are below 2^253). Least significant first.
pub fn signed_radix_16(scalar: &[u8; 32]) -> [i8; 64] {
    let mut digits = [0i8; 64];
    for (i, byte) in scalar.iter().enumerate() {
        digits[2 * i] = (byte & 15) as i8;
        digits[2 * i + 1] = (byte >> 4) as i8;
    }
    // Re-centre each digit from 0..=16 into −8..8, carrying into the next; the top one absorbs the last
    // carry (at most 7 + 1 for a scalar below 2^255).
    for i in 0..63 {
        let carry = (digits[i] + 8) >> 4;
        digits[i] -= carry << 4;
        digits[i + 1] += carry;
    }
    digits
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::scalar::Scalar;
    use primitive_types::U512;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn value(digits: &[i8; 64]) -> U512 {
        // Σ d·16^i with negative digits, computed as positives minus negatives.
        let (mut plus, mut minus) = (U512::zero(), U512::zero());
        for (i, &d) in digits.iter().enumerate() {
            let term = U512::from(d.unsigned_abs()) << (4 * i);
            if d < 0 {
                minus += term;
            } else {
                plus += term;
            }
        }
        plus - minus
    }

    #[test]
    fn digits_are_in_range_and_sum_to_the_scalar() {
        let mut rng = ChaCha20Rng::seed_from_u64(16);
        let mut scalars = vec![[0u8; 32], Scalar::ONE.to_bytes(), (-Scalar::ONE).to_bytes(), [0x88; 32]];
        scalars[3][31] = 0x7f; // the largest top byte allowed
        scalars.push([0xff; 32]);
        scalars[4][31] = 0x7f;
        for _ in 0..2_000 {
            let mut wide = [0u8; 64];
            rng.fill_bytes(&mut wide);
            scalars.push(Scalar::from_bytes_mod_order_wide(&wide).to_bytes());
        }
        for s in scalars {
            let digits = signed_radix_16(&s);
            assert!(digits.iter().all(|d| (-8..=8).contains(d)), "{digits:?}");
            assert_eq!(value(&digits), U512::from_little_endian(&s));
        }
    }
}
