//! Source: where the cache's blocks come from while a node runs. Owns the client of the node's HTTP
//! wallet query service, the paging that turns its answers into whole `BlockData` in height order, the
//! follower that keeps a `Cache` at the node's tip through reorgs and outages, the in-process feed a
//! node can push blocks into instead, and the import of a stopped node's LMDB (`lmdb`). Not the cache's
//! format (`cache`), and not what an output means to a wallet (`recognize`, `scan`).
//!
//! ```text
//! node ── HTTP ──► NodeClient ──► pager (pages → whole blocks) ──► Follower ──► Cache (batch, publish)
//!                                                                     │ reorg: rollback_to(fork)
//!                                                                     └─► FollowerHandle: state + newest CacheView
//! node (in-process) ── BlockFeed ──► FeedFollower ──► Cache
//! ```
//! Full outputs of the few owned outputs come back at job time through `full_outputs` (the node's HTTP
//! service, a node database, the host node), each checked against the chain's output hash.

mod backoff;
mod error;
mod feed;
mod follower;
pub mod full_outputs;
pub(crate) mod http;
pub mod lmdb;
pub(crate) mod pager;
mod status;
pub(crate) mod wire;

pub use backoff::{Backoff, Circuit, RetryPolicy};
pub use error::SourceError;
pub use feed::{BlockFeed, FeedFollower, FeedSender, block_feed};
pub use follower::{Follower, FollowerConfig, SyncReport};
pub use http::{ClientOptions, MAX_PAGE_LIMIT, NodeClient, NodeTip};
pub use status::{FollowerHandle, FollowerState, StopReason};
pub use wire::{NodeHeader, PageEntry, SyncPage, output_details};

use std::ops::RangeBounds;

use crate::cache::{BlockData, CacheView, OutputData};

/// Blocks of a cache snapshot as a source delivers them (for tests, demos and a fake node).
pub fn blocks_from_view(view: &CacheView, heights: impl RangeBounds<u64>) -> Vec<BlockData> {
    view.blocks(heights)
        .map(|b| BlockData {
            height: b.height,
            hash: *b.hash,
            prev_hash: *b.prev_hash,
            timestamp: b.timestamp,
            outputs: view
                .outputs(b.outputs.clone())
                .map(|o| OutputData {
                    output_hash: *o.output_hash,
                    commitment: *o.commitment,
                    sender_offset_public_key: *o.sender_offset_public_key,
                    encrypted_data: o.encrypted_data.to_vec(),
                    script: o.script.to_vec(),
                    output_type: o.output_type,
                    maturity: o.maturity,
                })
                .collect(),
            spent: b.spent.to_vec(),
            output_details: b.output_details,
        })
        .collect()
}
