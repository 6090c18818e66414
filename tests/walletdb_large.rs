//! A wallet with 100,000 owned outputs (synthesized, no chain): the file builds in bounded memory and
//! time, and reads back whole. Its own test binary, so the process's peak memory is this test's alone.

use std::time::Instant;

use tari_wallet_sync::walletdb::{AccountSpec, BuildOptions, build_wallet_file};
use tari_wallet_sync_testkit::synthetic::{synthetic_block, synthetic_wallet};
use zeroize::Zeroizing;

/// Peak and current resident memory of this process, in KiB (Linux).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[test]
fn a_hundred_thousand_outputs_build_in_bounded_memory() {
    let wallet = synthetic_wallet(100_000, 7);
    let account = AccountSpec {
        name: "big".into(),
        password: Zeroizing::new("pw".into()),
        birthday: 0,
    };
    let (_, before) = memory_kib();
    let started = Instant::now();
    let file = build_wallet_file(
        &wallet.key,
        &account,
        &wallet.result,
        &synthetic_block,
        &wallet.full,
        &BuildOptions::default(),
    )
    .unwrap();
    let took = started.elapsed();
    let (peak, _) = memory_kib();
    let grown_mib = peak.saturating_sub(before) / 1024;
    let raw_mib = file.raw_len / (1 << 20);
    eprintln!(
        "100k outputs: SQLite {raw_mib} MiB, zstd {} KiB ({:.1}%), built in {:.1} s, peak memory +{grown_mib} MiB",
        file.zstd_len / 1024,
        100.0 * file.zstd_len as f64 / file.raw_len as f64,
        took.as_secs_f64()
    );
    assert_eq!(file.summary.outputs, 100_000);
    assert_eq!(file.summary.spent, 33_334);
    // The database lives in memory once (memdb, serialized in place) plus SQLite's page cache and the
    // compressed copy: peak growth stays within twice the file and a fixed allowance.
    assert!(
        grown_mib <= 2 * raw_mib + 128,
        "peak grew {grown_mib} MiB for a {raw_mib} MiB file"
    );
    assert!(took.as_secs() < 120, "took {took:?}");

    let raw = zstd::decode_all(&file.to_vec()[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    std::fs::write(&path, raw).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM outputs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 100_000);
    let unspent: i64 = conn
        .query_row("SELECT SUM(value) FROM outputs WHERE status = 'UNSPENT'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(unspent as u64, file.summary.unspent_value);
}
