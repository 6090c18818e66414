//! LMDB import bench on the real-node fixture (tests/fixtures/node-lmdb, written by tari_core): reading
//! every block of the node's database (bincode rows decoded into the official types, header hashes
//! computed) and importing them into a new cache (reads, cache writes, one fsynced publish). Throughput is
//! in outputs.
//!
//! `cargo bench --bench lmdb_import`

#[path = "../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tari_wallet_sync::{
    cache::Cache,
    source::lmdb::{ImportOptions, NodeDb, import},
};

fn lmdb(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    node_fixture::unpack(&dir.path().join("db"));
    let network = node_fixture::manifest().network_byte;
    node_fixture::use_network();
    let db = NodeDb::open(dir.path().join("db")).unwrap();
    let tip = db.chain_info().unwrap().tip_height;
    let mut outputs = 0u64;
    db.for_each_block(0..=tip, |b| {
        outputs += b.outputs.len() as u64;
        Ok(())
    })
    .unwrap();

    let mut group = c.benchmark_group("lmdb");
    group.throughput(Throughput::Elements(outputs));
    group.bench_function("read all blocks", |b| {
        b.iter(|| {
            let mut n = 0;
            db.for_each_block(0..=tip, |block| {
                n += block.outputs.len();
                Ok(())
            })
            .unwrap();
            n
        })
    });
    let mut round = 0;
    group.bench_function("import into a new cache", |b| {
        b.iter(|| {
            round += 1;
            let cache_dir = dir.path().join(format!("cache-{round}"));
            let mut cache = Cache::create(&cache_dir, network).unwrap();
            import(
                &db,
                &mut cache,
                ImportOptions::default(),
                &AtomicBool::new(false),
                |_| {},
            )
            .unwrap();
            drop(cache);
            std::fs::remove_dir_all(&cache_dir).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, lmdb);
criterion_main!(benches);
