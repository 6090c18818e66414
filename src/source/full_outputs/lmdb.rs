//! Full outputs from a node database (a stopped node's LMDB, or an `mdb_copy -c` copy): each output read
//! by its key in `utxos` (block hash ‖ output hash), spent or not. The database is opened for each
//! lookup and closed after it, so the node it belongs to can start again between jobs; while a node
//! runs on it the lookup is refused (and the next source is asked).

use std::path::PathBuf;

use tari_transaction_components::transaction_components::TransactionOutput;

use super::{FullOutputs, SourceFailure, Wanted};
use crate::source::lmdb::NodeDb;

/// Reads full outputs from the node database in `dir`.
#[derive(Debug, Clone)]
pub struct LmdbFullOutputs {
    dir: PathBuf,
}

impl LmdbFullOutputs {
    pub fn new(dir: impl Into<PathBuf>) -> LmdbFullOutputs {
        LmdbFullOutputs { dir: dir.into() }
    }
}

impl FullOutputs for LmdbFullOutputs {
    fn describe(&self) -> String {
        format!("node database {}", self.dir.display())
    }

    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure> {
        let failure = |e: crate::source::lmdb::LmdbError| SourceFailure {
            source_name: self.describe(),
            reason: format!("{e} ({})", e.code()),
        };
        let db = NodeDb::open(&self.dir).map_err(failure)?;
        wanted
            .iter()
            .map(|w| db.output(&w.block_hash, &w.output_hash).map_err(failure))
            .collect()
    }
}
