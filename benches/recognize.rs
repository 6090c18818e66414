//! Recognition cost per output and key: ours (batch, 1/4/16 keys) beside the official
//! `KeyManager::try_output_key_recovery` and the floor (decompress + variable-base mul + compress),
//! for misses, own-key hits and Diffie-Hellman hits, with `R` read as the cache stores it (format 3) and
//! decompressed per pass. Ends with a same-run summary of ratios and a stage breakdown of a 16-key miss.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group};
use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tari_common_types::types::{CompressedCommitment, CompressedPublicKey, PrivateKey};
use tari_transaction_components::{
    key_manager::{
        KeyManager, TransactionKeyManagerInterface,
        wallet_types::{ViewWallet, WalletType},
    },
    transaction_components::{EncryptedData, MemoField},
};
use tari_utilities::ByteArray;
use tari_wallet_sync::{
    demo::outputs::{BuiltOutput, one_sided_output, own_output, random_scalar},
    recognize::{OutputView, Recognizer, STORED_OFFSET_LEN, WalletKey, steps::Steps, stored_offset},
};

const OUTPUTS: usize = 256;

struct Wallet {
    view: Scalar,
    view_public: RistrettoPoint,
    spend_public: RistrettoPoint,
}

impl Wallet {
    fn random(rng: &mut ChaCha20Rng) -> Self {
        let view = random_scalar(rng);
        Wallet {
            view,
            view_public: RistrettoPoint::mul_base(&view),
            spend_public: RistrettoPoint::mul_base(&random_scalar(rng)),
        }
    }

    fn key(&self) -> WalletKey {
        WalletKey::from_bytes(self.view.as_bytes(), self.spend_public.compress().as_bytes()).unwrap()
    }

    fn official(&self) -> KeyManager {
        let spend = CompressedPublicKey::from_canonical_bytes(self.spend_public.compress().as_bytes()).unwrap();
        let view = PrivateKey::from_canonical_bytes(self.view.as_bytes()).unwrap();
        KeyManager::new(WalletType::ViewWallet(ViewWallet::new(spend, view, None))).unwrap()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Miss,
    OwnHit,
    DhHit,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Miss => "miss",
            Kind::OwnHit => "own_key_hit",
            Kind::DhHit => "dh_hit",
        }
    }
}

fn outputs(rng: &mut ChaCha20Rng, wallet: &Wallet, kind: Kind) -> Vec<BuiltOutput> {
    let memo = || MemoField::new_open(b"bench payment".to_vec(), Default::default()).unwrap();
    (0..OUTPUTS)
        .map(|i| match kind {
            // Payments to other wallets: every miss pays the full Diffie-Hellman price.
            Kind::Miss => {
                let other = Wallet::random(rng);
                one_sided_output(
                    rng,
                    &other.view_public,
                    &other.spend_public,
                    1000 + i as u64,
                    memo(),
                    true,
                )
            }
            Kind::OwnHit => own_output(rng, &wallet.view, &wallet.spend_public, 1000 + i as u64, memo()),
            Kind::DhHit => one_sided_output(
                rng,
                &wallet.view_public,
                &wallet.spend_public,
                1000 + i as u64,
                memo(),
                true,
            ),
        })
        .collect()
}

/// Views of `outputs`; with `stored`, each carries its sender offset key in the cache's stored form
/// (format 3), else the recogniser decompresses it (format 2, or no cache).
fn views<'a>(outputs: &'a [BuiltOutput], stored: Option<&'a [[u8; STORED_OFFSET_LEN]]>) -> Vec<OutputView<'a>> {
    outputs
        .iter()
        .enumerate()
        .map(|(i, o)| OutputView {
            commitment: &o.commitment,
            sender_offset_public_key: &o.sender_offset_public_key,
            stored_offset: stored.map(|s| &s[i]),
            encrypted_data: &o.encrypted_data,
            script: Some(&o.script),
        })
        .collect()
}

/// Where the recogniser takes `R` from.
#[derive(Clone, Copy)]
enum Offsets {
    Stored,
    Decompressed,
}

type OfficialOutput = (CompressedCommitment, EncryptedData, CompressedPublicKey);

fn official_outputs(outputs: &[BuiltOutput]) -> Vec<OfficialOutput> {
    outputs
        .iter()
        .map(|o| {
            (
                CompressedCommitment::from_canonical_bytes(&o.commitment).unwrap(),
                EncryptedData::from_bytes(&o.encrypted_data).unwrap(),
                CompressedPublicKey::from_canonical_bytes(&o.sender_offset_public_key).unwrap(),
            )
        })
        .collect()
}

