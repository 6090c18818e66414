//! Fake node routes: the query service's answers computed from a chain of `BlockData`, as the official
//! JSON models. `/sync_utxos_by_block` follows the node's paging as observed on current nodes: a
//! request's window ends at the next multiple of 100 above its start block; page `p` starts `p * limit`
//! blocks in; a response ends after `limit` blocks, at the window's end (that block included, so the
//! next window repeats it), at the tip, or once it holds more than `limit` chunks (then the last block
//! goes back unless it is the only one, and the client continues from it); a block's outputs go out in
//! chunks of `chunk` with its inputs spread over them, and a block with neither is one empty entry.

use std::collections::HashMap;

use primitive_types::U512;
use tari_common_types::{
    chain_metadata::ChainMetadata,
    types::{ComAndPubSignature, CompressedCommitment, CompressedPublicKey, FixedHash, PrivateKey},
};
use tari_script::TariScript;
use tari_transaction_components::{
    MicroMinotari,
    rpc::models::{
        BlockHeader, BlockUtxoInfo, GetUtxosByBlockResponse, MinimalUtxoSyncInfo, SyncUtxosByBlockResponseV0,
        SyncUtxosByBlockResponseV1, TipInfoResponse,
    },
    tari_proof_of_work::ProofOfWork,
    transaction_components::{
        EncryptedData, OutputFeatures, OutputFeaturesVersion, OutputType, RangeProofType, TransactionOutput,
        TransactionOutputVersion, covenants::Covenant,
    },
};
use tari_utilities::{ByteArray, epoch_time::EpochTime};

use tari_wallet_sync::cache::{BlockData, OutputData};

/// The node's window: a request never reads past the next multiple of this above its start.
const WINDOW: u64 = 100;

/// The fake node's chain: consecutive blocks from some height, looked up by height or hash.
#[derive(Debug, Default)]
pub struct Chain {
    blocks: Vec<BlockData>,
    by_hash: HashMap<[u8; 32], usize>,
    /// Genuine full outputs by header hash (a node database's); other blocks get stand-ins.
    full: HashMap<[u8; 32], Vec<TransactionOutput>>,
    /// Genuine headers by block hash (a node database's); other blocks get stand-ins that do not hash.
    headers: HashMap<[u8; 32], tari_node_components::blocks::BlockHeader>,
    /// What `/get_tip_info` says of the node's sync (a lone LocalNet node says `false` forever).
    pub unsynced: bool,
}

impl Chain {
    pub fn new(blocks: Vec<BlockData>) -> Chain {
        let mut chain = Chain::default();
        chain.extend(blocks);
        chain
    }

    pub fn blocks(&self) -> &[BlockData] {
        &self.blocks
    }

    pub fn tip(&self) -> Option<&BlockData> {
        self.blocks.last()
    }

    pub fn get(&self, height: u64) -> Option<&BlockData> {
        let first = self.blocks.first()?.height;
        self.blocks.get(usize::try_from(height.checked_sub(first)?).ok()?)
    }

    /// The node's `get_height_at_time`: the highest block mined at or before `time` (unix seconds), 0 if
    /// none is (wallets ask it for the height of their birthday). Timestamps rise along the chain, as the
    /// node's binary search assumes.
    pub fn height_at_time(&self, time: u64) -> u64 {
        let after = self.blocks.partition_point(|b| b.timestamp <= time);
        after.checked_sub(1).map_or(0, |i| self.blocks[i].height)
    }

    fn by_hash(&self, hash: &[u8; 32]) -> Option<&BlockData> {
        self.by_hash.get(hash).map(|&i| &self.blocks[i])
    }

    /// Appends blocks; they must continue the chain (tests build them so).
    pub fn extend(&mut self, blocks: Vec<BlockData>) {
        for block in blocks {
            if let Some(tip) = self.tip() {
                assert_eq!(block.height, tip.height + 1, "fake node blocks must be consecutive");
            }
            self.by_hash.insert(block.hash, self.blocks.len());
            self.blocks.push(block);
        }
    }

    /// Serves `outputs` as the full outputs of the block with `header_hash`.
    pub fn set_full_outputs(&mut self, header_hash: [u8; 32], outputs: Vec<TransactionOutput>) {
        self.full.insert(header_hash, outputs);
    }

    /// Serves `header` as the header of the block it hashes to.
    pub fn set_header(&mut self, header_hash: [u8; 32], header: tari_node_components::blocks::BlockHeader) {
        self.headers.insert(header_hash, header);
    }

    fn full_outputs(&self, block: &BlockData) -> Vec<TransactionOutput> {
        match self.full.get(&block.hash) {
            Some(genuine) => genuine.clone(),
            None => block.outputs.iter().map(full_output).collect(),
        }
    }

