//! AVX2 lanes: four field elements, one per 64-bit lane of a 256-bit vector. AVX2 multiplies only 32×32
//! bits (`vpmuludq`), so inside these lanes an element is ten limbs in radix 2^25.5 (26, 25, 26, 25, ...
//! bits, the layout of the ref10 code), each in the low half of its 64-bit lane; products of up to
//! 2^56.3 are summed in 64 bits. Elements enter and leave in the five 51-bit limbs of every lane type
//! (`from_lanes`, `to_lanes`). Every method returns limbs within 2^17 of their width (`carried`), what
//! the products need: 19 × a limb and 2 × an odd limb stay below 2^32.
//!
//! As with the IFMA lanes, the methods are `#[inline(always)]` without a `target_feature` of their own:
//! they run only inside the kernels of `shared::engine` compiled with `#[target_feature(enable = "avx2")]`,
//! entered only after the CPU was seen to have AVX2 ([`available`]).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::{
    __m256i, _mm256_add_epi64, _mm256_and_si256, _mm256_loadu_si256, _mm256_mul_epu32, _mm256_set1_epi64x,
    _mm256_slli_epi64, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi64, _mm256_xor_si256,
};

use super::{LIMB_MASK, Lanes, Limbs};

/// Whether this CPU runs [`Avx2x4`] code (CPUID, cached by std).
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

const MASK_26: u64 = (1 << 26) - 1;
const MASK_25: u64 = (1 << 25) - 1;

/// Four field elements; limb `k` of all four lanes is vector `k`.
#[derive(Clone, Copy)]
pub struct Avx2x4([__m256i; 10]);

// SAFETY (every `unsafe` block of this module): the intrinsics need AVX2, which every caller guarantees
// (module docs); loads and stores go through arrays of exactly four u64.

#[inline(always)]
fn splat_u64(x: u64) -> __m256i {
    unsafe { _mm256_set1_epi64x(x as i64) }
}

#[inline(always)]
fn add64(a: __m256i, b: __m256i) -> __m256i {
    unsafe { _mm256_add_epi64(a, b) }
}

#[inline(always)]
fn and(a: __m256i, b: __m256i) -> __m256i {
    unsafe { _mm256_and_si256(a, b) }
}

/// 19·x, exact in 64 bits for x below 2^59 (shifts and adds: `vpmuludq` would read only x's low half).
#[inline(always)]
fn times_19(x: __m256i) -> __m256i {
    unsafe { add64(add64(_mm256_slli_epi64::<4>(x), _mm256_slli_epi64::<1>(x)), x) }
}

/// Width of limb `k`: 26 bits for even limbs, 25 for odd.
const fn width(k: usize) -> u32 {
    if k.is_multiple_of(2) { 26 } else { 25 }
}

/// `[expr for K in 0..10]`, written out with `K` a constant: every index and width is known when the
/// kernels are compiled, so the limbs stay in registers (a loop over them is not reliably unrolled).
macro_rules! each_limb {
    ($k:ident => $e:expr) => {
        [
            { const $k: usize = 0; $e },
            { const $k: usize = 1; $e },
            { const $k: usize = 2; $e },
            { const $k: usize = 3; $e },
            { const $k: usize = 4; $e },
            { const $k: usize = 5; $e },
            { const $k: usize = 6; $e },
            { const $k: usize = 7; $e },
            { const $k: usize = 8; $e },
            { const $k: usize = 9; $e },
        ]
    };
}

/// The sum of 64-bit lanes.
macro_rules! sum {
    ($x:expr) => { $x };
    ($x:expr, $($rest:expr),+) => { add64($x, sum!($($rest),+)) };
}

/// The 64-bit products of the low 32 bits of each lane (both below 2^32 here).
#[inline(always)]
fn m(a: __m256i, b: __m256i) -> __m256i {
    unsafe { _mm256_mul_epu32(a, b) }
}

/// Limb `K`'s bits within its width, and those above (the carry into limb `K + 1`).
#[inline(always)]
fn split_limb<const K: usize>(x: __m256i) -> (__m256i, __m256i) {
    unsafe {
        if width(K) == 26 {
            (and(x, splat_u64(MASK_26)), _mm256_srli_epi64::<26>(x))
        } else {
            (and(x, splat_u64(MASK_25)), _mm256_srli_epi64::<25>(x))
        }
    }
}

