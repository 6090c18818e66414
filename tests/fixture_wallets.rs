//! Wallet files of a genuine chain (tests/fixtures/node-lmdb, written by tari_core with LocalNet set, as a
//! node writes it) hold the chain's own outputs, so the wallet can spend them: for every fixture wallet,
//! every owned output's `wallet_output_json` equals the output the node stored field by field, hashes
//! under the fixture's network to the chain's output hash, and carries a metadata signature and range
//! proof the official verifiers accept. Checked through the HTTP service (a cache imported from the
//! node's database, full outputs from that database), and through the path `export` takes, from an LMDB
//! import and from the light follower (full outputs from the node's HTTP API). A node that sends a wrong
//! or no full output fails the job with `FULL_OUTPUTS_UNAVAILABLE` and nothing is served; a cache with no
//! source of full outputs is refused, never turned into an empty wallet.

mod node_fixture;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
};

use http::{Method, StatusCode};
use node_fixture::{Manifest, genuine_outputs, manifest, unpack, use_network};
use tari_transaction_components::transaction_components::TransactionOutput;
use tari_wallet_sync::{
    cache::{Cache, CacheView},
    scan::{ScanRequest, scan_one},
    service::{CacheSource, WalletDbBuilder},
    source::{
        Follower, FollowerConfig, NodeClient,
        full_outputs::{FullOutputSources, LmdbFullOutputs, NodeFetchOptions, NodeFullOutputs},
        lmdb::{ImportOptions, NodeDb, import},
    },
    walletdb::{AccountSpec, BuildOptions, build_from_chain},
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    fake_node::{FakeNode, FullOutputFault},
    service::{
        TestServer, downloaded_wallet_balance, test_config,
        wallet_app::{last_event, submit, sync_wallet},
    },
    synthetic::check_outputs_against_chain,
};
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
    /// A cache imported from the node's database.
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

    /// Checks a downloaded file against the chain; returns the outputs it holds.
    fn check(&self, download: &[u8], wallet: &str) -> usize {
        check_outputs_against_chain(download, &|hash| self.genuine.get(hash).cloned())
            .unwrap_or_else(|e| panic!("wallet {wallet}: {e}"))
    }
}

/// A fake node serving the fixture's chain, with the database's genuine full outputs.
async fn node_of(db_dir: &Path) -> FakeNode {
    let db = NodeDb::open(db_dir).unwrap();
    FakeNode::from_lmdb(&db).await.unwrap()
}

fn account() -> AccountSpec {
    AccountSpec {
        name: "default".into(),
        password: Zeroizing::new("fixture password".into()),
        birthday: 0,
    }
}