    /// Drops every block above `height`.
    pub fn truncate_above(&mut self, height: u64) {
        let keep = self.blocks.iter().take_while(|b| b.height <= height).count();
        for b in self.blocks.drain(keep..) {
            self.by_hash.remove(&b.hash);
        }
    }
}

/// One answer: status and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

fn json<T: serde::Serialize>(value: &T) -> Reply {
    Reply {
        status: 200,
        body: serde_json::to_vec(value).expect("models serialize"),
    }
}

pub fn error(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: serde_json::to_vec(&serde_json::json!({ "error": message })).expect("serializes"),
    }
}

/// One `/sync_utxos_by_block` request as the fake node saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub start_height: u64,
    pub limit: u64,
    pub page: u64,
    /// Height of every entry sent, chunks included.
    pub entry_heights: Vec<u64>,
    /// Output count of every entry sent.
    pub entry_outputs: Vec<usize>,
    pub has_next_page: bool,
    pub next_height: Option<u64>,
}

/// Answers `path?query` from `chain`; sync requests are appended to `log`.
pub fn answer(chain: &Chain, path: &str, query: &str, chunk: usize, log: &mut Vec<SyncRequest>) -> Reply {
    let params: HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let number = |name: &str| params.get(name).and_then(|v| v.parse::<u64>().ok());
    let hash = |name: &str| {
        let bytes = hex::decode(params.get(name)?).ok()?;
        <[u8; 32]>::try_from(bytes).ok()
    };
    match path {
        "/get_tip_info" => json(&tip_info(chain)),
        "/get_header_by_height" => match number("height") {
            None => error(400, "height is required"),
            Some(h) => match chain.get(h) {
                Some(block) => match chain.headers.get(&block.hash) {
                    Some(genuine) => json(&BlockHeader::from(genuine.clone())),
                    None => json(&header(block)),
                },
                None => error(404, &format!("Header not found at height: {h}")),
            },
        },
        "/get_height_at_time" => match number("time") {
            None => error(400, "time is required"),
            Some(time) => json(&chain.height_at_time(time)),
        },
        "/get_utxos_by_block" => match hash("header_hash").and_then(|h| chain.by_hash(&h)) {
            Some(block) => json(&GetUtxosByBlockResponse {
                header_hash: block.hash.to_vec(),
                height: block.height,
                outputs: chain.full_outputs(block),
                mined_timestamp: block.timestamp,
            }),
            None => error(404, "Header hash not found"),
        },
        "/sync_utxos_by_block" => {
            let (Some(start), Some(limit), Some(page)) = (hash("start_header_hash"), number("limit"), number("page"))
            else {
                return error(400, "start_header_hash, limit and page are required");
            };
            if !(1..=2000).contains(&limit) {
                return error(400, "limit must be in 1..=2000");
            }
            let Some(start) = chain.by_hash(&start) else {
                return error(404, "Start header hash not found");
            };
            match sync(chain, start.height, limit, page, chunk, log) {
                Err(reply) => reply,
                Ok(v0) if number("version") == Some(0) => json(&v0),
                Ok(v0) => json(&SyncUtxosByBlockResponseV1::from(v0)),
            }
        }
        _ => error(404, "no such route"),
    }
}

fn tip_info(chain: &Chain) -> TipInfoResponse {
    let metadata = chain.tip().map(|tip| {
        ChainMetadata::new(
            tip.height,
            FixedHash::from(tip.hash),
            0,
            0,
            U512::from(tip.height + 1),
            tip.timestamp,
        )
        .expect("non-zero difficulty, unpruned")
    });
    TipInfoResponse {
        metadata,
        is_synced: !chain.unsynced,
    }
}

fn header(block: &BlockData) -> BlockHeader {
    BlockHeader {
        hash: FixedHash::from(block.hash),
        version: 1,
        height: block.height,
        prev_hash: FixedHash::from(block.prev_hash),
        timestamp: EpochTime::from(block.timestamp),
        input_mr: FixedHash::zero(),
        output_mr: FixedHash::zero(),
        block_output_mr: FixedHash::zero(),
        output_smt_size: 0,
        kernel_mr: FixedHash::zero(),
        kernel_mmr_size: 0,
        total_kernel_offset: PrivateKey::default(),
        total_script_offset: PrivateKey::default(),
        validator_node_mr: FixedHash::zero(),
        validator_node_size: 0,
        pow: ProofOfWork::default(),
        nonce: 0,
    }
}

