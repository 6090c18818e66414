//! Output proofs on the genuine chain (tests/fixtures/node-lmdb, written by tari_core): every block's
//! tree rebuilt from its outputs gives the header's `block_output_mr`; every owned output of every
//! fixture wallet file carries a proof that our client checker (`tari_wallet_sync_sse::proof`) and the
//! official checkers (`BurnOutputProofExt::verify` for normal outputs, tari_mmr's `verify_leaf` for
//! coinbases) accept against the node's own header, from a cache imported from the node database and
//! from the light follower (blocks from the node's HTTP API). A tampered proof, a tampered output and a
//! header hashed under another network are each refused; a node that sends part of a block fails the
//! job (retryable) instead of issuing a file; the file still passes minotari-cli's schema checks.

mod node_fixture;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
    time::Instant,
};

use node_fixture::{Manifest, genuine_outputs, manifest, unpack, use_network};
use tari_common_types::types::FixedHash;
use tari_hashing::hashers::InputMmrHasherBlake256;
use tari_mmr::{MerkleProof, common::LeafIndex};
use tari_sidechain::{BurnOutputProof, MmrInclusionProof, OutputHashPreimage};
use tari_transaction_components::transaction_components::{TransactionOutput, burn_output_proof::BurnOutputProofExt};
use tari_wallet_sync::{
    cache::{Cache, CacheView},
    proof::{BlockTree, HeaderPreimage, Leaf, MmrPath, OutputProof, preimage},
    scan::{ScanRequest, scan_one},
    source::{
        Follower, FollowerConfig, NodeClient,
        full_outputs::{
            FullOutputSources, FullOutputs, LmdbFullOutputs, NodeFetchOptions, NodeFullOutputs, SourceFailure, Wanted,
        },
        lmdb::{ImportOptions, NodeDb, import},
    },
    walletdb::{
        AccountSpec, BuildOptions, WalletFile, build_from_chain,
        verify::{OutputFailure, verify_file},
    },
};
use tari_wallet_sync_testkit::{fake_node::FakeNode, synthetic::open_download};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    db_dir: PathBuf,
    manifest: Manifest,
    genuine: HashMap<[u8; 32], TransactionOutput>,
}

fn fixture() -> Fixture {
    use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    unpack(&db_dir);
    let genuine = genuine_outputs(&NodeDb::open(&db_dir).unwrap());
    Fixture {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        db_dir,
        manifest: manifest(),
        genuine,
    }
}

impl Fixture {
    fn imported_cache(&self) -> PathBuf {
        let cache_dir = self.dir.join("imported");
        let db = NodeDb::open(&self.db_dir).unwrap();
        let mut cache = Cache::create(&cache_dir, self.manifest.network_byte).unwrap();
        import(
            &db,
            &mut cache,
            ImportOptions::default(),
            &AtomicBool::new(false),
            |_| {},
        )
        .unwrap();
        cache_dir
    }

    /// The node's own header at `height` (official type), and its official hash.
    fn header(&self, height: u64) -> (tari_node_components::blocks::BlockHeader, [u8; 32]) {
        NodeDb::open(&self.db_dir)
            .unwrap()
            .full_header(height)
            .unwrap()
            .unwrap()
    }
}

/// The file as a client holds it on disk: a writable database.
fn open_writable(file: &WalletFile) -> rusqlite::Connection {
    let raw = zstd::decode_all(&file.chunks().concat()[..]).unwrap();
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, &raw[..], raw.len(), false)
        .unwrap();
    conn
}

fn account() -> AccountSpec {
    AccountSpec {
        name: "default".into(),
        password: Zeroizing::new("fixture password".into()),
        birthday: 0,
    }
}

fn build_all(f: &Fixture, cache_dir: &Path, sources: &FullOutputSources) -> Vec<(String, WalletFile)> {
    let view = CacheView::open(cache_dir).unwrap();
    f.manifest
        .wallets
        .iter()
        .map(|wallet| {
            let key = wallet.key();
            let result = scan_one(
                &view,
                ScanRequest {
                    key: key.clone(),
                    birthday: 0,
                },
            )
            .unwrap();
            let file = build_from_chain(&key, &account(), &result, &view, sources, &BuildOptions::default())
                .unwrap_or_else(|e| panic!("wallet {}: {e} ({})", wallet.name, e.code()));
            (wallet.name.clone(), file)
        })
        .collect()
}