/// The path `export` takes: scan, full outputs from `sources`, wallet file; checked against the chain.
fn export_and_check(f: &Fixture, cache_dir: &Path, sources: &FullOutputSources) {
    let view = CacheView::open(cache_dir).unwrap();
    for wallet in &f.manifest.wallets {
        let key = wallet.key();
        let result = scan_one(
            &view,
            ScanRequest {
                key: key.clone(),
                birthday: 0,
            },
        )
        .unwrap();
        assert_eq!(result.outputs.len(), wallet.outputs.len(), "wallet {}", wallet.name);
        let file = build_from_chain(&key, &account(), &result, &view, sources, &BuildOptions::default())
            .unwrap_or_else(|e| panic!("wallet {}: {e} ({})", wallet.name, e.code()));
        assert_eq!(
            file.summary.outputs as usize,
            wallet.outputs.len(),
            "wallet {}",
            wallet.name
        );
        assert_eq!(
            file.summary.search_exhausted_blocks, 0,
            "honest sends match within the budget"
        );
        assert_eq!(file.summary.unspent_value, wallet.balance, "wallet {}", wallet.name);
        let bytes = file.chunks().concat();
        assert_eq!(f.check(&bytes, &wallet.name), wallet.outputs.len());
        assert_eq!(downloaded_wallet_balance(&bytes), wallet.balance);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_service_every_owned_output_is_the_chains() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let mut config = test_config(&f.dir.join("data"));
    config.cache_dir = cache_dir.clone();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    let server = TestServer::start_with(
        config,
        CacheSource::directory(cache_dir),
        Arc::new(WalletDbBuilder::new(sources)),
    )
    .await;
    for (i, wallet) in f.manifest.wallets.iter().enumerate() {
        let protocol = if i % 2 == 0 { Protocol::Http1 } else { Protocol::Http2 };
        let client = Client::new(&server.base_url, protocol);
        let (ready, file) = sync_wallet(&client, &wallet.as_demo()).await;
        assert!(matches!(ready, JobEvent::Ready { stale: false, .. }), "{ready:?}");
        assert_eq!(
            f.check(&file, &wallet.name),
            wallet.outputs.len(),
            "wallet {}",
            wallet.name
        );
        assert_eq!(
            downloaded_wallet_balance(&file),
            wallet.balance,
            "wallet {}",
            wallet.name
        );
    }
    server.stop().await.unwrap();
}

#[test]
fn export_from_an_lmdb_import_holds_the_chains_outputs() {
    let f = fixture();
    let cache_dir = f.imported_cache();
    let sources = FullOutputSources::new(vec![Arc::new(LmdbFullOutputs::new(&f.db_dir))]);
    export_and_check(&f, &cache_dir, &sources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_from_the_light_follower_takes_full_outputs_from_the_node() {
    let f = fixture();
    let node = node_of(&f.db_dir).await;
    let cache_dir = f.dir.join("followed");
    let cache = Cache::create(&cache_dir, f.manifest.network_byte).unwrap();
    // The default follower: the light sync route only.
    let mut follower = Follower::new(NodeClient::new(&node.url()).unwrap(), cache, FollowerConfig::default());
    follower.sync_to_tip(&CancellationToken::new()).await.unwrap();
    drop(follower);
    let view = CacheView::open(&cache_dir).unwrap();
    assert!(
        view.blocks(..).all(|b| !b.output_details),
        "a light cache keeps no script, type or maturity"
    );

    // Without a source a light cache cannot make wallet files: refused, not an empty wallet.
    let wallet = &f.manifest.wallets[0];
    let result = scan_one(
        &view,
        ScanRequest {
            key: wallet.key(),
            birthday: 0,
        },
    )
    .unwrap();
    assert_eq!(result.outputs.len(), wallet.outputs.len());
    let err = build_from_chain(
        &wallet.key(),
        &account(),
        &result,
        &view,
        &FullOutputSources::default(),
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "FULL_OUTPUTS_UNAVAILABLE", "{err}");

    let requests_before = node.full_output_requests();
    let sources = FullOutputSources::new(vec![Arc::new(NodeFullOutputs::new(
        NodeClient::new(&node.url()).unwrap(),
        tokio::runtime::Handle::current(),
        NodeFetchOptions::default(),
    ))]);
    tokio::task::spawn_blocking(move || export_and_check(&f, &cache_dir, &sources))
        .await
        .unwrap();
    // One request per block holding a wallet's outputs, however many it holds there.
    let blocks_with_hits: usize = manifest()
        .wallets
        .iter()
        .map(|w| {
            let blocks: std::collections::HashSet<_> = w.outputs.iter().map(|o| &o.block_hash).collect();
            blocks.len()
        })
        .sum();
    assert_eq!(node.full_output_requests() - requests_before, blocks_with_hits as u64);
}

/// A node that answers `/get_utxos_by_block` wrongly: the job fails with the stable code, and nothing is
/// served for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_wrong_or_missing_full_outputs_fails_the_job() {
    let f = fixture();
    let node = node_of(&f.db_dir).await;
    let cache_dir = f.imported_cache();
    let mut config = test_config(&f.dir.join("data"));
    config.cache_dir = cache_dir.clone();
    config.max_attempts = 1;
    let sources = FullOutputSources::new(vec![Arc::new(NodeFullOutputs::new(
        NodeClient::new(&node.url()).unwrap(),
        tokio::runtime::Handle::current(),
        NodeFetchOptions {
            attempts: 1,
            ..NodeFetchOptions::default()
        },
    ))]);
    let server = TestServer::start_with(
        config,
        CacheSource::directory(cache_dir),
        Arc::new(WalletDbBuilder::new(sources)),
    )
    .await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    for (fault, wallet) in [
        FullOutputFault::Tampered,
        FullOutputFault::Missing,
        FullOutputFault::Unavailable,
    ]
    .into_iter()
    .zip(f.manifest.wallets.iter().cycle())
    {
        node.set_full_output_fault(fault);
        let job = submit(&client, &wallet.as_demo(), None).await;
        match last_event(&client, &job).await {
            JobEvent::Failed { code, .. } => assert_eq!(code, "FULL_OUTPUTS_UNAVAILABLE", "{fault:?}"),
            other => panic!("{fault:?}: the job must fail, not {other:?}"),
        }
        let url = job.json["download_url"].as_str().unwrap();
        let response = client
            .request(Method::GET, url, &[("authorization", &job.auth)], None)
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::CONFLICT, "{fault:?}: nothing is served");
        assert_eq!(response.json().unwrap()["error"]["code"], "JOB_FAILED");
    }
    // The node mends its ways: the same wallet's job is served, genuine.
    node.set_full_output_fault(FullOutputFault::None);
    let wallet = &f.manifest.wallets[0];
    let (_, file) = sync_wallet(&client, &wallet.as_demo()).await;
    assert_eq!(f.check(&file, &wallet.name), wallet.outputs.len());
    server.stop().await.unwrap();
}
