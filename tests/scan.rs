//! Scan over a demo chain: every demo wallet's outputs, spends and balance found exactly, the same with
//! one thread and several, several wallets in one pass equal to separate passes, cancellation honoured.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use tari_wallet_sync::{
    cache::CacheView,
    demo::chain::{DemoChainSpec, DemoWallet, write_demo_chain},
    recognize::WalletKey,
    scan::{Progress, ScanError, ScanOptions, ScanRequest, ScanResult, scan},
};

fn demo(dir: &std::path::Path) -> (CacheView, Vec<DemoWallet>) {
    let spec = DemoChainSpec {
        outputs: 4000,
        blocks: 80,
        wallets: 3,
        seed: 42,
    };
    let wallets = write_demo_chain(&spec, dir).unwrap();
    (CacheView::open(dir).unwrap(), wallets)
}

fn requests(wallets: &[DemoWallet]) -> Vec<ScanRequest> {
    wallets
        .iter()
        .map(|w| ScanRequest {
            key: WalletKey::from_hex(&w.view_key, &w.spend_public_key).unwrap(),
            birthday: w.birthday,
        })
        .collect()
}

fn run(view: &CacheView, requests: &[ScanRequest], threads: usize, options: &ScanOptions) -> Vec<ScanResult> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| scan(view, requests, options, &|_| {}, &AtomicBool::new(false)))
        .unwrap()
}

/// Position, value, mask, provenance and spend height of one owned output.
type Digest = (u64, u64, [u8; 32], String, Option<u64>);

/// A comparable digest of a result.
fn digest(result: &ScanResult) -> Vec<Digest> {
    result
        .outputs
        .iter()
        .map(|o| {
            (
                o.position,
                o.value,
                o.mask.to_bytes(),
                format!("{:?}", o.provenance),
                o.spent.map(|s| s.height),
            )
        })
        .collect()
}

#[test]
fn demo_wallets_are_found_exactly_with_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(dir.path());
    let requests = requests(&wallets);
    let small_chunks = ScanOptions {
        chunk_outputs: 97,
        ..ScanOptions::default()
    };
    let one = run(&view, &requests, 1, &small_chunks);
    let many = run(&view, &requests, 4, &small_chunks);
    let default_chunks = run(&view, &requests, 2, &ScanOptions::default());

    for ((wallet, result), (other, third)) in wallets.iter().zip(&one).zip(many.iter().zip(&default_chunks)) {
        assert_eq!(result.outputs.len() as u64, wallet.expected_outputs, "{}", wallet.name);
        assert_eq!(result.balance(), wallet.expected_balance, "{}", wallet.name);
        assert_eq!(
            result.outputs.iter().filter(|o| o.spent.is_some()).count() as u64,
            wallet.expected_spent
        );
        assert!(result.outputs.iter().all(|o| o.height >= wallet.birthday));
        assert!(
            result.outputs.windows(2).all(|w| w[0].position < w[1].position),
            "sorted by position"
        );
        assert!(
            result
                .outputs
                .iter()
                .all(|o| o.spent.is_none_or(|s| s.height > o.height))
        );
        assert_eq!(digest(result), digest(other));
        assert_eq!(digest(result), digest(third));
        assert_eq!(result.tip.unwrap().height, 79);
    }
}

#[test]
fn one_pass_for_many_wallets_equals_one_pass_each() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(dir.path());
    let requests = requests(&wallets);
    let together = run(&view, &requests, 2, &ScanOptions::default());
    for (request, joint) in requests.iter().zip(&together) {
        let alone = run(&view, std::slice::from_ref(request), 2, &ScanOptions::default());
        assert_eq!(digest(&alone[0]), digest(joint));
    }
}

#[test]
fn birthday_past_the_tip_finds_nothing_and_a_stranger_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(dir.path());
    let mut late = requests(&wallets[..1]);
    late[0].birthday = 1_000;
    let stranger = ScanRequest {
        key: WalletKey::from_bytes(
            &[5; 32],
            curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.as_bytes(),
        )
        .unwrap(),
        birthday: 0,
    };
    late.push(stranger);
    let results = run(&view, &late, 2, &ScanOptions::default());
    assert!(results.iter().all(|r| r.outputs.is_empty() && r.balance() == 0));
}

#[test]
fn progress_only_grows_and_ends_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(dir.path());
    let reports = Mutex::new(Vec::<Progress>::new());
    let options = ScanOptions {
        chunk_outputs: 50,
        progress_interval: std::time::Duration::ZERO,
    };
    scan(
        &view,
        &requests(&wallets),
        &options,
        &|p| reports.lock().unwrap().push(p),
        &AtomicBool::new(false),
    )
    .unwrap();
    let reports = reports.into_inner().unwrap();
    assert!(reports.len() > 2);
    for pair in reports.windows(2) {
        assert!(pair[1].outputs_done > pair[0].outputs_done, "{pair:?}");
        assert!(pair[1].height >= pair[0].height && pair[1].blocks_done >= pair[0].blocks_done);
    }
    let last = reports.last().unwrap();
    assert_eq!(
        (last.outputs_done, last.blocks_done, last.height),
        (last.outputs_total, last.blocks_total, 79)
    );
}

#[test]
fn a_cancelled_scan_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(dir.path());
    let cancel = AtomicBool::new(false);
    let options = ScanOptions {
        chunk_outputs: 50,
        progress_interval: std::time::Duration::ZERO,
    };
    let result = scan(
        &view,
        &requests(&wallets),
        &options,
        &|_| cancel.store(true, Ordering::Relaxed),
        &cancel,
    );
    assert_eq!(result.unwrap_err(), ScanError::Cancelled);
}
