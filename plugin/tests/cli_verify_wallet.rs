//! `verify-wallet` as a wallet owner runs it: a file `export` wrote from the node fixture (LocalNet, written
//! by tari_core) is checked against headers from a node serving that chain: every owned output verified,
//! exit 0. Against a node of another chain, every output is refused, one line each, exit 1. A file without proofs (a demo chain's) and a node that does not answer cannot be checked: exit 2.

#[path = "../../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tari_wallet_sync::source::lmdb::NodeDb;
use tari_wallet_sync_testkit::fake_node::{FakeNode, synthetic_blocks};

fn tws(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    for arg in args {
        command.arg(arg);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWS_") || name == "TARI_NETWORK" {
            command.env_remove(name);
        }
    }
    command
}

/// (exit code, stdout + stderr).
fn run(mut command: Command) -> (i32, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Imports the fixture and exports its first wallet's file; returns (file, node database dir).
fn exported(dir: &Path) -> (PathBuf, PathBuf, usize) {
    let db = dir.join("db");
    node_fixture::unpack(&db);
    let cache = dir.join("cache");
    let (code, text) = run(tws(&[&"import", &"--lmdb", &db, &"--cache", &cache]));
    assert_eq!(code, 0, "{text}");
    let wallet = &node_fixture::manifest().wallets[0];
    let (view_key, password) = (dir.join("view.key"), dir.join("password"));
    std::fs::write(&view_key, &wallet.view_private_key).unwrap();
    std::fs::write(&password, "a password").unwrap();
    let out = dir.join("wallet.sqlite.zst");
    let (code, text) = run(tws(&[
        &"export",
        &"--cache",
        &cache,
        &"--view-key-file",
        &view_key,
        &"--spend-public-key",
        &wallet.spend_public_key,
        &"--password-file",
        &password,
        &"--lmdb",
        &db,
        &"--out",
        &out,
    ]));
    assert_eq!(code, 0, "{text}");
    (out, db, wallet.outputs.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixture_wallet_verifies_against_its_chain_and_is_refused_by_another_network() {
    node_fixture::use_network();
    let dir = tempfile::tempdir().unwrap();
    let (file, db, owned) = exported(dir.path());
    let node = FakeNode::from_lmdb(&NodeDb::open(&db).unwrap()).await.unwrap();
    let url = node.url();
    let (code, text) = tokio::task::spawn_blocking({
        let file = file.clone();
        move || run(tws(&[&"verify-wallet", &"--wallet", &file, &"--node-url", &url]))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{owned} owned outputs")) && text.contains("all verified"),
        "{text}"
    );
    assert!(!text.contains("refused:"), "{text}");

    // A node of another chain (a made-up LocalNet chain as long): its blocks are not the file's.
    let other = FakeNode::start(synthetic_blocks(None, &vec![2; 400], 7)).await.unwrap();
    let url = other.url();
    let (code, text) =
        tokio::task::spawn_blocking(move || run(tws(&[&"verify-wallet", &"--wallet", &file, &"--node-url", &url])))
            .await
            .unwrap();
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        text.matches("refused: height").count(),
        owned,
        "one line per output: {text}"
    );
    assert!(text.contains("PROOF_REFUSED"), "{text}");
}

#[test]
fn files_that_cannot_be_checked_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // Not a wallet file.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    let (code, text) = run(tws(&[
        &"verify-wallet",
        &"--wallet",
        &junk,
        &"--node-url",
        &"http://127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("NOT_A_WALLET"), "{text}");

    // A real file, a node that does not answer.
    let (file, _, _) = exported(dir.path());
    let (code, text) = run(tws(&[
        &"verify-wallet",
        &"--wallet",
        &file,
        &"--node-url",
        &"http://127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("NODE_UNAVAILABLE"), "{text}");
}
