//! Output proofs: for every owned output of a wallet file, its path to `block_output_mr` of the block
//! that mined it, with the bytes that block's header hash is made of, so the wallet can check the
//! output against a header from a node it chooses instead of trusting this service. Owns building them
//! (each block's tree rebuilt and checked against its header before any proof is issued); the
//! encoding and the checks clients run are `tari_wallet_sync_sse::proof`; where they are written is
//! `walletdb::proofs`. `docs/proofs.md` describes what a proof shows and what it cannot.
//!
//! ```text
//! owned outputs ─► blocks (height, hash) ─► header (sources, hash == the cache's) ─┐
//!                     └─► the block's outputs: the cache (hash, commitment, coinbase) │
//!                         or, on a light cache, the block from the sources          ─┴► BlockTree
//!                                   root == header.block_output_mr? ─► OutputProof per owned output
//! ```
//!
//! Where the cache holds each output's type (caches imported from a node database), the tree is rebuilt
//! from the cache alone and no block is fetched; a cache filled over HTTP keeps no types, so there the
//! block's outputs are fetched (the node's `/get_utxos_by_block`). Only the header is always asked.

mod block;
mod header;

use std::collections::BTreeMap;

pub use block::{BlockTree, Leaf};
pub use header::preimage;
use tari_transaction_components::transaction_components::OutputType;
pub use tari_wallet_sync_sse::proof::{HeaderPreimage, MmrPath, OutputProof, ProofError as CheckError};

use crate::{
    cache::CacheView,
    network::{self, NetworkError},
    scan::OwnedOutput,
    source::full_outputs::{FullOutputSources, ResolvedOutputs},
};

/// A header a wallet file carries: the block it names and the bytes its hash is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvedHeader {
    pub height: u64,
    pub block_hash: [u8; 32],
    pub preimage: HeaderPreimage,
}

/// One owned output's proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvedOutput {
    pub output_hash: [u8; 32],
    pub block_hash: [u8; 32],
    pub proof: OutputProof,
}

/// Every proof of one wallet file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletProofs {
    /// The network byte the headers hash under.
    pub network: u8,
    pub headers: Vec<ProvedHeader>,
    pub outputs: Vec<ProvedOutput>,
    /// Blocks rebuilt from the cache alone, and from blocks the sources sent.
    pub blocks_from_cache: u64,
    pub blocks_fetched: u64,
}

/// Why proofs could not be issued. Every variant fails the job; none lets a file out with a wrong or
/// missing proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofBuildError {
    /// No source gave the header of a block holding owned outputs with the cache's hash for it.
    #[error("no source gave the header of block {height} with the chain's hash: {reasons}")]
    HeaderUnavailable { height: u64, reasons: String },
    /// The block's outputs, as held, do not rebuild the header's `block_output_mr`: a source answered
    /// with part of the block, or a pruned node no longer holds the outputs spent since.
    #[error(
        "the outputs of block {height} do not rebuild its header's block_output_mr ({reason}); a pruned node no \
         longer holds spent outputs: take proofs from an archival node"
    )]
    BlockIncomplete { height: u64, reason: String },
    /// A rebuilt tree gave a proof its own checker refuses: a fault of ours, never shipped.
    #[error("the proof of an output at height {height} does not verify: {error}")]
    SelfCheck { height: u64, error: CheckError },
    /// The caller's stop (a deadline, a cancelled job) between two blocks.
    #[error("stopped before every block was proved")]
    Stopped,
    #[error(transparent)]
    Network(#[from] NetworkError),
}

impl ProofBuildError {
    pub fn code(&self) -> &'static str {
        match self {
            ProofBuildError::HeaderUnavailable { .. } => "PROOF_HEADER_UNAVAILABLE",
            ProofBuildError::BlockIncomplete { .. } => "PROOF_BLOCK_INCOMPLETE",
            ProofBuildError::SelfCheck { .. } => "PROOF_INTERNAL",
            ProofBuildError::Stopped => "BUILD_CANCELLED",
            ProofBuildError::Network(e) => e.code(),
        }
    }

    /// A node that was down, answered partly or reorganised may answer fully later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProofBuildError::HeaderUnavailable { .. } | ProofBuildError::BlockIncomplete { .. }
        )
    }
}