/// Limbs below 2^62 (a product's sums) carried to within 2^17 of their widths by two rounds of
/// `carry_round` (the first leaves each limb below its width + 2^37, limb 0 below 2^42; the second
/// carries at most 2^16.3 into any limb). Two short rounds over all limbs at once, not ref10's chain of
/// twelve dependent steps: the point formulas wait on each product's latency.
#[inline(always)]
fn carried(h: [__m256i; 10]) -> Avx2x4 {
    Avx2x4(carry_round(&carry_round(&h)))
}

/// One round of carries on every limb at once, for limbs below 2^28 (sums and differences of carried
/// limbs): each limb keeps its width plus the carry of the limb below, at most 8 (limb 0: 19 × limb 9's
/// carry), so within 2^8 of its width: inside `carried`'s bounds.
#[inline(always)]
fn carried_once(h: [__m256i; 10]) -> Avx2x4 {
    Avx2x4(carry_round(&h))
}

/// Each limb's bits within its width plus the carry of the limb below (limb 0: 19 × limb 9's), all
/// limbs at once.
#[inline(always)]
fn carry_round(h: &[__m256i; 10]) -> [__m256i; 10] {
    let parts = each_limb!(K => split_limb::<K>(h[K]));
    each_limb!(K => {
        let (kept, _) = parts[K];
        let (_, below) = parts[(K + 9) % 10];
        add64(kept, if K == 0 { times_19(below) } else { below })
    })
}

/// 2p in ten limbs: added before a subtraction so no limb goes negative (every subtrahend limb is within
/// 2^17 of its width, below each of these).
const TWO_P: [u64; 10] = {
    let mut limbs = [0u64; 10];
    let mut k = 0;
    while k < 10 {
        limbs[k] = 2 * ((1 << width(k)) - 1);
        k += 1;
    }
    limbs[0] = 2 * ((1 << 26) - 19);
    limbs
};

/// One lane's five 51-bit limbs (each below 2^60) as ten limbs of radix 2^25.5: even limbs within 26
/// bits, odd ones at most 2^25 (a 51-bit limb may end at 2^51 + 18 here).
fn split(limbs: &Limbs) -> [u64; 10] {
    // Carry in radix 2^51 first: limbs below 2^60 carry at most 2^9 each; twice leaves 51 bits and a
    // little (limb 0 takes 19 × the top carry, below 2^15 the second time).
    let mut l = *limbs;
    for _ in 0..2 {
        let top = l[4] >> 51;
        for k in (1..5).rev() {
            l[k] = (l[k] & LIMB_MASK) + (l[k - 1] >> 51);
        }
        l[0] = (l[0] & LIMB_MASK) + 19 * top;
    }
    let mut out = [0u64; 10];
    for (k, limb) in l.iter().enumerate() {
        out[2 * k] = limb & MASK_26;
        out[2 * k + 1] = limb >> 26;
    }
    out
}

impl Avx2x4 {
    #[inline(always)]
    fn load(rows: &[[u64; 4]; 10]) -> [__m256i; 10] {
        let load = |row: &[u64; 4]| unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
        [
            load(&rows[0]),
            load(&rows[1]),
            load(&rows[2]),
            load(&rows[3]),
            load(&rows[4]),
            load(&rows[5]),
            load(&rows[6]),
            load(&rows[7]),
            load(&rows[8]),
            load(&rows[9]),
        ]
    }
}

impl Lanes for Avx2x4 {
    const LANES: usize = 4;

    #[inline(always)]
    fn splat(limbs: &Limbs) -> Self {
        Self::from_lanes(&[*limbs; 4])
    }

    #[inline(always)]
    fn from_lanes(lanes: &[Limbs]) -> Self {
        assert_eq!(lanes.len(), 4, "one field element per lane");
        let mut rows = [[0u64; 4]; 10];
        for (lane, limbs) in lanes.iter().enumerate() {
            for (k, limb) in split(limbs).into_iter().enumerate() {
                rows[k][lane] = limb;
            }
        }
        // An odd limb may be 2^25 after `split`: one round brings every limb within `carried`'s bounds.
        carried_once(Self::load(&rows))
    }

