//! `tari-wallet-sync verify`: every segment and run of a cache checked against its checksums. An intact
//! cache exits 0; a flipped byte in the middle of any file of a segment (or of a spent-index run) gives
//! one `damaged:` line naming that file, the code `CACHE_DAMAGED` and exit 1; two damaged segments, two
//! lines.

use std::{path::Path, process::Command};

use tari_wallet_sync::{
    cache::{BlockData, Cache, CacheOptions, CacheView},
    demo::chain::{DemoChainSpec, write_demo_chain},
    source::blocks_from_view,
};

/// Runs `verify --cache dir`; returns success, standard output and standard error.
fn verify(dir: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"))
        .args(["verify", "--cache"])
        .arg(dir)
        .env_remove("TWS_CACHE_DIR")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A demo chain (genuine outputs, spends) copied into a cache of small segments with spent-index runs.
fn cache(dir: &Path) {
    let demo = dir.join("demo");
    let spec = DemoChainSpec {
        outputs: 600,
        blocks: 40,
        wallets: 2,
        seed: 5,
    };
    write_demo_chain(&spec, &demo).unwrap();
    let view = CacheView::open(&demo).unwrap();
    let options = CacheOptions {
        segment_outputs: 150,
        spent_tail_max: 1,
    };
    let mut cache = Cache::create_with(dir.join("cache"), view.network(), options).unwrap();
    for block in blocks_from_view(&view, ..) {
        cache.append_block(&block).unwrap();
    }
    // A last publish that adds no spend: both header slots then name the same files, so every file in
    // the directory is one the newest state reads.
    let tip = cache.tip().unwrap();
    let empty = BlockData {
        height: tip.height + 1,
        hash: [0xee; 32],
        prev_hash: tip.hash,
        timestamp: 1_800_000_000,
        outputs: vec![],
        spent: vec![],
        output_details: true,
    };
    cache.append_block(&empty).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn flip_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn verify_names_every_damaged_segment_and_exits_by_result() {
    let work = tempfile::tempdir().unwrap();
    cache(work.path());
    let good = work.path().join("cache");
    let (ok, stdout, stderr) = verify(&good);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("format 4: ") && stdout.ends_with("every file intact\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("damaged:"), "{stdout}");

    let mut names: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-") || n.starts_with("run-"))
        .collect();
    names.sort();
    for kind in [".blocks", ".outputs", ".spent", ".blobs", ".offsets", ".index"] {
        assert!(names.iter().any(|n| n.ends_with(kind)), "{kind} in {names:?}");
    }
    for (i, name) in names.iter().enumerate() {
        if std::fs::metadata(good.join(name)).unwrap().len() == 0 {
            continue;
        }
        let dir = work.path().join(format!("damaged-{i}"));
        copy_dir(&good, &dir);
        flip_middle(&dir.join(name));
        let (ok, stdout, stderr) = verify(&dir);
        assert!(!ok, "{name}: damage exits non-zero");
        let damaged: Vec<&str> = stdout.lines().filter(|l| l.starts_with("damaged: ")).collect();
        assert_eq!(damaged.len(), 1, "{name}: {stdout}");
        assert!(
            damaged[0].contains(name.as_str()) && damaged[0].contains("fill it again"),
            "{}",
            damaged[0]
        );
        assert!(stdout.ends_with("1 damaged\n"), "{stdout}");
        assert!(stderr.contains("code: CACHE_DAMAGED"), "{stderr}");
    }

    // Two segments damaged: one line each, oldest blocks first.
    let outputs: Vec<&String> = names.iter().filter(|n| n.ends_with(".outputs")).collect();
    assert!(outputs.len() >= 3, "{outputs:?}");
    let dir = work.path().join("two");
    copy_dir(&good, &dir);
    flip_middle(&dir.join(outputs[2]));
    flip_middle(&dir.join(outputs[0]));
    let (ok, stdout, _) = verify(&dir);
    assert!(!ok);
    let damaged: Vec<&str> = stdout.lines().filter(|l| l.starts_with("damaged: ")).collect();
    assert_eq!(damaged.len(), 2, "{stdout}");
    assert!(damaged[0].contains(outputs[0].as_str()) && damaged[1].contains(outputs[2].as_str()));

    // Not a cache at all: the cache's own error and code, exit non-zero.
    let (ok, _, stderr) = verify(&work.path().join("nowhere"));
    assert!(!ok);
    assert!(stderr.contains("code: CACHE_NOT_FOUND"), "{stderr}");
}