/// The proofs of `owned` (outputs of `view`'s chain). `None` for a demo cache, whose blocks have no
/// real headers. `stop` is asked between blocks (each may cost the node a round trip or two).
pub fn build(
    view: &CacheView,
    owned: &[OwnedOutput],
    resolved: &ResolvedOutputs,
    sources: &FullOutputSources,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Option<WalletProofs>, ProofBuildError> {
    if view.is_demo() {
        return Ok(None);
    }
    let mut proofs = WalletProofs {
        network: view.network(),
        ..WalletProofs::default()
    };
    if owned.is_empty() {
        return Ok(Some(proofs));
    }
    // Header hashes are only meaningful under the chain's network.
    network::require(view.network())?;
    let mut by_block: BTreeMap<(u64, [u8; 32]), Vec<[u8; 32]>> = BTreeMap::new();
    for o in owned {
        by_block
            .entry((o.height, o.block_hash))
            .or_default()
            .push(o.output_hash);
    }
    for ((height, block_hash), outputs) in by_block {
        if stop() {
            return Err(ProofBuildError::Stopped);
        }
        let header = header_for(sources, height, &block_hash)?;
        let block_output_mr: [u8; 32] = *header.block_output_mr;
        let (tree, from_cache) = tree_for(view, resolved, sources, height, &block_hash, &block_output_mr)?;
        if from_cache {
            proofs.blocks_from_cache += 1;
        } else {
            proofs.blocks_fetched += 1;
        }
        let preimage = preimage(&header);
        // The preimage is what clients hash: it must give the official hash, or no client could check.
        preimage
            .check_hash(proofs.network, &block_hash)
            .map_err(|error| ProofBuildError::SelfCheck { height, error })?;
        for output_hash in outputs {
            let Some(proof) = tree.proof(&output_hash) else {
                // The scan saw the output in this block; a tree without it is not the block.
                return Err(ProofBuildError::BlockIncomplete {
                    height,
                    reason: "an owned output is not among the block's outputs".into(),
                });
            };
            proof
                .verify(&output_hash, &block_output_mr)
                .map_err(|error| ProofBuildError::SelfCheck { height, error })?;
            proofs.outputs.push(ProvedOutput {
                output_hash,
                block_hash,
                proof,
            });
        }
        proofs.headers.push(ProvedHeader {
            height,
            block_hash,
            preimage,
        });
    }
    Ok(Some(proofs))
}

/// The header of the block `block_hash` at `height`, from the first source whose header hashes to it.
fn header_for(
    sources: &FullOutputSources,
    height: u64,
    block_hash: &[u8; 32],
) -> Result<tari_node_components::blocks::BlockHeader, ProofBuildError> {
    let mut reasons = Vec::new();
    for source in sources.iter() {
        match source.header(height) {
            Ok(Some(header)) if *header.hash() == *block_hash => return Ok(header),
            Ok(Some(header)) => reasons.push(format!(
                "{}: its block {height} is {}, not the chain's",
                source.describe(),
                header.hash()
            )),
            Ok(None) => reasons.push(format!("{}: no header", source.describe())),
            Err(failure) => reasons.push(failure.to_string()),
        }
    }
    if reasons.is_empty() {
        reasons.push("no source configured".into());
    }
    Err(ProofBuildError::HeaderUnavailable {
        height,
        reasons: reasons.join("; "),
    })
}

/// The block's tree, from the cache where it knows which outputs are coinbases, else from a source's
/// copy of the block; whichever rebuilds `block_output_mr`. `true` when from the cache.
fn tree_for(
    view: &CacheView,
    resolved: &ResolvedOutputs,
    sources: &FullOutputSources,
    height: u64,
    block_hash: &[u8; 32],
    block_output_mr: &[u8; 32],
) -> Result<(BlockTree, bool), ProofBuildError> {
    let mut reasons = Vec::new();
    if let Some(block) = view.block(height).filter(|b| b.hash == block_hash && b.output_details) {
        let leaves = view
            .outputs(block.outputs.clone())
            .map(|o| Leaf {
                output_hash: *o.output_hash,
                commitment: *o.commitment,
                coinbase: o.output_type == OutputType::Coinbase.as_byte(),
            })
            .collect();
        let tree = BlockTree::rebuild(leaves);
        if tree.root() == *block_output_mr {
            return Ok((tree, true));
        }
        reasons.push(format!("the cache's {} outputs", tree.leaf_count()));
    }
    // The block a source already sent for the full outputs, then each source's copy.
    if let Some(leaves) = resolved.block_leaves.get(&(height, *block_hash)) {
        let tree = BlockTree::rebuild(leaves.clone());
        if tree.root() == *block_output_mr {
            return Ok((tree, false));
        }
        reasons.push(format!("the block as fetched: {} outputs", tree.leaf_count()));
    }
    for source in sources.iter() {
        match source.block_outputs(height, block_hash) {
            Ok(Some(outputs)) => {
                let leaves = outputs.iter().map(Leaf::of).collect();
                let tree = BlockTree::rebuild(leaves);
                if tree.root() == *block_output_mr {
                    return Ok((tree, false));
                }
                reasons.push(format!("{}: {} outputs", source.describe(), tree.leaf_count()));
            }
            Ok(None) => reasons.push(format!("{}: block not held", source.describe())),
            Err(failure) => reasons.push(failure.to_string()),
        }
    }
    Err(ProofBuildError::BlockIncomplete {
        height,
        reason: reasons.join("; "),
    })
}