/// The measured closures of one workload, shared by criterion and the summary.
struct Workload {
    wallets: Vec<Wallet>,
    built: Vec<BuiltOutput>,
    official: Vec<OfficialOutput>,
    offsets: Vec<CompressedRistretto>,
    stored: Vec<[u8; STORED_OFFSET_LEN]>,
}

impl Workload {
    fn new(kind: Kind, keys: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let wallets: Vec<Wallet> = (0..keys).map(|_| Wallet::random(&mut rng)).collect();
        let built = outputs(&mut rng, &wallets[0], kind);
        let official = official_outputs(&built);
        let offsets = built
            .iter()
            .map(|o| CompressedRistretto(o.sender_offset_public_key))
            .collect();
        let stored = built
            .iter()
            .map(|o| stored_offset::encode(&o.sender_offset_public_key))
            .collect();
        Workload {
            wallets,
            built,
            official,
            offsets,
            stored,
        }
    }

    fn views(&self, offsets: Offsets) -> Vec<OutputView<'_>> {
        match offsets {
            Offsets::Stored => views(&self.built, Some(&self.stored)),
            Offsets::Decompressed => views(&self.built, None),
        }
    }

    fn ours(&self, recognizer: &mut Recognizer, keys: &[WalletKey], offsets: Offsets) -> usize {
        let views = self.views(offsets);
        let mut hits = 0;
        recognizer.scan(&views, keys, |_| hits += 1);
        hits
    }

    fn official(&self, manager: &KeyManager) -> usize {
        self.official
            .iter()
            .filter(|(c, e, r)| manager.try_output_key_recovery(c, e, r).unwrap().is_some())
            .count()
    }

    fn floor(&self, view: &Scalar) -> u8 {
        self.offsets
            .iter()
            .fold(0, |acc, r| acc ^ (view * r.decompress().unwrap()).compress().0[0])
    }
}

fn bench_recognition(c: &mut Criterion) {
    for kind in [Kind::Miss, Kind::OwnHit, Kind::DhHit] {
        let mut group = c.benchmark_group(format!("recognize/{}", kind.name()));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        let workload = Workload::new(kind, 16);
        group.throughput(Throughput::Elements(OUTPUTS as u64));
        let manager = workload.wallets[0].official();
        group.bench_function("official", |b| b.iter(|| black_box(workload.official(&manager))));
        if let Kind::Miss = kind {
            group.bench_function("floor", |b| {
                b.iter(|| black_box(workload.floor(&workload.wallets[0].view)))
            });
        }
        let mut recognizer = Recognizer::new();
        for keys in [1usize, 4, 16] {
            let wallet_keys: Vec<WalletKey> = workload.wallets[..keys].iter().map(Wallet::key).collect();
            group.throughput(Throughput::Elements((OUTPUTS * keys) as u64));
            group.bench_with_input(BenchmarkId::new("ours", keys), &wallet_keys, |b, keys| {
                b.iter(|| black_box(workload.ours(&mut recognizer, keys, Offsets::Stored)))
            });
            group.bench_with_input(BenchmarkId::new("ours_decompressing", keys), &wallet_keys, |b, keys| {
                b.iter(|| black_box(workload.ours(&mut recognizer, keys, Offsets::Decompressed)))
            });
        }
        group.finish();
    }
}

/// Best of several interleaved timings of `f`, in µs per output-key.
fn per_output_key(pairs: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rounds = 0;
        while start.elapsed() < Duration::from_millis(300) {
            f();
            rounds += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / (rounds * pairs) as f64);
    }
    best
}

fn summary() {
    println!("\nsame-run summary, µs per output-key (best of 5 × 0.3 s); ours reads R as the cache stores it");
    println!("(format 3, decompressed at ingest), ours/dec decompresses it per pass (format 2):");
    println!(
        "{:<12} {:>7} {:>8} {:>8} {:>7} {:>7} {:>9} {:>9}  ours/official (1, 4, 16)  ours/floor (1, 16)",
        "case", "floor", "official", "ours k=1", "k=4", "k=16", "dec k=1", "dec k=16"
    );
    let mut recognizer = Recognizer::new();
    for kind in [Kind::Miss, Kind::OwnHit, Kind::DhHit] {
        let w = Workload::new(kind, 16);
        let manager = w.wallets[0].official();
        let floor = per_output_key(OUTPUTS, || {
            black_box(w.floor(&w.wallets[0].view));
        });
        let official = per_output_key(OUTPUTS, || {
            black_box(w.official(&manager));
        });
        let mut ours_with = |k: usize, offsets: Offsets| {
            let keys: Vec<WalletKey> = w.wallets[..k].iter().map(Wallet::key).collect();
            per_output_key(OUTPUTS * k, || {
                black_box(w.ours(&mut recognizer, &keys, offsets));
            })
        };
        let ours: Vec<f64> = [1usize, 4, 16].iter().map(|&k| ours_with(k, Offsets::Stored)).collect();
        let decompressing: Vec<f64> = [1usize, 16]
            .iter()
            .map(|&k| ours_with(k, Offsets::Decompressed))
            .collect();
        println!(
            "{:<12} {:>7.2} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>9.2} {:>9.2}  {:.2} {:.2} {:.2}           {:.2} {:.2}",
            kind.name(),
            floor,
            official,
            ours[0],
            ours[1],
            ours[2],
            decompressing[0],
            decompressing[1],
            ours[0] / official,
            ours[1] / official,
            ours[2] / official,
            ours[0] / floor,
            ours[2] / floor,
        );
    }
    breakdown();
}

