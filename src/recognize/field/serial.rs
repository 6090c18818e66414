//! Serial lanes: one field element per value, on fiat-crypto's machine-checked arithmetic (radix 2^51,
//! the same limbs as ours). The fallback on CPUs without the vector units, and the reference that the
//! vector lanes are tested against.

use super::{Lanes, Limbs, canonical_limbs};
use fiat_crypto::curve25519_64::{
    fiat_25519_add, fiat_25519_carry, fiat_25519_carry_mul, fiat_25519_carry_square, fiat_25519_loose_field_element,
    fiat_25519_relax, fiat_25519_sub, fiat_25519_tight_field_element,
};

/// One field element, in fiat-crypto's tight bounds (limbs below 2^51 · 1.0x).
#[derive(Clone, Copy)]
pub struct Serial(fiat_25519_tight_field_element);

impl Serial {
    fn loose(&self) -> fiat_25519_loose_field_element {
        let mut out = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_relax(&mut out, &self.0);
        out
    }

    fn carried(loose: &fiat_25519_loose_field_element) -> Self {
        let mut out = fiat_25519_tight_field_element([0; 5]);
        fiat_25519_carry(&mut out, loose);
        Serial(out)
    }
}

impl Lanes for Serial {
    const LANES: usize = 1;

    #[inline(always)]
    fn splat(limbs: &Limbs) -> Self {
        // Tight bounds need limbs below 2^51: canonical limbs are.
        Serial(fiat_25519_tight_field_element(canonical_limbs(limbs)))
    }

    #[inline(always)]
    fn from_lanes(lanes: &[Limbs]) -> Self {
        Self::splat(&lanes[0])
    }

    #[inline(always)]
    fn to_lanes(&self, out: &mut [Limbs]) {
        out[0] = self.0.0;
    }

    #[inline(always)]
    fn add(&self, rhs: &Self) -> Self {
        let mut sum = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_add(&mut sum, &self.0, &rhs.0);
        Self::carried(&sum)
    }

    #[inline(always)]
    fn sub(&self, rhs: &Self) -> Self {
        let mut difference = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_sub(&mut difference, &self.0, &rhs.0);
        Self::carried(&difference)
    }

    #[inline(always)]
    fn mul(&self, rhs: &Self) -> Self {
        let mut out = fiat_25519_tight_field_element([0; 5]);
        fiat_25519_carry_mul(&mut out, &self.loose(), &rhs.loose());
        Serial(out)
    }

    #[inline(always)]
    fn square(&self) -> Self {
        let mut out = fiat_25519_tight_field_element([0; 5]);
        fiat_25519_carry_square(&mut out, &self.loose());
        Serial(out)
    }

    #[inline(always)]
    fn select(&self, other: &Self, mask: u64) -> Self {
        // Branch-free: the mask (made opaque to the optimiser where it is derived, `shared::point`) picks
        // every bit.
        let (a, b) = (&self.0.0, &other.0.0);
        let pick = |k: usize| a[k] ^ (mask & (a[k] ^ b[k]));
        Serial(fiat_25519_tight_field_element([
            pick(0),
            pick(1),
            pick(2),
            pick(3),
            pick(4),
        ]))
    }
}
