//! The node's LMDB rows, decoded with bincode 1 (default options, as tari_core's `lmdb_db::helpers`) into
//! the official types. tari_core keeps its row structs crate-private, so the two we read are restated
//! here field for field (`chain_storage/lmdb_db/mod.rs` in tari_core 6.3): bincode has no field names,
//! only order, so order and types are the contract. Metadata values are an enum of tari_core's too;
//! we read only the variants that carry a height or a hash.

use serde::Deserialize;
use tari_common_types::types::FixedHash;
use tari_node_components::blocks::BlockHeader;
use tari_transaction_components::transaction_components::{TransactionInput, TransactionOutput};
use tari_utilities::ByteArray;

use crate::{cache::OutputData, source::wire::output_details};

/// A row of `utxos` (tari_core's `TransactionOutputRowData`). Unread fields are kept for bincode's order.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct OutputRow {
    pub output: TransactionOutput,
    pub header_hash: FixedHash,
    pub hash: FixedHash,
    pub mined_height: u64,
    pub mined_timestamp: u64,
}

/// A row of `inputs` (tari_core's `TransactionInputRowData`); the node stores inputs compact, so
/// `input.output_hash()` is the stored hash of the output it spends.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct InputRow {
    pub input: TransactionInput,
    pub header_hash: FixedHash,
    pub spent_timestamp: u64,
    pub spent_height: u64,
    pub hash: FixedHash,
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    bincode::deserialize(bytes).map_err(|e| e.to_string())
}

pub fn decode_header(bytes: &[u8]) -> Result<BlockHeader, String> {
    decode(bytes)
}

impl OutputRow {
    /// What the cache keeps of the output.
    pub fn to_output_data(&self) -> OutputData {
        let (script, output_type, maturity) = output_details(&self.output);
        OutputData {
            output_hash: *self.hash,
            commitment: bytes32(self.output.commitment.as_bytes()),
            sender_offset_public_key: bytes32(self.output.sender_offset_public_key.as_bytes()),
            encrypted_data: self.output.encrypted_data.as_bytes().to_vec(),
            script,
            output_type,
            maturity,
        }
    }
}

fn bytes32(bytes: &[u8]) -> [u8; 32] {
    // Commitments and public keys are compressed Ristretto points: always 32 bytes.
    bytes.try_into().expect("a compressed point is 32 bytes")
}

/// Keys of the `metadata` table (tari_core's `MetadataKey`, stored as a native-endian `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum MetadataKey {
    ChainHeight = 0,
    BestBlock = 1,
    PruningHorizon = 3,
    PrunedHeight = 4,
    BestBlockTimestamp = 6,
}

impl MetadataKey {
    pub fn key_bytes(self) -> [u8; 4] {
        (self as u32).to_ne_bytes()
    }
}

/// A `MetadataValue` is a bincode enum: a little-endian `u32` variant index (equal to the key's number
/// for these variants) and then the payload.
fn metadata_payload(key: MetadataKey, bytes: &[u8]) -> Result<&[u8], String> {
    let (tag, payload) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("{key:?}: {} bytes", bytes.len()))?;
    let tag = u32::from_le_bytes(*tag);
    if tag != key as u32 {
        return Err(format!("{key:?}: value has variant {tag}"));
    }
    Ok(payload)
}

pub fn metadata_u64(key: MetadataKey, bytes: &[u8]) -> Result<u64, String> {
    let payload = metadata_payload(key, bytes)?;
    let value: [u8; 8] = payload
        .try_into()
        .map_err(|_| format!("{key:?}: payload of {} bytes, not 8", payload.len()))?;
    Ok(u64::from_le_bytes(value))
}

pub fn metadata_hash(key: MetadataKey, bytes: &[u8]) -> Result<[u8; 32], String> {
    let payload = metadata_payload(key, bytes)?;
    payload
        .try_into()
        .map_err(|_| format!("{key:?}: payload of {} bytes, not 32", payload.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_decode_by_variant() {
        let mut height = 0u32.to_le_bytes().to_vec();
        height.extend_from_slice(&1234u64.to_le_bytes());
        assert_eq!(metadata_u64(MetadataKey::ChainHeight, &height), Ok(1234));
        // The same bytes under another key are refused, as are short payloads.
        assert!(metadata_u64(MetadataKey::PruningHorizon, &height).is_err());
        assert!(metadata_u64(MetadataKey::ChainHeight, &height[..9]).is_err());
        let mut best = 1u32.to_le_bytes().to_vec();
        best.extend_from_slice(&[7u8; 32]);
        assert_eq!(metadata_hash(MetadataKey::BestBlock, &best), Ok([7u8; 32]));
        assert!(metadata_hash(MetadataKey::BestBlock, &best[..20]).is_err());
    }

    #[test]
    fn truncated_rows_are_errors_not_panics() {
        let header = BlockHeader::new(1);
        let bytes = bincode::serialize(&header).unwrap();
        let back = decode_header(&bytes).unwrap();
        assert_eq!(back.hash(), header.hash());
        for cut in [0, 1, 10, bytes.len() - 1] {
            assert!(decode_header(&bytes[..cut]).is_err());
        }
        assert!(decode::<OutputRow>(&[0u8; 40]).is_err());
        assert!(decode::<InputRow>(&[]).is_err());
    }
}
