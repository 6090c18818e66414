//! File verification: every live owned output of a wallet file checked against block hashes the caller
//! trusts (the CLI's `verify-wallet` takes them from a node the user names, recomputing each header's
//! hash under the file's network). Owns the per-output verdicts and their stable codes; the checks
//! themselves are `tari_wallet_sync_sse::proof`, the tables `proofs` beside it.

use tari_transaction_components::transaction_components::WalletOutput;
use tari_wallet_sync_sse::proof::ProofError as CheckError;

use super::{
    WalletDbError,
    proofs::{self, ProofRow},
};

/// Why one output does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputFailure {
    #[error("the file holds no proof for this output")]
    Missing,
    /// The output as the wallet keeps it (`wallet_output_json`) does not hash to its `output_hash`.
    #[error("the output's content does not hash to its output hash")]
    OutputMismatch,
    /// The proof names another block than the one the wallet's row says mined the output.
    #[error("the proof is for another block than the output's")]
    BlockMismatch,
    /// The trusted source has no block at this height.
    #[error("the node has no block at this height")]
    NoTrustedBlock,
    /// The trusted block at this height is not the one the wallet's row names (another chain, a reorg).
    #[error("the node's block at this height is {0}, not the output's")]
    OtherBlock(String),
    #[error(transparent)]
    Check(#[from] CheckError),
}

impl OutputFailure {
    pub fn code(&self) -> &'static str {
        match self {
            OutputFailure::Missing => "PROOF_MISSING",
            OutputFailure::OutputMismatch => "OUTPUT_MISMATCH",
            OutputFailure::BlockMismatch => "BLOCK_MISMATCH",
            OutputFailure::NoTrustedBlock => "BLOCK_NOT_FOUND",
            OutputFailure::OtherBlock(_) => "BLOCK_NOT_ON_CHAIN",
            OutputFailure::Check(e) => e.code(),
        }
    }
}

/// One output's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub output_hash: [u8; 32],
    pub height: u64,
    pub coinbase: bool,
    pub result: Result<(), OutputFailure>,
}

/// Opens a wallet file's bytes read-only in memory: the zstd download as served, or the SQLite file.
pub fn open_wallet(bytes: &[u8]) -> Result<rusqlite::Connection, VerifyError> {
    let raw = if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        // A wallet file is tens of MB at most; the bound keeps a hostile frame from filling memory.
        let mut out = Vec::new();
        let mut decoder = zstd::stream::read::Decoder::new(bytes).map_err(|_| VerifyError::NotAWallet)?;
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut decoder, MAX_WALLET_BYTES + 1), &mut out)
            .map_err(|_| VerifyError::NotAWallet)?;
        if out.len() as u64 > MAX_WALLET_BYTES {
            return Err(VerifyError::NotAWallet);
        }
        out
    } else {
        bytes.to_vec()
    };
    if !raw.starts_with(b"SQLite format 3\0") {
        return Err(VerifyError::NotAWallet);
    }
    let mut conn = rusqlite::Connection::open_in_memory().map_err(WalletDbError::from)?;
    conn.deserialize_read_exact(rusqlite::MAIN_DB, &raw[..], raw.len(), true)
        .map_err(|_| VerifyError::NotAWallet)?;
    Ok(conn)
}

/// Largest decompressed wallet file `open_wallet` takes: 4 GiB.
const MAX_WALLET_BYTES: u64 = 4 << 30;

/// A node's header (its HTTP model) hashed under the process network, and the hash the node states for
/// it: they differ when the node follows another network than the one set.
pub fn node_header_hash(header: tari_transaction_components::rpc::models::BlockHeader) -> ([u8; 32], [u8; 32]) {
    let claimed: [u8; 32] = *header.hash;
    let computed: [u8; 32] = *tari_node_components::blocks::BlockHeader::from(header).hash();
    (computed, claimed)
}

/// Why a file could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the file has no proof tables (a demo chain's file, or a service without proofs)")]
    NoProofs,
    #[error("not a wallet file: neither SQLite nor its zstd download")]
    NotAWallet,
    #[error("reading the file: {0}")]
    File(#[from] WalletDbError),
    #[error("the trusted source failed at height {height}: {reason}")]
    Trusted { height: u64, reason: String },
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NoProofs => "NO_PROOFS",
            VerifyError::NotAWallet => "NOT_A_WALLET",
            VerifyError::File(_) => "WALLET_UNREADABLE",
            VerifyError::Trusted { .. } => "NODE_UNAVAILABLE",
        }
    }
}

/// Checks every live owned output of `conn`'s wallet file. `trusted(height)` answers the block hash at
/// `height` on the chain the caller trusts (`None`: no such block), computed under the file's network,
/// which `network` receives first. Each height is asked once.
pub fn verify_file(
    conn: &rusqlite::Connection,
    network: &mut dyn FnMut(u8) -> Result<(), String>,
    trusted: &mut dyn FnMut(u64) -> Result<Option<[u8; 32]>, String>,
) -> Result<Vec<Verdict>, VerifyError> {
    let file = proofs::read(conn)?;
    let Some(network_byte) = file.network else {
        return Err(VerifyError::NoProofs);
    };
    network(network_byte).map_err(|reason| VerifyError::Trusted { height: 0, reason })?;
    let mut known: std::collections::BTreeMap<u64, Option<[u8; 32]>> = Default::default();
    let mut verdicts = Vec::with_capacity(file.rows.len());
    for row in &file.rows {
        let trusted_hash = match known.get(&row.height) {
            Some(h) => *h,
            None => {
                let h = trusted(row.height).map_err(|reason| VerifyError::Trusted {
                    height: row.height,
                    reason,
                })?;
                known.insert(row.height, h);
                h
            }
        };
        let coinbase = matches!(&row.proof, Some(stored) if stored.proof.as_ref().is_ok_and(|p| p.is_coinbase()));
        verdicts.push(Verdict {
            output_hash: row.output_hash,
            height: row.height,
            coinbase,
            result: check_row(row, network_byte, trusted_hash),
        });
    }
    Ok(verdicts)
}

fn check_row(row: &ProofRow, network: u8, trusted: Option<[u8; 32]>) -> Result<(), OutputFailure> {
    let Some(stored) = &row.proof else {
        return Err(OutputFailure::Missing);
    };
    let proof = stored.proof.clone()?;
    let header = stored.header.as_ref().ok_or(OutputFailure::Missing)?;
    // The wallet spends what its JSON says: that must be the output the proof is about.
    let output: WalletOutput =
        serde_json::from_str(&row.wallet_output_json).map_err(|_| OutputFailure::OutputMismatch)?;
    // Recomputed from the fields the wallet spends, not the hash the JSON also stores.
    let recomputed = output
        .to_transaction_output()
        .map_err(|_| OutputFailure::OutputMismatch)?
        .hash();
    if recomputed.as_slice() != row.output_hash || output.output_hash().as_slice() != row.output_hash {
        return Err(OutputFailure::OutputMismatch);
    }
    if stored.block_hash != row.block_hash {
        return Err(OutputFailure::BlockMismatch);
    }
    let trusted = trusted.ok_or(OutputFailure::NoTrustedBlock)?;
    if trusted != row.block_hash {
        return Err(OutputFailure::OtherBlock(hex::encode(trusted)));
    }
    tari_wallet_sync_sse::proof::verify_output(&row.output_hash, &proof, header, &trusted, network)?;
    if header.height()? != row.height {
        return Err(OutputFailure::BlockMismatch);
    }
    Ok(())
}
