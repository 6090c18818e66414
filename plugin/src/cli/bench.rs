//! `bench`: scan throughput on a demo cache, beside the recogniser's own single-thread cost and the floor
//! (decompress + variable-base multiplication + compress) measured in the same run; and what the cache's
//! checksums cost in that run: the check when a process first maps the cache, a full `verify`, and the
//! refresh a served cache does before each pass (steady state: nothing to check).

use std::{
    path::PathBuf,
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use curve25519_dalek::ristretto::CompressedRistretto;
use serde_json::json;
use tari_wallet_sync::{
    cache::{ADDED_HEADER_BYTES_PER_SEGMENT, CacheView, OutputRecord, verify_dir},
    demo::chain::DemoWallet,
    recognize::{OutputView, Recognizer, WalletKey},
    scan::{ScanOptions, ScanRequest, scan},
};

use super::demo_chain;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    outputs: u64,
    /// Wallets scanned in one pass.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Scan threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Where demo caches are kept between runs (one per size).
    #[arg(long, default_value = "target/tws-bench")]
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

/// Outputs timed for the floor and the recogniser's single-thread cost.
const SAMPLE: usize = 4096;

pub fn run(args: Args) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (view, wallets) = demo_cache(&args)?;
    let keys: Vec<WalletKey> = wallets
        .iter()
        .cycle()
        .take(args.keys.max(1))
        .map(|w| WalletKey::from_hex(&w.view_key, &w.spend_public_key))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let records: Vec<OutputRecord<'_>> = view
        .outputs(0..SAMPLE.min(view.output_count() as usize) as u64)
        .collect();

    let floor = floor_us(&records);
    let recognizer_us = recognizer_us(&records, &keys);
    let single = scan_us(&view, &keys, 1)?;
    let parallel = if threads == 1 {
        single
    } else {
        scan_us(&view, &keys, threads)?
    };
    let pairs = (view.output_count() * keys.len() as u64) as f64;
    let us_single = single.as_secs_f64() * 1e6 / pairs;
    let us_parallel = parallel.as_secs_f64() * 1e6 / pairs;
    let efficiency = single.as_secs_f64() / (parallel.as_secs_f64() * threads as f64);
    let one_key_pass = if keys.len() > 1 {
        Some(scan_us(&view, &keys[..1], threads)?)
    } else {
        None
    };
    let multi_key_ratio = one_key_pass.map(|one| parallel.as_secs_f64() / (one.as_secs_f64() * keys.len() as f64));
    let checks = checksum_costs(&view, &keys, threads)?;
    let report = json!({
        "outputs": view.output_count(),
        "keys": keys.len(),
        "threads": threads,
        "outputs_per_sec": view.output_count() as f64 / parallel.as_secs_f64(),
        "us_per_output_key": us_parallel,
        "single_thread_us_per_output_key": us_single,
        "recognizer_us_per_output_key": recognizer_us,
        "floor_us_per_output_key": floor,
        "parallel_efficiency": efficiency,
        "scan_over_recognizer": us_single / recognizer_us,
        "recognizer_over_floor": recognizer_us / floor,
        "multi_key_pass_over_single_passes": multi_key_ratio,
        "scan_seconds": parallel.as_secs_f64(),
        "checksums": checks,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// The checksums' costs in this run: opening the cache in a fresh state (every file read and checked
/// once), `verify` (every file again), and a served cache's steady state: a refresh with nothing new
/// (what it does before each pass) and the pass on the refreshed view, against passes on the view
/// opened first, interleaved and best of five each so the machine's load hits both alike.
fn checksum_costs(view: &CacheView, keys: &[WalletKey], threads: usize) -> Result<serde_json::Value> {
    let dir = view.dir().to_owned();
    let open = best_of(|| {
        std::hint::black_box(CacheView::open(&dir).map(|v| v.output_count()).ok());
    });
    let started = Instant::now();
    let report = verify_dir(&dir)?;
    let verify = started.elapsed();
    let refresh = best_of(|| {
        std::hint::black_box(view.refresh().map(|v| v.output_count()).ok());
    });
    let (mut pass, mut steady) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        pass = pass.min(scan_us(view, keys, threads)?);
        let started = Instant::now();
        let refreshed = view.refresh()?;
        scan_us(&refreshed, keys, threads)?;
        steady = steady.min(started.elapsed());
    }
    Ok(json!({
        "cache_bytes": report.bytes,
        "segments": report.segments,
        "header_bytes_added_per_segment": ADDED_HEADER_BYTES_PER_SEGMENT,
        "first_open_check_seconds": open.as_secs_f64(),
        "verify_seconds": verify.as_secs_f64(),
        "verify_mb_per_sec": report.bytes as f64 / 1e6 / verify.as_secs_f64(),
        "refresh_seconds": refresh.as_secs_f64(),
        "pass_seconds": pass.as_secs_f64(),
        "refresh_and_pass_seconds": steady.as_secs_f64(),
        "steady_pass_over_pass": steady.as_secs_f64() / pass.as_secs_f64(),
    }))
}

fn demo_cache(args: &Args) -> Result<(CacheView, Vec<DemoWallet>)> {
    let out = args.dir.join(format!("outputs-{}", args.outputs));
    let wallets_path = out.join("wallets.json");
    if !wallets_path.exists() {
        let _ = std::fs::remove_dir_all(&out);
        let spec = demo_chain::Args {
            out: out.clone(),
            outputs: args.outputs,
            blocks: (args.outputs / 100).max(1),
            wallets: 8,
            seed: 1,
        };
        eprintln!(
            "building a demo cache of {} outputs in {} (once)",
            args.outputs,
            out.display()
        );
        demo_chain::run(&spec)?;
    }
    let wallets: Vec<DemoWallet> = serde_json::from_str(&std::fs::read_to_string(&wallets_path)?)
        .with_context(|| format!("reading {}", wallets_path.display()))?;
    let view = CacheView::open(out.join("cache")).context("opening the demo cache")?;
    Ok((view, wallets))
}

/// Best of five of `f`'s duration.
fn best_of(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .expect("five runs")
}

fn floor_us(records: &[OutputRecord<'_>]) -> f64 {
    let scalar = curve25519_dalek::scalar::Scalar::from_bytes_mod_order([7; 32]);
    let points: Vec<CompressedRistretto> = records
        .iter()
        .map(|r| CompressedRistretto(*r.sender_offset_public_key))
        .collect();
    let elapsed = best_of(|| {
        let mut acc = 0u8;
        for point in &points {
            if let Some(p) = point.decompress() {
                acc ^= (scalar * p).compress().0[0];
            }
        }
        std::hint::black_box(acc);
    });
    elapsed.as_secs_f64() * 1e6 / points.len() as f64
}

fn recognizer_us(records: &[OutputRecord<'_>], keys: &[WalletKey]) -> f64 {
    let views: Vec<OutputView<'_>> = records
        .iter()
        .map(|r| OutputView {
            commitment: r.commitment,
            sender_offset_public_key: r.sender_offset_public_key,
            stored_offset: r.stored_offset,
            encrypted_data: r.encrypted_data,
            script: Some(r.script),
        })
        .collect();
    let mut recognizer = Recognizer::new();
    let elapsed = best_of(|| {
        let mut hits = 0;
        recognizer.scan(&views, keys, |_| hits += 1);
        std::hint::black_box(hits);
    });
    elapsed.as_secs_f64() * 1e6 / (views.len() * keys.len()) as f64
}

fn scan_us(view: &CacheView, keys: &[WalletKey], threads: usize) -> Result<Duration> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let requests: Vec<ScanRequest> = keys
        .iter()
        .map(|k| ScanRequest {
            key: k.clone(),
            birthday: 0,
        })
        .collect();
    let start = Instant::now();
    pool.install(|| {
        scan(
            view,
            &requests,
            &ScanOptions::default(),
            &|_| {},
            &AtomicBool::new(false),
        )
    })?;
    Ok(start.elapsed())
}
