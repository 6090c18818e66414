//! Constant time of our multiplication paths and AEAD tag check in the secret key, by a dudect-style statistical test
//! (Reparaz, Balasch, Verbauwhede 2017): time many runs for two classes of keys (one fixed key whose
//! digits are mostly zero, and fresh random keys), interleaved at random, and compare the classes with
//! Welch's t-test, on all samples and on those below several percentiles (timing noise is one-sided).
//! |t| > 4.5 means the time depends on the key.
//!
//! Not part of the default suite (timing on a shared machine is slow to settle, and a build without
//! optimisations says nothing): run it in release, as CI does not,
//!
//! ```sh
//! cargo test --release --test constant_time -- --ignored --nocapture
//! ```
//!
//! A positive control (dalek's variable-time multiplication, which skips zero digits) must be caught,
//! so a test setup that cannot see a leak fails rather than passes.

use std::{hint::black_box, time::Instant};

use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar, traits::VartimeMultiscalarMul};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tari_wallet_sync::recognize::{Multiplication, OutputView, WalletKey, steps::Steps};

/// Samples per class (`CONSTANT_TIME_SAMPLES`, default 20,000): enough for |t| to pass 4.5 on a leak of
/// a few percent on a loaded machine.
fn samples() -> usize {
    std::env::var("CONSTANT_TIME_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}
const THRESHOLD: f64 = 4.5;

fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn key(view: &Scalar) -> WalletKey {
    let spend = RistrettoPoint::mul_base(&Scalar::from(5u8)).compress();
    WalletKey::from_bytes(view.as_bytes(), spend.as_bytes()).expect("valid key")
}

/// Running mean and variance (Welford) of one class.
#[derive(Default, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    fn variance(&self) -> f64 {
        self.m2 / (self.n - 1.0)
    }
}

fn welch_t(a: &Moments, b: &Moments) -> f64 {
    (a.mean - b.mean) / (a.variance() / a.n + b.variance() / b.n).sqrt()
}

/// The largest |t| over all samples and those below the 50th..95th percentiles of the pooled times.
fn max_t(samples: &[(bool, f64)]) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.1).collect();
    sorted.sort_by(f64::total_cmp);
    let mut worst: f64 = 0.0;
    for cut in [1.0, 0.95, 0.9, 0.75, 0.5] {
        let limit = sorted[((sorted.len() - 1) as f64 * cut) as usize];
        let mut classes = [Moments::default(); 2];
        for &(class, t) in samples.iter().filter(|s| s.1 <= limit) {
            classes[usize::from(class)].push(t);
        }
        worst = worst.max(welch_t(&classes[0], &classes[1]).abs());
    }
    worst
}

/// Times `run(prepare(key of the sample's class))` for `samples()` per class in random order: class false
/// uses the fixed key, class true a fresh random one; `prepare` runs before the clock starts.
fn measure<T>(
    rng: &mut ChaCha20Rng,
    fixed: &Scalar,
    mut prepare: impl FnMut(&Scalar) -> T,
    mut run: impl FnMut(&T),
) -> f64 {
    let warm = prepare(fixed);
    for _ in 0..200 {
        run(&warm);
    }
    let count = samples();
    let mut timings = Vec::with_capacity(2 * count);
    for _ in 0..2 * count {
        let class = rng.gen_bool(0.5);
        // Both classes draw a random key, so the work just before the clock starts is the same for both
        // (it moves caches and vector-unit state: a visible offset on a sub-microsecond run).
        let random = random_scalar(rng);
        let input = prepare(if class { &random } else { fixed });
        let start = Instant::now();
        run(&input);
        timings.push((class, start.elapsed().as_nanos() as f64));
    }
    max_t(&timings)
}

fn points(rng: &mut ChaCha20Rng, count: usize) -> Vec<RistrettoPoint> {
    (0..count)
        .map(|_| RistrettoPoint::mul_base(&random_scalar(rng)))
        .collect()
}

/// v = 2, so v/2 = 1: one non-zero digit of 64, the key most unlike a random one.
fn sparse_view_key() -> Scalar {
    Scalar::from(2u8)
}

#[test]
#[ignore = "statistical timing test: run in release with --ignored (see the module docs)"]
fn our_paths_take_the_same_time_for_every_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(0xc7);
    let fixed = sparse_view_key();
    // Eight outputs (one group of IFMA lanes); the shared path with eight keys of the same class so the
    // per-key part weighs as much as the table.
    let outputs = points(&mut rng, 8);
    let mut failures = Vec::new();
    // Vector paths first: the serial ones take minutes at the default sample count.
    for how in Multiplication::available().into_iter().rev() {
        if how == Multiplication::PerKey {
            continue;
        }
        let keys_per_run = if matches!(how, Multiplication::Shared(_)) { 8 } else { 1 };
        let mut steps = Steps::default();
        let mut out = Vec::with_capacity(outputs.len() * keys_per_run);
        let t = measure(
            &mut rng,
            &fixed,
            |view| -> Vec<WalletKey> { (0..keys_per_run).map(|_| key(view)).collect() },
            |keys| {
                out.clear();
                assert!(steps.products(how, black_box(&outputs), keys, &mut out));
                black_box(&out);
            },
        );
        println!("{how}: max |t| = {t:.2} over {} samples per class", samples());
        if t > THRESHOLD {
            failures.push(format!("{how}: |t| = {t:.2}"));
        }
    }
    assert!(failures.is_empty(), "timing depends on the key: {failures:?}");
}

/// The AEAD tag check (`recognize::tag` through `Steps::tag_check`), in its key: the sparse key's bytes
/// against random keys' over the same encrypted data (a miss, as nearly every check is).
#[test]
#[ignore = "statistical timing test: run in release with --ignored (see the module docs)"]
fn the_tag_check_takes_the_same_time_for_every_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(0xc9);
    let fixed = sparse_view_key();
    let mut encrypted_data = vec![0u8; 200];
    rng.fill_bytes(&mut encrypted_data);
    let output = OutputView {
        commitment: &[0x11; 32],
        sender_offset_public_key: &[0x22; 32],
        stored_offset: None,
        encrypted_data: &encrypted_data,
        script: None,
    };
    let t = measure(
        &mut rng,
        &fixed,
        |view| *view.as_bytes(),
        |key| {
            black_box(Steps::tag_check(black_box(&output), key));
        },
    );
    println!("tag check: max |t| = {t:.2} over {} samples per class", samples());
    assert!(t <= THRESHOLD, "the tag check's time depends on the key: |t| = {t:.2}");
}

#[test]
#[ignore = "statistical timing test: run in release with --ignored (see the module docs)"]
fn the_test_sees_a_variable_time_multiplication() {
    let mut rng = ChaCha20Rng::seed_from_u64(0xc8);
    let fixed = sparse_view_key();
    let outputs = points(&mut rng, 1);
    let t = measure(
        &mut rng,
        &fixed,
        |view| *view,
        |view| {
            black_box(RistrettoPoint::vartime_multiscalar_mul([view], black_box(&outputs)));
        },
    );
    println!("dalek's variable-time multiplication: max |t| = {t:.2}");
    assert!(t > THRESHOLD, "the test cannot see a known leak (|t| = {t:.2})");
}
