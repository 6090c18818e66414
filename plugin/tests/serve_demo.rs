//! The README's run command as a newcomer meets it: `tari-wallet-sync serve` with no configuration on a
//! fresh data directory builds the demo chain, says loudly that it serves a demo chain, writes
//! `demo-wallets.json`, reaches `ready`, and the client command it prints succeeds: run as printed (the
//! `wallet_client` example, built by `cargo test --workspace`), it syncs the demo wallet and reports the
//! expected balance. The data directory it created is owner-only, its files too.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use tari_wallet_sync::demo::chain::DemoWallet;
use tari_wallet_sync_sse::client::{Client, Protocol};

/// The `wallet_client` example beside this package's binary (`target/<profile>/examples/`); built here
/// when only this package's tests were built.
fn wallet_client() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    let example = bin.parent().unwrap().join("examples").join("wallet_client");
    if !example.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "tari-wallet-sync", "--example", "wallet_client"])
            .status()
            .unwrap();
        assert!(status.success(), "building the wallet_client example");
    }
    example
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_config_reaches_ready_and_the_printed_command_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("tws-data");
    let mut served = support::spawn(
        &[
            "serve".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ],
        Some(dir.path()),
    );

    // The printed command: `cargo run --release --example wallet_client -- --server URL --wallets F --name N`.
    let deadline = Instant::now() + Duration::from_secs(30);
    let command = loop {
        if let Some(line) = served.drain().iter().find(|l| l.contains("--example wallet_client")) {
            break line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no client command printed:\n{}",
            served.log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let args: Vec<String> = command
        .split(" -- ")
        .nth(1)
        .expect("arguments after --")
        .split_whitespace()
        .map(String::from)
        .collect();
    let value = |flag: &str| args[args.iter().position(|a| a == flag).expect(flag) + 1].clone();
    assert_eq!(value("--server"), format!("http://{}", served.addr));
    let wallets: Vec<DemoWallet> = serde_json::from_slice(&std::fs::read(value("--wallets")).unwrap()).unwrap();
    assert_eq!(Path::new(&value("--wallets")), data_dir.join("demo-wallets.json"));
    let wallet = wallets
        .iter()
        .find(|w| w.name == value("--name"))
        .expect("the printed wallet");
    assert!(wallet.expected_balance > 0);

    let client = Client::new(&value("--server"), Protocol::Http1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.request(Method::GET, "/ready", &[], None).await.unwrap();
        if response.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {:?}", response.json());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let client_binary = wallet_client();
    let output = tokio::task::spawn_blocking({
        let (args, cwd) = (args.clone(), dir.path().to_path_buf());
        move || {
            Command::new(client_binary)
                .args(&args)
                .current_dir(cwd)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the printed command fails:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("balance {} µT", wallet.expected_balance)),
        "the client reports the demo wallet's balance:\n{stdout}"
    );

    let (success, log) = served.terminate().await;
    assert!(success, "a clean exit:\n{log}");
    assert!(log.contains("serving a DEMO chain"), "said loudly:\n{log}");
    assert!(
        log.contains("the server key shares the job store's directory"),
        "the default key place is warned about:\n{log}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&data_dir),
            0o700,
            "the data directory, created by serve before the demo chain"
        );
        for file in ["demo-wallets.json", "demo-password", "server-key", "jobs.sqlite"] {
            assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
        }
    }
}
