//! Import of a genuine base-node LMDB (tests/fixtures/node-lmdb, written by tari_core): the database reads
//! as the node wrote it, the scanner finds exactly the manifest's outputs and spends for every wallet and
//! only the winning branch of its reorg, an interrupted import resumes, a cache on a stale branch is
//! rolled back, and a running node, a pruned node and damaged files get clear errors. Prints the import
//! throughput (`--nocapture`).

mod node_fixture;

use std::{
    collections::{BTreeMap, HashSet},
    fs::File,
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use heed::{Database, EnvOpenOptions, types::Bytes};
use node_fixture::{Manifest, hex32, manifest, unpack};
use tari_wallet_sync::{
    cache::{Cache, CacheView},
    scan::{ScanRequest, scan_one},
    source::{
        blocks_from_view,
        lmdb::{ImportOptions, LmdbError, NODE_LOCK_FILE, NodeDb, import},
    },
};
use tari_wallet_sync_testkit::fake_node::synthetic_blocks;

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

/// The fixture unpacked, plus a cache directory beside it.
struct Fixture {
    _dir: tempfile::TempDir,
    db_dir: std::path::PathBuf,
    cache_dir: std::path::PathBuf,
    manifest: Manifest,
}

fn fixture() -> Fixture {
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    unpack(&db_dir);
    Fixture {
        db_dir,
        cache_dir: dir.path().join("cache"),
        manifest: manifest(),
        _dir: dir,
    }
}

fn imported(f: &Fixture) -> Cache {
    let db = NodeDb::open(&f.db_dir).unwrap();
    let mut cache = Cache::create(&f.cache_dir, f.manifest.network_byte).unwrap();
    let report = import(&db, &mut cache, ImportOptions::default(), &never(), |_| {}).unwrap();
    println!(
        "imported {} blocks, {} outputs, {} spends in {:.3} s: {:.0} outputs/s",
        report.blocks,
        report.outputs,
        report.spent,
        report.elapsed.as_secs_f64(),
        report.outputs_per_sec()
    );
    cache
}

#[test]
fn the_database_reads_as_the_node_wrote_it() {
    let f = fixture();
    let db = NodeDb::open(&f.db_dir).unwrap();
    let chain = db.chain_info().unwrap();
    assert_eq!(chain.tip_height, f.manifest.tip_height);
    assert_eq!(chain.tip_hash, hex32(&f.manifest.tip_hash));
    assert!(!chain.is_pruned() && chain.pruning_note().is_none());
    assert_eq!(f.manifest.headers.len() as u64, f.manifest.tip_height + 1);
    for expected in &f.manifest.headers {
        let header = db.header(expected.height).unwrap().expect("header");
        assert_eq!(header.hash, hex32(&expected.hash), "hash at {}", expected.height);
        assert_eq!(header.prev_hash, hex32(&expected.prev_hash));
        assert_eq!(header.timestamp, expected.timestamp);
        let block = db.block(expected.height).unwrap().expect("block");
        assert_eq!(
            block.outputs.len(),
            expected.output_count,
            "outputs at {}",
            expected.height
        );
        assert_eq!(block.spent.len(), expected.input_count, "inputs at {}", expected.height);
    }
    assert!(db.header(f.manifest.tip_height + 1).unwrap().is_none());
    assert!(db.block(f.manifest.tip_height + 1).unwrap().is_none());
}

#[test]
fn import_finds_exactly_the_manifests_outputs_and_spends() {
    let f = fixture();
    let cache = imported(&f);
    let view = cache.view();
    assert_eq!(view.tip().unwrap().height, f.manifest.tip_height);
    assert_eq!(view.tip().unwrap().hash, hex32(&f.manifest.tip_hash));
    let mut found_spends = 0;
    for wallet in &f.manifest.wallets {
        let result = scan_one(
            &view,
            ScanRequest {
                key: wallet.key(),
                birthday: 0,
            },
        )
        .unwrap();
        let found: BTreeMap<String, (u64, u64, Option<u64>)> = result
            .outputs
            .iter()
            .map(|o| {
                (
                    hex::encode(o.output_hash),
                    (o.value, o.height, o.spent.map(|s| s.height)),
                )
            })
            .collect();
        assert_eq!(found, wallet.expected(), "wallet {}", wallet.name);
        assert_eq!(result.balance(), wallet.balance, "wallet {} balance", wallet.name);
        found_spends += found.values().filter(|(_, _, spent)| spent.is_some()).count();
    }
    assert!(found_spends > 0, "the fixture spends wallet outputs");
    assert!(f.manifest.wallets.iter().all(|w| !w.outputs.is_empty()));
}

#[test]
fn after_the_reorg_only_the_winning_branch_is_imported() {
    let f = fixture();
    let cache = imported(&f);
    let view = cache.view();
    let reorg = &f.manifest.reorg;
    assert!(!reorg.orphaned_block_hashes.is_empty() && !reorg.new_block_hashes.is_empty());
    let hashes: HashSet<[u8; 32]> = view.blocks(..).map(|b| *b.hash).collect();
    for orphan in &reorg.orphaned_block_hashes {
        assert!(!hashes.contains(&hex32(orphan)), "orphaned block {orphan} imported");
    }
    for winner in &reorg.new_block_hashes {
        assert!(hashes.contains(&hex32(winner)), "winning block {winner} missing");
    }
    let outputs: HashSet<[u8; 32]> = view.outputs(0..view.output_count()).map(|o| *o.output_hash).collect();
    let orphaned: Vec<_> = f.manifest.wallets.iter().flat_map(|w| &w.orphaned_outputs).collect();
    assert!(!orphaned.is_empty(), "the losing branch paid the wallets");
    for o in orphaned {
        assert!(
            !outputs.contains(&hex32(&o.output_hash)),
            "orphaned output at {} imported",
            o.height
        );
    }
}

#[test]
fn an_interrupted_import_resumes_where_it_stopped() {
    let f = fixture();
    let db = NodeDb::open(&f.db_dir).unwrap();
    let mut cache = Cache::create(&f.cache_dir, f.manifest.network_byte).unwrap();
    let cancel = AtomicBool::new(false);
    let options = ImportOptions {
        batch_blocks: 50,
        start_height: 0,
    };
    let err = import(&db, &mut cache, options, &cancel, |p| {
        if p.height >= 99 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap_err();
    assert!(matches!(err, LmdbError::Cancelled));
    assert_eq!(cache.tip().unwrap().height, 99, "published batches stay");
    let report = import(&db, &mut cache, options, &never(), |_| {}).unwrap();
    assert_eq!(report.blocks, f.manifest.tip_height - 99);
    assert_eq!(report.rolled_back, 0);

    let whole = fixture();
    let whole = imported(&whole);
    assert_eq!(blocks_from_view(&cache.view(), ..), blocks_from_view(&whole.view(), ..));
    // Importing again at the tip changes nothing.
    let again = import(&db, &mut cache, options, &never(), |_| {}).unwrap();
    assert_eq!((again.blocks, again.rolled_back), (0, 0));
}

#[test]
fn a_cache_on_a_stale_branch_is_rolled_back_to_the_database_chain() {
    let f = fixture();
    let db = NodeDb::open(&f.db_dir).unwrap();
    let fork = f.manifest.tip_height - 6;
    let mut cache = Cache::create(&f.cache_dir, f.manifest.network_byte).unwrap();
    let mut blocks = Vec::new();
    db.for_each_block(0..=fork, |b| {
        blocks.push(b);
        Ok(())
    })
    .unwrap();
    let tip = blocks.last().map(|b| (b.height, b.hash));
    cache
        .append_blocks(blocks.iter().chain(&synthetic_blocks(tip, &[2, 0, 3, 1], 7)))
        .unwrap();
    let report = import(&db, &mut cache, ImportOptions::default(), &never(), |_| {}).unwrap();
    assert_eq!(report.rolled_back, 4);
    assert_eq!(report.blocks, 6);
    let whole = fixture();
    assert_eq!(
        blocks_from_view(&cache.view(), ..),
        blocks_from_view(&imported(&whole).view(), ..)
    );

    // A cache of another chain altogether is refused, and left as it was.
    let other = tempfile::tempdir().unwrap();
    let mut stranger = Cache::create(other.path(), f.manifest.network_byte).unwrap();
    // (Blocks 1..=3 of a made-up chain: made-up chains from genesis share LocalNet's genesis.)
    stranger
        .append_blocks(synthetic_blocks(Some((0, [9; 32])), &[1, 1, 1], 9))
        .unwrap();
    let err = import(&db, &mut stranger, ImportOptions::default(), &never(), |_| {}).unwrap_err();
    assert_eq!(err.code(), "UNRELATED_CHAIN", "{err}");
    assert_eq!(stranger.tip().unwrap().height, 3);
}

#[test]
fn a_running_node_is_refused_with_the_safe_alternatives() {
    let f = fixture();
    let lock = File::create(f.db_dir.join(NODE_LOCK_FILE)).unwrap();
    lock.try_lock().unwrap(); // a running node's exclusive flock
    let err = NodeDb::open(&f.db_dir).unwrap_err();
    assert_eq!(err.code(), "NODE_RUNNING");
    let text = err.to_string();
    assert!(
        text.contains("stop the node") && text.contains("follow --node-url") && !text.contains("mdb_copy"),
        "{text}"
    );
    lock.unlock().unwrap(); // the node stopped; its lock file stays behind
    NodeDb::open(&f.db_dir).unwrap();
}

/// Writes raw rows into a copy of the fixture, as damage or another node configuration would leave it.
fn write_rows(db_dir: &Path, table: &str, rows: &[(Vec<u8>, Vec<u8>)]) {
    let size = std::fs::metadata(db_dir.join("data.mdb")).unwrap().len() as usize;
    let env = unsafe {
        EnvOpenOptions::new()
            .max_dbs(64)
            .map_size(size * 2 + (1 << 20))
            .open(db_dir)
    }
    .unwrap();
    let mut txn = env.write_txn().unwrap();
    let db: Database<Bytes, Bytes> = env.open_database(&txn, Some(table)).unwrap().unwrap();
    for (key, value) in rows {
        db.put(&mut txn, key, value).unwrap();
    }
    txn.commit().unwrap();
    env.prepare_for_closing().wait();
}

fn metadata_u64(variant: u32, value: u64) -> (Vec<u8>, Vec<u8>) {
    let mut bytes = variant.to_le_bytes().to_vec();
    bytes.extend_from_slice(&value.to_le_bytes());
    (variant.to_ne_bytes().to_vec(), bytes)
}

#[test]
fn a_pruned_database_says_what_history_is_missing() {
    let f = fixture();
    // MetadataKey::PruningHorizon = 3, PrunedHeight = 4.
    write_rows(&f.db_dir, "metadata", &[metadata_u64(3, 100), metadata_u64(4, 150)]);
    let db = NodeDb::open(&f.db_dir).unwrap();
    let chain = db.chain_info().unwrap();
    assert!(chain.is_pruned());
    assert_eq!((chain.pruning_horizon, chain.pruned_height), (100, 150));
    let note = chain.pruning_note().unwrap();
    assert!(note.contains("below height 150") && note.contains("archival"), "{note}");
}

#[test]
fn a_damaged_row_stops_the_import_with_every_block_before_it_kept() {
    let f = fixture();
    let damaged = f
        .manifest
        .headers
        .iter()
        .find(|h| h.height > 120 && h.output_count > 0)
        .unwrap();
    let key = {
        let db = NodeDb::open(&f.db_dir).unwrap();
        let block = db.block(damaged.height).unwrap().unwrap();
        [block.hash, block.outputs[0].output_hash].concat()
    };
    write_rows(&f.db_dir, "utxos", &[(key, vec![0xff; 40])]);
    let db = NodeDb::open(&f.db_dir).unwrap();
    let mut cache = Cache::create(&f.cache_dir, f.manifest.network_byte).unwrap();
    let options = ImportOptions {
        batch_blocks: 100,
        start_height: 0,
    };
    let err = import(&db, &mut cache, options, &never(), |_| {}).unwrap_err();
    assert_eq!(err.code(), "CORRUPT", "{err}");
    assert!(err.to_string().contains("utxos"), "{err}");
    let tip = cache.tip().unwrap().height;
    assert_eq!(tip, damaged.height - 1, "every block before the damage is kept");
    let view = CacheView::open(&f.cache_dir).unwrap();
    assert_eq!(view.tip().unwrap().height, tip);
}

#[test]
fn missing_and_truncated_files_are_errors_not_panics() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(NodeDb::open(empty.path()).unwrap_err().code(), "NOT_FOUND");

    let f = fixture();
    let data = f.db_dir.join("data.mdb");
    let len = std::fs::metadata(&data).unwrap().len();
    for keep in [0, 100, 4096, len / 2] {
        let file = File::options().write(true).open(&data).unwrap();
        file.set_len(keep).unwrap();
        drop(file);
        let outcome = NodeDb::open(&f.db_dir).and_then(|db| {
            let mut cache = Cache::create(tempfile::tempdir().unwrap().path().join("c"), 0x10).unwrap();
            import(&db, &mut cache, ImportOptions::default(), &never(), |_| {})
        });
        let err = outcome.expect_err("a truncated database cannot import");
        assert!(
            ["LMDB", "CORRUPT", "MISSING_TABLE"].contains(&err.code()),
            "{keep} bytes: {err}"
        );
    }
}
