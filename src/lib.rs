//! tari-wallet-sync: turns a Tari wallet's view key into a synced wallet database, beside a base node.
//!
//! # Layout
//! Bottom up: each module imports only those above it in this list, and nothing inside the library
//! imports in a circle (both checked, with this list naming every module, by `tests/layers.rs`).
//! ```text
//! network     the process network every official hash uses; official genesis hashes; network checks
//! recognize   view key + output -> ours? value, mask, memo      (pure, hot loop of every scan)
//! cache       memory-mapped blocks, outputs, spends; atomic publish, rollback, snapshots
//! scan        many wallets per pass over a cache snapshot, rayon, progress, spends
//! source      node HTTP query service / LMDB / in-process feed -> cache at the node's tip, reorgs, outages
//! demo        genuine Tari outputs for demo chains, benches and tests
//! proof       an owned output's path to its block's block_output_mr, rebuilt from the cache or the block
//! walletdb    the minotari-cli wallet SQLite file: schema (v30), rows we write for the client; the
//!             proofs it carries (tws_ tables) and their check (verify)
//! service     the HTTP face: sealed view keys in, wallet files out; its modules, by layer (checked):
//!   leaves      error (ServiceError, ApiError, JobFailure and its FailureCode), config (ServiceConfig and
//!               its parsed values), requester (who a request is from, on which port), clock
//!   chain       cache_source (the chain view a pass reads), lifecycle (Starting .. Stopped, faults)
//!   webhook     the outbox's model: events, signed payloads, the secret, endpoints and their breakers
//!   metrics     counters, histograms, jobs by state
//!   limits      rate (GCRA per client and wallet), slots (connection caps)
//!   jobs        `Jobs`, the facade, its fields private; job, fair_queue, pace, tickets, keyfile (a
//!               sealing key on disk), keyring (the keys held while a fleet rotates); store (the JobStore seam, its memory and sqlite implementations);
//!               results (artifact, sealed_files at rest, held_files in memory, wallet_builder);
//!               submission for admission, scheduler for passes, recovery after a restart,
//!               envelope, data_dir
//!   ops         janitor (expiry), source_watcher, webhooks (the sender: workers, a shared poster)
//!   edge        http (router, handlers, refusals to statuses; server: listeners, TLS, drain; idle)
//! fuzzing     entry points for the fuzz targets in `fuzz/` (feature `fuzzing`)
//! ```
//! Code that hashes (block headers, outputs) needs the process network set first: every entry point
//! calls `network::use_network` with the configured network, and hashing paths check `network::require`.
//! `ARCHITECTURE.md` at the repository's root follows one job through the layers. Test builders and
//! fakes (a fake node, a test server, synthetic wallets) live in the workspace's `testkit/` crate, a
//! dev-dependency only: the library has no test feature, so the binary tests spawn is the shipped one.

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
