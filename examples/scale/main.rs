//! Scale: a synthetic mainnet-sized chain (10 million outputs by default, see `chain`) written into a
//! cache, then in one run: cache bytes per output and in total, peak RSS while scanning, scan µs per
//! output-key for 1, 8 and 32 keys (over the chain's last `--sample` outputs) with the parallel
//! efficiency, and the time from submission to downloaded file of 1 and of 16 concurrent wallets whose
//! birthdays are spread over the chain like real wallets' (most of them young). Prints a table and JSON.
//! Not part of `cargo test`: it writes gigabytes and runs for minutes.
//!
//! `cargo run --release --example scale -- --outputs 10000000 [--sample 100000] [--dir DIR] [--keep]
//! [--no-jobs] [--json FILE]`

mod chain;
mod jobs;

use std::{
    path::{Path, PathBuf},
    sync::{atomic::AtomicBool, mpsc},
    time::Instant,
};

use chain::{Mix, Plan};
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use tari_wallet_sync::{
    cache::{Cache, CacheView},
    demo::chain::DemoWallet,
    recognize::WalletKey,
    scan::{ScanOptions, ScanRequest, scan},
};

/// Blocks built and appended per publish: about 100,000 outputs in memory at a time.
const BLOCKS_PER_BATCH: u64 = 4096;
const SEED: u64 = 0x5ca1e;
/// LocalNet: the synthetic chain is no network's.
const NETWORK: u8 = 0x10;

struct Args {
    outputs: u64,
    sample: u64,
    dir: Option<PathBuf>,
    keep: bool,
    jobs: bool,
    json: Option<PathBuf>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            outputs: 10_000_000,
            sample: 100_000,
            dir: None,
            keep: false,
            jobs: true,
            json: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--outputs" => args.outputs = value().parse().expect("--outputs N"),
                "--sample" => args.sample = value().parse().expect("--sample N"),
                "--dir" => args.dir = Some(value().into()),
                "--json" => args.json = Some(value().into()),
                "--keep" => args.keep = true,
                "--no-jobs" => args.jobs = false,
                other => panic!("unknown argument {other}"),
            }
        }
        args
    }
}

#[derive(Serialize)]
struct Report {
    outputs: u64,
    blocks: u64,
    threads: usize,
    mix: Mix,
    generate_seconds: f64,
    ingest_outputs_per_second: f64,
    cache_bytes: u64,
    cache_bytes_per_output: f64,
    cache_bytes_by_file: Vec<(String, u64)>,
    scan_sample_outputs: u64,
    scans: Vec<ScanFigure>,
    parallel_efficiency_8_keys: f64,
    rss_before_scans_mb: f64,
    peak_rss_scanning_mb: f64,
    /// Of the RSS after the scans: heap (the cost) and mapped cache pages (page cache, reclaimable).
    rss_anon_after_scans_mb: f64,
    rss_file_after_scans_mb: f64,
    /// Peak RSS over the whole run, the in-process service's jobs included.
    peak_rss_with_jobs_mb: f64,
    jobs_1: Vec<jobs::JobTime>,
    jobs_16: Vec<jobs::JobTime>,
    load_average: String,
}

#[derive(Serialize, Clone, Copy)]
struct ScanFigure {
    keys: usize,
    threads: usize,
    seconds: f64,
    /// Wall time per output-key on all threads.
    us_per_output_key: f64,
    /// CPU time per output-key (wall × threads).
    us_per_output_key_per_core: f64,
}

