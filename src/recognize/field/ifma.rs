//! AVX-512 IFMA lanes: eight field elements, one per 64-bit lane of a 512-bit vector, five radix-2^51
//! limbs each. Products come from `vpmadd52luq`/`vpmadd52huq` (the low and high 52 bits of a 52×52-bit
//! product, added to an accumulator), so every limb entering a product must be below 2^52; each method
//! returns limbs below 2^51 + 2^15 to keep that true.
//!
//! The methods use `std::arch` intrinsics and are `#[inline(always)]` without a `target_feature` of their
//! own: they are only ever executed inside the kernels of `shared::engine`, which carry
//! `#[target_feature(enable = "avx512f,avx512ifma,avx512dq")]` and are only called after the CPU was
//! seen to have those features (see [`available`]). Inlined there, the intrinsics become single
//! instructions. A value of [`Ifma8`] never exists on a CPU without them.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_loadu_si512, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64,
    _mm512_mask_blend_epi64, _mm512_mullo_epi64, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_slli_epi64,
    _mm512_srli_epi64, _mm512_storeu_si512, _mm512_sub_epi64,
};

use super::{LIMB_MASK, Lanes, Limbs};

/// Whether this CPU runs [`Ifma8`] code (CPUID, cached by std): the features the kernels using these
/// lanes are compiled with, `avx512f,avx512ifma,avx512dq`.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512ifma")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

/// Eight field elements; limb `k` of all eight lanes is vector `k`.
#[derive(Clone, Copy)]
pub struct Ifma8([__m512i; 5]);

impl Ifma8 {
    /// Lane `i` holds `lanes[i]` as given, without the carry that brings limbs under the bound the other
    /// methods keep: for tests that probe those bounds.
    #[inline(always)]
    pub(super) fn raw(lanes: &[Limbs]) -> Self {
        assert_eq!(lanes.len(), 8, "one field element per lane");
        let mut rows = [[0u64; 8]; 5];
        for (lane, limbs) in lanes.iter().enumerate() {
            for (k, limb) in limbs.iter().enumerate() {
                rows[k][lane] = *limb;
            }
        }
        let load = |row: &[u64; 8]| unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        Ifma8([
            load(&rows[0]),
            load(&rows[1]),
            load(&rows[2]),
            load(&rows[3]),
            load(&rows[4]),
        ])
    }
}

/// 2p in limbs: added before a subtraction so that no limb goes negative (every subtrahend limb is below
/// 2^51 + 2^15, less than each of these).
const TWO_P: Limbs = [
    (1 << 52) - 38,
    (1 << 52) - 2,
    (1 << 52) - 2,
    (1 << 52) - 2,
    (1 << 52) - 2,
];

#[inline(always)]
fn splat_u64(x: u64) -> __m512i {
    // SAFETY (all `unsafe` blocks of this module): the intrinsics need AVX-512 F/IFMA/DQ, which every
    // caller guarantees (module docs); they have no other precondition.
    unsafe { _mm512_set1_epi64(x as i64) }
}

#[inline(always)]
fn add64(a: __m512i, b: __m512i) -> __m512i {
    unsafe { _mm512_add_epi64(a, b) }
}

/// One round of carries on every limb at once, for limbs below 2^61: the result's limbs are below
/// 2^51 + 2^15 (a limb keeps 51 bits plus the carry of the limb below; limb 0 takes 19 × the top carry,
/// as 2^255 ≡ 19). Written out limb by limb, as is the rest of this module: closures (`array::map`,
/// `from_fn`) are not reliably inlined into the kernels, and a call per limb costs more than the limb.
#[inline(always)]
fn carry(r: [__m512i; 5]) -> Ifma8 {
    unsafe {
        let mask = splat_u64(LIMB_MASK);
        let c0 = _mm512_srli_epi64::<51>(r[0]);
        let c1 = _mm512_srli_epi64::<51>(r[1]);
        let c2 = _mm512_srli_epi64::<51>(r[2]);
        let c3 = _mm512_srli_epi64::<51>(r[3]);
        let c4 = _mm512_srli_epi64::<51>(r[4]);
        let c4_times_19 = _mm512_mullo_epi64(c4, splat_u64(19));
        Ifma8([
            add64(_mm512_and_si512(r[0], mask), c4_times_19),
            add64(_mm512_and_si512(r[1], mask), c0),
            add64(_mm512_and_si512(r[2], mask), c1),
            add64(_mm512_and_si512(r[3], mask), c2),
            add64(_mm512_and_si512(r[4], mask), c3),
        ])
    }
}

