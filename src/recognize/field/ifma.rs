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
        Ifma8(std::array::from_fn(|k| {
            let row: [u64; 8] = std::array::from_fn(|lane| lanes[lane][k]);
            unsafe { _mm512_loadu_si512(row.as_ptr().cast()) }
        }))
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
/// as 2^255 ≡ 19).
#[inline(always)]
fn carry(r: [__m512i; 5]) -> Ifma8 {
    unsafe {
        let mask = splat_u64(LIMB_MASK);
        let c = r.map(|limb| _mm512_srli_epi64::<51>(limb));
        let low = r.map(|limb| _mm512_and_si512(limb, mask));
        let c4_times_19 = _mm512_mullo_epi64(c[4], splat_u64(19));
        Ifma8([
            add64(low[0], c4_times_19),
            add64(low[1], c[0]),
            add64(low[2], c[1]),
            add64(low[3], c[2]),
            add64(low[4], c[3]),
        ])
    }
}

/// Reduces the 52-bit halves of a product: `lo[k]` (weight 2^(51k)) and `hi[k]` (weight 2^(51k + 52),
/// i.e. twice the weight of limb k + 1), each below 15 · 2^52 in sum. Limbs 5..9 fold onto 0..4 times 19.
#[inline(always)]
fn reduce(lo: [__m512i; 9], hi: [__m512i; 9]) -> Ifma8 {
    unsafe {
        let twice = |x: __m512i| _mm512_slli_epi64::<1>(x);
        // z[k] = lo[k] + 2·hi[k − 1], below 15 · 2^52 < 2^56.
        let z = |k: usize| match k {
            0 => lo[0],
            9 => twice(hi[8]),
            _ => add64(lo[k], twice(hi[k - 1])),
        };
        let nineteen = splat_u64(19);
        // z[k] + 19·z[k + 5] < 2^56 + 2^60.3 < 2^61, what `carry` expects.
        let r: [__m512i; 5] = std::array::from_fn(|k| add64(z(k), _mm512_mullo_epi64(z(k + 5), nineteen)));
        carry(r)
    }
}

impl Lanes for Ifma8 {
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(limbs: &Limbs) -> Self {
        carry(limbs.map(splat_u64))
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
        carry(std::array::from_fn(|k| add64(self.0[k], rhs.0[k])))
    }

    #[inline(always)]
    fn sub(&self, rhs: &Self) -> Self {
        carry(std::array::from_fn(|k| unsafe {
            _mm512_sub_epi64(add64(self.0[k], splat_u64(TWO_P[k])), rhs.0[k])
        }))
    }

    #[inline(always)]
    fn mul(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        unsafe {
            let mut lo = [_mm512_setzero_si512(); 9];
            let mut hi = [_mm512_setzero_si512(); 9];
            for i in 0..5 {
                for j in 0..5 {
                    lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], a[i], b[j]);
                    hi[i + j] = _mm512_madd52hi_epu64(hi[i + j], a[i], b[j]);
                }
            }
            reduce(lo, hi)
        }
    }

    #[inline(always)]
    fn square(&self) -> Self {
        let a = &self.0;
        unsafe {
            // Products a_i·a_j with i < j count twice: accumulate them apart and double once.
            let mut cross_lo = [_mm512_setzero_si512(); 9];
            let mut cross_hi = [_mm512_setzero_si512(); 9];
            for i in 0..5 {
                for j in i + 1..5 {
                    cross_lo[i + j] = _mm512_madd52lo_epu64(cross_lo[i + j], a[i], a[j]);
                    cross_hi[i + j] = _mm512_madd52hi_epu64(cross_hi[i + j], a[i], a[j]);
                }
            }
            let mut lo = cross_lo.map(|x| _mm512_slli_epi64::<1>(x));
            let mut hi = cross_hi.map(|x| _mm512_slli_epi64::<1>(x));
            for i in 0..5 {
                lo[2 * i] = _mm512_madd52lo_epu64(lo[2 * i], a[i], a[i]);
                hi[2 * i] = _mm512_madd52hi_epu64(hi[2 * i], a[i], a[i]);
            }
            reduce(lo, hi)
        }
    }

    #[inline(always)]
    fn select(&self, other: &Self, mask: u64) -> Self {
        // Every lane takes the same choice: the mask's low byte as the blend's lane mask.
        let lanes = (mask & 0xff) as u8;
        Ifma8(std::array::from_fn(|k| unsafe {
            _mm512_mask_blend_epi64(lanes, self.0[k], other.0[k])
        }))
    }
}
