//! Wallet database: the SQLite file minotari-cli (the official view-key wallet) opens and keeps syncing,
//! built from one wallet's scan result and handed out zstd-compressed. It owns the file's layout (tables,
//! indexes, `user_version`), the rows we write into it and their compression. It does not scan, recognize
//! outputs or talk to the node; it receives finished results, plus their full outputs (checked against
//! the chain by `source::full_outputs`) and block hashes through the `ChainBlocks` seam.
//!
//! The client migrates its file with `rusqlite_migration`, whose only bookkeeping is `PRAGMA user_version`:
//! a file at [`schema::SCHEMA_VERSION`] with the schema its 30 migrations leave is "up to date" to the
//! client, which then resumes from the highest `scanned_tip_blocks` row. `docs/walletdb.md` describes every
//! table and column, how the client reads them and what we write.
//!
//! ```text
//! ScanResult + full outputs ─► builder ─► account (sealed view wallet) ─► ledger (outputs, events, credits, inputs,
//!               debits, confirmations) ─► displayed (transaction list) ─► tips (resume rows)
//!            ─► proofs (our own tws_ tables: each owned output's proof, its headers)
//!            ─► serialize (memdb, no copy) ─► file (zstd stream into chunks + SHA-256) ─► WalletFile
//! ```

pub mod account;
mod builder;
mod chain;
mod displayed;
mod error;
mod file;
mod interrupt;
mod ledger;
pub mod proofs;
pub mod schema;
mod tips;
pub mod verify;
mod wallet_output;

pub use account::AccountSpec;
pub use builder::{
    BuildOptions, DEFAULT_ZSTD_LEVEL, build_from_chain, build_from_chain_until, build_wallet_file, fill, open_memory_db,
};
pub use chain::{ChainBlock, ChainBlocks};
pub use displayed::SEARCH_STEPS_PER_BLOCK;
pub use error::{Heights, WalletDbError};
pub use file::{CHUNK_LEN, WalletFile, WalletSummary, compress};
pub use interrupt::{Interrupt, Stopped};
pub use ledger::REQUIRED_CONFIRMATIONS;
pub use tips::kept_heights;
