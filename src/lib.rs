//! tari-wallet-sync: turns a Tari wallet's view key into a synced wallet database, beside a base node.
//!
//! # Layout
//! ```text
//! recognize   view key + output -> ours? value, mask, memo      (pure, hot loop of every scan)
//! cache       memory-mapped blocks, outputs, spends; atomic publish, rollback, snapshots
//! source      node HTTP query service / in-process feed -> cache at the node's tip, reorgs, outages
//! scan        many wallets per pass over a cache snapshot, rayon, progress, spends
//! walletdb    the minotari-cli wallet SQLite file: schema (v30), rows we write for the client
//! network     the process network every official hash uses; official genesis hashes; network checks
//! ```
//! Code that hashes (block headers, outputs) needs the process network set first: every entry point
//! calls `network::use_network` with the configured network, and hashing paths check `network::require`.
//! Layers depend downward only; see `DESIGN.md` in the project's shared folder for the full data flow.

pub mod cache;
pub mod demo;
/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the supported API).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod network;
pub mod proof;
pub mod recognize;
pub mod scan;
pub mod service;
pub mod source;
pub mod walletdb;
