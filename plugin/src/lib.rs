//! tari-wallet-sync plugin: wires the library to a base node and a configuration. The `tari-wallet-sync`
//! binary is its command line (`cli`); a node that runs the plugin in its own process uses
//! `WalletSyncPlugin` instead.
//!
//! ```text
//! config     flags > TWS_* > [wallet_sync] in a TOML file -> Config (service, node, cache)
//! network    the run's network, settled from the config and the data, set before anything hashes
//! node       the cache's filler: Follower (polls the node's HTTP query service) or feed (node pushes),
//!            and where jobs get their full outputs (node database, node, host node)
//! bootstrap  a stopped node's LMDB imported into the cache at start, then handed to the filler
//! running    service + filler, started together, stopped in order (drain, then stop the filler)
//! embedded   WalletSyncPlugin: start(config, feed options), block_added / block_rolled_back, shutdown
//! cli        one subcommand per job: serve, follow, import, export, scan, demo, bench, ...
//! ```

pub mod bootstrap;
pub mod cli;
pub mod config;
mod embedded;
pub mod network;
pub mod node;
pub mod running;
mod secret_input;

pub use config::Config;
pub use embedded::{FeedOptions, WalletSyncPlugin};
