//! Full outputs: the whole `TransactionOutput` of each owned output (features, script, covenant, range
//! proof, signatures), which the cache does not keep and a wallet file must hold exactly as mined, or the
//! wallet cannot spend. Owns the `FullOutputs` lookup each source offers (the node's HTTP query service,
//! a node database, the host node in-process, and for demo chains only a rebuild from the cache), the
//! order they are asked in, and the check that settles every answer: the output must hash, under the
//! process network, to the chain's output hash. Not the wallet file (`walletdb`).
//!
//! ```text
//! owned outputs ─► FullOutputSources::resolve ─► lmdb (a stopped node's db) ─► node (HTTP) ─► host
//!                      │ each answer: output.hash() == chain hash, else discarded (and logged)
//!                      └─► ResolvedOutputs (one per owned output, in order) | FULL_OUTPUTS_UNAVAILABLE
//! demo cache ─► DemoReconstruction (the only source; no other cache may be rebuilt)
//! ```

mod demo;
mod failure;
mod lmdb;
mod node;

use std::{collections::BTreeMap, fmt::Write as _, sync::Arc};

pub use demo::{DemoReconstruction, reconstruct};
pub use failure::SourceFailure;
pub use lmdb::LmdbFullOutputs;
pub use node::{NodeFetchOptions, NodeFullOutputs};
use tari_node_components::blocks::BlockHeader;
use tari_transaction_components::transaction_components::TransactionOutput;
use tari_utilities::ByteArray;

use crate::{
    cache::CacheView,
    network::{self, NetworkError},
    recognize::WalletKey,
    scan::OwnedOutput,
};

/// One output a wallet owns, as a source looks it up: the block that mined it and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub height: u64,
    pub block_hash: [u8; 32],
    pub output_hash: [u8; 32],
    /// Identifies the output inside its block cheaply (the hash check settles it).
    pub commitment: [u8; 32],
    /// Global index in the cache (for a rebuild from the cache).
    pub position: u64,
}

impl From<&OwnedOutput> for Wanted {
    fn from(o: &OwnedOutput) -> Wanted {
        Wanted {
            height: o.height,
            block_hash: o.block_hash,
            output_hash: o.output_hash,
            commitment: o.commitment,
            position: o.position,
        }
    }
}

/// Why a job's full outputs could not all be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullOutputError {
    /// Some owned outputs no configured source supplied with the chain's hash. Retryable: a node that
    /// was down, a database being copied, a block not yet served.
    #[error("{missing} of {wanted} full outputs unavailable: {reasons}")]
    Unavailable {
        missing: usize,
        wanted: usize,
        reasons: String,
    },
    /// A real chain's cache with no source of full outputs configured at all.
    #[error(
        "no source of full outputs is configured, and this cache holds only what recognition reads; configure \
         a node (node_url), a node database (lmdb_dir) or, in-process, the host node's lookup"
    )]
    NoSource,
    /// The process hashes under another network than the cache's (or none): no hash can be trusted.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

impl FullOutputError {
    /// The stable code a job fails with.
    pub fn code(&self) -> &'static str {
        match self {
            FullOutputError::Unavailable { .. } | FullOutputError::NoSource => "FULL_OUTPUTS_UNAVAILABLE",
            FullOutputError::Network(e) => e.code(),
        }
    }

    /// Worth trying again later (the sources may answer then); a network mix-up is not.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, FullOutputError::Network(_))
    }
}

/// A lookup of full outputs by block and output hash. Called from blocking threads (the scan pool, a
/// CLI), never from inside an async task.
pub trait FullOutputs: Send + Sync {
    /// Where the outputs come from, for logs and errors ("node http://…", "node database /…").
    fn describe(&self) -> String;

    /// The full output of each of `wanted`, in order; `None` where this source does not hold one. The
    /// caller checks every answer against the chain's hash.
    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure>;