fn main() {
    let args = Args::parse();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir)).expect("temp dir");
    let cache_dir = temp.path().join("cache");

    eprintln!("generating {} outputs on {threads} threads ...", args.outputs);
    let plan = Plan::new(args.outputs, SEED);
    let started = Instant::now();
    let mix = generate(&plan, &cache_dir);
    let generate_seconds = started.elapsed().as_secs_f64();
    let by_file = bytes_by_kind(&cache_dir);
    let cache_bytes: u64 = by_file.iter().map(|(_, b)| b).sum();
    eprintln!("cache written in {generate_seconds:.1} s: {cache_bytes} bytes");

    let view = CacheView::open(&cache_dir).expect("open the cache");
    let rss_before = rss_mb("VmRSS");
    reset_peak_rss();
    let sample = args.sample.min(args.outputs);
    let from = height_at_output(&view, args.outputs - sample);
    let sampled = view.output_count() - view.first_output_at(from);
    // Fault the sample's pages in first, so the first measured pass is not also the one that maps them.
    time_scan(&view, 1, from, threads);
    let mut scans = Vec::new();
    for (keys, pool_threads) in [(1, threads), (8, threads), (8, 1), (32, threads)] {
        let seconds = time_scan(&view, keys, from, pool_threads);
        let per_key = seconds * 1e6 / (sampled * keys as u64) as f64;
        eprintln!("scan {keys:>2} keys on {pool_threads} threads: {seconds:.2} s, {per_key:.2} µs per output-key");
        scans.push(ScanFigure {
            keys,
            threads: pool_threads,
            seconds,
            us_per_output_key: per_key,
            us_per_output_key_per_core: per_key * pool_threads as f64,
        });
    }
    let peak_rss = rss_mb("VmHWM");
    let (rss_anon, rss_file) = (rss_mb("RssAnon"), rss_mb("RssFile"));
    let efficiency = scans[2].seconds / (threads as f64 * scans[1].seconds);

    let (jobs_1, jobs_16) = if args.jobs {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let wallets = spread_wallets(&view, 16);
        // The one-wallet job: the median birthday of the sixteen.
        let median = vec![wallets[8].clone()];
        let one = runtime
            .block_on(jobs::run(&cache_dir, &temp.path().join("service-1"), &median))
            .expect("one job");
        eprintln!("1 job: {:.1} s", one[0].seconds);
        let sixteen = runtime
            .block_on(jobs::run(&cache_dir, &temp.path().join("service-16"), &wallets))
            .expect("16 jobs");
        eprintln!("16 jobs: last ready in {:.1} s", max_seconds(&sixteen));
        (one, sixteen)
    } else {
        (vec![], vec![])
    };
    let peak_rss_with_jobs = rss_mb("VmHWM");

    let report = Report {
        outputs: view.output_count(),
        blocks: view.block_count(),
        threads,
        mix,
        generate_seconds,
        ingest_outputs_per_second: args.outputs as f64 / generate_seconds,
        cache_bytes,
        cache_bytes_per_output: cache_bytes as f64 / args.outputs as f64,
        cache_bytes_by_file: by_file,
        scan_sample_outputs: sampled,
        scans,
        parallel_efficiency_8_keys: efficiency,
        rss_before_scans_mb: rss_before,
        peak_rss_scanning_mb: peak_rss,
        rss_anon_after_scans_mb: rss_anon,
        rss_file_after_scans_mb: rss_file,
        peak_rss_with_jobs_mb: peak_rss_with_jobs,
        jobs_1,
        jobs_16,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    print_table(&report);
    let json = serde_json::to_string_pretty(&report).expect("plain data");
    println!("{json}");
    if let Some(path) = &args.json {
        std::fs::write(path, &json).expect("write the JSON report");
    }
    if args.keep {
        let kept = temp.keep();
        eprintln!("kept the cache in {}", kept.join("cache").display());
    }
}

/// Builds the chain on all cores while this thread appends the previous batch: generation and the
/// cache's ingest (which decompresses each sender offset key once) overlap.
fn generate(plan: &Plan, dir: &Path) -> Mix {
    let mut cache = Cache::create(dir, NETWORK).expect("create the cache");
    let (tx, rx) = mpsc::sync_channel(1);
    let blocks = plan.blocks();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut at = 0;
            while at < blocks {
                let end = (at + BLOCKS_PER_BATCH).min(blocks);
                if tx.send(plan.build(at..end)).is_err() {
                    return;
                }
                at = end;
            }
        });
        let mut mix = Mix::default();
        let mut done = 0u64;
        for (batch, batch_mix) in rx {
            cache.append_blocks(&batch).expect("append");
            done += batch.iter().map(|b| b.outputs.len() as u64).sum::<u64>();
            mix.add(&batch_mix);
            eprint!("\r  {done} outputs");
        }
        eprintln!();
        mix
    })
}

/// Bytes of the cache's files, by kind (`outputs`, `offsets`, `blobs`, ...).
fn bytes_by_kind(dir: &Path) -> Vec<(String, u64)> {
    let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
    for entry in std::fs::read_dir(dir).expect("cache dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = name.rsplit('.').next().unwrap_or("other");
        let kind = if name.starts_with("head.") { "header" } else { kind };
        *kinds.entry(kind.to_owned()).or_default() += entry.metadata().map_or(0, |m| m.len());
    }
    kinds.into_iter().collect()
}

