//! Wallet file: the finished, zstd-compressed SQLite file held in memory as chunks the HTTP layer streams
//! and slices for Range requests. Owns the compression stream, the chunking and the digest; it does not
//! know what the database holds.
//!
//! The serialized database is fed to a zstd stream encoder page by page; compressed bytes land in chunks
//! of [`CHUNK_LEN`] and the SHA-256 runs over them as they arrive, so nothing with wallet data touches a
//! disk and the compressed copy never needs a second buffer.

use std::{io::Write, ops::Range, sync::Arc};

use sha2::{Digest, Sha256};

use super::{WalletDbError, interrupt::Interrupt};

/// Size of one compressed chunk: large enough for few allocations and HTTP frames, small enough that a
/// Range request copies little.
pub const CHUNK_LEN: usize = 256 * 1024;
/// Bytes of the serialized database handed to zstd at a time.
const FEED_LEN: usize = 1024 * 1024;

/// A compressed wallet database: `zstd -d` gives the SQLite file minotari-cli opens. Cheap to clone
/// (the chunks are shared), `Send + Sync`.
#[derive(Clone, Debug)]
pub struct WalletFile {
    /// Length of the SQLite file.
    pub raw_len: u64,
    /// Length of the compressed file.
    pub zstd_len: u64,
    /// SHA-256 of the compressed bytes.
    pub sha256: [u8; 32],
    /// What the database holds (counts and totals, no keys).
    pub summary: WalletSummary,
    chunks: Arc<Vec<Vec<u8>>>,
}

impl WalletFile {
    /// The compressed file, in order; every chunk but the last is [`CHUNK_LEN`] bytes.
    pub fn chunks(&self) -> &[Vec<u8>] {
        &self.chunks
    }

    /// The compressed bytes in `range`, clamped to the file (an HTTP layer checks ranges before).
    pub fn read_range(&self, range: Range<u64>) -> Vec<u8> {
        let end = range.end.min(self.zstd_len);
        let start = range.start.min(end);
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut at = start;
        while at < end {
            let chunk = (at / CHUNK_LEN as u64) as usize;
            let offset = (at % CHUNK_LEN as u64) as usize;
            let take = (self.chunks[chunk].len() - offset).min((end - at) as usize);
            out.extend_from_slice(&self.chunks[chunk][offset..offset + take]);
            at += take as u64;
        }
        out
    }

    /// Strong entity tag for HTTP: the quoted hex SHA-256 of the compressed bytes.
    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode(self.sha256))
    }

    /// All compressed bytes in one buffer (tests, the CLI).
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// Collects compressed bytes into fixed-size chunks and hashes them on the way.
struct ChunkSink {
    chunks: Vec<Vec<u8>>,
    hasher: Sha256,
    len: u64,
}

