//! Proof tables: the wallet file's own tables (`tws_` prefix) holding each owned output's proof and the
//! headers they are checked against. minotari-cli never reads them: its migrations touch only its own
//! tables, its bookkeeping is `user_version`, and the schema its 30 migrations leave is untouched
//! (`tests/walletdb_proofs.rs` checks the file still opens, migrates and resumes). Layout in
//! `docs/proofs.md`.

use rusqlite::{Connection, params};

use super::WalletDbError;
use crate::proof::{HeaderPreimage, OutputProof, WalletProofs};

/// The layout's version, in `tws_proof_info.format`.
pub const PROOF_TABLES_FORMAT: i64 = 1;

const CREATE: &str = "
CREATE TABLE tws_proof_info (
    format INTEGER NOT NULL,
    network INTEGER NOT NULL
);
CREATE TABLE tws_block_headers (
    block_hash BLOB PRIMARY KEY NOT NULL,
    height INTEGER NOT NULL,
    mining_preimage BLOB NOT NULL,
    pow_nonce BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE tws_output_proofs (
    output_hash BLOB PRIMARY KEY NOT NULL,
    block_hash BLOB NOT NULL REFERENCES tws_block_headers (block_hash),
    proof BLOB NOT NULL
) WITHOUT ROWID;
";

/// Writes the proof tables into `conn`.
pub fn write(conn: &mut Connection, proofs: &WalletProofs) -> Result<(), WalletDbError> {
    let tx = conn.transaction()?;
    tx.execute_batch(CREATE)?;
    tx.execute(
        "INSERT INTO tws_proof_info (format, network) VALUES (?1, ?2)",
        params![PROOF_TABLES_FORMAT, proofs.network],
    )?;
    {
        let mut header = tx.prepare(
            "INSERT INTO tws_block_headers (block_hash, height, mining_preimage, pow_nonce) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for h in &proofs.headers {
            header.execute(params![
                &h.block_hash[..],
                h.height as i64,
                h.preimage.mining,
                h.preimage.pow_nonce
            ])?;
        }
        let mut output =
            tx.prepare("INSERT INTO tws_output_proofs (output_hash, block_hash, proof) VALUES (?1, ?2, ?3)")?;
        for o in &proofs.outputs {
            output.execute(params![&o.output_hash[..], &o.block_hash[..], o.proof.encode()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// One owned output of a wallet file as a verifier sees it: the client's row and our proof of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRow {
    pub output_hash: [u8; 32],
    pub height: u64,
    /// The block the client's row says mined the output.
    pub block_hash: [u8; 32],
    /// The output as the client keeps it (its `wallet_output_json`).
    pub wallet_output_json: String,
    /// Our proof and the header it names; `None` where the file has none for this output.
    pub proof: Option<StoredProof>,
}

/// A proof as the file stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProof {
    /// Decoded, or why its bytes are malformed.
    pub proof: Result<OutputProof, crate::proof::CheckError>,
    /// The block the proof names.
    pub block_hash: [u8; 32],
    /// That block's header bytes; `None` if the file lacks them.
    pub header: Option<HeaderPreimage>,
}

/// What a wallet file says about its proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProofs {
    /// `None`: the file has no proof tables (a demo chain's file, or an older service).
    pub network: Option<u8>,
    pub rows: Vec<ProofRow>,
}

/// Reads every live owned output of the file with its proof.
pub fn read(conn: &Connection) -> Result<FileProofs, WalletDbError> {
    let has_tables: bool = conn.query_row(
        "SELECT COUNT(*) = 3 FROM sqlite_master WHERE type = 'table' AND name IN \
         ('tws_proof_info', 'tws_block_headers', 'tws_output_proofs')",
        [],
        |r| r.get(0),
    )?;
    let network = if has_tables {
        Some(conn.query_row("SELECT network FROM tws_proof_info", [], |r| r.get::<_, u8>(0))?)
    } else {
        None
    };
    let query = if has_tables {
        "SELECT o.output_hash, o.mined_in_block_height, o.mined_in_block_hash, o.wallet_output_json, p.proof, \
         p.block_hash, h.mining_preimage, h.pow_nonce FROM outputs o LEFT JOIN tws_output_proofs p ON p.output_hash \
         = o.output_hash LEFT JOIN tws_block_headers h ON h.block_hash = p.block_hash WHERE o.deleted_at IS NULL \
         ORDER BY o.mined_in_block_height, o.output_hash"
    } else {
        "SELECT output_hash, mined_in_block_height, mined_in_block_hash, wallet_output_json, NULL, NULL, NULL, NULL \
         FROM outputs WHERE deleted_at IS NULL ORDER BY mined_in_block_height, output_hash"
    };
    let mut stmt = conn.prepare(query)?;
    let rows = stmt.query_map([], |r| {
        let proof: Option<Vec<u8>> = r.get(4)?;
        let proof_block: Option<Vec<u8>> = r.get(5)?;
        let mining: Option<Vec<u8>> = r.get(6)?;
        let pow_nonce: Option<Vec<u8>> = r.get(7)?;
        let header = mining
            .zip(pow_nonce)
            .map(|(mining, pow_nonce)| HeaderPreimage { mining, pow_nonce });
        Ok(ProofRow {
            output_hash: hash32(r.get::<_, Vec<u8>>(0)?),
            height: r.get::<_, i64>(1)? as u64,
            block_hash: hash32(r.get::<_, Vec<u8>>(2)?),
            wallet_output_json: r.get(3)?,
            proof: proof.map(|p| StoredProof {
                proof: OutputProof::decode(&p),
                block_hash: hash32(proof_block.unwrap_or_default()),
                header,
            }),
        })
    })?;
    Ok(FileProofs {
        network,
        rows: rows.collect::<Result<_, _>>()?,
    })
}

/// A 32-byte column; a shorter or longer one reads as zeros, which no check accepts.
fn hash32(bytes: Vec<u8>) -> [u8; 32] {
    bytes.try_into().unwrap_or([0u8; 32])
}
