//! The lane types against an independent big-integer reference (random values and the edges: 0, 1,
//! p − 1, non-canonical encodings of p and above, limbs at the largest bounds each method accepts), against
//! each other, and against curve points computed by dalek (their coordinates must satisfy the curve
//! equation in our arithmetic).

use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use primitive_types::U512;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{EDWARDS_D2, LIMB_MASK, Lanes, Limbs, canonical_bytes, limbs_from_bytes, serial::Serial};

fn p() -> U512 {
    (U512::one() << 255) - U512::from(19)
}

/// The value the limbs stand for, reduced mod p.
fn value(limbs: &Limbs) -> U512 {
    limbs
        .iter()
        .enumerate()
        .fold(U512::zero(), |acc, (k, &l)| acc + (U512::from(l) << (51 * k)))
        % p()
}

fn bytes_of(v: U512) -> [u8; 32] {
    let mut out = [0u8; 64];
    v.to_little_endian(&mut out);
    out[..32].try_into().unwrap()
}

const BOUND: u64 = (1 << 51) + (1 << 15) - 1;

/// Edge values as limbs, several not canonical.
fn edges() -> Vec<Limbs> {
    let p_limbs = [LIMB_MASK - 18, LIMB_MASK, LIMB_MASK, LIMB_MASK, LIMB_MASK];
    vec![
        [0; 5],
        [1, 0, 0, 0, 0],
        [LIMB_MASK - 19, LIMB_MASK, LIMB_MASK, LIMB_MASK, LIMB_MASK], // p − 1
        p_limbs,                                                      // p, which is 0
        [LIMB_MASK - 17, LIMB_MASK, LIMB_MASK, LIMB_MASK, LIMB_MASK], // p + 1
        [LIMB_MASK; 5],                                               // 2^255 − 1
        [BOUND; 5],                                                   // the largest limbs a method returns
        [1 << 51, 0, 0, 0, 0],                                        // a limb one past 51 bits
        [0, 0, 0, 0, 1 << 50],
    ]
}

fn random_limbs(rng: &mut ChaCha20Rng, max: u64) -> Limbs {
    std::array::from_fn(|_| rng.gen_range(0..=max))
}

/// Inputs: the edges against each other, and random values with limbs up to `max`.
fn pairs(rng: &mut ChaCha20Rng, max: u64, random: usize) -> Vec<(Limbs, Limbs)> {
    let edges = edges();
    let mut pairs: Vec<(Limbs, Limbs)> = edges.iter().flat_map(|a| edges.iter().map(move |b| (*a, *b))).collect();
    pairs.extend((0..random).map(|_| (random_limbs(rng, max), random_limbs(rng, max))));
    pairs
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
    Square,
    Neg,
}

const OPS: [Op; 5] = [Op::Add, Op::Sub, Op::Mul, Op::Square, Op::Neg];

fn reference(op: Op, a: &Limbs, b: &Limbs) -> [u8; 32] {
    let (a, b) = (value(a), value(b));
    let r = match op {
        Op::Add => (a + b) % p(),
        Op::Sub => (a + p() - b) % p(),
        Op::Mul => (a * b) % p(),
        Op::Square => (a * a) % p(),
        Op::Neg => (p() - a) % p(),
    };
    bytes_of(r)
}

fn apply<F: Lanes>(op: Op, a: &F, b: &F) -> F {
    match op {
        Op::Add => a.add(b),
        Op::Sub => a.sub(b),
        Op::Mul => a.mul(b),
        Op::Square => a.square(),
        Op::Neg => a.neg(),
    }
}

#[test]
fn serial_lanes_match_the_big_integer_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(51);
    for op in OPS {
        for (a, b) in pairs(&mut rng, (1 << 60) - 1, 2_000) {
            let mut out = [[0u64; 5]];
            apply(op, &Serial::splat(&a), &Serial::splat(&b)).to_lanes(&mut out);
            assert!(out[0].iter().all(|&l| l < 1 << 52), "{op:?}: limbs over 2^52");
            assert_eq!(
                canonical_bytes(&out[0]),
                reference(op, &a, &b),
                "{op:?} of {a:?}, {b:?}"
            );
        }
    }
}

