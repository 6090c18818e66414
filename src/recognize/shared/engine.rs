//! Engine: the multiplication paths of a pass, the lane types they run on, the run-time choice among
//! them, and the kernels compiled once per lane type (`#[target_feature]` for the vector ones, entered
//! only after CPUID showed the features).

use std::sync::LazyLock;

use curve25519_dalek::ristretto::RistrettoPoint;

#[cfg(target_arch = "x86_64")]
use crate::recognize::field::{
    avx2::{self, Avx2x4},
    ifma::{self, Ifma8},
};
use crate::recognize::{
    field::{Lanes, Limbs, serial::Serial},
    key::WalletKey,
    stored_offset,
};

use super::point::{Extended, lookup, multiples};

/// The environment variable that switches our vector lanes off (`off`, `0` or `false`): every path then
/// runs on serial lanes or dalek's own dispatch. For CI's run of the fallback paths and for operators who
/// suspect a CPU; read once per process.
pub const VECTOR_SWITCH: &str = "TWS_RECOGNIZE_VECTOR";

static VECTOR_ENABLED: LazyLock<bool> = LazyLock::new(|| {
    !std::env::var(VECTOR_SWITCH)
        .is_ok_and(|value| matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false"))
});

/// Whether our vector lanes may be used in this process (see [`VECTOR_SWITCH`]).
pub fn vector_lanes_enabled() -> bool {
    *VECTOR_ENABLED
}

/// What our multiplications run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaneKind {
    /// One output at a time (fiat-crypto arithmetic): everywhere.
    Serial,
    /// Eight outputs per instruction: x86-64 with AVX-512 F, IFMA and DQ.
    Ifma,
    /// Four outputs per instruction: x86-64 with AVX2.
    Avx2,
}

impl LaneKind {
    /// Whether this CPU (and the vector switch) lets the kind run.
    pub fn available(self) -> bool {
        match self {
            LaneKind::Serial => true,
            #[cfg(target_arch = "x86_64")]
            LaneKind::Ifma => vector_lanes_enabled() && ifma::available(),
            #[cfg(target_arch = "x86_64")]
            LaneKind::Avx2 => vector_lanes_enabled() && avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            LaneKind::Ifma | LaneKind::Avx2 => false,
        }
    }

    /// The widest kind available.
    pub fn best() -> LaneKind {
        [LaneKind::Ifma, LaneKind::Avx2]
            .into_iter()
            .find(|kind| kind.available())
            .unwrap_or(LaneKind::Serial)
    }

    /// Every kind, widest first.
    pub const ALL: [LaneKind; 3] = [LaneKind::Ifma, LaneKind::Avx2, LaneKind::Serial];

    pub fn name(self) -> &'static str {
        match self {
            LaneKind::Serial => "serial",
            LaneKind::Ifma => "ifma",
            LaneKind::Avx2 => "avx2",
        }
    }
}

/// How a pass computes its products `(v/2)·R`; every path gives the same points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Multiplication {
    /// dalek's constant-time variable-base multiplication, once per output and key, only for the pairs
    /// that need it (dalek dispatches to its own AVX2 / AVX-512 backends).
    PerKey,
    /// Our windowed multiplication, one key at a time over several outputs per instruction: a small
    /// table of each output's multiples, 252 doublings and 64 additions per output and key.
    Windowed(LaneKind),
    /// One table of multiples per output and window, shared by the keys; 64 additions per output and key.
    Shared(LaneKind),
}

/// Keys from which the shared tables beat the per-key paths, by lane kind; below them a table costs more
/// than its keys save. Measured with `cargo bench --bench recognize` (the path rows of its summary, same
/// run) on this project's AVX-512 machine, `docs/performance.md`: with IFMA lanes a table costs about
/// 3.5 of our per-key windowed multiplications and the shared additions about a third of one, so
/// tables pay from ~5-6 keys. On serial lanes the tables at 64 keys only match dalek's own IFMA
/// multiplication, so they are chosen only where dalek's is slower too (its AVX2 and serial backends run
/// 1.3-2× behind its IFMA one) and from many keys. With AVX2 lanes (no IFMA) the tables break even with
/// dalek's AVX2 backend at ~16 keys and win from there; below, dalek's per-key path is the cheapest.
const SHARED_FROM_KEYS_IFMA: usize = 6;
const SHARED_FROM_KEYS_AVX2: usize = 16;
const SHARED_FROM_KEYS_SERIAL: usize = 32;