    /// `fetch`, plus the leaves of every whole block the source read to answer (the node's HTTP
    /// service sends whole blocks): output proofs on a cache that keeps no output types need them, and
    /// need not ask for the block again.
    fn fetch_with_leaves(&self, wanted: &[Wanted]) -> Result<Fetched, SourceFailure> {
        Ok(Fetched {
            outputs: self.fetch(wanted)?,
            blocks: Vec::new(),
        })
    }

    /// The whole header of the main chain's block at `height` (for output proofs); `None` where this
    /// source holds none. The caller checks its hash against the chain's. Every real chain's wallet file
    /// needs one source answering this (a host node's lookup too), or its jobs fail
    /// `PROOF_HEADER_UNAVAILABLE`.
    fn header(&self, _height: u64) -> Result<Option<BlockHeader>, SourceFailure> {
        Ok(None)
    }

    /// Every output of the block `block_hash` at `height`, spent or not (for output proofs on a cache
    /// that does not know which outputs are coinbases); `None` where this source does not hold it.
    fn block_outputs(
        &self,
        _height: u64,
        _block_hash: &[u8; 32],
    ) -> Result<Option<Vec<TransactionOutput>>, SourceFailure> {
        Ok(None)
    }
}

/// One output of a block as an output proof needs it: its hash, its commitment (the order of the
/// block's trees) and whether it is a coinbase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLeaf {
    pub output_hash: [u8; 32],
    pub commitment: [u8; 32],
    pub coinbase: bool,
}

impl BlockLeaf {
    pub fn of(output: &TransactionOutput) -> BlockLeaf {
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(output.commitment.as_bytes());
        BlockLeaf {
            output_hash: *output.hash(),
            commitment,
            coinbase: output.is_coinbase(),
        }
    }
}

/// What `fetch_with_leaves` answers: `fetch`'s outputs, and the whole blocks read on the way as
/// (height, block hash, every output's leaf).
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub outputs: Vec<Option<TransactionOutput>>,
    pub blocks: Vec<(u64, [u8; 32], Vec<BlockLeaf>)>,
}

/// The full outputs of a scan result's owned outputs, in the result's order: each hashes to the
/// chain's output hash, or (`reconstructed`, demo chains only) was rebuilt from the cache.
#[derive(Debug, Clone, Default)]
pub struct ResolvedOutputs {
    pub outputs: Vec<TransactionOutput>,
    pub reconstructed: bool,
    /// Whole blocks a source sent on the way, by (height, block hash): their leaves, unchecked (a
    /// proof checks them against the block's header).
    pub block_leaves: BTreeMap<(u64, [u8; 32]), Vec<BlockLeaf>>,
}

/// The sources a job asks, in order: the cheapest and most local first (a node database, then the node's
/// HTTP service). Cheap to clone.
#[derive(Clone, Default)]
pub struct FullOutputSources {
    sources: Vec<Arc<dyn FullOutputs>>,
}

impl std::fmt::Debug for FullOutputSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|s| s.describe()))
            .finish()
    }
}

impl FullOutputSources {
    pub fn new(sources: Vec<Arc<dyn FullOutputs>>) -> FullOutputSources {
        FullOutputSources { sources }
    }

    /// Adds a source, asked after those already there.
    pub fn push(&mut self, source: Arc<dyn FullOutputs>) {
        self.sources.push(source);
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The sources, in the order they are asked.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn FullOutputs>> {
        self.sources.iter()
    }

    /// What each source is, for the startup log.
    pub fn describe(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.describe()).collect()
    }