/// A full output carrying the block's recognition fields, script, type and maturity; the rest (range
/// proof, signature, covenant) stands in, as nobody verifies them here.
pub fn full_output(out: &OutputData) -> TransactionOutput {
    let features = OutputFeatures::new(
        OutputFeaturesVersion::get_current_version(),
        OutputType::from_byte(out.output_type).unwrap_or_default(),
        out.maturity,
        Default::default(),
        None,
        RangeProofType::default(),
    );
    TransactionOutput::new(
        TransactionOutputVersion::get_current_version(),
        features,
        CompressedCommitment::from_canonical_bytes(&out.commitment).expect("32 bytes"),
        None,
        TariScript::from_bytes(&out.script).unwrap_or_default(),
        CompressedPublicKey::from_canonical_bytes(&out.sender_offset_public_key).expect("32 bytes"),
        ComAndPubSignature::default(),
        Covenant::default(),
        EncryptedData::from_bytes(&out.encrypted_data).unwrap_or_default(),
        MicroMinotari::zero(),
    )
}

/// The entries of one block: output chunks carrying its inputs, further input chunks, or one empty entry.
fn entries(block: &BlockData, chunk: usize) -> Vec<BlockUtxoInfo> {
    let entry = |outputs: &[OutputData], inputs: &[[u8; 32]]| BlockUtxoInfo {
        header_hash: block.hash.to_vec(),
        height: block.height,
        outputs: outputs
            .iter()
            .map(|o| MinimalUtxoSyncInfo {
                output_hash: o.output_hash.to_vec(),
                commitment: o.commitment.to_vec(),
                encrypted_data: o.encrypted_data.clone(),
                sender_offset_public_key: o.sender_offset_public_key.to_vec(),
            })
            .collect(),
        inputs: inputs.iter().map(|i| i.to_vec()).collect(),
        mined_timestamp: block.timestamp,
    };
    if block.outputs.is_empty() && block.spent.is_empty() {
        return vec![entry(&[], &[])];
    }
    let mut inputs = block.spent.as_slice();
    let mut out = Vec::new();
    for outputs in block.outputs.chunks(chunk) {
        let (now, later) = inputs.split_at(inputs.len().min(chunk));
        out.push(entry(outputs, now));
        inputs = later;
    }
    out.extend(inputs.chunks(chunk).map(|i| entry(&[], i)));
    out
}

fn sync(
    chain: &Chain,
    start: u64,
    limit: u64,
    page: u64,
    chunk: usize,
    log: &mut Vec<SyncRequest>,
) -> Result<SyncUtxosByBlockResponseV0, Reply> {
    let tip = chain.tip().expect("a known start block").height;
    let window_end = tip.min((start + WINDOW) / WINDOW * WINDOW);
    let first = start + page * limit;
    if first > tip {
        return Err(error(400, &format!("page starts at {first}, above the tip {tip}")));
    }
    let page_end = first + limit;
    let mut blocks: Vec<BlockUtxoInfo> = Vec::new();
    let mut chunks = 0u64;
    let mut height = first;
    let (has_next_page, next) = loop {
        let block = chain.get(height).expect("heights up to the tip exist");
        let sent = entries(block, chunk);
        chunks += sent.len() as u64;
        blocks.extend(sent);
        if height >= tip {
            break (window_end > height, None);
        }
        if chunks > limit {
            // Too many chunks: the last block goes to the next request whole, unless it is the only one;
            // then it goes out alone and, as on the node, `has_next_page` stays set (so `page + 1` would
            // skip the blocks up to `first + limit`: the client must not follow it).
            if blocks[0].height == height {
                break (true, Some(height));
            }
            blocks.retain(|b| b.height != height);
            break (false, Some(height));
        }
        if height + 1 > window_end {
            break (false, Some(height));
        }
        height += 1;
        if height == page_end {
            break (window_end > height, Some(height));
        }
    };
    log.push(SyncRequest {
        start_height: start,
        limit,
        page,
        entry_heights: blocks.iter().map(|b| b.height).collect(),
        entry_outputs: blocks.iter().map(|b| b.outputs.len()).collect(),
        has_next_page,
        next_height: next,
    });
    Ok(SyncUtxosByBlockResponseV0 {
        blocks,
        has_next_page,
        next_header_to_scan: next
            .map(|h| chain.get(h).expect("exists").hash.to_vec())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::synthetic_blocks;

    /// Synthetic blocks are mined 120 s apart from 1_700_000_000; the answer is the block at or before
    /// the time, as the node's binary search gives it.
    #[test]
    fn height_at_time_is_the_last_block_mined_by_then() {
        let chain = Chain::new(synthetic_blocks(None, &[1; 10], 7));
        let t0 = chain.get(0).unwrap().timestamp;
        for (time, height) in [
            (0, 0),
            (t0, 0),
            (t0 + 119, 0),
            (t0 + 120, 1),
            (t0 + 5 * 120 + 1, 5),
            (u64::MAX, 9),
        ] {
            assert_eq!(chain.height_at_time(time), height, "time {time}");
        }
        let mut log = Vec::new();
        let reply = answer(
            &chain,
            "/get_height_at_time",
            &format!("time={}", t0 + 240),
            0,
            &mut log,
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"2");
        assert_eq!(answer(&chain, "/get_height_at_time", "", 0, &mut log).status, 400);
    }
}
