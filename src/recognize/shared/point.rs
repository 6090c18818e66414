//! Points of edwards25519 in lanes: extended coordinates for sums, projective Niels form for table
//! entries, and the constant-time lookup of a table entry by a signed digit. Formulas are the complete
//! ones for a = −1 (Hisil, Wong, Carter, Dawson 2008), valid for every pair of points, the identity
//! included, so no input makes them branch.

use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::recognize::field::{EDWARDS_D2, Lanes, Limbs};

/// `(X : Y : Z : T)` with x = X/Z, y = Y/Z, x·y = T/Z, per lane.
#[derive(Clone, Copy)]
pub struct Extended<F> {
    pub x: F,
    pub y: F,
    pub z: F,
    pub t: F,
}

/// `(Y + X, Y − X, Z, 2d·T)`: what an addition needs of its second operand, precomputed.
#[derive(Clone, Copy)]
pub struct Niels<F> {
    y_plus_x: F,
    y_minus_x: F,
    z: F,
    t2d: F,
}

impl<F: Lanes> Extended<F> {
    #[inline(always)]
    pub fn identity() -> Self {
        Extended {
            x: F::zero(),
            y: F::one(),
            z: F::one(),
            t: F::zero(),
        }
    }

    /// Lane `i` is the point with coordinates `points[i]` (`X, Y, Z, T`).
    #[inline(always)]
    pub fn from_lanes(points: &[[Limbs; 4]]) -> Self {
        let mut lanes = [[[0u64; 5]; 8]; 4];
        for (i, point) in points.iter().enumerate() {
            for (c, coordinate) in point.iter().enumerate() {
                lanes[c][i] = *coordinate;
            }
        }
        Extended {
            x: F::from_lanes(&lanes[0][..F::LANES]),
            y: F::from_lanes(&lanes[1][..F::LANES]),
            z: F::from_lanes(&lanes[2][..F::LANES]),
            t: F::from_lanes(&lanes[3][..F::LANES]),
        }
    }

    /// Lane `i`'s coordinates into `out[i]`.
    #[inline(always)]
    pub fn write_lanes(&self, out: &mut [[Limbs; 4]]) {
        let mut lanes = [[0u64; 5]; 8];
        for (c, coordinate) in [&self.x, &self.y, &self.z, &self.t].into_iter().enumerate() {
            coordinate.to_lanes(&mut lanes[..F::LANES]);
            for (point, lane) in out.iter_mut().zip(&lanes) {
                point[c] = *lane;
            }
        }
    }

    /// 2·P: four squarings and four multiplications.
    #[inline(always)]
    pub fn double(&self) -> Self {
        let xx = self.x.square();
        let yy = self.y.square();
        let zz = self.z.square();
        let zz2 = zz.add(&zz);
        let sum_squared = self.x.add(&self.y).square();
        let h = xx.add(&yy);
        let e = h.sub(&sum_squared);
        let g = xx.sub(&yy);
        let f = zz2.add(&g);
        Extended {
            x: e.mul(&f),
            y: g.mul(&h),
            z: f.mul(&g),
            t: e.mul(&h),
        }
    }

    /// P + Q for Q in Niels form: eight multiplications.
    #[inline(always)]
    pub fn add_niels(&self, q: &Niels<F>) -> Self {
        let pp = self.y.add(&self.x).mul(&q.y_plus_x);
        let mm = self.y.sub(&self.x).mul(&q.y_minus_x);
        let tt = self.t.mul(&q.t2d);
        let zz = self.z.mul(&q.z);
        let zz2 = zz.add(&zz);
        let e = pp.sub(&mm);
        let h = pp.add(&mm);
        let g = zz2.add(&tt);
        let f = zz2.sub(&tt);
        Extended {
            x: e.mul(&f),
            y: g.mul(&h),
            z: f.mul(&g),
            t: e.mul(&h),
        }
    }

    #[inline(always)]
    pub fn niels(&self) -> Niels<F> {
        Niels {
            y_plus_x: self.y.add(&self.x),
            y_minus_x: self.y.sub(&self.x),
            z: self.z,
            t2d: self.t.mul(&F::splat(&EDWARDS_D2)),
        }
    }
}

impl<F: Lanes> Niels<F> {
    #[inline(always)]
    pub fn identity() -> Self {
        Niels {
            y_plus_x: F::one(),
            y_minus_x: F::one(),
            z: F::one(),
            t2d: F::zero(),
        }
    }

    #[inline(always)]
    fn select(&self, other: &Self, mask: u64) -> Self {
        Niels {
            y_plus_x: self.y_plus_x.select(&other.y_plus_x, mask),
            y_minus_x: self.y_minus_x.select(&other.y_minus_x, mask),
            z: self.z.select(&other.z, mask),
            t2d: self.t2d.select(&other.t2d, mask),
        }
    }

    /// −Q where `mask` is all ones: swapping Y + X with Y − X and negating 2d·T negates x.
    #[inline(always)]
    fn negate_where(&self, mask: u64) -> Self {
        Niels {
            y_plus_x: self.y_plus_x.select(&self.y_minus_x, mask),
            y_minus_x: self.y_minus_x.select(&self.y_plus_x, mask),
            z: self.z,
            t2d: self.t2d.select(&self.t2d.neg(), mask),
        }
    }
}

/// The multiples 1·P ..= 8·P of one point, in Niels form: what a signed radix-16 digit selects from.
pub type Multiples<F> = [Niels<F>; 8];

/// 1·P ..= 8·P (four doublings, three additions), and 8·P in extended form for the caller's next window.
#[inline(always)]
pub fn multiples<F: Lanes>(p: &Extended<F>) -> (Multiples<F>, Extended<F>) {
    let n1 = p.niels();
    let p2 = p.double();
    let p3 = p2.add_niels(&n1);
    let p4 = p2.double();
    let p5 = p4.add_niels(&n1);
    let p6 = p3.double();
    let p7 = p6.add_niels(&n1);
    let p8 = p4.double();
    (
        [
            n1,
            p2.niels(),
            p3.niels(),
            p4.niels(),
            p5.niels(),
            p6.niels(),
            p7.niels(),
            p8.niels(),
        ],
        p8,
    )
}

/// `digit · P` for a digit in −8..=8, from P's multiples. Constant time in the digit: every entry is read
/// and combined by masks; no branch and no address depends on it.
#[inline(always)]
pub fn lookup<F: Lanes>(multiples: &Multiples<F>, digit: i8) -> Niels<F> {
    let digit = i64::from(digit);
    let negative = (digit >> 63) as u64; // all ones when the digit is negative
    let magnitude = ((digit ^ (digit >> 63)) - (digit >> 63)) as u64;
    let mut selected = Niels::identity();
    for (j, entry) in (1u64..).zip(multiples) {
        let hit = u64::conditional_select(&0, &u64::MAX, magnitude.ct_eq(&j));
        selected = selected.select(entry, hit);
    }
    selected.negate_where(negative)
}
