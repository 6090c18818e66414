//! Field: arithmetic modulo p = 2^255 − 19 on several field elements at once, one per lane, for the
//! per-output tables (`recognize::shared`). Owns the lane types and their limb encoding; not the curve
//! (points and tables are `shared`'s) and not the choice of lane type at run time (`shared::engine`).
//!
//! curve25519-dalek keeps its field arithmetic private, so the shared path brings its own: every lane type
//! holds field elements in radix 2^51 (five limbs, the layout dalek's 64-bit backends use, so a result
//! converts to a dalek point without arithmetic). Lane types:
//! - [`serial::Serial`]: one lane, on fiat-crypto's machine-checked arithmetic; runs everywhere and is
//!   the reference the vector lanes are tested against;
//! - [`ifma::Ifma8`] (x86-64 with AVX-512 IFMA): eight lanes of 52-bit multiply-adds;
//! - [`avx2::Avx2x4`] (x86-64 with AVX2): four lanes of 32×32-bit multiplies, ten limbs of radix 2^25.5
//!   inside (converted from and to the five 51-bit limbs at the lanes' edges).
//!
//! Constant time: no method branches on or indexes memory by a lane's value; [`Lanes::select`] takes its
//! condition as an all-ones or all-zero mask.

pub mod avx2;
pub mod ifma;
pub mod serial;
#[cfg(test)]
mod tests;

/// A field element as five 51-bit limbs, least significant first.
pub type Limbs = [u64; 5];

pub const LIMB_BITS: u32 = 51;
pub const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;

/// Field elements mod p in `LANES` lanes. Every value a method returns is a valid input of every method
/// (reductions happen inside), so the curve formulas need no bookkeeping of bounds.
pub trait Lanes: Copy {
    const LANES: usize;
    /// `limbs` (each below 2^60, any value) in every lane.
    fn splat(limbs: &Limbs) -> Self;
    /// Lane `i` holds `lanes[i]` (each limb below 2^60); `lanes.len() == LANES`.
    fn from_lanes(lanes: &[Limbs]) -> Self;
    /// Lane `i` into `out[i]`, limbs below 2^52 (not necessarily canonical: see [`canonical_bytes`]).
    fn to_lanes(&self, out: &mut [Limbs]);
    fn add(&self, rhs: &Self) -> Self;
    fn sub(&self, rhs: &Self) -> Self;
    fn mul(&self, rhs: &Self) -> Self;
    fn square(&self) -> Self;
    /// `other` where `mask` is all ones, `self` where it is zero (one mask for every lane). Constant time
    /// in the mask.
    fn select(&self, other: &Self, mask: u64) -> Self;

    // `inline(always)` on every method, defaults included: the vector lanes' intrinsics only become
    // instructions once inlined into a kernel compiled with their target features.
    #[inline(always)]
    fn zero() -> Self {
        Self::splat(&[0; 5])
    }
    #[inline(always)]
    fn one() -> Self {
        Self::splat(&[1, 0, 0, 0, 0])
    }
    #[inline(always)]
    fn neg(&self) -> Self {
        Self::zero().sub(self)
    }
}

/// Unpacks 255 little-endian bits into five 51-bit limbs (the top bit is ignored, as dalek does).
pub fn limbs_from_bytes(bytes: &[u8; 32]) -> Limbs {
    let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("fixed width"));
    let (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3));
    [
        w0 & LIMB_MASK,
        ((w0 >> 51) | (w1 << 13)) & LIMB_MASK,
        ((w1 >> 38) | (w2 << 26)) & LIMB_MASK,
        ((w2 >> 25) | (w3 << 39)) & LIMB_MASK,
        (w3 >> 12) & LIMB_MASK,
    ]
}

/// The canonical encoding (fully reduced mod p) of limbs that may exceed 51 bits (each below 2^62).
pub fn canonical_bytes(limbs: &Limbs) -> [u8; 32] {
    let mut l = *limbs;
    let carry = |l: &mut Limbs| {
        for i in 0..4 {
            l[i + 1] += l[i] >> 51;
            l[i] &= LIMB_MASK;
        }
        let top = l[4] >> 51;
        l[4] &= LIMB_MASK;
        l[0] += 19 * top;
    };
    carry(&mut l);
    carry(&mut l);
    // Now l < 2^255 + small; subtract p once if l ≥ p: q = 1 exactly when l + 19 ≥ 2^255.
    let mut q = (l[0] + 19) >> 51;
    for limb in &l[1..] {
        q = (limb + q) >> 51;
    }
    l[0] += 19 * q;
    for i in 0..4 {
        l[i + 1] += l[i] >> 51;
        l[i] &= LIMB_MASK;
    }
    l[4] &= LIMB_MASK;
    let words = [
        l[0] | (l[1] << 51),
        (l[1] >> 13) | (l[2] << 38),
        (l[2] >> 26) | (l[3] << 25),
        (l[3] >> 39) | (l[4] << 12),
    ];
    let mut out = [0u8; 32];
    for (i, w) in words.iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Canonical limbs (each below 2^51, the value below p) of limbs that may exceed 51 bits.
pub fn canonical_limbs(limbs: &Limbs) -> Limbs {
    limbs_from_bytes(&canonical_bytes(limbs))
}

/// `2·d` of edwards25519 (d = −121665/121666), canonical: the curve constant of the addition formulas.
pub const EDWARDS_D2: Limbs = [
    1859910466990425,
    932731440258426,
    1072319116312658,
    1815898335770999,
    633789495995903,
];