impl Write for ChunkSink {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let written = buf.len();
        self.hasher.update(buf);
        self.len += written as u64;
        while !buf.is_empty() {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK_LEN) {
                self.chunks.push(Vec::with_capacity(CHUNK_LEN));
            }
            let chunk = self.chunks.last_mut().expect("pushed above");
            let take = (CHUNK_LEN - chunk.len()).min(buf.len());
            chunk.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses `raw` (the serialized database) at zstd `level` into a `WalletFile`. One thread: the level
/// is chosen so that this stays a small share of a job (see `benches/walletdb.rs`).
pub fn compress(raw: &[u8], level: i32) -> Result<WalletFile, WalletDbError> {
    compress_until(raw, level, &Interrupt::never())
}

/// `compress`, checking `interrupt` before each megabyte fed (tens of milliseconds of zstd).
pub(super) fn compress_until(raw: &[u8], level: i32, interrupt: &Interrupt<'_>) -> Result<WalletFile, WalletDbError> {
    let sink = ChunkSink {
        chunks: Vec::new(),
        hasher: Sha256::new(),
        len: 0,
    };
    let mut encoder = zstd::stream::Encoder::new(sink, level)?;
    // The size up front lets zstd pick its window and tables for this file, and records it in the frame.
    encoder.set_pledged_src_size(Some(raw.len() as u64))?;
    encoder.include_checksum(true)?;
    for piece in raw.chunks(FEED_LEN) {
        interrupt.check().map_err(WalletDbError::Stopped)?;
        encoder.write_all(piece)?;
    }
    let mut sink = encoder.finish()?;
    if let Some(last) = sink.chunks.last_mut() {
        last.shrink_to_fit();
    }
    Ok(WalletFile {
        raw_len: raw.len() as u64,
        zstd_len: sink.len,
        sha256: sink.hasher.finalize().into(),
        summary: WalletSummary::default(),
        chunks: Arc::new(sink.chunks),
    })
}

/// What a built file holds, for logs and the job status (no amounts per output, no keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletSummary {
    /// Outputs written: every owned output of the scan (one that cannot be imported fails the build).
    pub outputs: u64,
    pub spent: u64,
    /// Blocks whose change-matching search ran out of steps (`displayed::SEARCH_STEPS_PER_BLOCK`), so
    /// some of their change shows as the client shows change it found no inputs for.
    pub search_exhausted_blocks: u64,
    /// µT in unspent, non-burn outputs: what the wallet can spend.
    pub unspent_value: u64,
    /// The client's own total, Σ credits − Σ debits: it credits every detected output, burns included.
    pub client_total: u64,
    pub displayed_transactions: u64,
    pub scanned_tip_rows: u64,
    /// `None` for a scan of an empty cache.
    pub tip_height: Option<u64>,
    /// Owned outputs carrying a proof checked against their block's header (`proof`); `None` when the
    /// file has no proof tables (a demo chain, or a file built without the chain's view).
    pub proved_outputs: Option<u64>,
    /// Time spent building and checking the proofs (headers fetched, blocks rebuilt), in microseconds.
    pub proof_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_ranges_and_digest_describe_one_zstd_frame() {
        let raw: Vec<u8> = (0..3 * CHUNK_LEN as u32 + 77)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        let file = compress(&raw, 1).unwrap();
        let all = file.to_vec();
        assert_eq!(all.len() as u64, file.zstd_len);
        assert_eq!(zstd::decode_all(&all[..]).unwrap(), raw);
        assert_eq!(file.sha256, <[u8; 32]>::from(Sha256::digest(&all)));
        assert!(
            file.chunks()[..file.chunks().len() - 1]
                .iter()
                .all(|c| c.len() == CHUNK_LEN)
        );
        let n = file.zstd_len;
        for range in [0..0, 0..1, 5..n, 0..n, n - 1..n, 3..n + 100, n + 5..n + 9] {
            let (s, e) = (range.start.min(n) as usize, range.end.min(n) as usize);
            assert_eq!(file.read_range(range), all[s.min(e)..e]);
        }
        if n > CHUNK_LEN as u64 + 10 {
            let r = CHUNK_LEN as u64 - 10..CHUNK_LEN as u64 + 10;
            assert_eq!(file.read_range(r), all[CHUNK_LEN - 10..CHUNK_LEN + 10]);
        }
        assert_eq!(file.etag(), format!("\"{}\"", hex::encode(file.sha256)));
        let stronger = compress(&raw, 9).unwrap();
        assert_eq!(zstd::decode_all(&stronger.to_vec()[..]).unwrap(), raw);
    }

    #[test]
    fn compression_stops_when_interrupted() {
        let cancelled = || true;
        let interrupt = Interrupt::new(std::time::Duration::from_secs(60), &cancelled);
        let stopped = compress_until(&[7u8; 3 * FEED_LEN], 1, &interrupt).unwrap_err();
        assert_eq!(stopped.code(), "BUILD_CANCELLED");
    }

    #[test]
    fn wallet_file_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<WalletFile>();
    }
}
