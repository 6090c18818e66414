//! The bug this guards against: a reader that hashes under another network than the node's. Here the
//! process network is Esmeralda (as the crates' default was for a binary that never set one) and the
//! database is the LocalNet fixture. The reader still tells the database's network (no hashing needed),
//! refuses to read a header whose hash, computed now, the node did not index (`HASH_MISMATCH`), and an
//! import into a LocalNet cache stops at once (`NETWORK_CONFLICT`) with nothing written, instead of
//! failing at block 1 with a hash error.

mod node_fixture;

use std::sync::atomic::AtomicBool;

use tari_wallet_sync::{
    cache::Cache,
    network::{Network, use_network},
    source::lmdb::{ImportOptions, NodeDb, import},
};

#[test]
fn hashing_under_the_wrong_network_is_caught_with_a_clear_error() {
    use_network(Network::Esmeralda).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    node_fixture::unpack(&db_dir);
    let db = NodeDb::open(&db_dir).unwrap();
    assert_eq!(db.network().unwrap(), Network::LocalNet);
    let err = db.header(1).unwrap_err();
    assert_eq!(err.code(), "HASH_MISMATCH", "{err}");
    assert!(err.to_string().contains("esmeralda"), "{err}");

    let mut cache = Cache::create(dir.path().join("cache"), Network::LocalNet.as_byte()).unwrap();
    let err = import(
        &db,
        &mut cache,
        ImportOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), "NETWORK_CONFLICT", "{err}");
    assert_eq!(cache.tip(), None, "nothing written");
}
