//! Node databases and networks: a database tells its network by its genesis block, before anything is
//! hashed; one of another network than the cache's is refused (`NETWORK_MISMATCH`, naming both) before
//! anything is written; and the fixture's every header hashes, under the process network, to the hash the
//! node indexed it by, each linked to the one before.

mod node_fixture;

use std::sync::atomic::AtomicBool;

use node_fixture::{hex32, manifest, unpack, use_network};
use tari_wallet_sync::{
    cache::{Cache, CacheView},
    network::{Network, genesis_hash},
    source::lmdb::{ImportOptions, NodeDb, import},
};

/// The database a fresh Igor node writes at its first start (tari_core's own storage code with
/// the network set), shipped beside the LocalNet fixture.
fn unpack_igor(dir: &std::path::Path) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-lmdb-igor");
    let data = zstd::decode_all(&std::fs::read(fixtures.join("data.mdb.zst")).unwrap()[..]).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("data.mdb"), data).unwrap();
}

#[test]
fn every_header_hashes_to_what_the_node_indexed_and_links_to_the_last() {
    let network = use_network();
    assert_eq!(network, Network::LocalNet);
    let dir = tempfile::tempdir().unwrap();
    unpack(dir.path());
    let m = manifest();
    let db = NodeDb::open(dir.path()).unwrap();
    assert_eq!(db.network().unwrap(), Network::LocalNet, "told by the genesis block");
    assert_eq!(
        hex32(&m.genesis_hash),
        genesis_hash(Network::LocalNet),
        "LocalNet's official genesis"
    );
    let mut prev = None;
    for height in 0..=m.tip_height {
        // `header` recomputes the hash with the official `BlockHeader::hash` and refuses one the node's
        // `block_hashes` does not record at this height.
        let header = db.header(height).unwrap().expect("a main-chain header");
        assert_eq!(header.hash, hex32(&m.headers[height as usize].hash), "height {height}");
        if let Some(prev) = prev {
            assert_eq!(header.prev_hash, prev, "block {height} links to block {}", height - 1);
        }
        prev = Some(header.hash);
    }
    assert_eq!(prev, Some(db.chain_info().unwrap().tip_hash));
}

#[test]
fn a_database_of_another_network_is_refused_before_anything_is_written() {
    use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("igor");
    unpack_igor(&db_dir);
    let db = NodeDb::open(&db_dir).unwrap();
    assert_eq!(db.network().unwrap(), Network::Igor);

    let cache_dir = dir.path().join("cache");
    let mut cache = Cache::create(&cache_dir, Network::LocalNet.as_byte()).unwrap();
    let before = cache.view().sequence();
    let err = import(
        &db,
        &mut cache,
        ImportOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), "NETWORK_MISMATCH", "{err}");
    let text = err.to_string();
    assert!(text.contains("igor") && text.contains("localnet"), "{text}");
    drop(cache);
    let view = CacheView::open(&cache_dir).unwrap();
    assert_eq!((view.tip(), view.sequence()), (None, before), "nothing written");
}