#[test]
fn selection_takes_the_masked_operand() {
    let (a, b) = ([5, 0, 0, 0, 0], [7, 1, 0, 0, 0]);
    let mut out = [[0u64; 5]];
    Serial::splat(&a)
        .select(&Serial::splat(&b), u64::MAX)
        .to_lanes(&mut out);
    assert_eq!(out[0], b);
    Serial::splat(&a).select(&Serial::splat(&b), 0).to_lanes(&mut out);
    assert_eq!(out[0], a);
}

#[test]
fn canonical_encoding_reduces_every_representation() {
    let mut rng = ChaCha20Rng::seed_from_u64(52);
    for limbs in edges()
        .into_iter()
        .chain((0..1_000).map(|_| random_limbs(&mut rng, (1 << 62) - 1)))
    {
        assert_eq!(canonical_bytes(&limbs), bytes_of(value(&limbs)), "{limbs:?}");
    }
    let mut b = [0u8; 32];
    for _ in 0..1_000 {
        rng.fill_bytes(&mut b);
        b[31] &= 0x3f; // below p
        assert_eq!(canonical_bytes(&limbs_from_bytes(&b)), b);
    }
}

#[test]
fn twice_d_is_the_curve_constant() {
    // d = −121665 / 121666, so 2d · 121666 + 2 · 121665 ≡ 0.
    let two_d = value(&EDWARDS_D2);
    assert_eq!(
        (two_d * U512::from(121666) + U512::from(2 * 121665)) % p(),
        U512::zero()
    );
}

