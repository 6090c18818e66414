//! `demo`: the one-command tour. Builds a small demo chain once, then scans its first wallet and prints
//! what it found next to what the demo expects, and the commands to explore further.

use std::{path::PathBuf, sync::atomic::AtomicBool};

use anyhow::{Context, Result, ensure};
use tari_wallet_sync::{
    cache::CacheView,
    recognize::WalletKey,
    scan::{ScanOptions, ScanRequest, scan},
};

use super::demo_chain;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory for the demo chain.
    #[arg(long, env = "TWS_DATA_DIR", default_value = "tws-data")]
    data_dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let out = args.data_dir.join("demo");
    let wallets = demo_chain::ensure_default_demo(&out)?;
    let view = CacheView::open(out.join("cache")).context("opening the demo cache")?;
    let requests: Vec<ScanRequest> = wallets
        .iter()
        .map(|w| {
            let key = WalletKey::from_hex(&w.view_key, &w.spend_public_key).expect("demo keys are valid");
            ScanRequest {
                key,
                birthday: w.birthday,
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let results = scan(
        &view,
        &requests,
        &ScanOptions::default(),
        &|_| {},
        &AtomicBool::new(false),
    )?;
    println!(
        "scanned {} outputs for {} wallets in one pass in {:.2} s",
        view.output_count(),
        wallets.len(),
        started.elapsed().as_secs_f64()
    );
    for (wallet, result) in wallets.iter().zip(&results) {
        println!(
            "  {}: {} outputs, balance {} µT (expected {} outputs, {} µT)",
            wallet.name,
            result.outputs.len(),
            result.balance(),
            wallet.expected_outputs,
            wallet.expected_balance
        );
        ensure!(
            result.balance() == wallet.expected_balance,
            "{} balance differs from the demo's",
            wallet.name
        );
    }
    println!(
        "\nexplore: wallets are in {}; scan one with",
        out.join("wallets.json").display()
    );
    println!(
        "  cargo run --release -p tari-wallet-sync-plugin -- scan --cache {} --view-key-file KEYFILE --spend-public-key {} --birthday {} --json",
        out.join("cache").display(),
        wallets[0].spend_public_key,
        wallets[0].birthday
    );
    Ok(())
}
