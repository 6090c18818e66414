//! Artifact: the file a finished job serves (zstd-compressed, held in memory in chunks) and the seam that
//! builds it from a scan result (`ResultBuilder`). The service streams and range-reads artifacts; what is
//! inside them is the builder's business.
//!
//! The service's builder is `WalletDbBuilder` (the minotari-cli wallet database of `walletdb`);
//! `JsonSummaryBuilder` serves a zstd-compressed JSON summary instead, for tools that want no SQLite.

use std::ops::Range;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::service::error::{FailureCode, JobFailure};
use crate::{
    cache::CacheView,
    recognize::WalletKey,
    scan::{OwnedOutput, ScanResult},
    walletdb::Interrupt,
};

/// Chunk size of the artifacts we compress ourselves: one HTTP data frame each.
pub const CHUNK_LEN: usize = 64 * 1024;

/// A finished job's file: zstd bytes in chunks, their total length, the uncompressed length and the
/// SHA-256 of the compressed bytes (what the client downloads and checks).
#[derive(Debug, Clone)]
pub struct Artifact {
    chunks: Vec<Bytes>,
    /// Offset of each chunk's first byte.
    starts: Vec<u64>,
    pub raw_len: u64,
    pub zstd_len: u64,
    pub sha256: [u8; 32],
}

impl Artifact {
    /// From chunks already compressed, with the length before compression and the SHA-256 of the
    /// compressed bytes. Empty chunks are dropped.
    pub fn from_chunks(chunks: Vec<Vec<u8>>, raw_len: u64, sha256: [u8; 32]) -> Artifact {
        Artifact::from_parts(chunks.into_iter().map(Bytes::from).collect(), raw_len, sha256)
    }

    /// From the compressed bytes in one buffer, cut into `CHUNK_LEN` chunks without copying.
    pub fn from_bytes(bytes: Bytes, raw_len: u64, sha256: [u8; 32]) -> Artifact {
        let chunks = (0..bytes.len())
            .step_by(CHUNK_LEN)
            .map(|at| bytes.slice(at..(at + CHUNK_LEN).min(bytes.len())))
            .collect();
        Artifact::from_parts(chunks, raw_len, sha256)
    }

    fn from_parts(chunks: Vec<Bytes>, raw_len: u64, sha256: [u8; 32]) -> Artifact {
        let chunks: Vec<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let mut starts = Vec::with_capacity(chunks.len());
        let mut offset = 0u64;
        for chunk in &chunks {
            starts.push(offset);
            offset += chunk.len() as u64;
        }
        Artifact {
            chunks,
            starts,
            raw_len,
            zstd_len: offset,
            sha256,
        }
    }

    /// Compresses `raw` with zstd at `level` into `CHUNK_LEN` chunks and hashes the result.
    pub fn compress(raw: &[u8], level: i32) -> std::io::Result<Artifact> {
        let compressed = zstd::bulk::compress(raw, level)?;
        let sha256: [u8; 32] = Sha256::digest(&compressed).into();
        let chunks = compressed.chunks(CHUNK_LEN).map(<[u8]>::to_vec).collect();
        Ok(Artifact::from_chunks(chunks, raw.len() as u64, sha256))
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// A strong entity tag: the content hash, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256_hex())
    }

    /// The bytes of `range` (within `0..zstd_len`) as slices of the chunks, without copying.
    pub fn slices(&self, range: Range<u64>) -> Vec<Bytes> {
        let mut out = Vec::new();
        if range.start >= range.end {
            return out;
        }
        let first = self.starts.partition_point(|&s| s <= range.start).saturating_sub(1);
        for (chunk, &start) in self.chunks.iter().zip(&self.starts).skip(first) {
            let end = start + chunk.len() as u64;
            if start >= range.end {
                break;
            }
            let from = range.start.max(start) - start;
            let to = range.end.min(end) - start;
            if from < to {
                out.push(chunk.slice(from as usize..to as usize));
            }
        }
        out
    }
}