/// The first height whose outputs start at or after `output`.
fn height_at_output(view: &CacheView, output: u64) -> u64 {
    let (mut lo, mut hi) = (0, view.tip().map_or(0, |t| t.height));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if view.first_output_at(mid) < output {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    lo
}

fn stranger(rng: &mut ChaCha20Rng) -> (Scalar, RistrettoPoint) {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let view = Scalar::from_bytes_mod_order_wide(&wide);
    rng.fill_bytes(&mut wide);
    (
        view,
        RistrettoPoint::mul_base(&Scalar::from_bytes_mod_order_wide(&wide)),
    )
}

/// One pass of `keys` strangers from height `from` on a pool of `threads`: seconds.
fn time_scan(view: &CacheView, keys: usize, from: u64, threads: usize) -> f64 {
    let mut rng = ChaCha20Rng::seed_from_u64(keys as u64);
    let requests: Vec<ScanRequest> = (0..keys)
        .map(|_| {
            let (v, s) = stranger(&mut rng);
            ScanRequest {
                key: WalletKey::from_bytes(v.as_bytes(), s.compress().as_bytes()).expect("valid key"),
                birthday: from,
            }
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let started = Instant::now();
    let results = pool
        .install(|| {
            scan(
                view,
                &requests,
                &ScanOptions::default(),
                &|_| {},
                &AtomicBool::new(false),
            )
        })
        .expect("scan");
    assert!(results.iter().all(|r| r.outputs.is_empty()), "strangers own nothing");
    started.elapsed().as_secs_f64()
}

/// `count` strangers whose birthdays sit at quantiles of a distribution skewed to the tip, as real
/// wallets are mostly young: wallet i was born a fraction ((i + 0.5) / count)² of the chain before the
/// tip, so half are younger than a quarter of the chain and the oldest is near genesis.
fn spread_wallets(view: &CacheView, count: usize) -> Vec<DemoWallet> {
    let tip = view.tip().map_or(0, |t| t.height);
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    (0..count)
        .map(|i| {
            let age = ((i as f64 + 0.5) / count as f64).powi(2);
            let birthday = tip - (age * tip as f64) as u64;
            let (v, s) = stranger(&mut rng);
            DemoWallet {
                name: format!("wallet {i}"),
                view_key: hex::encode(v.as_bytes()),
                spend_public_key: hex::encode(s.compress().as_bytes()),
                birthday,
                expected_balance: 0,
                expected_outputs: 0,
                expected_spent: 0,
            }
        })
        .collect()
}

fn max_seconds(times: &[jobs::JobTime]) -> f64 {
    times.iter().map(|t| t.seconds).fold(0.0, f64::max)
}

fn rss_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets the peak RSS (VmHWM) to the current RSS, so the peak read later is the scans' own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn print_table(r: &Report) {
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "\nscale: {} outputs in {} blocks, {} threads",
        r.outputs, r.blocks, r.threads
    );
    println!(
        "  mix: {} coinbases, {} one-sided, {} change, {} burns ({} revealed-value), {} spends",
        r.mix.coinbases, r.mix.one_sided, r.mix.change, r.mix.burns, r.mix.revealed_value, r.mix.spends
    );
    println!(
        "  generate + ingest      {:>10.1} s   ({:.0} outputs/s)",
        r.generate_seconds, r.ingest_outputs_per_second
    );
    println!(
        "  cache                  {:>10.1} MB  ({:.1} bytes/output)",
        mb(r.cache_bytes),
        r.cache_bytes_per_output
    );
    for (kind, bytes) in &r.cache_bytes_by_file {
        println!(
            "    {kind:<20} {:>10.1} MB  ({:.1} bytes/output)",
            mb(*bytes),
            *bytes as f64 / r.outputs as f64
        );
    }
    println!("  scans over the last {} outputs:", r.scan_sample_outputs);
    println!(
        "    {:>4} {:>7} {:>9} {:>16} {:>16}",
        "keys", "threads", "seconds", "µs/output-key", "µs/o-k per core"
    );
    for s in &r.scans {
        println!(
            "    {:>4} {:>7} {:>9.2} {:>16.3} {:>16.2}",
            s.keys, s.threads, s.seconds, s.us_per_output_key, s.us_per_output_key_per_core
        );
    }
    println!(
        "  parallel efficiency (8 keys, {} threads vs 1)  {:.2}",
        r.threads, r.parallel_efficiency_8_keys
    );
    println!(
        "  RSS before scans {:.0} MB, peak while scanning {:.0} MB (after: {:.0} MB heap, {:.0} MB mapped cache); \
         peak with the jobs {:.0} MB",
        r.rss_before_scans_mb,
        r.peak_rss_scanning_mb,
        r.rss_anon_after_scans_mb,
        r.rss_file_after_scans_mb,
        r.peak_rss_with_jobs_mb
    );
    for (label, times) in [("1 wallet", &r.jobs_1), ("16 wallets", &r.jobs_16)] {
        if times.is_empty() {
            continue;
        }
        let mean = times.iter().map(|t| t.seconds).sum::<f64>() / times.len() as f64;
        println!(
            "  jobs, {label:<10} submission → downloaded file: mean {mean:.1} s, last {:.1} s",
            max_seconds(times)
        );
    }
    println!("  load average {}", r.load_average);
}
