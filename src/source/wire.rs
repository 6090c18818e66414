//! Wire decoding: turns the node's official JSON models into our types, strictly. The official
//! `From<SyncUtxosByBlockResponseV1>` maps undecodable base64 to empty bytes; here every hash must be 32
//! bytes and every string must decode, or the page is refused with a typed error naming the field.
//! Owns the field mapping (minimal sync entries to `OutputData`, full outputs to script, type and
//! maturity); not the transport (`http`) nor the paging (`pager`).

use base64::{Engine, prelude::BASE64_STANDARD};
use tari_transaction_components::{
    rpc::models::{BlockHeader, SyncUtxosByBlockResponseV0, SyncUtxosByBlockResponseV1},
    transaction_components::TransactionOutput,
};
use tari_utilities::ByteArray;

use super::SourceError;
use crate::cache::{BlockData, OutputData};

/// One entry of a sync page: a whole block, or one chunk of a block whose outputs or inputs exceed the
/// node's chunk size (the chunks of a block share its height and hash and arrive in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEntry {
    pub height: u64,
    pub header_hash: [u8; 32],
    pub mined_timestamp: u64,
    /// Recognition fields from the node; script, output type and maturity are not on this route and are
    /// left empty, 0 and 0 until full outputs fill them.
    pub outputs: Vec<OutputData>,
    /// Hashes of the outputs this block's inputs spend.
    pub inputs: Vec<[u8; 32]>,
}

/// One page of `/sync_utxos_by_block`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPage {
    pub entries: Vec<PageEntry>,
    /// Ask again with the same start hash and `page + 1`.
    pub has_next_page: bool,
    /// Otherwise continue from this block (`page = 0`); `None` at the node's tip.
    pub next_header_to_scan: Option<[u8; 32]>,
}

/// A header as the follower needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeHeader {
    pub height: u64,
    pub hash: [u8; 32],
    pub prev_hash: [u8; 32],
    pub timestamp: u64,
}

impl From<&BlockHeader> for NodeHeader {
    fn from(h: &BlockHeader) -> Self {
        NodeHeader {
            height: h.height,
            hash: *h.hash,
            prev_hash: *h.prev_hash,
            timestamp: h.timestamp.as_u64(),
        }
    }
}

fn hash32(path: &str, what: &str, bytes: &[u8]) -> Result<[u8; 32], SourceError> {
    bytes
        .try_into()
        .map_err(|_| SourceError::malformed(path, format!("{what} is {} bytes, not 32", bytes.len())))
}

fn base64(path: &str, what: &str, text: &str) -> Result<Vec<u8>, SourceError> {
    BASE64_STANDARD
        .decode(text)
        .map_err(|e| SourceError::malformed(path, format!("{what} is not base64: {e}")))
}

fn base64_hash(path: &str, what: &str, text: &str) -> Result<[u8; 32], SourceError> {
    hash32(path, what, &base64(path, what, text)?)
}

fn minimal_output(
    path: &str,
    output_hash: &[u8],
    commitment: &[u8],
    sender_offset_public_key: &[u8],
    encrypted_data: Vec<u8>,
) -> Result<OutputData, SourceError> {
    Ok(OutputData {
        output_hash: hash32(path, "output_hash", output_hash)?,
        commitment: hash32(path, "commitment", commitment)?,
        sender_offset_public_key: hash32(path, "sender_offset_public_key", sender_offset_public_key)?,
        encrypted_data,
        script: Vec::new(),
        output_type: 0,
        maturity: 0,
    })
}

/// Decodes a `/sync_utxos_by_block` body: version 1 (base64 fields, hex cursor) as requested, or
/// version 0 (byte arrays) from a node that ignores `version`.
pub fn decode_sync_page(path: &str, body: &[u8]) -> Result<SyncPage, SourceError> {
    match serde_json::from_slice::<SyncUtxosByBlockResponseV1>(body) {
        Ok(v1) => from_v1(path, v1),
        Err(v1_error) => match serde_json::from_slice::<SyncUtxosByBlockResponseV0>(body) {
            Ok(v0) => from_v0(path, v0),
            Err(_) => Err(SourceError::Json {
                path: path.to_owned(),
                source: v1_error,
            }),
        },
    }
}

fn from_v1(path: &str, page: SyncUtxosByBlockResponseV1) -> Result<SyncPage, SourceError> {
    let entries = page
        .blocks
        .into_iter()
        .map(|b| {
            let outputs = b
                .outputs
                .into_iter()
                .map(|o| {
                    minimal_output(
                        path,
                        &base64(path, "output_hash", &o.output_hash)?,
                        &base64(path, "commitment", &o.commitment)?,
                        &base64(path, "sender_offset_public_key", &o.sender_offset_public_key)?,
                        base64(path, "encrypted_data", &o.encrypted_data)?,
                    )
                })
                .collect::<Result<_, _>>()?;
            let inputs = b
                .inputs
                .iter()
                .map(|i| base64_hash(path, "input", i))
                .collect::<Result<_, _>>()?;
            Ok(PageEntry {
                height: b.height,
                header_hash: base64_hash(path, "header_hash", &b.header_hash)?,
                mined_timestamp: b.mined_timestamp,
                outputs,
                inputs,
            })
        })
        .collect::<Result<_, SourceError>>()?;
    let next = hex::decode(&page.next_header_to_scan)
        .map_err(|e| SourceError::malformed(path, format!("next_header_to_scan is not hex: {e}")))?;
    Ok(SyncPage {
        entries,
        has_next_page: page.has_next_page,
        next_header_to_scan: cursor(path, &next)?,
    })
}