/// Builds a job's file from its scan result. Runs on the scan pool (several jobs' files at once, never
/// on the async runtime, so a builder may block on I/O); may take seconds. `chain` is the snapshot the
/// scan read (block hashes and times, cached outputs). A failure carries the job's stable code and a
/// message for the client (no secrets, no server paths: details go to the server log).
///
/// `interrupt` carries the build's deadline (`build_timeout`) and its job's cancellation (a `DELETE`, or
/// the service shutting down): a builder that may run long polls it and stops with its error
/// (`BUILD_TIMEOUT`, `BUILD_CANCELLED`), so no build holds a scan thread past its deadline.
pub trait ResultBuilder: Send + Sync {
    fn build(
        &self,
        key: &WalletKey,
        password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        chain: &CacheView,
        interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure>;
}

/// A zstd-compressed JSON summary of the scan (tip, balance, every owned output with its value, mask,
/// memo and spend), for tools that want no SQLite.
#[derive(Debug, Clone)]
pub struct JsonSummaryBuilder {
    /// zstd level: 3 is zstd's default, fast with most of the gain on JSON.
    pub level: i32,
}

impl Default for JsonSummaryBuilder {
    fn default() -> Self {
        JsonSummaryBuilder { level: 3 }
    }
}

impl ResultBuilder for JsonSummaryBuilder {
    fn build(
        &self,
        key: &WalletKey,
        _password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        _chain: &CacheView,
        _interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure> {
        let outputs: Vec<_> = result.outputs.iter().map(OwnedOutput::to_json).collect();
        let summary = serde_json::json!({
            "format": "tari-wallet-sync/summary/v1",
            "spend_public_key": hex::encode(key.spend_public_key().as_bytes()),
            "birthday": birthday,
            "from_height": result.from_height,
            "tip_height": result.tip.map(|t| t.height),
            "tip_hash": result.tip.map(|t| hex::encode(t.hash)),
            "balance": result.balance(),
            "outputs": outputs,
        });
        let failed = |e: String| {
            tracing::error!(error = %e, "building the summary failed");
            JobFailure::new(FailureCode::BuildFailed, "the result file could not be built", true)
        };
        // The summary holds masks: keep the plain JSON in zeroizing memory until compressed.
        let raw = Zeroizing::new(serde_json::to_vec(&summary).map_err(|e| failed(e.to_string()))?);
        Artifact::compress(&raw, self.level).map_err(|e| failed(format!("compressing the summary: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_any_range_across_chunk_boundaries() {
        let chunks = vec![vec![0u8, 1, 2], vec![3, 4], vec![5, 6, 7, 8]];
        let artifact = Artifact::from_chunks(chunks, 100, [0; 32]);
        assert_eq!(artifact.zstd_len, 9);
        let collect = |r: Range<u64>| artifact.slices(r).concat();
        for start in 0..=9u64 {
            for end in start..=9u64 {
                assert_eq!(
                    collect(start..end),
                    (start as u8..end as u8).collect::<Vec<_>>(),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn compresses_and_hashes_the_compressed_bytes() {
        let raw = b"hello hello hello hello".repeat(10_000);
        let artifact = Artifact::compress(&raw, 3).unwrap();
        let whole = artifact.slices(0..artifact.zstd_len).concat();
        assert_eq!(zstd::decode_all(&whole[..]).unwrap(), raw);
        assert_eq!(artifact.sha256, <[u8; 32]>::from(Sha256::digest(&whole)));
        assert_eq!(artifact.etag().len(), 66);
        assert!(artifact.zstd_len < artifact.raw_len / 10);
        let again = Artifact::from_bytes(Bytes::from(whole.clone()), artifact.raw_len, artifact.sha256);
        assert_eq!(
            (again.zstd_len, again.slices(0..again.zstd_len).concat()),
            (artifact.zstd_len, whole)
        );
    }
}
