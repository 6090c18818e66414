//! A base node's own database as a source: reads a stopped node's LMDB (or an `mdb_copy -c` copy) and
//! imports it into the cache in height order. Owns the running-node check (`guard`), the row formats
//! (`rows`), reading (`reader`) and importing (`import`); not following a running node (the HTTP
//! follower) and not the cache's format.
//!
//! ```text
//! data.mdb ── NodeDb (read-only, no LMDB lock; refused while a node holds its lock file)
//!   metadata  tip height / hash, pruning horizon, pruned height        -> ChainInfo
//!   headers   height -> BlockHeader (official type; hash computed)    -> height, hash, prev, time
//!   utxos     header hash ‖ output hash -> TransactionOutputRowData    -> a block's outputs (prefix walk)
//!   inputs    header hash ‖ input hash  -> TransactionInputRowData     -> the output hashes it spends
//!        └─► import: reconcile (roll back to the shared block), then batches -> Cache::publish
//! ```

mod error;
mod guard;
mod import;
mod reader;
pub(crate) mod rows;

pub use error::LmdbError;
pub use guard::NODE_LOCK_FILE;
pub use import::{ImportOptions, ImportProgress, ImportReport, import};
#[cfg(feature = "fuzzing")]
pub use reader::RawRows;
pub use reader::{ChainInfo, NodeDb};