fn from_v0(path: &str, page: SyncUtxosByBlockResponseV0) -> Result<SyncPage, SourceError> {
    let entries = page
        .blocks
        .into_iter()
        .map(|b| {
            let outputs = b
                .outputs
                .into_iter()
                .map(|o| {
                    minimal_output(
                        path,
                        &o.output_hash,
                        &o.commitment,
                        &o.sender_offset_public_key,
                        o.encrypted_data,
                    )
                })
                .collect::<Result<_, _>>()?;
            let inputs = b
                .inputs
                .iter()
                .map(|i| hash32(path, "input", i))
                .collect::<Result<_, _>>()?;
            Ok(PageEntry {
                height: b.height,
                header_hash: hash32(path, "header_hash", &b.header_hash)?,
                mined_timestamp: b.mined_timestamp,
                outputs,
                inputs,
            })
        })
        .collect::<Result<_, SourceError>>()?;
    Ok(SyncPage {
        entries,
        has_next_page: page.has_next_page,
        next_header_to_scan: cursor(path, &page.next_header_to_scan)?,
    })
}

fn cursor(path: &str, bytes: &[u8]) -> Result<Option<[u8; 32]>, SourceError> {
    match bytes {
        [] => Ok(None),
        b => hash32(path, "next_header_to_scan", b).map(Some),
    }
}

/// What the cache keeps of a full output beyond the minimal fields: the script as raw opcodes (the
/// bytes `TariScript::from_bytes` reads), the output type byte and the maturity from its features.
pub fn output_details(output: &TransactionOutput) -> (Vec<u8>, u8, u64) {
    (
        output.script.to_bytes(),
        output.features.output_type.as_byte(),
        output.features.maturity,
    )
}

/// Fills script, output type and maturity of `block`'s outputs from the block's full outputs, matched
/// by commitment (the two routes list the same outputs; the order is not relied on). The output hash
/// stays the one the sync route gave.
pub fn fill_details(path: &str, block: &mut BlockData, full: &[TransactionOutput]) -> Result<(), SourceError> {
    if full.len() != block.outputs.len() {
        return Err(SourceError::malformed(
            path,
            format!(
                "block {} has {} full outputs but {} synced outputs",
                block.height,
                full.len(),
                block.outputs.len()
            ),
        ));
    }
    let by_commitment: std::collections::HashMap<&[u8], &TransactionOutput> =
        full.iter().map(|o| (o.commitment.as_bytes(), o)).collect();
    for out in &mut block.outputs {
        let full = by_commitment.get(&out.commitment[..]).ok_or_else(|| {
            SourceError::malformed(
                path,
                format!("block {}: a synced output has no full output", block.height),
            )
        })?;
        if full.sender_offset_public_key.as_bytes() != out.sender_offset_public_key
            || full.encrypted_data.as_bytes() != out.encrypted_data
        {
            return Err(SourceError::malformed(
                path,
                format!("block {}: a full output differs from its synced fields", block.height),
            ));
        }
        (out.script, out.output_type, out.maturity) = output_details(full);
    }
    block.output_details = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_body(header_hash: &str, next: &str) -> String {
        let b = BASE64_STANDARD.encode([7u8; 32]);
        format!(
            r#"{{"blocks":[{{"header_hash":"{header_hash}","height":5,"outputs":[{{"output_hash":"{b}",
            "commitment":"{b}","encrypted_data":"AAEC","sender_offset_public_key":"{b}"}}],"inputs":["{b}"],
            "mined_timestamp":9}}],"has_next_page":false,"next_header_to_scan":"{next}"}}"#
        )
    }

    #[test]
    fn version_1_decodes_every_field() {
        let page = decode_sync_page("/s", v1_body(&BASE64_STANDARD.encode([1u8; 32]), "").as_bytes()).unwrap();
        assert_eq!(page.next_header_to_scan, None);
        let e = &page.entries[0];
        assert_eq!((e.height, e.header_hash, e.mined_timestamp), (5, [1; 32], 9));
        assert_eq!(e.inputs, vec![[7; 32]]);
        assert_eq!(e.outputs[0].encrypted_data, vec![0, 1, 2]);
        assert_eq!(e.outputs[0].commitment, [7; 32]);
    }

    #[test]
    fn version_0_is_accepted_too() {
        let h: Vec<u8> = vec![3; 32];
        let body = serde_json::json!({"blocks": [{"header_hash": h, "height": 1, "outputs": [], "inputs": [],
            "mined_timestamp": 2}], "has_next_page": true, "next_header_to_scan": h});
        let page = decode_sync_page("/s", body.to_string().as_bytes()).unwrap();
        assert_eq!(page.entries[0].header_hash, [3; 32]);
        assert_eq!(page.next_header_to_scan, Some([3; 32]));
        assert!(page.has_next_page);
    }

    #[test]
    fn bad_fields_are_typed_errors() {
        let short = BASE64_STANDARD.encode([1u8; 31]);
        let err = decode_sync_page("/s", v1_body(&short, "").as_bytes()).unwrap_err();
        assert!(matches!(err, SourceError::Malformed { ref reason, .. } if reason.contains("header_hash")));
        let err = decode_sync_page("/s", v1_body("!!", "").as_bytes()).unwrap_err();
        assert!(matches!(err, SourceError::Malformed { ref reason, .. } if reason.contains("base64")));
        let good = BASE64_STANDARD.encode([1u8; 32]);
        let err = decode_sync_page("/s", v1_body(&good, "zz").as_bytes()).unwrap_err();
        assert!(matches!(err, SourceError::Malformed { .. }));
        let err = decode_sync_page("/s", b"{\"blocks\": [").unwrap_err();
        assert!(matches!(err, SourceError::Json { .. }));
    }
}
