//! `scan`: scans a cache for one wallet and prints its outputs and balance.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tari_wallet_sync::{
    cache::CacheView,
    scan::{OwnedOutput, ScanRequest, ScanResult, scan_one},
};
use zeroize::Zeroizing;

use crate::{
    network,
    secret_input::{read_secret, wallet_key},
};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub cache: PathBuf,
    /// The private view key as hex. Prefer --view-key-file: a key on the command line lands in shell
    /// history and the process list.
    #[arg(long, conflicts_with = "view_key_file")]
    pub view_key: Option<String>,
    /// File holding the private view key as hex; `-` reads standard input.
    #[arg(long)]
    pub view_key_file: Option<String>,
    #[arg(long)]
    pub spend_public_key: String,
    #[arg(long, default_value_t = 0)]
    pub birthday: u64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let view_key = match (&args.view_key, &args.view_key_file) {
        (Some(hex), None) => Zeroizing::new(hex.clone()),
        (None, Some(path)) => read_secret(path, "view key")?,
        _ => bail!("give the view key with --view-key-file FILE (or - for standard input)"),
    };
    let key = wallet_key(&view_key, &args.spend_public_key)?;
    let view =
        CacheView::open(&args.cache).with_context(|| format!("opening the cache at {}", args.cache.display()))?;
    network::settle(None, network::cache_evidence(&args.cache)?)?;
    let started = std::time::Instant::now();
    let request = ScanRequest {
        key,
        birthday: args.birthday,
    };
    let result = scan_one(&view, request)?;
    if args.json {
        println!("{}", to_json(&result));
    } else {
        println!(
            "{} outputs owned ({} spent), balance {} µT at height {}, scanned {} outputs in {:.2} s",
            result.outputs.len(),
            result.outputs.iter().filter(|o| o.spent.is_some()).count(),
            result.balance(),
            result.tip.map_or(0, |t| t.height),
            view.output_count() - view.first_output_at(args.birthday),
            started.elapsed().as_secs_f64()
        );
        let light = result.outputs.iter().filter(|o| !o.output_details).count();
        if light > 0 {
            eprintln!(
                "note: {light} owned outputs are in blocks the cache holds light (no script, type or maturity): the \
                 balance counts any burn among them; export and the service take those from the node"
            );
        }
    }
    Ok(())
}

pub fn to_json(result: &ScanResult) -> serde_json::Value {
    let outputs: Vec<_> = result.outputs.iter().map(OwnedOutput::to_json).collect();
    json!({
        "tip_height": result.tip.map(|t| t.height),
        "tip_hash": result.tip.map(|t| hex::encode(t.hash)),
        "from_height": result.from_height,
        "balance": result.balance(),
        "outputs": outputs,
    })
}
