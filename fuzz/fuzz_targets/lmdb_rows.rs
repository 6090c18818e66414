//! A node database's rows as the import decodes them (bincode 1 into the official types): `kind u8`
//! (mod 7), then the value bytes: 0 a `utxos` row (and what the cache keeps of it), 1 an `inputs` row,
//! 2 a `headers` row (with its hash under LocalNet), 3-7 a `metadata` value of each key the import reads.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::fuzzing::{self, MetadataKey};

const KEYS: [MetadataKey; 5] = [
    MetadataKey::ChainHeight,
    MetadataKey::BestBlock,
    MetadataKey::PruningHorizon,
    MetadataKey::PrunedHeight,
    MetadataKey::BestBlockTimestamp,
];

fuzz_target!(|data: &[u8]| {
    static NETWORK: Once = Once::new();
    NETWORK.call_once(fuzzing::use_localnet);
    let Some((&kind, value)) = data.split_first() else {
        return;
    };
    match kind % 7 {
        0 => {
            if let Ok(out) = fuzzing::output_row(value) {
                assert!(out.script.len() < value.len(), "the script came from the row");
            }
        }
        1 => {
            let _ = fuzzing::input_row(value);
        }
        2 => {
            let _ = fuzzing::header_row(value);
        }
        k => {
            let key = KEYS[usize::from(k - 3)];
            let number = fuzzing::metadata_u64(key, value);
            let hash = fuzzing::metadata_hash(key, value);
            assert!(number.is_err() || hash.is_err(), "a value is 8 or 32 bytes, never both");
            if number.is_ok() {
                assert_eq!(value.len(), 12);
            }
        }
    }
});
