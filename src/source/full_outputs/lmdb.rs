//! Full outputs from a node database (a stopped node's LMDB, or an `mdb_copy -c` copy): each output read
//! by its key in `utxos` (block hash ‖ output hash), spent or not. The database is opened for each
//! lookup and closed after it, so the node it belongs to can start again between jobs; while a node
//! runs on it the lookup is refused (and the next source is asked).

use std::path::PathBuf;

use tari_node_components::blocks::BlockHeader;
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

    fn header(&self, height: u64) -> Result<Option<BlockHeader>, SourceFailure> {
        let db = NodeDb::open(&self.dir).map_err(|e| self.failure(e))?;
        Ok(db.full_header(height).map_err(|e| self.failure(e))?.map(|(h, _)| h))
    }

    fn block_outputs(
        &self,
        height: u64,
        block_hash: &[u8; 32],
    ) -> Result<Option<Vec<TransactionOutput>>, SourceFailure> {
        let db = NodeDb::open(&self.dir).map_err(|e| self.failure(e))?;
        let mut found = None;
        db.for_each_block_with_outputs(height..=height, |block, outputs| {
            if block.hash == *block_hash {
                found = Some(outputs);
            }
            Ok(())
        })
        .map_err(|e| self.failure(e))?;
        Ok(found)
    }
}

impl LmdbFullOutputs {
    fn failure(&self, e: crate::source::lmdb::LmdbError) -> SourceFailure {
        SourceFailure {
            source_name: self.describe(),
            reason: format!("{e} ({})", e.code()),
        }
    }
}
