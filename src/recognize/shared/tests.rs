//! Every path's products against dalek's `(v/2)·R`, point for point: random and edge keys and points, any
//! number of outputs (full groups of lanes and padded tails) and keys.

use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_POINT, ristretto::RistrettoPoint, scalar::Scalar, traits::Identity,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{LaneKind, Multiplication, Products};
use crate::recognize::WalletKey;

fn spend() -> [u8; 32] {
    RISTRETTO_BASEPOINT_POINT.compress().0
}

fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Keys whose `v/2` hits the digit recoding's edges (1, its largest value, all-eight digits) and random
/// ones.
fn keys(rng: &mut ChaCha20Rng, random: usize) -> Vec<WalletKey> {
    let two = Scalar::from(2u8);
    let mut views = vec![
        two,                // v/2 = 1
        Scalar::ONE,        // v/2 = (ℓ + 1)/2
        -Scalar::ONE,       // v = ℓ − 1
        -two,               // v/2 = ℓ − 1
        Scalar::from(16u8), // v/2 = 8: one digit of 8, the largest magnitude
        two * Scalar::from_bytes_mod_order([0x88; 32]),
    ];
    views.extend((0..random).map(|_| random_scalar(rng)));
    views
        .iter()
        .map(|v| WalletKey::from_bytes(v.as_bytes(), &spend()).expect("valid key"))
        .collect()
}

fn points(rng: &mut ChaCha20Rng, count: usize) -> Vec<RistrettoPoint> {
    let mut points = vec![RISTRETTO_BASEPOINT_POINT, RistrettoPoint::identity()];
    // A decompressed point, as the cache stores them (Z = 1), and sums (Z ≠ 1).
    points.push(
        RistrettoPoint::mul_base(&Scalar::from(7u8))
            .compress()
            .decompress()
            .unwrap(),
    );
    while points.len() < count {
        let p = RistrettoPoint::mul_base(&random_scalar(rng));
        points.push(if points.len() % 2 == 0 {
            p
        } else {
            p.compress().decompress().unwrap()
        });
    }
    points.truncate(count);
    points
}

fn check(how: Multiplication, points: &[RistrettoPoint], keys: &[WalletKey]) {
    let mut out = vec![RISTRETTO_BASEPOINT_POINT]; // products are appended after what is there
    assert!(
        Products::default().compute(how, points, keys, &mut out),
        "{how}: layout"
    );
    assert_eq!(out.len(), 1 + points.len() * keys.len());
    for (i, point) in points.iter().enumerate() {
        for (k, key) in keys.iter().enumerate() {
            let ours = out[1 + i * keys.len() + k];
            let dalek = key.view_half() * point;
            assert_eq!(
                RistrettoPoint::double_and_compress_batch([&ours]),
                RistrettoPoint::double_and_compress_batch([&dalek]),
                "{how}: output {i} key {k}"
            );
            assert_eq!(ours.compress(), dalek.compress(), "{how}: output {i} key {k}");
        }
    }
}

fn our_paths() -> Vec<Multiplication> {
    let paths: Vec<_> = Multiplication::available()
        .into_iter()
        .filter(|m| *m != Multiplication::PerKey)
        .collect();
    assert!(
        paths.contains(&Multiplication::Shared(LaneKind::Serial)),
        "dalek's point layout is unreadable on this build: {paths:?}"
    );
    paths
}

#[test]
fn every_path_gives_dalek_products() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5ead);
    let keys = keys(&mut rng, 4);
    for how in our_paths() {
        for outputs in [1, 7, 8, 9, 19] {
            let points = points(&mut rng, outputs);
            for key_count in [1, 2, 3, keys.len()] {
                check(how, &points, &keys[..key_count]);
            }
        }
    }
}

#[test]
fn lanes_hold_their_own_outputs() {
    // Sixteen distinct outputs per group of lanes: a lane mix-up would show as a wrong product.
    let mut rng = ChaCha20Rng::seed_from_u64(0x1a4e);
    let keys = keys(&mut rng, 2);
    let points = points(&mut rng, 16);
    for how in our_paths() {
        check(how, &points, &keys);
    }
}

#[test]
fn the_choice_is_a_path_that_runs() {
    for keys in [1, 2, 3, 4, 16, 64] {
        let how = Multiplication::for_pass(keys);
        assert!(how.can_run(), "{how} for {keys} keys");
    }
}
