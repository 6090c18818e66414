//! The `tari-wallet-sync` binary: parses the command line and hands over to the plugin library. A failed
//! command prints its message chain, code and hint (`cli::report`), not a backtrace, and exits with 1.

use std::process::ExitCode;

use clap::Parser;
use tari_wallet_sync_plugin::cli;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("{}", cli::report::render(&error));
            ExitCode::FAILURE
        }
    }
}
