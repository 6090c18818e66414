//! Stored sender offset key: the point `R` decompressed once at ingest and kept in a fixed 96-byte form
//! (`x ‖ y ‖ t`, affine extended coordinates, each a canonical little-endian field element), so a scan
//! pass loads it in nanoseconds instead of paying a decompression (a field exponentiation) per output
//! and pass. Owns that encoding and the one `unsafe` of recognition; not where the bytes are kept.
//!
//! `curve25519-dalek` has no public constructor from coordinates, so loading writes the limbs of its
//! 64-bit field representation (five 51-bit limbs per coordinate, points as `X, Y, Z, T`) into a
//! `RistrettoPoint`. A probe checks that layout once per process against dalek's own arithmetic; where
//! it does not hold (another backend, a future dalek), nothing is stored or loaded and every caller
//! decompresses, with identical results.

use std::sync::LazyLock;

use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_POINT,
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};

use super::field::{self, Limbs};

/// Bytes of one stored offset.
pub const STORED_OFFSET_LEN: usize = 96;

/// `R` is zero or not a point: no Diffie-Hellman attempt (the reference refuses it the same way).
const UNUSABLE: [u8; STORED_OFFSET_LEN] = [0; STORED_OFFSET_LEN];
/// Nothing stored (this build cannot produce the form): readers decompress `R`. Never a canonical
/// coordinate, so never confused with a point.
pub const NOT_STORED: [u8; STORED_OFFSET_LEN] = [0xff; STORED_OFFSET_LEN];

/// dalek's `EdwardsPoint` on 64-bit backends, field by field; what the probe verifies.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct Extended {
    x: Limbs,
    y: Limbs,
    z: Limbs,
    t: Limbs,
}

const ONE: Limbs = [1, 0, 0, 0, 0];

/// What a stored offset tells the recogniser.
#[derive(Clone, Copy)]
pub enum Offset {
    /// `R` is unusable: not ours by the Diffie-Hellman attempt.
    Unusable,
    /// `R`, decompressed.
    Point(RistrettoPoint),
    /// Nothing stored: decompress the record's compressed `R`.
    Decompress,
}

static LAYOUT_HOLDS: LazyLock<bool> = LazyLock::new(|| {
    let holds = probe();
    // Once per process, the first time a stored offset is written or read.
    if holds {
        tracing::debug!("stored sender offset keys: curve25519-dalek's point layout is the one assumed");
    } else {
        tracing::warn!(
            "stored sender offset keys: this build's curve25519-dalek lays points out differently than assumed; \
             scans decompress every sender offset key (slower, same results), and cache segments this build \
             writes are marked as not storing them"
        );
    }
    holds
});

/// Whether this build can store and load the decompressed form (the layout probe's outcome, run once
/// per process and logged). Where it cannot, `encode` writes `NOT_STORED` and `load` decompresses.
pub fn layout_holds() -> bool {
    *LAYOUT_HOLDS
}

/// The stored form of the compressed sender offset key `r`, as written at ingest.
pub fn encode(r: &[u8; 32]) -> [u8; STORED_OFFSET_LEN] {
    if *r == [0; 32] {
        return UNUSABLE;
    }
    let Some(point) = CompressedRistretto(*r).decompress() else {
        return UNUSABLE;
    };
    encode_point(&point).unwrap_or(NOT_STORED)
}

/// Reads a stored offset.
pub fn load(stored: &[u8; STORED_OFFSET_LEN]) -> Offset {
    if *stored == UNUSABLE {
        return Offset::Unusable;
    }
    if *stored == NOT_STORED || !*LAYOUT_HOLDS {
        return Offset::Decompress;
    }
    let [x, y, t] = [0, 32, 64].map(|at| from_bytes(stored[at..at + 32].try_into().expect("fixed width")));
    Offset::Point(from_extended(&Extended { x, y, z: ONE, t }))
}

/// `None` when the layout probe failed or the point is not in affine form (dalek's decompression
/// always yields `Z = 1`; anything else would need a division this module cannot do).
fn encode_point(point: &RistrettoPoint) -> Option<[u8; STORED_OFFSET_LEN]> {
    if !*LAYOUT_HOLDS {
        return None;
    }
    let e = to_extended(point)?;
    if to_bytes(e.z) != to_bytes(ONE) {
        return None;
    }
    let mut out = [0u8; STORED_OFFSET_LEN];
    for (at, coordinate) in [(0, e.x), (32, e.y), (64, e.t)] {
        out[at..at + 32].copy_from_slice(&to_bytes(coordinate));
    }
    Some(out)
}

fn to_extended(point: &RistrettoPoint) -> Option<Extended> {
    if size_of::<RistrettoPoint>() != size_of::<Extended>() {
        return None;
    }
    // SAFETY: equal sizes (checked above); `Extended` is plain integers, valid for any bytes, and
    // `transmute_copy` reads unaligned. Whether the bytes mean what `Extended` names is the probe's job.
    Some(unsafe { std::mem::transmute_copy::<RistrettoPoint, Extended>(point) })
}

fn from_extended(e: &Extended) -> RistrettoPoint {
    assert_eq!(
        size_of::<RistrettoPoint>(),
        size_of::<Extended>(),
        "checked by the probe"
    );
    // SAFETY: equal sizes (asserted); dalek's point is four arrays of five `u64` limbs on the 64-bit
    // backends (verified by `probe` before any call), and every limb here is below 2^51, the bound its
    // arithmetic expects of a reduced field element. No bit pattern of those integers is invalid.
    unsafe { std::mem::transmute_copy::<Extended, RistrettoPoint>(e) }
}