    /// The full outputs of `owned` (outputs of `view`'s chain). A demo cache is rebuilt from itself and
    /// nothing else; any other asks the sources in order for what is still missing, keeps only answers
    /// that hash to the chain's output hash, and fails with `Unavailable` if any output is left.
    pub fn resolve(&self, view: &CacheView, owned: &[OwnedOutput]) -> Result<ResolvedOutputs, FullOutputError> {
        if view.is_demo() {
            let outputs = DemoReconstruction::new(view)
                .rebuild(owned)
                .map_err(|f| FullOutputError::Unavailable {
                    missing: owned.len(),
                    wanted: owned.len(),
                    reasons: f.to_string(),
                })?;
            return Ok(ResolvedOutputs {
                outputs,
                reconstructed: true,
                block_leaves: BTreeMap::new(),
            });
        }
        if owned.is_empty() {
            return Ok(ResolvedOutputs::default());
        }
        if self.sources.is_empty() {
            return Err(FullOutputError::NoSource);
        }
        // Every answer is settled by its hash, which is only meaningful under the chain's network.
        network::require(view.network())?;
        let wanted: Vec<Wanted> = owned.iter().map(Wanted::from).collect();
        let mut found: Vec<Option<TransactionOutput>> = vec![None; wanted.len()];
        let mut reasons = String::new();
        let mut block_leaves = BTreeMap::new();
        for source in &self.sources {
            let missing: Vec<usize> = (0..wanted.len()).filter(|&i| found[i].is_none()).collect();
            if missing.is_empty() {
                break;
            }
            let asked: Vec<Wanted> = missing.iter().map(|&i| wanted[i]).collect();
            let answers = match source.fetch_with_leaves(&asked) {
                Ok(Fetched { outputs, blocks }) if outputs.len() == asked.len() => {
                    for (height, hash, leaves) in blocks {
                        block_leaves.insert((height, hash), leaves);
                    }
                    outputs
                }
                Ok(answers) => {
                    let reason = format!("answered {} of {} lookups", answers.outputs.len(), asked.len());
                    note(&mut reasons, &source.describe(), &reason);
                    continue;
                }
                Err(failure) => {
                    tracing::warn!(%failure, "a full-output source failed");
                    note(&mut reasons, &failure.source_name, &failure.reason);
                    continue;
                }
            };
            let mut absent = 0;
            for (&i, answer) in missing.iter().zip(answers) {
                match answer {
                    Some(output) if output.hash().as_slice() == wanted[i].output_hash => found[i] = Some(output),
                    Some(output) => {
                        tracing::error!(
                            source = %source.describe(),
                            height = wanted[i].height,
                            expected = %hex::encode(wanted[i].output_hash),
                            got = %output.hash(),
                            "a full output does not hash to the chain's output hash; discarded"
                        );
                        let reason = format!(
                            "the output at height {} does not hash to the chain's output hash",
                            wanted[i].height
                        );
                        note(&mut reasons, &source.describe(), &reason);
                    }
                    None => absent += 1,
                }
            }
            if absent > 0 {
                note(&mut reasons, &source.describe(), &format!("{absent} not held"));
            }
        }
        let missing = found.iter().filter(|f| f.is_none()).count();
        if missing > 0 {
            return Err(FullOutputError::Unavailable {
                missing,
                wanted: wanted.len(),
                reasons,
            });
        }
        Ok(ResolvedOutputs {
            outputs: found.into_iter().flatten().collect(),
            reconstructed: false,
            block_leaves,
        })
    }
}

/// Takes each owned output's script class, output type and maturity from its full output: on a light
/// cache the scan knew none of them (burns then look spendable); on any cache this makes the result
/// agree with the chain.
pub fn apply_details(key: &WalletKey, owned: &mut [OwnedOutput], resolved: &ResolvedOutputs) {
    for (o, full) in owned.iter_mut().zip(&resolved.outputs) {
        o.script_class = key.classify_script(&full.script.to_bytes(), &o.mask);
        o.output_type = full.features.output_type.as_byte();
        o.maturity = full.features.maturity;
        o.output_details = true;
    }
}

fn note(reasons: &mut String, source: &str, reason: &str) {
    if !reasons.is_empty() {
        reasons.push_str("; ");
    }
    let _ = write!(reasons, "{source}: {reason}");
}
