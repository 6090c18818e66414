//! Command line: one subcommand per job; each parses its own arguments and calls the library.

pub mod bench;
pub mod demo;
pub mod demo_chain;
pub mod export;
pub mod follow;
pub mod import;
pub mod keygen;
pub mod recognize;
pub mod report;
pub mod scan;
pub mod serve;
pub mod verify;
pub mod verify_wallet;

#[derive(clap::Parser)]
#[command(
    name = "tari-wallet-sync",
    version,
    about = "Turns a Tari view key into a synced wallet database"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Build a small demo chain (once) and scan its wallets: the quickest way to see it work.
    Demo(demo::Args),
    /// Write a demo cache of genuine outputs with known demo wallets.
    DemoChain(demo_chain::Args),
    /// Scan a cache for one wallet.
    Scan(scan::Args),
    /// Measure scan throughput on a demo cache.
    Bench(bench::Args),
    /// Recognise a wallet's outputs among outputs listed in a JSON file.
    Recognize(recognize::Args),
    /// Scan a cache for one wallet and write its minotari-cli wallet database, zstd-compressed.
    Export(export::Args),
    /// Fill a cache from a stopped node's LMDB database (or a copy taken while it was stopped).
    Import(import::Args),
    /// Keep a cache at a running node's tip through its HTTP wallet query service.
    Follow(follow::Args),
    /// Run the HTTP service (a demo chain when no cache is given).
    Serve(serve::Args),
    /// Write a new sealing key file (0600) for a key rotation; prints its key id, never the secret.
    Keygen(keygen::Args),
    /// Check every file of a cache against its checksums; one line per damaged segment.
    Verify(verify::Args),
    /// Check every owned output of a wallet file against headers from a node you name; one line per
    /// refused output (exit 0: all verified, 1: some refused, 2: not checkable).
    VerifyWallet(verify_wallet::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoChain(args) => demo_chain::run(&args),
        Command::Scan(args) => scan::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Recognize(args) => recognize::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Export(args) => export::run(args),
        Command::Follow(args) => follow::run(args),
        Command::Import(args) => import::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Verify(args) => verify::run(args),
        Command::VerifyWallet(args) => verify_wallet::run(args),
    }
}
