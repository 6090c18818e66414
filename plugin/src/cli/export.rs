//! `export`: scans a cache for one wallet and writes the zstd-compressed minotari-cli wallet database,
//! through the same path as the service's jobs: owned outputs' full outputs from the node database
//! (`--lmdb`) and the node (`--node-url`), each checked against the chain's output hash; rebuilt only
//! for a demo chain. A real chain's cache with no source is refused, never exported as an empty wallet.

use std::{io::Write, path::PathBuf, sync::Arc, time::Instant};

use anyhow::{Context, Result, bail};
use tari_wallet_sync::{
    cache::CacheView,
    scan::{ScanRequest, scan_one},
    source::{
        NodeClient,
        full_outputs::{FullOutputSources, LmdbFullOutputs, NodeFetchOptions, NodeFullOutputs},
    },
    walletdb::{AccountSpec, BuildOptions, DEFAULT_ZSTD_LEVEL, account::birthday_days, build_from_chain},
};

use crate::{
    network,
    secret_input::{read_secret, wallet_key},
};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub cache: PathBuf,
    /// File holding the private view key as hex; `-` reads standard input.
    #[arg(long)]
    pub view_key_file: String,
    #[arg(long)]
    pub spend_public_key: String,
    /// File holding the password that seals the wallet (minotari-cli asks for it with --password);
    /// surrounding whitespace is trimmed. `-` reads standard input (not together with --view-key-file -).
    #[arg(long)]
    pub password_file: String,
    /// Block height to scan from.
    #[arg(long, default_value_t = 0)]
    pub birthday: u64,
    /// Wallet birthday stored in the account, in days since 2022-01-01 (the client's unit); default: the
    /// day of the first scanned block.
    #[arg(long)]
    pub wallet_birthday: Option<u64>,
    /// Account name in the wallet (minotari-cli's --account).
    #[arg(long, default_value = "default")]
    pub name: String,
    #[arg(long, default_value_t = DEFAULT_ZSTD_LEVEL)]
    pub zstd_level: i32,
    /// Where to write the compressed database (`zstd -d` it, then open it with minotari-cli).
    #[arg(long)]
    pub out: PathBuf,
    /// A node database (a stopped node's LMDB, or a copy taken while it was stopped) to read owned
    /// outputs' full outputs from; asked first.
    #[arg(long)]
    pub lmdb: Option<PathBuf>,
    /// The node's HTTP wallet query service to fetch owned outputs' full outputs from (also TWS_NODE_URL).
    #[arg(long, env = "TWS_NODE_URL")]
    pub node_url: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    if args.view_key_file == "-" && args.password_file == "-" {
        bail!("only one of --view-key-file and --password-file can read standard input");
    }
    let view_key = read_secret(&args.view_key_file, "view key")?;
    let key = wallet_key(&view_key, &args.spend_public_key)?;
    drop(view_key);
    let password = read_secret(&args.password_file, "password")?;
    let view =
        CacheView::open(&args.cache).with_context(|| format!("opening the cache at {}", args.cache.display()))?;
    network::settle(None, network::cache_evidence(&args.cache)?)?;
    // Node requests run here; the build blocks this thread on them (never inside the runtime).
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut sources = FullOutputSources::default();
    if let Some(dir) = &args.lmdb {
        sources.push(Arc::new(LmdbFullOutputs::new(dir)));
    }
    if let Some(url) = &args.node_url {
        let client = NodeClient::new(url)?;
        sources.push(Arc::new(NodeFullOutputs::new(
            client,
            runtime.handle().clone(),
            NodeFetchOptions::default(),
        )));
    }

    let started = Instant::now();
    let request = ScanRequest {
        key: key.clone(),
        birthday: args.birthday,
    };
    let result = scan_one(&view, request)?;
    let scanned = started.elapsed();

    let first_block_time = view.block(result.from_height).map_or(0, |b| b.timestamp);
    let account = AccountSpec {
        name: args.name.clone(),
        password,
        birthday: args.wallet_birthday.unwrap_or_else(|| birthday_days(first_block_time)),
    };
    let options = BuildOptions {
        zstd_level: args.zstd_level,
        ..BuildOptions::default()
    };
    let built = Instant::now();
    let file = build_from_chain(&key, &account, &result, &view, &sources, &options).map_err(|e| {
        let hint = match e.code() {
            "FULL_OUTPUTS_UNAVAILABLE" => {
                "; give --node-url (the node's query service) or --lmdb (its database) to take the owned outputs from"
            }
            _ => "",
        };
        anyhow::anyhow!("{e} ({}){hint}", e.code())
    })?;
    let build_time = built.elapsed();

    let mut out = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for chunk in file.chunks() {
        out.write_all(chunk)?;
    }
    out.sync_all()?;
    let s = &file.summary;
    println!(
        "{} outputs ({} spent), {} µT unspent at height {}; scanned in {:.2} s, built in {:.2} s",
        s.outputs,
        s.spent,
        s.unspent_value,
        s.tip_height.map_or("-".into(), |h| h.to_string()),
        scanned.as_secs_f64(),
        build_time.as_secs_f64()
    );
    if s.search_exhausted_blocks > 0 {
        eprintln!(
            "note: in {} blocks the matching of change to spent inputs ran out of steps: that change shows in the \
             history as minotari-cli shows change it found no inputs for (the balance is the same)",
            s.search_exhausted_blocks
        );
    }
    println!(
        "wrote {} ({} bytes, SQLite {} bytes, {:.1}%), sha256 {}",
        args.out.display(),
        file.zstd_len,
        file.raw_len,
        100.0 * file.zstd_len as f64 / file.raw_len.max(1) as f64,
        hex::encode(file.sha256)
    );
    if view.is_demo() {
        eprintln!(
            "note: a demo chain's wallet outputs are rebuilt from its cache (no range proofs or signatures): the \
             client shows them, but cannot spend them"
        );
    }
    Ok(())
}
