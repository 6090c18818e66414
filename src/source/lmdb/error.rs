//! LMDB import errors: each refusal names what is wrong and, where there is one, the safe alternative.

use std::path::PathBuf;

use crate::{
    cache::CacheError,
    network::{Network, NetworkError},
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LmdbError {
    /// A base node holds the database's lock file. It opens LMDB with `MDB_NOLOCK`, so it cannot see an
    /// outside reader and recycles pages under it: neither a read nor a copy (`mdb_copy`) is safe then.
    #[error(
        "{dir}: a running base node holds this database (its .chain_storage_file.lock is locked). Neither \
         reading nor copying it is safe while the node writes: stop the node (or take a filesystem snapshot \
         of it) and import that, or follow the running node instead with `tari-wallet-sync follow \
         --node-url http://127.0.0.1:9000 --cache DIR` (`node_url` for `serve`)"
    )]
    NodeRunning { dir: PathBuf },
    /// This process already reads the directory (LMDB allows one environment per file per process).
    #[error("{dir}: already open in this process; share the one NodeDb")]
    AlreadyOpen { dir: PathBuf },
    /// No `data.mdb` in the directory.
    #[error("{dir}: no data.mdb here; expected a base node's LMDB directory (~/.tari/<network>/data/base_node/db)")]
    NotFound { dir: PathBuf },
    /// LMDB refused to open the file or read from it.
    #[error("{dir}: LMDB: {source}")]
    Lmdb {
        dir: PathBuf,
        #[source]
        source: heed::Error,
    },
    /// A table the import needs is absent: not a base node database, or one from another Tari version.
    #[error("{dir}: no `{table}` table; not a Tari base node database of a supported version")]
    MissingTable { dir: PathBuf, table: &'static str },
    /// A row does not decode as the official type, or the tables disagree with each other.
    #[error("{dir}: table `{table}`: {reason}")]
    Corrupt {
        dir: PathBuf,
        table: &'static str,
        reason: String,
    },
    /// The cache's chain and the database's share no block: another network or another node's chain.
    #[error("the cache's blocks (tip {cache_tip}) are not on this database's chain; use an empty cache")]
    UnrelatedChain { cache_tip: u64 },
    /// The database belongs to another network than the configured one (or to none we know).
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A header hashes, under the process network, to a hash the node did not index it by.
    #[error(
        "{dir}: the header at height {height} hashes to {computed} under {network}, which the node's \
         block_hashes does not record at that height: the process network is not the database's, or the \
         row is damaged"
    )]
    HashMismatch {
        dir: PathBuf,
        height: u64,
        computed: String,
        network: Network,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

impl LmdbError {
    /// A short stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            LmdbError::NodeRunning { .. } => "NODE_RUNNING",
            LmdbError::NotFound { .. } => "NOT_FOUND",
            LmdbError::AlreadyOpen { .. } => "ALREADY_OPEN",
            LmdbError::Lmdb { .. } => "LMDB",
            LmdbError::MissingTable { .. } => "MISSING_TABLE",
            LmdbError::Corrupt { .. } => "CORRUPT",
            LmdbError::UnrelatedChain { .. } => "UNRELATED_CHAIN",
            LmdbError::Network(e) => e.code(),
            LmdbError::HashMismatch { .. } => "HASH_MISMATCH",
            LmdbError::Cache(_) => "CACHE",
            LmdbError::Io { .. } => "IO",
            LmdbError::Cancelled => "CANCELLED",
        }
    }
}
