//! The `tari-wallet-sync` binary: parses the command line and hands over to the library.

mod cli;
mod config;
mod secret_input;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    cli::run(cli::Cli::parse())
}
