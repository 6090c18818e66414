//! Recognition cost per output and key: ours (batch, 1/4/16/64 keys) beside the official
//! `KeyManager::try_output_key_recovery`, for misses, own-key hits and Diffie-Hellman hits, with `R` read
//! as the cache stores it (format 3) and decompressed per pass. Ends with a same-run summary: every
//! multiplication path this machine runs (dalek's per key, ours per key, the shared per-output tables)
//! at each key count, the automatic choice, the floor (what no recogniser avoids: the shared path's
//! multiplication alone, one table per output plus each key's additions, and the protocol's per-pair
//! work, each timed alone) and the ratios; then a stage breakdown of a 16-key miss.

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
    recognize::{
        LaneKind, Multiplication, OutputView, Recognizer, STORED_OFFSET_LEN, WalletKey, steps::Steps, stored_offset,
        vector_lanes_enabled,
    },
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

    /// The old floor: decompression, dalek's variable-base multiplication and a compression per pair.
    fn dalek_floor(&self, view: &Scalar) -> u8 {
        self.offsets
            .iter()
            .fold(0, |acc, r| acc ^ (view * r.decompress().unwrap()).compress().0[0])
    }

    /// The multiplication's floor for `keys`: the shared path's multiplication alone (per output one
    /// table, per key the additions), µs per output-key, on the widest lanes here.
    fn shared_floor(&self, keys: &[WalletKey]) -> f64 {
        let points: Vec<RistrettoPoint> = self
            .views(Offsets::Stored)
            .iter()
            .map(|v| Steps::offset(v).unwrap())
            .collect();
        let mut steps = Steps::default();
        let mut out = Vec::with_capacity(points.len() * keys.len());
        let how = Multiplication::Shared(LaneKind::best());
        per_output_key(points.len() * keys.len(), || {
            out.clear();
            assert!(steps.products(how, &points, keys, &mut out), "{how} runs here");
            black_box(&out);
        })
    }

    /// The protocol's floor for `keys`: the per-pair work no sharing across keys removes, each stage
    /// timed alone with the code the batch runs (`recognize::steps`) and summed, µs per output-key: the
    /// own-key attempt (AEAD key hash, tag check), the batched double-and-compress, `k_enc` and the
    /// Diffie-Hellman attempt.
    fn protocol_floor(&self, keys: &[WalletKey]) -> f64 {
        let views = self.views(Offsets::Stored);
        let pairs = views.len() * keys.len();
        let products: Vec<RistrettoPoint> = views
            .iter()
            .map(|v| Steps::offset(v).unwrap())
            .flat_map(|p| keys.iter().map(move |k| Steps::product(k, &p)))
            .collect();
        let shared = RistrettoPoint::double_and_compress_batch(&products);
        let encryption_keys: Vec<Scalar> = shared.iter().map(Steps::encryption_key).collect();
        let mut steps = Steps::default();
        let own_key = per_output_key(pairs, || {
            for v in &views {
                for k in keys {
                    black_box(steps.own_key_attempt(v, k));
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
        let dh_attempt = per_output_key(pairs, || {
            for (i, e) in encryption_keys.iter().enumerate() {
                black_box(steps.diffie_hellman_attempt(&views[i / keys.len()], e));
            }
        });
        own_key + compress + kdf + dh_attempt
    }
}

fn bench_recognition(c: &mut Criterion) {
    for kind in [Kind::Miss, Kind::OwnHit, Kind::DhHit] {
        let mut group = c.benchmark_group(format!("recognize/{}", kind.name()));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        let workload = Workload::new(kind, 64);
        group.throughput(Throughput::Elements(OUTPUTS as u64));
        let manager = workload.wallets[0].official();
        group.bench_function("official", |b| b.iter(|| black_box(workload.official(&manager))));
        let mut recognizer = Recognizer::new();
        for keys in KEY_COUNTS {
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

const KEY_COUNTS: [usize; 4] = [1, 4, 16, 64];

/// Rounds of 0.3 s per figure of the summary (best of them): `RECOGNIZE_BENCH_ROUNDS`, default 5; fewer
/// for a quick look while developing.
fn rounds() -> usize {
    std::env::var("RECOGNIZE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1)
}

/// Best of several timings of `f`, in µs per output-key.
fn per_output_key(pairs: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds() {
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

/// The rows of the summary: the automatic choice, then every path forced.
fn paths() -> Vec<(String, Option<Multiplication>)> {
    let mut rows = vec![("ours (auto)".to_string(), None)];
    rows.extend(
        Multiplication::available()
            .into_iter()
            .map(|m| (format!("  {m}"), Some(m))),
    );
    rows
}

fn summary() {
    println!(
        "\nsame-run summary, µs per output-key (best of {} × 0.3 s), {OUTPUTS} outputs;",
        rounds()
    );
    println!("R read as the cache stores it (format 3) unless `decompressing`. `floor`: what a recogniser cannot");
    println!("avoid: the multiplication's (the shared path's alone: one table per output ÷ keys, plus each key's");
    println!("additions) plus the protocol's (per pair: two AEAD key hashes and tag checks, k_enc, compression),");
    println!("each stage timed alone.");
    println!("Vector lanes: {}.", lanes_note());
    for kind in [Kind::Miss, Kind::OwnHit, Kind::DhHit] {
        let w = Workload::new(kind, 64);
        let manager = w.wallets[0].official();
        let official = per_output_key(OUTPUTS, || {
            black_box(w.official(&manager));
        });
        let dalek_floor = per_output_key(OUTPUTS, || {
            black_box(w.dalek_floor(&w.wallets[0].view));
        });
        println!(
            "\n{}: official {official:.2}; dalek decompress + multiply + compress {dalek_floor:.2}",
            kind.name()
        );
        print!("  {:<24}", "path \\ keys");
        for k in KEY_COUNTS {
            print!(" {:>8}", format!("k={k}"));
        }
        println!();
        let all_keys: Vec<WalletKey> = w.wallets.iter().map(Wallet::key).collect();
        let mut auto = Vec::new();
        for (name, how) in paths() {
            print!("  {name:<24}");
            for k in KEY_COUNTS {
                let mut recognizer = match how {
                    Some(how) => Recognizer::with_multiplication(how).expect("available"),
                    None => Recognizer::new(),
                };
                let t = per_output_key(OUTPUTS * k, || {
                    black_box(w.ours(&mut recognizer, &all_keys[..k], Offsets::Stored));
                });
                if how.is_none() {
                    auto.push(t);
                }
                print!(" {t:>8.2}");
            }
            println!();
        }
        print!("  {:<24}", "ours (auto) decompressing");
        for k in KEY_COUNTS {
            let mut recognizer = Recognizer::new();
            let t = per_output_key(OUTPUTS * k, || {
                black_box(w.ours(&mut recognizer, &all_keys[..k], Offsets::Decompressed));
            });
            print!(" {t:>8.2}");
        }
        println!();
        let multiplication: Vec<f64> = KEY_COUNTS.iter().map(|&k| w.shared_floor(&all_keys[..k])).collect();
        let protocol: Vec<f64> = KEY_COUNTS.iter().map(|&k| w.protocol_floor(&all_keys[..k])).collect();
        let floor: Vec<f64> = multiplication.iter().zip(&protocol).map(|(m, p)| m + p).collect();
        for (name, row) in [
            ("floor: multiplication", &multiplication),
            ("floor: protocol", &protocol),
            ("floor", &floor),
        ] {
            print!("  {name:<24}");
            row.iter().for_each(|t| print!(" {t:>8.2}"));
            println!();
        }
        print!("  {:<24}", "auto / official");
        auto.iter().for_each(|t| print!(" {:>8.3}", t / official));
        println!();
        print!("  {:<24}", "auto / floor");
        auto.iter().zip(&floor).for_each(|(t, f)| print!(" {:>8.2}", t / f));
        println!();
        print!("  {:<24}", "auto takes");
        let recognizer = Recognizer::new();
        KEY_COUNTS
            .iter()
            .for_each(|&k| print!(" {:>8}", short(recognizer.multiplication(OUTPUTS, k))));
        println!();
    }
    breakdown();
}

fn lanes_note() -> String {
    let kinds: Vec<String> = [LaneKind::Ifma, LaneKind::Avx2]
        .iter()
        .map(|k| format!("{k:?} {}", if k.available() { "yes" } else { "no" }))
        .collect();
    format!(
        "{} (switch {})",
        kinds.join(", "),
        if vector_lanes_enabled() { "on" } else { "off" }
    )
}

fn short(how: Multiplication) -> String {
    match how {
        Multiplication::PerKey => "dalek".into(),
        Multiplication::Windowed(k) => format!("win-{}", lane_name(k)),
        Multiplication::Shared(k) => format!("sh-{}", lane_name(k)),
    }
}

fn lane_name(kind: LaneKind) -> &'static str {
    match kind {
        LaneKind::Serial => "ser",
        LaneKind::Ifma => "ifma",
        LaneKind::Avx2 => "avx2",
    }
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
    let how = Recognizer::new().multiplication(OUTPUTS, KEYS);

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
    let mut out = Vec::with_capacity(pairs);
    let multiply = per_output_key(pairs, || {
        out.clear();
        if !steps.products(how, &points, &keys, &mut out) {
            for p in &points {
                for k in &keys {
                    out.push(Steps::product(k, p));
                }
            }
        }
        black_box(&out);
    });
    let dalek_multiply = per_output_key(pairs, || {
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
    // The tag check alone (the last stage of each attempt), ours and the crate's, under arbitrary keys.
    let tag = per_output_key(pairs, || {
        for (i, e) in encryption_keys.iter().enumerate() {
            black_box(Steps::tag_check(&stored[i / KEYS], e.as_bytes()));
        }
    });
    let crate_tag = per_output_key(pairs, || {
        for (i, e) in encryption_keys.iter().enumerate() {
            black_box(steps.crate_tag_check(&stored[i / KEYS], e.as_bytes()));
        }
    });
    let mut recognizer = Recognizer::new();
    let batch = per_output_key(pairs, || {
        black_box(w.ours(&mut recognizer, &keys, Offsets::Stored));
    });
    let multiply_name = format!("(v/2)·R, constant time: {how}");
    let stages = [
        ("load stored R (per output / 16)", load),
        ("own-key attempt (BLAKE2b, XChaCha20-Poly1305 tag)", own_key),
        (multiply_name.as_str(), multiply),
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
        "  {:<52} {dalek_multiply:>6.3}",
        "for comparison: dalek's (v/2)·R per pair"
    );
    println!(
        "  {:<52} {decompress:>6.3}",
        "for comparison: decompress R (per output / 16)"
    );
    println!("  {:<52} {tag:>6.3}", "of an attempt: the tag check (ours, `tag`)");
    println!(
        "  {:<52} {crate_tag:>6.3}",
        "for comparison: the tag check by chacha20poly1305"
    );
}

criterion_group!(benches, bench_recognition);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
