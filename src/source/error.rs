//! Source errors: the one enum `source` reports, split by who is at fault. A node fault (unreachable,
//! slow, an error status, a body we cannot read or decode) is retried with backoff; a cache fault or a
//! chain the node and the cache cannot agree on stops the follower, because retrying cannot fix it.

use std::time::Duration;

use crate::{cache::CacheError, network::NetworkError};

/// Everything that can go wrong talking to a node or applying what it sent to the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The node URL does not parse, or is not plain `http://host:port` (the query service is plain HTTP).
    #[error("node URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The request could not be sent or its response head not read (refused, reset, DNS).
    #[error("GET {path}: {source}")]
    Request {
        path: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No complete response (head and body) within the request timeout.
    #[error("GET {path}: no response within {after:?}")]
    Timeout { path: String, after: Duration },
    /// The node answered with an error status; `message` is the start of its `{"error": ..}` body.
    #[error("GET {path}: status {status}: {message}")]
    Status { path: String, status: u16, message: String },
    /// The response body broke off.
    #[error("GET {path}: reading the body: {reason}")]
    Body { path: String, reason: String },
    /// The response body is larger than the client accepts.
    #[error("GET {path}: body over the {limit}-byte limit")]
    BodyTooLarge { path: String, limit: usize },
    /// The body is not the JSON of the official model for the route.
    #[error("GET {path}: not the expected JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON with values that break the protocol: a hash of the wrong length, bad base64, heights
    /// out of order, a page that makes no progress, full outputs that do not match the block.
    #[error("GET {path}: {reason}")]
    Malformed { path: String, reason: String },
    /// The node's chain and the cache's share no block within `max_depth` blocks below the cache's tip.
    /// Reorgs on Tari are a few blocks deep: this is the wrong node or network, and rolling the cache
    /// back that far is left to the operator.
    #[error("the node's chain leaves the cache's below height {tip} - {max_depth}; wrong node or network?")]
    ReorgTooDeep { tip: u64, max_depth: u64 },
    /// The node's chain is another network's than the cache's (its genesis block says so).
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The in-process feed's receiving task has stopped.
    #[error("the block feed is closed")]
    FeedClosed,
    #[error("cancelled")]
    Cancelled,
}

impl SourceError {
    /// `true` for faults of the node or the link to it: worth retrying after a backoff.
    pub fn is_node_fault(&self) -> bool {
        matches!(
            self,
            SourceError::Request { .. }
                | SourceError::Timeout { .. }
                | SourceError::Status { .. }
                | SourceError::Body { .. }
                | SourceError::BodyTooLarge { .. }
                | SourceError::Json { .. }
                | SourceError::Malformed { .. }
        )
    }

    /// A short stable code for logs, `/ready` and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::InvalidUrl { .. } => "INVALID_NODE_URL",
            SourceError::Request { .. } => "NODE_UNREACHABLE",
            SourceError::Timeout { .. } => "NODE_TIMEOUT",
            SourceError::Status { .. } => "NODE_ERROR_STATUS",
            SourceError::Body { .. }
            | SourceError::BodyTooLarge { .. }
            | SourceError::Json { .. }
            | SourceError::Malformed { .. } => "NODE_BAD_RESPONSE",
            SourceError::ReorgTooDeep { .. } => "REORG_TOO_DEEP",
            SourceError::Network(e) => e.code(),
            SourceError::Cache(CacheError::NotNext { .. } | CacheError::PrevHashMismatch { .. }) => "BLOCK_REFUSED",
            SourceError::Cache(_) => "CACHE_ERROR",
            SourceError::FeedClosed => "FEED_CLOSED",
            SourceError::Cancelled => "CANCELLED",
        }
    }

    pub(crate) fn malformed(path: &str, reason: impl Into<String>) -> SourceError {
        SourceError::Malformed {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}