/// What a 16-key miss pays per output-key, stage by stage, each stage timed alone over the same outputs
/// with the code the batch runs (`recognize::steps`), beside the batch itself.
fn breakdown() {
    const KEYS: usize = 16;
    let w = Workload::new(Kind::Miss, KEYS);
    let keys: Vec<WalletKey> = w.wallets.iter().map(Wallet::key).collect();
    let stored = w.views(Offsets::Stored);
    let compressed = w.views(Offsets::Decompressed);
    let pairs = OUTPUTS * KEYS;
    let points: Vec<RistrettoPoint> = stored.iter().map(|v| Steps::offset(v).unwrap()).collect();
    let products: Vec<RistrettoPoint> = points
        .iter()
        .flat_map(|p| keys.iter().map(move |k| Steps::product(k, p)))
        .collect();
    let shared = RistrettoPoint::double_and_compress_batch(&products);
    let encryption_keys: Vec<Scalar> = shared.iter().map(Steps::encryption_key).collect();
    let mut steps = Steps::default();

    // Per output, shared by the keys: divided by the key count.
    let decompress = per_output_key(pairs, || {
        compressed.iter().for_each(|v| {
            black_box(Steps::offset(v));
        })
    });
    let load = per_output_key(pairs, || {
        stored.iter().for_each(|v| {
            black_box(Steps::offset(v));
        })
    });
    let own_key = per_output_key(pairs, || {
        for v in &stored {
            for k in &keys {
                black_box(steps.own_key_attempt(v, k));
            }
        }
    });
    let multiply = per_output_key(pairs, || {
        for p in &points {
            for k in &keys {
                black_box(Steps::product(k, p));
            }
        }
    });
    let compress = per_output_key(pairs, || {
        black_box(RistrettoPoint::double_and_compress_batch(&products));
    });
    let kdf = per_output_key(pairs, || {
        shared.iter().for_each(|d| {
            black_box(Steps::encryption_key(d));
        })
    });
    let dh_aead = per_output_key(pairs, || {
        for (i, e) in encryption_keys.iter().enumerate() {
            black_box(steps.diffie_hellman_attempt(&stored[i / KEYS], e));
        }
    });
    let mut recognizer = Recognizer::new();
    let batch = per_output_key(pairs, || {
        black_box(w.ours(&mut recognizer, &keys, Offsets::Stored));
    });
    let stages = [
        ("load stored R (per output / 16)", load),
        ("own-key attempt (BLAKE2b, XChaCha20-Poly1305 tag)", own_key),
        ("(v/2)·R, constant time", multiply),
        ("batched double-and-compress", compress),
        ("k_enc(D) (BLAKE2b-512, wide reduction)", kdf),
        ("Diffie-Hellman AEAD attempt (BLAKE2b, tag)", dh_aead),
    ];
    let sum: f64 = stages.iter().map(|(_, t)| t).sum();
    println!("\nbreakdown of a {KEYS}-key miss, µs per output-key:");
    for (name, t) in stages {
        println!("  {name:<52} {t:>6.3}  {:>5.1}%", 100.0 * t / batch);
    }
    println!("  {:<52} {sum:>6.3}  {:>5.1}%", "sum of stages", 100.0 * sum / batch);
    println!("  {:<52} {batch:>6.3}", "the batch (ours, k=16)");
    println!("  {:<52} {:>6.3}", "rest (bookkeeping: batch − stages)", batch - sum);
    println!(
        "  {:<52} {decompress:>6.3}",
        "for comparison: decompress R (per output / 16)"
    );
}

criterion_group!(benches, bench_recognition);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