/// A proof as the file carries it: output hash, proof, block hash, header preimage (mining, pow+nonce).
type CarriedProof = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

fn to_inclusion(path: &MmrPath) -> MmrInclusionProof {
    MmrInclusionProof {
        leaf_index: path.leaf_index,
        mmr_size: path.mmr_size,
        path: path.path.iter().map(|h| (*h).into()).collect(),
        peaks: path.peaks.iter().map(|h| (*h).into()).collect(),
    }
}

/// Every owned output of `file` verifies with our checker and the official ones, against the node's
/// header. Returns (coinbase, normal) proof counts and their encoded bytes.
fn check_file(f: &Fixture, name: &str, file: &WalletFile) -> ((usize, usize), (usize, usize)) {
    let conn = open_download(&file.chunks().concat());
    let rows: Vec<(Vec<u8>, i64, Vec<u8>)> = conn
        .prepare(
            "SELECT o.output_hash, o.mined_in_block_height, p.proof FROM outputs o JOIN tws_output_proofs p ON \
             p.output_hash = o.output_hash",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let owned: i64 = conn
        .query_row("SELECT COUNT(*) FROM outputs", [], |r| r.get(0))
        .unwrap();
    let owned = owned as u64;
    assert_eq!(
        rows.len() as u64,
        owned,
        "wallet {name}: every owned output has a proof"
    );
    assert_eq!(file.summary.proved_outputs, Some(owned));
    let (mut counts, mut bytes) = ((0, 0), (0, 0));
    for (hash, height, encoded) in rows {
        let (hash, height): ([u8; 32], u64) = (hash.try_into().unwrap(), height as u64);
        let proof = OutputProof::decode(&encoded).unwrap();
        let (header, block_hash) = f.header(height);
        let root: [u8; 32] = *header.block_output_mr;
        // Ours, with the header bytes the file carries.
        let carried: (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT mining_preimage, pow_nonce FROM tws_block_headers WHERE block_hash = ?1",
                [&block_hash[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let carried = HeaderPreimage {
            mining: carried.0,
            pow_nonce: carried.1,
        };
        tari_wallet_sync_sse::proof::verify_output(&hash, &proof, &carried, &block_hash, f.manifest.network_byte)
            .unwrap_or_else(|e| panic!("wallet {name}, height {height}: {e}"));
        // The official checkers, against the node's header.
        match &proof {
            OutputProof::Coinbase { block } => {
                let official = MerkleProof {
                    mmr_size: block.mmr_size as usize,
                    path: block.path.iter().map(|h| h.to_vec()).collect(),
                    peaks: block.peaks.iter().map(|h| h.to_vec()).collect(),
                };
                official
                    .verify_leaf::<InputMmrHasherBlake256>(&root, &hash, LeafIndex(block.leaf_index as usize))
                    .unwrap();
                counts.0 += 1;
                bytes.0 += encoded.len();
            }
            OutputProof::Normal {
                normal,
                normal_root,
                block,
            } => {
                let official = BurnOutputProof {
                    block_hash: block_hash.into(),
                    block_height: height,
                    output: OutputHashPreimage::from(&f.genuine[&hash]),
                    normal_output_proof: to_inclusion(normal),
                    normal_output_mr: (*normal_root).into(),
                    block_output_proof: to_inclusion(block),
                };
                official.verify(&FixedHash::from(root)).unwrap();
                counts.1 += 1;
                bytes.1 += encoded.len();
            }
        }
    }
    (counts, bytes)
}

#[test]
fn every_block_of_the_fixture_rebuilds_its_headers_block_output_mr() {
    let f = fixture();
    let db = NodeDb::open(&f.db_dir).unwrap();
    let tip = db.chain_info().unwrap().tip_height;
    let mut all = Vec::new();
    db.for_each_block_with_outputs(0..=tip, |block, outputs| {
        all.push((block, outputs));
        Ok(())
    })
    .unwrap();
    drop(db);
    let mut blocks = 0;
    for (block, outputs) in all {
        let (header, hash) = f.header(block.height);
        assert_eq!(hash, block.hash);
        let tree = BlockTree::rebuild(outputs.iter().map(Leaf::of).collect());
        assert_eq!(tree.root(), *header.block_output_mr, "block {}", block.height);
        // The header's bytes as clients hash them give the official hash.
        let pre = preimage(&header);
        assert_eq!(pre.hash(f.manifest.network_byte), hash, "block {}", block.height);
        assert_eq!(pre.block_output_mr().unwrap(), *header.block_output_mr);
        assert_eq!(pre.output_mr().unwrap(), *header.output_mr);
        assert_eq!(pre.height().unwrap(), block.height);
        blocks += 1;
    }
    assert_eq!(blocks, tip + 1);
}

#[test]
fn every_owned_output_of_an_lmdb_import_has_a_proof_the_official_checkers_accept() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    let (mut counts, mut bytes) = ((0, 0), (0, 0));
    let started = Instant::now();
    let files = build_all(&f, &cache_dir, &sources);
    let build_time = started.elapsed();
    let proof_micros: u64 = files.iter().map(|(_, file)| file.summary.proof_micros).sum();
    for (name, file) in &files {
        let (c, b) = check_file(&f, name, file);
        counts = (counts.0 + c.0, counts.1 + c.1);
        bytes = (bytes.0 + b.0, bytes.1 + b.1);
    }
    // Compressed bytes the proofs add: each file against itself without the proof tables, same level.
    let (mut with, mut without) = (0usize, 0usize);
    for (_, file) in &files {
        let mut conn = open_writable(file);
        // Both sides vacuumed, so free pages count on neither.
        conn.execute_batch("VACUUM;").unwrap();
        with += zstd::encode_all(&conn.serialize(rusqlite::MAIN_DB).unwrap()[..], 3)
            .unwrap()
            .len();
        conn.execute_batch(
            "DROP TABLE tws_output_proofs; DROP TABLE tws_block_headers; DROP TABLE tws_proof_info; VACUUM;",
        )
        .unwrap();
        without += zstd::encode_all(&conn.serialize(rusqlite::MAIN_DB).unwrap()[..], 3)
            .unwrap()
            .len();
    }
    // Client-side check time per output: the carried header hashed and the path walked, in a loop.
    let mut checks = Vec::new();
    for (_, file) in &files {
        let conn = open_download(&file.chunks().concat());
        let rows: Vec<CarriedProof> = conn
            .prepare(
                "SELECT p.output_hash, p.proof, p.block_hash, h.mining_preimage, h.pow_nonce FROM tws_output_proofs p \
                 JOIN tws_block_headers h ON h.block_hash = p.block_hash",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        checks.extend(rows);
    }
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        for (hash, proof, block, mining, pow_nonce) in &checks {
            let header = HeaderPreimage {
                mining: mining.clone(),
                pow_nonce: pow_nonce.clone(),
            };
            let proof = OutputProof::decode(proof).unwrap();
            tari_wallet_sync_sse::proof::verify_output(
                &hash[..].try_into().unwrap(),
                &proof,
                &header,
                &block[..].try_into().unwrap(),
                f.manifest.network_byte,
            )
            .unwrap();
        }
    }
    let verify_micros = started.elapsed().as_secs_f64() * 1e6 / (rounds * checks.len()) as f64;
    eprintln!(
        "proof tables add {} B compressed over {} files ({} B with, {} B without); client check {verify_micros:.1} \
         us per output",
        with as i64 - without as i64,
        files.len(),
        with,
        without
    );
    let expected: usize = f.manifest.wallets.iter().map(|w| w.outputs.len()).sum();
    assert_eq!(counts.0 + counts.1, expected, "100% of owned outputs proved");
    assert!(
        counts.0 > 0 && counts.1 > 0,
        "both kinds of proof exercised: {counts:?}"
    );
    eprintln!(
        "proofs: {} coinbase ({} B each on average), {} normal ({} B each); proof time {} ms of {} ms building {} \
         files",
        counts.0,
        bytes.0 / counts.0,
        counts.1,
        bytes.1 / counts.1,
        proof_micros / 1000,
        build_time.as_millis(),
        files.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_light_follower_proves_from_the_blocks_the_node_sent() {
    let f = fixture();
    let node = FakeNode::from_lmdb(&NodeDb::open(&f.db_dir).unwrap()).await.unwrap();
    let cache_dir = f.dir.join("followed");
    let cache = Cache::create(&cache_dir, f.manifest.network_byte).unwrap();
    let mut follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, FollowerConfig::default());
    follower.sync_to_tip(&CancellationToken::new()).await.unwrap();
    drop(follower);
    let sources = FullOutputSources::new(vec![Arc::new(NodeFullOutputs::new(
        NodeClient::new(&node.url()).unwrap(),
        tokio::runtime::Handle::current(),
        NodeFetchOptions::default(),
    ))]);
    let requests_before = node.full_output_requests();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let files = build_all(&f, &cache_dir, &sources);
        let build_time = started.elapsed();
        for (name, file) in &files {
            check_file(&f, name, file);
        }
        let proof_micros: u64 = files.iter().map(|(_, file)| file.summary.proof_micros).sum();
        eprintln!(
            "light cache, node over HTTP: proof time {} ms of {} ms building {} files",
            proof_micros / 1000,
            build_time.as_millis(),
            files.len()
        );
    })
    .await
    .unwrap();
    // The blocks fetched for the full outputs serve the proofs too: one request per block with hits.
    let blocks_with_hits: usize = manifest()
        .wallets
        .iter()
        .map(|w| {
            w.outputs
                .iter()
                .map(|o| &o.block_hash)
                .collect::<std::collections::HashSet<_>>()
                .len()
        })
        .sum();
    assert_eq!(node.full_output_requests() - requests_before, blocks_with_hits as u64);
}

#[test]
fn tampered_proofs_outputs_and_networks_are_refused() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    let files = build_all(&f, &cache_dir, &sources);
    let (name, file) = files.iter().max_by_key(|(_, file)| file.summary.outputs).unwrap();
    let network = f.manifest.network_byte;
    let trusted = |f: &Fixture| {
        let db = NodeDb::open(&f.db_dir).unwrap();
        move |height: u64| Ok(db.full_header(height).unwrap().map(|(_, hash)| hash))
    };
    let verdicts = |conn: &rusqlite::Connection, net: u8| {
        let mut trusted = trusted(&f);
        verify_file(
            conn,
            &mut |n| {
                if n == net {
                    Ok(())
                } else {
                    Err("another network".into())
                }
            },
            &mut trusted,
        )
        .unwrap()
    };

    // Untouched: every output verifies.
    let conn = open_writable(file);
    let all = verdicts(&conn, network);
    assert!(all.iter().all(|v| v.result.is_ok()), "wallet {name}: {all:?}");
    assert!(all.len() >= 2);

    // A flipped byte in a path hash: that output, and only it, is refused.
    let target: Vec<u8> = all[0].output_hash.to_vec();
    let mut proof: Vec<u8> = conn
        .query_row(
            "SELECT proof FROM tws_output_proofs WHERE output_hash = ?1",
            [&target],
            |r| r.get(0),
        )
        .unwrap();
    let last = proof.len() - 1;
    proof[last] ^= 1;
    conn.execute(
        "UPDATE tws_output_proofs SET proof = ?1 WHERE output_hash = ?2",
        rusqlite::params![proof, target],
    )
    .unwrap();
    let after = verdicts(&conn, network);
    let refused: Vec<_> = after.iter().filter(|v| v.result.is_err()).collect();
    assert_eq!(refused.len(), 1, "{after:?}");
    assert_eq!(refused[0].output_hash, all[0].output_hash);
    assert!(matches!(
        refused[0].result.as_ref().unwrap_err().code(),
        "PROOF_ROOT_MISMATCH" | "PROOF_MALFORMED"
    ));

    // A tampered output: its JSON no longer hashes to its hash.
    let conn = open_writable(file);
    let json: String = conn
        .query_row(
            "SELECT wallet_output_json FROM outputs WHERE output_hash = ?1",
            [&target],
            |r| r.get(0),
        )
        .unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let promise = &mut value["minimum_value_promise"];
    *promise = serde_json::json!(promise.as_u64().unwrap_or(0) + 1);
    conn.execute(
        "UPDATE outputs SET wallet_output_json = ?1 WHERE output_hash = ?2",
        rusqlite::params![value.to_string(), target],
    )
    .unwrap();
    let after = verdicts(&conn, network);
    let refused: Vec<_> = after.iter().filter(|v| v.result.is_err()).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].result, Err(OutputFailure::OutputMismatch));

    // A swapped output hash (another output's proof claimed for this one): refused.
    let conn = open_writable(file);
    let other = all
        .iter()
        .find(|v| v.height == all[0].height && v.output_hash != all[0].output_hash);
    if let Some(other) = other {
        conn.execute("DELETE FROM tws_output_proofs WHERE output_hash = ?1", [&target])
            .unwrap();
        conn.execute(
            "INSERT INTO tws_output_proofs (output_hash, block_hash, proof) SELECT ?1, block_hash, proof FROM \
             tws_output_proofs WHERE output_hash = ?2",
            rusqlite::params![target, other.output_hash.to_vec()],
        )
        .unwrap();
        let after = verdicts(&conn, network);
        assert!(
            after
                .iter()
                .any(|v| v.output_hash == all[0].output_hash && v.result.is_err())
        );
    }

    // Headers hashed under another network's byte are not the chain's: every output refused.
    let conn = open_writable(file);
    conn.execute("UPDATE tws_proof_info SET network = ?1", [network ^ 0x01])
        .unwrap();
    let mut trusted_hashes = trusted(&f);
    let other_net = verify_file(&conn, &mut |_| Ok(()), &mut trusted_hashes).unwrap();
    assert!(
        other_net
            .iter()
            .all(|v| v.result.as_ref().is_err_and(|e| e.code() == "HEADER_MISMATCH")),
        "{other_net:?}"
    );

    // A node on another chain (its block at the height is another): refused, naming it.
    let conn = open_writable(file);
    let wrong = verify_file(&conn, &mut |_| Ok(()), &mut |_| Ok(Some([7u8; 32]))).unwrap();
    assert!(
        wrong
            .iter()
            .all(|v| v.result.as_ref().is_err_and(|e| e.code() == "BLOCK_NOT_ON_CHAIN"))
    );
}