/// A point's extended coordinates `X, Y, Z, T` as canonical limbs (each below 2^51), for arithmetic of
/// our own (`recognize::shared`); `None` where the layout probe failed.
pub(super) fn point_limbs(point: &RistrettoPoint) -> Option<[Limbs; 4]> {
    if !*LAYOUT_HOLDS {
        return None;
    }
    let e = to_extended(point)?;
    Some([e.x, e.y, e.z, e.t].map(|c| from_bytes(&to_bytes(c))))
}

/// The point with extended coordinates `X, Y, Z, T` (limbs below 2^62, any representation: they are
/// reduced here), as dalek's type; `None` where the layout probe failed. The coordinates must be those of
/// a point on the curve (every caller computes them with the curve's formulas from such a point).
pub(super) fn point_from_limbs(coordinates: &[Limbs; 4]) -> Option<RistrettoPoint> {
    if !*LAYOUT_HOLDS {
        return None;
    }
    let [x, y, z, t] = coordinates.map(|c| from_bytes(&to_bytes(c)));
    Some(from_extended(&Extended { x, y, z, t }))
}

fn from_bytes(bytes: &[u8; 32]) -> Limbs {
    field::limbs_from_bytes(bytes)
}

fn to_bytes(limbs: Limbs) -> [u8; 32] {
    field::canonical_bytes(&limbs)
}

/// Whether dalek's points are laid out as `Extended` says: for a few points, the stored form loads to a
/// point that compresses, adds and multiplies exactly like the decompressed original.
fn probe() -> bool {
    if size_of::<RistrettoPoint>() != size_of::<Extended>() {
        return false;
    }
    let b = RISTRETTO_BASEPOINT_POINT;
    (1u64..=4).all(|k| {
        let p = RistrettoPoint::mul_base(&Scalar::from(k * 0x1_0001));
        let Some(decompressed) = p.compress().decompress() else {
            return false;
        };
        let Some(e) = to_extended(&decompressed) else {
            return false;
        };
        if to_bytes(e.z) != to_bytes(ONE) {
            return false;
        }
        let [x, y, t] = [e.x, e.y, e.t].map(|c| from_bytes(&to_bytes(c)));
        let q = from_extended(&Extended { x, y, z: ONE, t });
        let s = Scalar::from(k + 7);
        q.compress() == p.compress()
            && (q + b).compress() == (p + b).compress()
            && (s * q).compress() == (s * p).compress()
            && RistrettoPoint::double_and_compress_batch([&q]) == RistrettoPoint::double_and_compress_batch([&p])
    })
}

#[cfg(test)]
mod tests {
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::recognize::field::LIMB_MASK;

    #[test]
    fn the_layout_probe_holds_on_this_build() {
        assert!(
            *LAYOUT_HOLDS,
            "dalek's point layout changed: stored offsets fall back to decompression"
        );
    }

    #[test]
    fn stored_offsets_load_to_the_decompressed_point() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for _ in 0..200 {
            let p = RistrettoPoint::mul_base(&(Scalar::from(rng.next_u64()) * Scalar::from(rng.next_u64())));
            let r = p.compress();
            let Offset::Point(q) = load(&encode(r.as_bytes())) else {
                panic!("a valid point is stored")
            };
            assert_eq!(q.compress(), r);
            let s = Scalar::from(rng.next_u64());
            assert_eq!(
                RistrettoPoint::double_and_compress_batch([&(s * q)]),
                RistrettoPoint::double_and_compress_batch([&(s * p)])
            );
        }
    }

    #[test]
    fn unusable_offsets_are_marked() {
        assert!(matches!(load(&encode(&[0; 32])), Offset::Unusable));
        assert!(matches!(load(&encode(&[0xff; 32])), Offset::Unusable));
        assert!(matches!(load(&NOT_STORED), Offset::Decompress));
    }

    #[test]
    fn field_encoding_is_canonical() {
        // p = 2^255 - 19 in limbs, and p + 5, both non-canonical inputs.
        let p = [LIMB_MASK - 18, LIMB_MASK, LIMB_MASK, LIMB_MASK, LIMB_MASK];
        assert_eq!(to_bytes(p), [0; 32]);
        let mut five = [0u8; 32];
        five[0] = 5;
        assert_eq!(to_bytes([p[0] + 5, p[1], p[2], p[3], p[4]]), five);
        // Limbs over 51 bits carry: 2^51 in limb 0 is 1 in limb 1.
        assert_eq!(to_bytes([1 << 51, 0, 0, 0, 0]), to_bytes([0, 1, 0, 0, 0]));
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for _ in 0..100 {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            b[31] &= 0x3f; // below p
            assert_eq!(to_bytes(from_bytes(&b)), b);
        }
    }

    #[test]
    fn basepoint_golden_bytes() {
        let stored = encode(RISTRETTO_BASEPOINT_POINT.compress().as_bytes());
        assert_eq!(hex::encode(stored), GOLDEN_BASEPOINT);
    }

    /// `x ‖ y ‖ t` of the basepoint as dalek decompresses it (an Edwards representative of its coset;
    /// checked independently to satisfy −x² + y² = 1 + d·x²·y² and t = x·y mod 2²⁵⁵ − 19).
    const GOLDEN_BASEPOINT: &str = concat!(
        "d2e58d91e083412f6c7ca6a8fa1f97407a53036885ff5bddc380fe8ccce26310",
        "9bad33f580df7ecc49df5342bac8145d5bedc40f573d1b067f3c4ce449689a15",
        "4a22485a4c7521920aadae887f600fdf821c549b71b115999a897428f0a07818",
    );
}
