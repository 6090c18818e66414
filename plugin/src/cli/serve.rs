//! `serve`: runs the HTTP service. Resolves the config (flags > `TWS_*` > TOML), sets up logging, builds
//! the demo chain once when no cache is configured, binds, and hands over to `service::run` until Ctrl-C
//! or SIGTERM, which drain it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tari_wallet_sync::{demo::chain::DemoWallet, service};
use tokio_util::sync::CancellationToken;

use super::demo_chain;
use crate::config::{self, Flags};

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
    /// Output cache to scan (also TWS_CACHE); without one a demo chain is built in DATA_DIR/demo.
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    init_tracing();
    let config = config::load(&Flags {
        config: args.config,
        data_dir: args.data_dir,
        listen: args.listen,
        cache: args.cache,
    })?;
    for (key, source) in &config.sources {
        tracing::debug!(key, source, "config");
    }
    let data_dir = config.service.data_dir.clone();
    let demo = match &config.cache {
        Some(_) => None,
        None => Some(prepare_demo(&data_dir)?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tws-http")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
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
        service::run(config.service, listener, shutdown).await?;
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
        .with_writer(std::io::stderr)
        .try_init();
}

/// Builds the demo chain of `demo` (same spec, same directory) once and writes `demo-wallets.json`.
fn prepare_demo(data_dir: &Path) -> Result<Vec<DemoWallet>> {
    let wallets = demo_chain::ensure_default_demo(&data_dir.join("demo"))?;
    let text = serde_json::to_string_pretty(&wallets)?;
    std::fs::write(data_dir.join("demo-wallets.json"), &text).context("writing demo-wallets.json")?;
    Ok(wallets)
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
        "  cargo run --release --example wallet_client -- --server {url} --wallets {} --name {}",
        data_dir.join("demo-wallets.json").display(),
        wallet.name
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