/// Answers like the node database, but drops the last output of every whole block it sends.
struct PartialBlocks(LmdbFullOutputs);

impl FullOutputs for PartialBlocks {
    fn describe(&self) -> String {
        "a node that sends part of each block".into()
    }

    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure> {
        self.0.fetch(wanted)
    }

    fn header(&self, height: u64) -> Result<Option<tari_node_components::blocks::BlockHeader>, SourceFailure> {
        self.0.header(height)
    }

    fn block_outputs(&self, height: u64, hash: &[u8; 32]) -> Result<Option<Vec<TransactionOutput>>, SourceFailure> {
        Ok(self.0.block_outputs(height, hash)?.map(|mut outputs| {
            outputs.pop();
            outputs
        }))
    }
}

/// Answers outputs like the node database, and no header.
struct NoHeaders(LmdbFullOutputs);

impl FullOutputs for NoHeaders {
    fn describe(&self) -> String {
        "a node without headers".into()
    }

    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure> {
        self.0.fetch(wanted)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_sends_part_of_a_block_fails_the_build_retryably() {
    let f = fixture();
    // A light cache (no output types): the proofs need the node's blocks.
    let node = FakeNode::from_lmdb(&NodeDb::open(&f.db_dir).unwrap()).await.unwrap();
    let cache_dir = f.dir.join("followed");
    let cache = Cache::create(&cache_dir, f.manifest.network_byte).unwrap();
    let mut follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, FollowerConfig::default());
    follower.sync_to_tip(&CancellationToken::new()).await.unwrap();
    drop(follower);
    let sources = FullOutputSources::new(vec![Arc::new(PartialBlocks(LmdbFullOutputs::new(&f.db_dir)))]);
    tokio::task::spawn_blocking(move || {
        let view = CacheView::open(&cache_dir).unwrap();
        let wallet = &f.manifest.wallets[0];
        let result = scan_one(
            &view,
            ScanRequest {
                key: wallet.key(),
                birthday: 0,
            },
        )
        .unwrap();
        let err = build_from_chain(
            &wallet.key(),
            &account(),
            &result,
            &view,
            &sources,
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "PROOF_BLOCK_INCOMPLETE", "{err}");
        assert!(err.is_retryable());
        // A source with the outputs but no headers: also retryable, also no file.
        let no_headers = FullOutputSources::new(vec![Arc::new(NoHeaders(LmdbFullOutputs::new(&f.db_dir)))]);
        let err = build_from_chain(
            &wallet.key(),
            &account(),
            &result,
            &view,
            &no_headers,
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "PROOF_HEADER_UNAVAILABLE", "{err}");
        assert!(err.is_retryable());
    })
    .await
    .unwrap();
}

/// minotari-cli reads `user_version` (30: nothing to migrate), its own tables and their foreign keys; our
/// tables sit beside them with the `tws_` prefix, which no client migration names.
#[test]
fn a_file_with_proofs_keeps_the_clients_schema_with_only_our_tables_beside_it() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    let (_, file) = build_all(&f, &cache_dir, &sources).remove(0);
    let conn = open_writable(&file);
    let master = |conn: &rusqlite::Connection, ours: bool| -> Vec<(String, String, Option<String>)> {
        let sql = format!(
            "SELECT type, name, sql FROM sqlite_master WHERE name {} LIKE 'tws\\_%' ESCAPE '\\' ORDER BY type, name",
            if ours { "" } else { "NOT" }
        );
        conn.prepare(&sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let reference = rusqlite::Connection::open_in_memory().unwrap();
    tari_wallet_sync::walletdb::schema::create_schema(&reference).unwrap();
    assert_eq!(
        master(&conn, false),
        master(&reference, false),
        "the client's objects, untouched"
    );
    let ours: Vec<String> = master(&conn, true).into_iter().map(|(_, name, _)| name).collect();
    assert!(ours.iter().all(|n| n.starts_with("tws_")), "{ours:?}");
    assert!(ours.contains(&"tws_output_proofs".to_string()));
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 30);
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    // The client's connection settings, then its writes: the file takes them with our tables in it.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .unwrap();
    assert!(
        conn.prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query([])
            .unwrap()
            .next()
            .unwrap()
            .is_none()
    );
    conn.execute(
        "DELETE FROM scanned_tip_blocks WHERE height > (SELECT MAX(height) - 5 FROM scanned_tip_blocks)",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE outputs SET deleted_at = CURRENT_TIMESTAMP WHERE id = (SELECT MAX(id) FROM outputs)",
        [],
    )
    .unwrap();
}

/// The browser checker's test vectors (examples/web/test/proofs-fixture.json): every proof of the first
/// fixture wallet with its header bytes, as the file carries them. Proofs are deterministic, so the
/// committed file must be what the current builder writes; `TWS_WRITE_WEB_FIXTURE=1` rewrites it.
#[test]
fn the_browser_checkers_vectors_are_what_the_builder_writes() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    let (_, file) = build_all(&f, &cache_dir, &sources).remove(0);
    let conn = open_download(&file.chunks().concat());
    let rows: Vec<serde_json::Value> = conn
        .prepare(
            "SELECT o.output_hash, o.mined_in_block_height, p.proof, p.block_hash, h.mining_preimage, h.pow_nonce \
             FROM outputs o JOIN tws_output_proofs p ON p.output_hash = o.output_hash JOIN tws_block_headers h ON \
             h.block_hash = p.block_hash ORDER BY o.mined_in_block_height, o.output_hash",
        )
        .unwrap()
        .query_map([], |r| {
            let hex_of = |i| r.get::<_, Vec<u8>>(i).map(hex::encode);
            Ok(serde_json::json!({
                "output_hash": hex_of(0)?,
                "height": r.get::<_, i64>(1)?,
                "proof": hex_of(2)?,
                "block_hash": hex_of(3)?,
                "mining_preimage": hex_of(4)?,
                "pow_nonce": hex_of(5)?,
            }))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let vectors = serde_json::json!({ "network": f.manifest.network_byte, "outputs": rows });
    let text = serde_json::to_string_pretty(&vectors).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web/test/proofs-fixture.json");
    if std::env::var_os("TWS_WRITE_WEB_FIXTURE").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "rewrite with TWS_WRITE_WEB_FIXTURE=1"
    );
}
