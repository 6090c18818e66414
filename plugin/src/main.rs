//! The `tari-wallet-sync` binary: parses the command line and hands over to the plugin library.

use clap::Parser;
use tari_wallet_sync_plugin::cli;

fn main() -> anyhow::Result<()> {
    cli::run(cli::Cli::parse())
}