/// Reduces the 52-bit halves of a product: `lo[k]` (weight 2^(51k)) and `hi[k]` (weight 2^(51k + 52),
/// i.e. twice the weight of limb k + 1), each below 15 · 2^52 in sum. Limbs 5..9 fold onto 0..4 times 19.
#[inline(always)]
fn reduce(lo: &[__m512i; 9], hi: &[__m512i; 9]) -> Ifma8 {
    unsafe {
        let twice = |x: __m512i| _mm512_slli_epi64::<1>(x);
        // z[k] = lo[k] + 2·hi[k − 1], below 15 · 2^52 < 2^56.
        let z0 = lo[0];
        let z1 = add64(lo[1], twice(hi[0]));
        let z2 = add64(lo[2], twice(hi[1]));
        let z3 = add64(lo[3], twice(hi[2]));
        let z4 = add64(lo[4], twice(hi[3]));
        let z5 = add64(lo[5], twice(hi[4]));
        let z6 = add64(lo[6], twice(hi[5]));
        let z7 = add64(lo[7], twice(hi[6]));
        let z8 = add64(lo[8], twice(hi[7]));
        let z9 = twice(hi[8]);
        // z[k] + 19·z[k + 5] < 2^56 + 2^60.3 < 2^61, what `carry` expects.
        let nineteen = splat_u64(19);
        let fold = |low: __m512i, high: __m512i| add64(low, _mm512_mullo_epi64(high, nineteen));
        carry([fold(z0, z5), fold(z1, z6), fold(z2, z7), fold(z3, z8), fold(z4, z9)])
    }
}

impl Lanes for Ifma8 {
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(limbs: &Limbs) -> Self {
        carry([
            splat_u64(limbs[0]),
            splat_u64(limbs[1]),
            splat_u64(limbs[2]),
            splat_u64(limbs[3]),
            splat_u64(limbs[4]),
        ])
    }

    #[inline(always)]
    fn from_lanes(lanes: &[Limbs]) -> Self {
        carry(Self::raw(lanes).0)
    }

    #[inline(always)]
    fn to_lanes(&self, out: &mut [Limbs]) {
        for (k, limb) in self.0.iter().enumerate() {
            let mut row = [0u64; 8];
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), *limb) };
            for (lane, value) in out.iter_mut().zip(row) {
                lane[k] = value;
            }
        }
    }

    #[inline(always)]
    fn add(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        carry([
            add64(a[0], b[0]),
            add64(a[1], b[1]),
            add64(a[2], b[2]),
            add64(a[3], b[3]),
            add64(a[4], b[4]),
        ])
    }

    #[inline(always)]
    fn sub(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        let sub = |k: usize| unsafe { _mm512_sub_epi64(add64(a[k], splat_u64(TWO_P[k])), b[k]) };
        carry([sub(0), sub(1), sub(2), sub(3), sub(4)])
    }

    #[inline(always)]
    fn mul(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        unsafe {
            let mut lo = [_mm512_setzero_si512(); 9];
            let mut hi = [_mm512_setzero_si512(); 9];
            for (i, &ai) in a.iter().enumerate() {
                for (j, &bj) in b.iter().enumerate() {
                    lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], ai, bj);
                    hi[i + j] = _mm512_madd52hi_epu64(hi[i + j], ai, bj);
                }
            }
            reduce(&lo, &hi)
        }
    }

    #[inline(always)]
    fn square(&self) -> Self {
        let a = &self.0;
        unsafe {
            // Products a_i·a_j with i < j count twice: accumulate them apart and double once.
            let mut lo = [_mm512_setzero_si512(); 9];
            let mut hi = [_mm512_setzero_si512(); 9];
            for (i, &ai) in a.iter().enumerate() {
                for (j, &aj) in a.iter().enumerate().skip(i + 1) {
                    lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], ai, aj);
                    hi[i + j] = _mm512_madd52hi_epu64(hi[i + j], ai, aj);
                }
            }
            for sum in lo.iter_mut().chain(hi.iter_mut()) {
                *sum = _mm512_slli_epi64::<1>(*sum);
            }
            for (i, &ai) in a.iter().enumerate() {
                lo[2 * i] = _mm512_madd52lo_epu64(lo[2 * i], ai, ai);
                hi[2 * i] = _mm512_madd52hi_epu64(hi[2 * i], ai, ai);
            }
            reduce(&lo, &hi)
        }
    }

    #[inline(always)]
    fn select(&self, other: &Self, mask: u64) -> Self {
        // Every lane takes the same choice: the mask's low byte as the blend's lane mask.
        let lanes = (mask & 0xff) as u8;
        let (a, b) = (&self.0, &other.0);
        unsafe {
            Ifma8([
                _mm512_mask_blend_epi64(lanes, a[0], b[0]),
                _mm512_mask_blend_epi64(lanes, a[1], b[1]),
                _mm512_mask_blend_epi64(lanes, a[2], b[2]),
                _mm512_mask_blend_epi64(lanes, a[3], b[3]),
                _mm512_mask_blend_epi64(lanes, a[4], b[4]),
            ])
        }
    }
}
