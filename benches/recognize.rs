//! Recognition cost per output and key: ours (batch, 1/4/16 keys) beside the official
//! `KeyManager::try_output_key_recovery` and the floor (decompress + variable-base mul + compress),
//! for misses, own-key hits and Diffie-Hellman hits. Ends with a same-run summary of ratios.

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
    recognize::{OutputView, Recognizer, WalletKey},
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

fn views(outputs: &[BuiltOutput]) -> Vec<OutputView<'_>> {
    outputs
        .iter()
        .map(|o| OutputView {
            commitment: &o.commitment,
            sender_offset_public_key: &o.sender_offset_public_key,
            encrypted_data: &o.encrypted_data,
            script: Some(&o.script),
        })
        .collect()
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
        Workload {
            wallets,
            built,
            official,
            offsets,
        }
    }

    fn ours(&self, recognizer: &mut Recognizer, keys: &[WalletKey]) -> usize {
        let views = views(&self.built);
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
                b.iter(|| black_box(workload.ours(&mut recognizer, keys)))
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
    println!("\nsame-run summary, µs per output-key (best of 5 × 0.3 s):");
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}  ours/official (1, 4, 16 keys)  ours/floor",
        "case", "floor", "official", "ours k=1", "k=4", "k=16"
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
        let ours: Vec<f64> = [1usize, 4, 16]
            .iter()
            .map(|&k| {
                let keys: Vec<WalletKey> = w.wallets[..k].iter().map(Wallet::key).collect();
                per_output_key(OUTPUTS * k, || {
                    black_box(w.ours(&mut recognizer, &keys));
                })
            })
            .collect();
        println!(
            "{:<12} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {:.2} {:.2} {:.2}              {:.2} {:.2} {:.2}",
            kind.name(),
            floor,
            official,
            ours[0],
            ours[1],
            ours[2],
            ours[0] / official,
            ours[1] / official,
            ours[2] / official,
            ours[0] / floor,
            ours[1] / floor,
            ours[2] / floor,
        );
    }
}

criterion_group!(benches, bench_recognition);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
