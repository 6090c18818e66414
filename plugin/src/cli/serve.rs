//! `serve`: runs the HTTP service. Resolves the config (flags > `TWS_*` > TOML), sets up logging, creates
//! the data directory owner-only, binds, and serves: importing `lmdb_dir` first when a node database is
//! configured, following `node_url` into the cache when a node is configured, else the configured cache
//! as it is. Only when nothing at all is configured (no file, no `TWS_*` variable, no source flag) does
//! it build and serve a demo chain, and it says so loudly; a configuration without a source is refused.
//! Ctrl-C or SIGTERM drains it: no new jobs, running scans stay queued for the next start, then the
//! follower stops with its last batch published.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tari_wallet_sync::{demo::chain::DemoWallet, service};
use tokio_util::sync::CancellationToken;

use super::demo_chain;
use crate::{
    bootstrap,
    config::{self, Flags},
    network,
    running::Running,
};

#[derive(clap::Args)]
pub struct Args {
    /// TOML file with a [wallet_sync] section (also TWS_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory: job store, sealing key, demo chain (also TWS_DATA_DIR; default tws-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (also TWS_LISTEN; default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Output cache (also TWS_CACHE_DIR): scanned as it is, or where a followed node's chain goes
    /// (default DATA_DIR/cache); with neither a cache nor a node a demo chain is built in DATA_DIR/demo.
    #[arg(long, alias = "cache")]
    cache_dir: Option<PathBuf>,
    /// The node's HTTP wallet query service to follow, e.g. http://127.0.0.1:9000 (also TWS_NODE_URL).
    #[arg(long)]
    node_url: Option<String>,
    /// A stopped node's LMDB directory (or a copy taken while it was stopped) to import first (also
    /// TWS_LMDB_DIR). A running node's is refused: follow it with --node-url instead.
    #[arg(long)]
    lmdb_dir: Option<PathBuf>,
    /// The operator's address for /metrics (and health, readiness), e.g. 127.0.0.1:9102; set, the
    /// public port no longer serves /metrics (also TWS_METRICS_LISTEN).
    #[arg(long)]
    metrics_listen: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    init_tracing();
    let config = config::load(&Flags {
        config: args.config,
        data_dir: args.data_dir,
        listen: args.listen,
        cache_dir: args.cache_dir,
        node_url: args.node_url,
        lmdb_dir: args.lmdb_dir,
        metrics_listen: args.metrics_listen,
    })?;
    for (key, source) in &config.sources {
        tracing::debug!(key, source, "config");
    }
    let data_dir = config.service.data_dir.clone();
    let demo = config.serves_demo()?;
    // Owner-only before anything (a demo chain, a node's cache) is written inside it.
    service::create_private_dir(&data_dir)?;
    let demo = if demo {
        tracing::warn!(
            data_dir = %data_dir.display(),
            "NOTHING IS CONFIGURED: serving a DEMO chain, not a Tari network; set node_url, lmdb_dir or cache_dir \
             to serve a node's chain"
        );
        Some(prepare_demo(&data_dir)?)
    } else {
        None
    };
    // A running node's database, or none at all, is refused before anything listens.
    let import = config.lmdb_dir.as_deref().map(bootstrap::open).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tws-http")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // The network, before anything hashes: the node database's and the cache's say it; the node's
        // genesis is asked only when nothing else does.
        let mut evidence = Vec::new();
        if let Some(db) = &import {
            evidence.push(network::lmdb_evidence(db)?);
        }
        evidence.extend(network::cache_evidence(&config.service.cache_dir)?);
        if let (true, None, Some(url)) = (evidence.is_empty(), config.network, &config.node_url) {
            evidence.extend(network::node_evidence(url).await);
        }
        let network = network::settle(config.network, evidence)?.as_byte();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if config.service.tls.is_some() { "https" } else { "http" };
        if let Some(wallets) = &demo {
            print_demo(wallets, &data_dir, &format!("{scheme}://{addr}"));
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let running = match (import, &config.node_url) {
            (Some(db), _) => bootstrap::import_then_serve(&config, network, db, listener, shutdown).await?,
            (None, Some(_)) => Running::follow(&config, network, listener, shutdown).await?,
            (None, None) => Running::directory(&config, listener, shutdown).await?,
        };
        running.wait().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TWS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours for a terminal only: logs that go to a file or the journal stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The demo wallet file's password, beside the demo wallets' (public, test-only) keys.
const DEMO_PASSWORD_FILE: &str = "demo-password";

/// Builds the demo chain of `demo` (same spec, same directory) once and writes `demo-wallets.json` and,
/// for the client command it prints, a password for the demo wallet file (every wallet file has one).
fn prepare_demo(data_dir: &Path) -> Result<Vec<DemoWallet>> {
    let wallets = demo_chain::ensure_default_demo(&data_dir.join("demo"))?;
    let text = serde_json::to_string_pretty(&wallets)?;
    write_private(&data_dir.join("demo-wallets.json"), text.as_bytes(), true).context("writing demo-wallets.json")?;
    write_private(
        &data_dir.join(DEMO_PASSWORD_FILE),
        b"demo wallet file password\n",
        false,
    )
    .context("writing demo-password")?;
    Ok(wallets)
}

/// Writes a file of the data directory owner-only (0600), replacing what is there if `replace`, else
/// keeping it (made owner-only too).
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let existed = path.exists();
    let mut file = options.truncate(replace).open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    if replace || !existed {
        file.write_all(bytes)?;
    }
    Ok(())
}

fn print_demo(wallets: &[DemoWallet], data_dir: &Path, url: &str) {
    let wallet = &wallets[0];
    println!("serving a demo chain at {url}");
    println!(
        "demo wallet {}: spend public key {}, birthday {}, expected balance {} µT (demo keys: public test data)",
        wallet.name, wallet.spend_public_key, wallet.birthday, wallet.expected_balance
    );
    println!("try it in another terminal:");
    println!(
        "  cargo run --release --example wallet_client -- --server {url} --wallets {} --name {} --password-file {}",
        data_dir.join("demo-wallets.json").display(),
        wallet.name,
        data_dir.join(DEMO_PASSWORD_FILE).display()
    );
}

async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: draining connections");
    shutdown.cancel();
}