    #[inline(always)]
    fn to_lanes(&self, out: &mut [Limbs]) {
        let mut rows = [[0u64; 4]; 10];
        for (row, limb) in rows.iter_mut().zip(&self.0) {
            unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), *limb) };
        }
        // Limb 2k has weight 2^(51k), limb 2k + 1 weight 2^(51k + 26): below 2^26 + 2^17 and
        // 2^51 + 2^42, their sum stays below 2^52.
        for (lane, limbs) in out.iter_mut().enumerate().take(4) {
            for (k, limb) in limbs.iter_mut().enumerate() {
                *limb = rows[2 * k][lane] + (rows[2 * k + 1][lane] << 26);
            }
        }
    }

    #[inline(always)]
    fn add(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        carried_once(each_limb!(K => add64(a[K], b[K])))
    }

    #[inline(always)]
    fn sub(&self, rhs: &Self) -> Self {
        let (a, b) = (&self.0, &rhs.0);
        carried_once(each_limb!(K => unsafe { _mm256_sub_epi64(add64(a[K], splat_u64(TWO_P[K])), b[K]) }))
    }

    #[inline(always)]
    fn mul(&self, rhs: &Self) -> Self {
        let (f, g) = (&self.0, &rhs.0);
        // f_i·g_j lands on limb i + j; past limb 9 it wraps to limb i + j − 10 times 19 (2^255 ≡ 19). Two
        // odd limbs' weights sum to one more than their product's limb's, so those count twice: limb k
        // sums f_i·g_(k−i) for every i, with f_i doubled where i and k − i are odd and g_j times 19
        // where i + j wraps (the terms below are that rule written out).
        let g19 = each_limb!(K => times_19(g[K]));
        let f2 = each_limb!(K => unsafe { _mm256_slli_epi64::<1>(f[K]) });
        carried([
            sum!(
                m(f[0], g[0]),
                m(f2[1], g19[9]),
                m(f[2], g19[8]),
                m(f2[3], g19[7]),
                m(f[4], g19[6]),
                m(f2[5], g19[5]),
                m(f[6], g19[4]),
                m(f2[7], g19[3]),
                m(f[8], g19[2]),
                m(f2[9], g19[1])
            ),
            sum!(
                m(f[0], g[1]),
                m(f[1], g[0]),
                m(f[2], g19[9]),
                m(f[3], g19[8]),
                m(f[4], g19[7]),
                m(f[5], g19[6]),
                m(f[6], g19[5]),
                m(f[7], g19[4]),
                m(f[8], g19[3]),
                m(f[9], g19[2])
            ),
            sum!(
                m(f[0], g[2]),
                m(f2[1], g[1]),
                m(f[2], g[0]),
                m(f2[3], g19[9]),
                m(f[4], g19[8]),
                m(f2[5], g19[7]),
                m(f[6], g19[6]),
                m(f2[7], g19[5]),
                m(f[8], g19[4]),
                m(f2[9], g19[3])
            ),
            sum!(
                m(f[0], g[3]),
                m(f[1], g[2]),
                m(f[2], g[1]),
                m(f[3], g[0]),
                m(f[4], g19[9]),
                m(f[5], g19[8]),
                m(f[6], g19[7]),
                m(f[7], g19[6]),
                m(f[8], g19[5]),
                m(f[9], g19[4])
            ),
            sum!(
                m(f[0], g[4]),
                m(f2[1], g[3]),
                m(f[2], g[2]),
                m(f2[3], g[1]),
                m(f[4], g[0]),
                m(f2[5], g19[9]),
                m(f[6], g19[8]),
                m(f2[7], g19[7]),
                m(f[8], g19[6]),
                m(f2[9], g19[5])
            ),
            sum!(
                m(f[0], g[5]),
                m(f[1], g[4]),
                m(f[2], g[3]),
                m(f[3], g[2]),
                m(f[4], g[1]),
                m(f[5], g[0]),
                m(f[6], g19[9]),
                m(f[7], g19[8]),
                m(f[8], g19[7]),
                m(f[9], g19[6])
            ),
            sum!(
                m(f[0], g[6]),
                m(f2[1], g[5]),
                m(f[2], g[4]),
                m(f2[3], g[3]),
                m(f[4], g[2]),
                m(f2[5], g[1]),
                m(f[6], g[0]),
                m(f2[7], g19[9]),
                m(f[8], g19[8]),
                m(f2[9], g19[7])
            ),
            sum!(
                m(f[0], g[7]),
                m(f[1], g[6]),
                m(f[2], g[5]),
                m(f[3], g[4]),
                m(f[4], g[3]),
                m(f[5], g[2]),
                m(f[6], g[1]),
                m(f[7], g[0]),
                m(f[8], g19[9]),
                m(f[9], g19[8])
            ),
            sum!(
                m(f[0], g[8]),
                m(f2[1], g[7]),
                m(f[2], g[6]),
                m(f2[3], g[5]),
                m(f[4], g[4]),
                m(f2[5], g[3]),
                m(f[6], g[2]),
                m(f2[7], g[1]),
                m(f[8], g[0]),
                m(f2[9], g19[9])
            ),
            sum!(
                m(f[0], g[9]),
                m(f[1], g[8]),
                m(f[2], g[7]),
                m(f[3], g[6]),
                m(f[4], g[5]),
                m(f[5], g[4]),
                m(f[6], g[3]),
                m(f[7], g[2]),
                m(f[8], g[1]),
                m(f[9], g[0])
            ),
        ])
    }

    #[inline(always)]
    fn square(&self) -> Self {
        let f = &self.0;
        // The terms of `mul` with g = f, each pair i < j once and doubled (the rule written out).
        let f2 = each_limb!(K => unsafe { _mm256_slli_epi64::<1>(f[K]) });
        let f4 = each_limb!(K => unsafe { _mm256_slli_epi64::<2>(f[K]) });
        let f19 = each_limb!(K => times_19(f[K]));
        carried([
            sum!(
                m(f[0], f[0]),
                m(f4[1], f19[9]),
                m(f2[2], f19[8]),
                m(f4[3], f19[7]),
                m(f2[4], f19[6]),
                m(f2[5], f19[5])
            ),
            sum!(
                m(f2[0], f[1]),
                m(f2[2], f19[9]),
                m(f2[3], f19[8]),
                m(f2[4], f19[7]),
                m(f2[5], f19[6])
            ),
            sum!(
                m(f2[0], f[2]),
                m(f2[1], f[1]),
                m(f4[3], f19[9]),
                m(f2[4], f19[8]),
                m(f4[5], f19[7]),
                m(f[6], f19[6])
            ),
            sum!(
                m(f2[0], f[3]),
                m(f2[1], f[2]),
                m(f2[4], f19[9]),
                m(f2[5], f19[8]),
                m(f2[6], f19[7])
            ),
            sum!(
                m(f2[0], f[4]),
                m(f4[1], f[3]),
                m(f[2], f[2]),
                m(f4[5], f19[9]),
                m(f2[6], f19[8]),
                m(f2[7], f19[7])
            ),
            sum!(
                m(f2[0], f[5]),
                m(f2[1], f[4]),
                m(f2[2], f[3]),
                m(f2[6], f19[9]),
                m(f2[7], f19[8])
            ),
            sum!(
                m(f2[0], f[6]),
                m(f4[1], f[5]),
                m(f2[2], f[4]),
                m(f2[3], f[3]),
                m(f4[7], f19[9]),
                m(f[8], f19[8])
            ),
            sum!(
                m(f2[0], f[7]),
                m(f2[1], f[6]),
                m(f2[2], f[5]),
                m(f2[3], f[4]),
                m(f2[8], f19[9])
            ),
            sum!(
                m(f2[0], f[8]),
                m(f4[1], f[7]),
                m(f2[2], f[6]),
                m(f4[3], f[5]),
                m(f[4], f[4]),
                m(f2[9], f19[9])
            ),
            sum!(
                m(f2[0], f[9]),
                m(f2[1], f[8]),
                m(f2[2], f[7]),
                m(f2[3], f[6]),
                m(f2[4], f[5])
            ),
        ])
    }

    #[inline(always)]
    fn select(&self, other: &Self, mask: u64) -> Self {
        // a ^ (mask & (a ^ b)), one mask for every lane: no branch on it.
        let m = splat_u64(mask);
        let (a, b) = (&self.0, &other.0);
        Avx2x4(each_limb!(K => unsafe { _mm256_xor_si256(a[K], and(m, _mm256_xor_si256(a[K], b[K]))) }))
    }
}
