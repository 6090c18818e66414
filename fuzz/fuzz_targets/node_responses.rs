//! The node's HTTP answers as the follower reads them, each through the library's own decoding:
//! `route u8` (mod 4), `status u16`, then per route
//! 0. `/sync_utxos_by_block` page: the body (the version-1 decoder, else version 0);
//! 1. `/get_tip_info`: the body;
//! 2. `/get_header_by_height`: `height u64`, the body;
//! 3. `/get_utxos_by_block`: `header_hash [32]`, the body; then `fill_details` of a light block made
//!    from the outputs (as the sync route would list them) with those full outputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_utilities::ByteArray;
use tari_wallet_sync::{
    cache::{BlockData, OutputData},
    fuzzing,
};
use tari_wallet_sync_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (route, status) = (input.u8() % 4, input.u16());
    match route {
        0 => {
            if let Ok(page) = fuzzing::sync_page(status, input.0) {
                assert!(
                    page.entries
                        .iter()
                        .all(|e| e.outputs.iter().all(|o| o.script.is_empty()))
                );
            }
        }
        1 => {
            let _ = fuzzing::tip_info(status, input.0);
        }
        2 => {
            let height = input.u64();
            if let Ok(Some(header)) = fuzzing::header_by_height(height, status, input.0) {
                assert_eq!(header.height, height, "a header of the height asked for");
            }
        }
        _ => {
            let hash = input.hash();
            let Ok(full) = fuzzing::utxos_by_block(&hash, status, input.0) else {
                return;
            };
            fill(&full);
        }
    }
});

/// The light block the sync route would give for `full`, filled back from `full`.
fn fill(full: &[fuzzing::TransactionOutput]) {
    let outputs: Option<Vec<OutputData>> = full
        .iter()
        .map(|o| {
            Some(OutputData {
                output_hash: [0; 32],
                commitment: o.commitment.as_bytes().try_into().ok()?,
                sender_offset_public_key: o.sender_offset_public_key.as_bytes().try_into().ok()?,
                encrypted_data: o.encrypted_data.as_bytes().to_vec(),
                script: Vec::new(),
                output_type: 0,
                maturity: 0,
            })
        })
        .collect();
    let Some(outputs) = outputs else { return };
    let mut block = BlockData {
        height: 1,
        hash: [1; 32],
        prev_hash: [0; 32],
        timestamp: 0,
        outputs,
        spent: Vec::new(),
        output_details: false,
    };
    if fuzzing::fill_details(&mut block, full).is_ok() {
        assert!(block.output_details);
        for out in &block.outputs {
            let source = full.iter().rev().find(|f| f.commitment.as_bytes() == out.commitment);
            let source = source.expect("every filled output has a full output");
            assert_eq!(out.maturity, source.features.maturity);
        }
    }
}