impl Multiplication {
    /// The path for a pass with `keys` keys on this machine: the fastest by measurement among those that
    /// can run here. Ours needs dalek's point layout (`stored_offset`); without it, dalek's.
    pub fn for_pass(keys: usize) -> Multiplication {
        if !stored_offset::layout_holds() {
            return Multiplication::PerKey;
        }
        match LaneKind::best() {
            LaneKind::Ifma if keys >= SHARED_FROM_KEYS_IFMA => Multiplication::Shared(LaneKind::Ifma),
            LaneKind::Ifma => Multiplication::Windowed(LaneKind::Ifma),
            LaneKind::Avx2 if keys >= SHARED_FROM_KEYS_AVX2 => Multiplication::Shared(LaneKind::Avx2),
            LaneKind::Avx2 => Multiplication::PerKey,
            LaneKind::Serial if keys >= SHARED_FROM_KEYS_SERIAL => Multiplication::Shared(LaneKind::Serial),
            LaneKind::Serial => Multiplication::PerKey,
        }
    }

    /// Every path that can run here (tests and benches compare them).
    pub fn available() -> Vec<Multiplication> {
        let mut paths = vec![Multiplication::PerKey];
        if stored_offset::layout_holds() {
            for kind in [LaneKind::Serial, LaneKind::Avx2, LaneKind::Ifma] {
                if kind.available() {
                    paths.push(Multiplication::Windowed(kind));
                    paths.push(Multiplication::Shared(kind));
                }
            }
        }
        paths
    }

    pub fn can_run(self) -> bool {
        match self {
            Multiplication::PerKey => true,
            Multiplication::Windowed(kind) | Multiplication::Shared(kind) => {
                stored_offset::layout_holds() && kind.available()
            }
        }
    }
}

impl std::fmt::Display for Multiplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Multiplication::PerKey => f.write_str("per-key (dalek)"),
            Multiplication::Windowed(k) => write!(f, "windowed ({})", k.name()),
            Multiplication::Shared(k) => write!(f, "shared ({})", k.name()),
        }
    }
}

/// Scratch of our paths, reused across chunks.
#[derive(Default)]
pub struct Products {
    points: Vec<[Limbs; 4]>,
    results: Vec<[Limbs; 4]>,
}