/// dalek's points, read through their stored form (`x ‖ y ‖ t`, canonical), satisfy
/// −x² + y² = 1 + d·x²·y² and t = x·y in our arithmetic, on every lane type.
#[test]
fn dalek_points_satisfy_the_curve_equation_in_our_arithmetic() {
    let mut rng = ChaCha20Rng::seed_from_u64(53);
    let points: Vec<[Limbs; 3]> = (0..64)
        .map(|_| {
            let p = RistrettoPoint::mul_base(&Scalar::from(rng.next_u64()));
            let stored = crate::recognize::stored_offset::encode(p.compress().as_bytes());
            [0, 32, 64].map(|at| limbs_from_bytes(stored[at..at + 32].try_into().unwrap()))
        })
        .collect();
    curve_equation_holds::<Serial>(&points);
    #[cfg(target_arch = "x86_64")]
    if super::ifma::available() {
        // SAFETY: the CPU has the features (checked just above).
        unsafe { ifma::check_curve(&points) };
    }
    #[cfg(target_arch = "x86_64")]
    if super::avx2::available() {
        // SAFETY: as above.
        unsafe { avx2::check_curve(&points) };
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 lanes, inside functions compiled with their feature, as in the product.

    use super::*;
    use crate::recognize::field::avx2::{Avx2x4, available};

    #[target_feature(enable = "avx2")]
    unsafe fn run(op: Op, a: &[Limbs], b: &[Limbs], out: &mut [Limbs]) {
        apply(op, &Avx2x4::from_lanes(a), &Avx2x4::from_lanes(b)).to_lanes(out);
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn check_curve(points: &[[Limbs; 3]]) {
        super::curve_equation_holds::<Avx2x4>(points);
    }

    /// `op` on four lanes at a time, each lane against the reference, and chained: the result of one
    /// operation (at the bounds the lanes keep internally) fed to the next, up to 2^52 on the way out.
    fn check(op: Op, inputs: &[(Limbs, Limbs)]) {
        for group in inputs.chunks(4) {
            let mut a: Vec<Limbs> = group.iter().map(|p| p.0).collect();
            let mut b: Vec<Limbs> = group.iter().map(|p| p.1).collect();
            a.resize(4, [0; 5]);
            b.resize(4, [0; 5]);
            let mut out = [[0u64; 5]; 4];
            // SAFETY: callers checked `available()`.
            unsafe { run(op, &a, &b, &mut out) };
            for ((result, x), y) in out.iter().zip(&a).zip(&b).take(group.len()) {
                assert!(
                    result.iter().all(|&l| l < 1 << 52),
                    "{op:?}: limbs over 2^52: {result:?}"
                );
                assert_eq!(canonical_bytes(result), reference(op, x, y), "{op:?} of {x:?}, {y:?}");
            }
        }
    }

    #[test]
    fn avx2_lanes_match_the_big_integer_reference() {
        if !available() {
            eprintln!("no AVX2 on this CPU: AVX2 lanes not tested");
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(55);
        for op in OPS {
            check(op, &pairs(&mut rng, (1 << 60) - 1, 4_000));
            check(op, &pairs(&mut rng, (1 << 52) - 1, 2_000));
        }
    }

    /// Long chains of operations, each on the previous results, against the reference: the bounds each
    /// method promises must hold for what the next one takes, at every depth the point formulas reach.
    #[test]
    fn avx2_chains_of_operations_match_the_reference() {
        if !available() {
            return;
        }
        #[target_feature(enable = "avx2")]
        unsafe fn chain(ops: &[(Op, bool)], start: &[Limbs], other: &[Limbs], out: &mut [Limbs]) {
            let (mut x, y) = (Avx2x4::from_lanes(start), Avx2x4::from_lanes(other));
            for &(op, swap) in ops {
                x = if swap { apply(op, &y, &x) } else { apply(op, &x, &y) };
            }
            x.to_lanes(out);
        }
        let mut rng = ChaCha20Rng::seed_from_u64(56);
        for _ in 0..200 {
            let start: Vec<Limbs> = (0..4).map(|_| random_limbs(&mut rng, (1 << 60) - 1)).collect();
            let other: Vec<Limbs> = (0..4).map(|_| random_limbs(&mut rng, (1 << 60) - 1)).collect();
            let ops: Vec<(Op, bool)> = (0..40)
                .map(|_| (OPS[rng.gen_range(0..OPS.len())], rng.gen_bool(0.5)))
                .collect();
            let mut out = [[0u64; 5]; 4];
            // SAFETY: checked `available()`.
            unsafe { chain(&ops, &start, &other, &mut out) };
            for lane in 0..4 {
                let mut expected = value(&start[lane]);
                let y = value(&other[lane]);
                for &(op, swap) in &ops {
                    let (a, b) = if swap { (y, expected) } else { (expected, y) };
                    expected = U512::from_little_endian(&reference(op, &limbs_of(a), &limbs_of(b)));
                }
                assert_eq!(canonical_bytes(&out[lane]), bytes_of(expected), "lane {lane}: {ops:?}");
            }
        }
    }

    fn limbs_of(v: U512) -> Limbs {
        limbs_from_bytes(&bytes_of(v))
    }

    #[test]
    fn avx2_selection_is_per_mask_in_every_lane() {
        if !available() {
            return;
        }
        #[target_feature(enable = "avx2")]
        unsafe fn select(a: &[Limbs], b: &[Limbs], mask: u64) -> [Limbs; 4] {
            let mut out = [[0u64; 5]; 4];
            Avx2x4::from_lanes(a)
                .select(&Avx2x4::from_lanes(b), mask)
                .to_lanes(&mut out);
            out
        }
        let a: Vec<Limbs> = (0..4).map(|i| [i, 1, 2, 3, 4]).collect();
        let b: Vec<Limbs> = (0..4).map(|i| [i + 100, 5, 6, 7, 8]).collect();
        // SAFETY: checked `available()`.
        unsafe {
            assert_eq!(select(&a, &b, u64::MAX).to_vec(), b);
            assert_eq!(select(&a, &b, 0).to_vec(), a);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod ifma {
    //! The IFMA lanes run inside functions compiled with their features, as in the product.

    use super::*;
    use crate::recognize::field::ifma::{Ifma8, available};

    #[target_feature(enable = "avx512f,avx512ifma,avx512dq")]
    unsafe fn run(op: Op, a: &[Limbs], b: &[Limbs], raw: bool, out: &mut [Limbs]) {
        let (x, y) = if raw {
            (Ifma8::raw(a), Ifma8::raw(b))
        } else {
            (Ifma8::from_lanes(a), Ifma8::from_lanes(b))
        };
        apply(op, &x, &y).to_lanes(out);
    }

    #[target_feature(enable = "avx512f,avx512ifma,avx512dq")]
    pub(super) unsafe fn check_curve(points: &[[Limbs; 3]]) {
        super::curve_equation_holds::<Ifma8>(points);
    }

    /// Runs `op` on eight lanes at a time and checks each lane against the reference.
    fn check(op: Op, inputs: &[(Limbs, Limbs)], raw: bool) {
        for group in inputs.chunks(8) {
            let mut a: Vec<Limbs> = group.iter().map(|p| p.0).collect();
            let mut b: Vec<Limbs> = group.iter().map(|p| p.1).collect();
            a.resize(8, [0; 5]);
            b.resize(8, [0; 5]);
            let mut out = [[0u64; 5]; 8];
            // SAFETY: callers checked `available()`.
            unsafe { run(op, &a, &b, raw, &mut out) };
            for ((result, x), y) in out.iter().zip(&a).zip(&b).take(group.len()) {
                assert!(
                    result.iter().all(|&l| l <= BOUND),
                    "{op:?}: limbs over the bound: {result:?}"
                );
                assert_eq!(
                    canonical_bytes(result),
                    reference(op, x, y),
                    "{op:?} of {x:?}, {y:?} (raw {raw})"
                );
            }
        }
    }

    #[test]
    fn ifma_lanes_match_the_big_integer_reference() {
        if !available() {
            eprintln!("no AVX-512 IFMA on this CPU: IFMA lanes not tested");
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(54);
        for op in OPS {
            // Through the carry of `from_lanes`: any limbs below 2^60.
            check(op, &pairs(&mut rng, (1 << 60) - 1, 4_000), false);
            // Raw, at the bounds the methods promise each other: below 2^51 + 2^15 everywhere, and
            // products (which only need 52-bit limbs) up to 2^52 − 1.
            check(op, &pairs(&mut rng, BOUND, 4_000), true);
        }
        for op in [Op::Mul, Op::Square] {
            let top = (1 << 52) - 1;
            let mut inputs = pairs(&mut rng, top, 4_000);
            inputs.push(([top; 5], [top; 5]));
            check(op, &inputs, true);
        }
    }

    #[test]
    fn ifma_selection_is_per_mask_in_every_lane() {
        if !available() {
            return;
        }
        #[target_feature(enable = "avx512f,avx512ifma,avx512dq")]
        unsafe fn select(a: &[Limbs], b: &[Limbs], mask: u64) -> [Limbs; 8] {
            let mut out = [[0u64; 5]; 8];
            Ifma8::from_lanes(a)
                .select(&Ifma8::from_lanes(b), mask)
                .to_lanes(&mut out);
            out
        }
        let a: Vec<Limbs> = (0..8).map(|i| [i, 1, 2, 3, 4]).collect();
        let b: Vec<Limbs> = (0..8).map(|i| [i + 100, 5, 6, 7, 8]).collect();
        // SAFETY: checked `available()`.
        unsafe {
            assert_eq!(select(&a, &b, u64::MAX).to_vec(), b);
            assert_eq!(select(&a, &b, 0).to_vec(), a);
        }
    }
}

pub(super) fn curve_equation_holds<F: Lanes>(points: &[[Limbs; 3]]) {
    for group in points.chunks(F::LANES) {
        let coordinate = |c: usize| F::from_lanes(&group.iter().map(|p| p[c]).collect::<Vec<_>>());
        let (x, y, t) = (coordinate(0), coordinate(1), coordinate(2));
        let (xx, yy) = (x.square(), y.square());
        let lhs = yy.sub(&xx);
        let d_xx_yy = F::splat(&EDWARDS_D2).mul(&xx).mul(&yy); // 2d·x²y²
        let one = F::one();
        // 2·lhs == 2 + 2d·x²y²
        let mut l = vec![[0; 5]; F::LANES];
        let mut r = vec![[0; 5]; F::LANES];
        lhs.add(&lhs).to_lanes(&mut l);
        one.add(&one).add(&d_xx_yy).to_lanes(&mut r);
        let mut xy = vec![[0; 5]; F::LANES];
        let mut tt = vec![[0; 5]; F::LANES];
        x.mul(&y).to_lanes(&mut xy);
        t.to_lanes(&mut tt);
        for (lane, (left, right)) in l.iter().zip(&r).enumerate() {
            assert_eq!(
                canonical_bytes(left),
                canonical_bytes(right),
                "curve equation, lane {lane}"
            );
            assert_eq!(
                canonical_bytes(&xy[lane]),
                canonical_bytes(&tt[lane]),
                "t = x·y, lane {lane}"
            );
        }
    }
}
