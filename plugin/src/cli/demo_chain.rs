//! `demo-chain`: writes a demo cache and its `wallets.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tari_wallet_sync::demo::chain::{DemoChainSpec, write_demo_chain, write_wallets_json};

#[derive(clap::Args)]
pub struct Args {
    /// Directory to create; the cache goes to DIR/cache, the wallets to DIR/wallets.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    pub outputs: u64,
    #[arg(long, default_value_t = 1_000)]
    pub blocks: u64,
    #[arg(long, default_value_t = 4)]
    pub wallets: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: &Args) -> Result<()> {
    let started = std::time::Instant::now();
    let wallets = build(args)?;
    eprintln!(
        "wrote {} outputs in {} blocks with {} demo wallets to {} in {:.1} s",
        args.outputs,
        args.blocks,
        wallets,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes the demo into `args.out`; returns the number of wallets.
pub fn build(args: &Args) -> Result<usize> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let spec = DemoChainSpec {
        outputs: args.outputs,
        blocks: args.blocks,
        wallets: args.wallets,
        seed: args.seed,
    };
    let wallets = write_demo_chain(&spec, &args.out.join("cache"))?;
    write_wallets_json(&wallets, &args.out.join("wallets.json"))?;
    Ok(wallets.len())
}

/// The demo `demo` and `serve` use: 100,000 outputs in 1,000 blocks with 4 wallets, built in `out` once
/// (a finished demo is recognised by its `wallets.json`, written last). Returns its wallets.
pub fn ensure_default_demo(out: &std::path::Path) -> Result<Vec<tari_wallet_sync::demo::chain::DemoWallet>> {
    let wallets_path = out.join("wallets.json");
    if !wallets_path.exists() {
        // A half-written demo (interrupted build) is rebuilt from scratch.
        let _ = std::fs::remove_dir_all(out);
        eprintln!("building a demo chain in {} (once)", out.display());
        run(&Args {
            out: out.to_path_buf(),
            outputs: 100_000,
            blocks: 1_000,
            wallets: 4,
            seed: 1,
        })?;
    }
    let text = std::fs::read_to_string(&wallets_path).with_context(|| format!("reading {}", wallets_path.display()))?;
    Ok(serde_json::from_str(&text)?)
}