impl Products {
    /// `(v_k/2)·points[i]` for every point `i` and key `k`, appended to `out` point-major
    /// (`out[start + i·keys.len() + k]`), by `how` (one of our paths, runnable here). Returns false and
    /// appends nothing when dalek's point layout cannot be read (the caller multiplies with dalek).
    pub fn compute(
        &mut self,
        how: Multiplication,
        points: &[RistrettoPoint],
        keys: &[WalletKey],
        out: &mut Vec<RistrettoPoint>,
    ) -> bool {
        self.points.clear();
        for point in points {
            match stored_offset::point_limbs(point) {
                Some(limbs) => self.points.push(limbs),
                None => return false,
            }
        }
        let digits: Vec<&[i8; 64]> = keys.iter().map(WalletKey::view_half_digits).collect();
        self.results.clear();
        self.results.resize(points.len() * keys.len(), [[0; 5]; 4]);
        match how {
            Multiplication::PerKey => unreachable!("dalek's path is the caller's"),
            Multiplication::Windowed(LaneKind::Serial) => windowed::<Serial>(&self.points, &digits, &mut self.results),
            Multiplication::Shared(LaneKind::Serial) => shared::<Serial>(&self.points, &digits, &mut self.results),
            #[cfg(target_arch = "x86_64")]
            Multiplication::Windowed(LaneKind::Ifma) => {
                assert!(LaneKind::Ifma.available(), "IFMA lanes on a CPU without them");
                // SAFETY: the CPU has the kernel's features (asserted above).
                unsafe { windowed_ifma(&self.points, &digits, &mut self.results) }
            }
            #[cfg(target_arch = "x86_64")]
            Multiplication::Shared(LaneKind::Ifma) => {
                assert!(LaneKind::Ifma.available(), "IFMA lanes on a CPU without them");
                // SAFETY: as above.
                unsafe { shared_ifma(&self.points, &digits, &mut self.results) }
            }
            #[cfg(target_arch = "x86_64")]
            Multiplication::Windowed(LaneKind::Avx2) => {
                assert!(LaneKind::Avx2.available(), "AVX2 lanes on a CPU without them");
                // SAFETY: the CPU has the kernel's features (asserted above).
                unsafe { windowed_avx2(&self.points, &digits, &mut self.results) }
            }
            #[cfg(target_arch = "x86_64")]
            Multiplication::Shared(LaneKind::Avx2) => {
                assert!(LaneKind::Avx2.available(), "AVX2 lanes on a CPU without them");
                // SAFETY: as above.
                unsafe { shared_avx2(&self.points, &digits, &mut self.results) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            Multiplication::Windowed(LaneKind::Ifma | LaneKind::Avx2)
            | Multiplication::Shared(LaneKind::Ifma | LaneKind::Avx2) => {
                unreachable!("no vector lanes off x86-64")
            }
        }
        out.reserve(self.results.len());
        for coordinates in &self.results {
            out.push(stored_offset::point_from_limbs(coordinates).expect("the layout held above"));
        }
        // The products are Diffie-Hellman secrets of these outputs: do not keep them in the scratch.
        self.results.iter_mut().for_each(|r| *r = [[0; 5]; 4]);
        true
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma,avx512dq")]
unsafe fn windowed_ifma(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    windowed::<Ifma8>(points, digits, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma,avx512dq")]
unsafe fn shared_ifma(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    shared::<Ifma8>(points, digits, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn windowed_avx2(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    windowed::<Avx2x4>(points, digits, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shared_avx2(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    shared::<Avx2x4>(points, digits, out)
}

/// The points of one group of lanes: `points` padded with its first point (the padding's results are
/// dropped).
#[inline(always)]
fn group_lanes<F: Lanes>(points: &[[Limbs; 4]]) -> Extended<F> {
    let mut lanes = [points[0]; 8];
    lanes[..points.len()].copy_from_slice(points);
    Extended::from_lanes(&lanes[..F::LANES])
}

/// Writes lane `i` of `product` (key `k`) to `out[(first + i)·keys + k]` for the group's real lanes.
#[inline(always)]
fn store<F: Lanes>(product: &Extended<F>, real: usize, first: usize, k: usize, keys: usize, out: &mut [[Limbs; 4]]) {
    let mut lanes = [[[0u64; 5]; 4]; 8];
    product.write_lanes(&mut lanes[..F::LANES]);
    for (i, lane) in lanes[..real].iter().enumerate() {
        out[(first + i) * keys + k] = *lane;
    }
}

/// Per key: the group's multiples of R once, then for each key 64 windows of four doublings and one
/// addition (most significant first).
#[inline(always)]
fn windowed<F: Lanes>(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    for (g, group) in points.chunks(F::LANES).enumerate() {
        let (table, _) = multiples(&group_lanes::<F>(group));
        for (k, d) in digits.iter().enumerate() {
            let mut acc = Extended::identity().add_niels(&lookup(&table, d[63]));
            for w in (0..63).rev() {
                acc = acc.double().double().double().double().add_niels(&lookup(&table, d[w]));
            }
            store(&acc, group.len(), g * F::LANES, k, digits.len(), out);
        }
    }
}

/// Shared tables: per group of outputs and window w, the multiples of 16^w·R, applied to every key's
/// running sum before the next window's are built.
#[inline(always)]
fn shared<F: Lanes>(points: &[[Limbs; 4]], digits: &[&[i8; 64]], out: &mut [[Limbs; 4]]) {
    let mut sums: Vec<Extended<F>> = Vec::with_capacity(digits.len());
    for (g, group) in points.chunks(F::LANES).enumerate() {
        sums.clear();
        sums.resize(digits.len(), Extended::identity());
        let mut base = group_lanes::<F>(group);
        for w in 0..64 {
            let (table, eight) = multiples(&base);
            for (sum, d) in sums.iter_mut().zip(digits) {
                *sum = sum.add_niels(&lookup(&table, d[w]));
            }
            if w < 63 {
                base = eight.double();
            }
        }
        for (k, sum) in sums.iter().enumerate() {
            store(sum, group.len(), g * F::LANES, k, digits.len(), out);
        }
    }
    // The sums are Diffie-Hellman secrets: leave none in freed memory (volatile, so the stores are not
    // dropped as dead before the deallocation).
    for sum in &mut sums {
        // SAFETY: `sum` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(sum, Extended::identity()) };
    }
}
