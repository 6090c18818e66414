//! Wallet file bench: the SQLite file's compressed size at several zstd levels for wallets with 1,000 and
//! 100,000 owned outputs (target ≤ 30%), and build + compress time for 1,000 outputs (target ≤ 10% of a
//! 1,000,000-output scan, about 2 s here). A plain main (`harness = false`): each figure is one
//! measurement over a whole file, reported as a table with ratios from the same run.
//!
//! `cargo bench --bench walletdb` (add `-- --quick` to skip the 100,000-output wallet).

use std::time::{Duration, Instant};

use tari_wallet_sync::walletdb::{
    AccountSpec, BuildOptions, DEFAULT_ZSTD_LEVEL, build_wallet_file, compress, fill, open_memory_db,
};
use tari_wallet_sync_testkit::synthetic::{SyntheticWallet, synthetic_block, synthetic_wallet};
use zeroize::Zeroizing;

const LEVELS: &[i32] = &[1, 3, 6, 9, 12, 15, 19];
/// Levels tried on the large file: the slowest levels take minutes on 600 MB.
const LEVELS_LARGE: &[i32] = &[1, 3, 6, 9, 12];

fn account() -> AccountSpec {
    AccountSpec {
        name: "bench".into(),
        password: Zeroizing::new("bench password".into()),
        birthday: 0,
    }
}

fn raw_database(wallet: &SyntheticWallet) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut conn = open_memory_db().unwrap();
    fill(
        &mut conn,
        &wallet.key,
        &account(),
        &wallet.result,
        &synthetic_block,
        &wallet.full,
        &BuildOptions::default(),
    )
    .unwrap();
    let raw = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
    (raw, started.elapsed())
}

fn levels(outputs: u64, levels: &[i32]) {
    let wallet = synthetic_wallet(outputs, 1);
    let (raw, fill_time) = raw_database(&wallet);
    println!(
        "\n{outputs} outputs: SQLite file {} bytes ({} per output), filled in {:.3} s",
        raw.len(),
        raw.len() as u64 / outputs,
        fill_time.as_secs_f64()
    );
    println!("  level  compressed bytes  ratio   compress s  MB/s");
    for &level in levels {
        let started = Instant::now();
        let file = compress(&raw, level).unwrap();
        let took = started.elapsed().as_secs_f64();
        println!(
            "  {level:>5}  {:>16}  {:>5.1}%  {took:>10.3}  {:>5.0}",
            file.zstd_len,
            100.0 * file.zstd_len as f64 / raw.len() as f64,
            raw.len() as f64 / took / 1e6
        );
    }
}

fn build_time(outputs: u64, runs: usize) {
    let wallet = synthetic_wallet(outputs, 2);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let file = build_wallet_file(
                &wallet.key,
                &account(),
                &wallet.result,
                &synthetic_block,
                &wallet.full,
                &BuildOptions::default(),
            )
            .unwrap();
            assert_eq!(file.summary.outputs, outputs);
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // Argon2id (19 MiB, 2 passes) is part of every build: measured alone for the breakdown.
    let started = Instant::now();
    tari_wallet_sync::walletdb::account::password_key(b"bench password", &[0u8; 16]).unwrap();
    let argon = started.elapsed().as_secs_f64();
    // 1,000,000 outputs at 40,000-60,000 outputs/s is 17-25 s of scan; the target is 10% of that.
    println!(
        "\nbuild + compress (level {DEFAULT_ZSTD_LEVEL}), {outputs} outputs: median {median:.3} s of {runs} \
         (min {:.3}, max {:.3}), of which Argon2id {argon:.3} s; target ≤ 2 s (10% of a 1M-output scan): {}",
        times[0],
        times[times.len() - 1],
        if median <= 2.0 { "met" } else { "MISSED" }
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    levels(1_000, LEVELS);
    build_time(1_000, 7);
    if !quick {
        levels(100_000, LEVELS_LARGE);
    }
}
