//! `tari-wallet-sync serve` bootstrapped from a node's own database, as an operator would start it beside a
//! node: `lmdb_dir` is the real-node fixture (a database tari_core wrote; tests/fixtures/node-lmdb) and
//! `node_url` a fake node one block window ahead of it. The plugin imports the database, follows the node
//! from the imported tip, reaches `ready`, and a fixture wallet synced through the HTTP API downloads a
//! wallet file holding exactly the balance the fixture's manifest records. A running node's database is
//! refused before anything listens.

#[path = "../../tests/node_fixture/mod.rs"]
mod node_fixture;
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::CacheView,
    demo::chain::DemoWallet,
    source::{
        blocks_from_view,
        lmdb::{NODE_LOCK_FILE, NodeDb},
    },
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    fake_node::{FakeNode, synthetic_blocks},
    service::{downloaded_wallet_balance, wallet_app::sync_wallet},
    synthetic::check_outputs_against_chain,
};

async fn get(client: &Client, path: &str) -> (StatusCode, serde_json::Value) {
    let response = client.request(Method::GET, path, &[], None).await.unwrap();
    (response.status, response.json().unwrap())
}

/// Syncs `wallet` as a wallet app would; the job must not be stale (the node is reachable).
async fn sync(client: &Client, wallet: &DemoWallet) -> Bytes {
    let (ready, file) = sync_wallet(client, wallet).await;
    assert!(
        matches!(ready, JobEvent::Ready { stale: false, .. }),
        "a current file: {ready:?}"
    );
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_imports_the_nodes_database_then_follows_the_node() {
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    node_fixture::unpack(&db_dir);
    let manifest = node_fixture::manifest();
    let genuine = node_fixture::genuine_outputs(&NodeDb::open(&db_dir).unwrap());
    // The node has moved on by a few blocks since the copy was taken.
    let (node, ahead) = {
        let db = NodeDb::open(&db_dir).unwrap();
        let node = FakeNode::from_lmdb(&db).await.unwrap();
        let tip = node.blocks().last().map(|b| (b.height, b.hash));
        let ahead = synthetic_blocks(tip, &[2, 0, 1], 3);
        node.push_blocks(ahead.clone());
        (node, ahead)
    };
    let node_tip = manifest.tip_height + ahead.len() as u64;
    let cache_dir = dir.path().join("cache");
    let config = dir.path().join("tws.toml");
    std::fs::write(
        &config,
        format!(
            "[wallet_sync]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nlmdb_dir = {:?}\nnode_url = {:?}\n\
             cache_dir = {:?}\nnetwork = {:?}\npoll_interval = \"100ms\"\n",
            dir.path().join("data"),
            db_dir,
            node.url(),
            cache_dir,
            manifest.network
        ),
    )
    .unwrap();

    let served = support::serve(&config);
    let client = Client::new(&format!("http://{}", served.addr), Protocol::Http2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&client, "/ready").await;
        if status == StatusCode::OK {
            assert_eq!(body["cache_tip_height"].as_u64(), Some(node_tip), "{body}");
            break;
        }
        let state = body["state"].as_str().unwrap();
        assert!(["starting", "importing", "catching_up"].contains(&state), "{body}");
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for wallet in &manifest.wallets {
        let file = sync(&client, &wallet.as_demo()).await;
        assert_eq!(
            downloaded_wallet_balance(&file),
            wallet.balance,
            "wallet {}",
            wallet.name
        );
        // The chain's own outputs (from the database first, the node for blocks it lacks).
        let checked = check_outputs_against_chain(&file, &|hash| genuine.get(hash).cloned())
            .unwrap_or_else(|e| panic!("wallet {}: {e}", wallet.name));
        assert_eq!(checked, wallet.outputs.len());
    }

    let (success, log) = served.terminate().await;
    assert!(success, "a clean exit:\n{log}");
    assert!(log.contains("imported"), "the database was imported:\n{log}");
    // Then the node was followed, on the light route.
    let cache = CacheView::open(&cache_dir).unwrap();
    let light: Vec<_> = ahead.iter().map(|b| b.light()).collect();
    assert_eq!(blocks_from_view(&cache, manifest.tip_height + 1..), light);
}

/// Damages the header row of block `height` in the database file in place: one byte of its `prev_hash`
/// (bincode: version u16, height u64, then the hash), so the block hashes to something the node never
/// indexed and reading it fails with `HASH_MISMATCH`.
fn damage_header(db_dir: &std::path::Path, height: u64) {
    let prev = NodeDb::open(db_dir).unwrap().header(height - 1).unwrap().unwrap().hash;
    let path = db_dir.join("data.mdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let height_bytes = height.to_le_bytes();
    let at = (0..bytes.len() - 64)
        .find(|&i| bytes[i..i + 8] == height_bytes && (0..=8).any(|gap| bytes[i + 8 + gap..i + 8 + gap + 32] == prev))
        .expect("the header row of the block");
    let gap = (0..=8)
        .find(|&gap| bytes[at + 8 + gap..at + 8 + gap + 32] == prev)
        .unwrap();
    bytes[at + 8 + gap] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
}

/// An import that stops part-way with no node to fill the rest: the service serves what it published, but
/// never as current (`/ready` degraded with `IMPORT_FAILED`, every file stale).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_without_a_node_is_not_ready_and_its_files_are_stale() {
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    node_fixture::unpack(&db_dir);
    let manifest = node_fixture::manifest();
    let broken = manifest.tip_height / 2;
    damage_header(&db_dir, broken);
    let config = dir.path().join("tws.toml");
    std::fs::write(
        &config,
        format!(
            "[wallet_sync]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nlmdb_dir = {:?}\nnetwork = {:?}\n",
            dir.path().join("data"),
            db_dir,
            manifest.network
        ),
    )
    .unwrap();

    let served = support::serve(&config);
    let client = Client::new(&format!("http://{}", served.addr), Protocol::Http1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let (status, body) = get(&client, "/ready").await;
        assert_ne!(status, StatusCode::OK, "a half-imported cache is not ready: {body}");
        if body["state"] == "degraded" {
            break body;
        }
        assert!(Instant::now() < deadline, "the import never ended: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready["node_error"]["code"], "IMPORT_FAILED", "{ready}");
    let Some(imported_tip) = ready["cache_tip_height"].as_u64() else {
        let (_, log) = served.terminate().await;
        panic!("no cache tip in /ready: {ready}\n{log}");
    };
    assert!(imported_tip < broken, "{ready}");
    let text = ready.to_string();
    assert!(!text.contains(&*db_dir.to_string_lossy()), "no paths in /ready: {text}");

    let (event, _) = sync_wallet(&client, &manifest.wallets[0].as_demo()).await;
    assert!(
        matches!(event, JobEvent::Ready { stale: true, tip_height: Some(t), .. } if t == imported_tip),
        "{event:?}"
    );
    let (success, log) = served.terminate().await;
    assert!(success, "a clean exit:\n{log}");
    assert!(log.contains("HASH_MISMATCH"), "the log says why:\n{log}");
}

#[test]
fn a_running_nodes_database_is_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("node-db");
    node_fixture::unpack(&db_dir);
    let lock = std::fs::File::create(db_dir.join(NODE_LOCK_FILE)).unwrap();
    lock.try_lock().unwrap(); // what a running node holds
    let output = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--lmdb-dir")
        .arg(&db_dir)
        .env_remove("TWS_NODE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("NODE_RUNNING") && stderr.contains("stop the node") && stderr.contains("--node-url"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mdb_copy"),
        "no copy of a running node's database: {stderr}"
    );
    assert!(!stderr.contains("listening"), "refused before listening: {stderr}");
}
