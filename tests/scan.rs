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

/// Copies a cache directory's files (not its lock).
fn copy_cache(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_flipped_byte_in_the_middle_of_any_file_never_scans_silently_wrong() {
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good");
    let spec = DemoChainSpec {
        outputs: 4000,
        blocks: 80,
        wallets: 4,
        seed: 7,
    };
    let wallets = write_demo_chain(&spec, &good).unwrap();
    // One more publish adding an empty block: both header slots then cover every byte but that block's
    // record, so no damage in the middle of a file can be stepped around by reading the older slot.
    {
        let mut cache = tari_wallet_sync::cache::Cache::open(&good).unwrap();
        let tip = cache.tip().unwrap();
        cache
            .append_block(&tari_wallet_sync::cache::BlockData {
                height: tip.height + 1,
                hash: [0xee; 32],
                prev_hash: tip.hash,
                timestamp: 1_900_000_000,
                outputs: vec![],
                spent: vec![],
                output_details: true,
            })
            .unwrap();
    }
    let requests = requests(&wallets);
    let expected: Vec<Vec<Digest>> = run(&CacheView::open(&good).unwrap(), &requests, 2, &ScanOptions::default())
        .iter()
        .map(digest)
        .collect();
    assert!(expected.iter().all(|d| !d.is_empty()), "every wallet owns outputs");

    let mut files: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-") || n.starts_with("run-"))
        .collect();
    files.sort();
    for kind in [".blocks", ".outputs", ".spent", ".blobs", ".offsets"] {
        assert!(files.iter().any(|n| n.ends_with(kind)), "a {kind} file in {files:?}");
    }
    let (mut refused, mut exact, mut wrong) = (0, 0, Vec::new());
    for name in &files {
        let dir = work.path().join(format!("flipped-{name}"));
        copy_cache(&good, &dir);
        let path = dir.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.is_empty() {
            continue;
        }
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x04;
        std::fs::write(&path, bytes).unwrap();
        match CacheView::open(&dir) {
            Err(error) => {
                assert_eq!(error.code(), "CACHE_DAMAGED", "{name}: {error}");
                assert!(error.to_string().contains(name.as_str()), "{error}");
                refused += 1;
            }
            Ok(view) => {
                let got: Vec<Vec<Digest>> = run(&view, &requests, 2, &ScanOptions::default())
                    .iter()
                    .map(digest)
                    .collect();
                if got == expected {
                    exact += 1;
                } else {
                    wrong.push(name.clone());
                }
            }
        }
    }
    assert!(wrong.is_empty(), "scanned silently wrong after a flip in {wrong:?}");
    assert_eq!(
        (refused, exact),
        (files.len(), 0),
        "every flip is found when the cache opens"
    );
}
