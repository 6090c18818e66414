//! `verify-wallet`: checks every owned output of a wallet file against block headers fetched from a
//! node the user names (never from this service): each header's hash is recomputed under the file's
//! network and must be the block the output's row names; the output's proof must lead from its hash
//! (recomputed from the output the wallet spends) to that header's `block_output_mr`. Prints one line
//! per failing output. Exit code: 0 when every output verifies, 1 when any is refused, 2 when the file
//! cannot be checked at all (no proofs, unreadable, the node unreachable).

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result, bail};
use tari_wallet_sync::{
    network,
    source::NodeClient,
    walletdb::verify::{node_header_hash, open_wallet, verify_file},
};

#[derive(clap::Args)]
pub struct Args {
    /// The wallet file: the download as served (zstd) or the SQLite file minotari-cli opens.
    #[arg(long)]
    pub wallet: PathBuf,
    /// The HTTP wallet query service of a base node you trust (its headers are the reference).
    #[arg(long)]
    pub node_url: String,
}

/// Exit code when the file could not be checked at all.
const CANNOT_CHECK: i32 = 2;

pub fn run(args: Args) -> Result<()> {
    match check(&args) {
        Ok(Outcome::AllVerified) => Ok(()),
        Ok(Outcome::Refused { refused, total }) => {
            bail!(
                "{refused} of {total} owned outputs of {} were refused (PROOF_REFUSED)",
                args.wallet.display()
            )
        }
        Err(error) => {
            eprint!("{}", super::report::render(&error));
            std::process::exit(CANNOT_CHECK);
        }
    }
}

enum Outcome {
    AllVerified,
    Refused { refused: usize, total: usize },
}

fn check(args: &Args) -> Result<Outcome> {
    let bytes = std::fs::read(&args.wallet).with_context(|| format!("reading {}", args.wallet.display()))?;
    let conn = open_wallet(&bytes).map_err(|e| {
        let code = e.code();
        anyhow::Error::new(e).context(format!("opening {} ({code})", args.wallet.display()))
    })?;
    let client = NodeClient::new(&args.node_url).with_context(|| format!("the node URL {}", args.node_url))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut other_network = false;
    let started = Instant::now();
    let verdicts = verify_file(
        &conn,
        &mut |byte| network::use_network_byte(byte).map(drop).map_err(|e| e.to_string()),
        &mut |height| {
            let header = runtime
                .block_on(client.header_by_height(height))
                .map_err(|e| format!("{e} ({})", e.code()))?;
            Ok(header.map(|h| {
                // Recomputed under the file's network: the node's own `hash` field is not trusted.
                let (computed, claimed) = node_header_hash(h);
                other_network |= claimed != computed;
                computed
            }))
        },
    )
    .map_err(|e| {
        let code = e.code();
        anyhow::Error::new(e).context(format!("checking {} ({code})", args.wallet.display()))
    })?;
    let elapsed = started.elapsed();
    let refused: Vec<_> = verdicts.iter().filter(|v| v.result.is_err()).collect();
    for v in &refused {
        let e = v.result.as_ref().unwrap_err();
        println!(
            "refused: height {} output {} {}: {e}",
            v.height,
            hex::encode(v.output_hash),
            e.code()
        );
    }
    if other_network {
        println!(
            "note: the node's headers do not hash to the hashes it states under this file's network: it follows \
             another network"
        );
    }
    let coinbases = verdicts.iter().filter(|v| v.coinbase).count();
    println!(
        "{} owned outputs ({coinbases} coinbase) checked against headers from {} in {:.2} s: {}",
        verdicts.len(),
        args.node_url,
        elapsed.as_secs_f64(),
        match refused.len() {
            0 => "all verified".to_string(),
            n => format!("{n} refused"),
        }
    );
    Ok(if refused.is_empty() {
        Outcome::AllVerified
    } else {
        Outcome::Refused {
            refused: refused.len(),
            total: verdicts.len(),
        }
    })
}
