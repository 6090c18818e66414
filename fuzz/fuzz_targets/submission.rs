//! The submission body and the sealed boxes in it: `mode u8` (mod 4), then
//! 0/1. a `POST /api/v1/wallet/sync` body, validated as the handler does (1: from a loopback peer),
//!      against an engine whose server key is `fuzzing::fuzz_server_key`; an accepted view key's box
//!      must open with that key to a 32-byte key (a plain key is sealed to it at once);
//! 2.   a box as the job store keeps it (`Sealed::from_bytes`), then opened under both labels;
//! 3.   a box as JSON carries it (`Sealed::from_wire`), then opened under both labels.
//! Pointing this target at a new submission format means changing `fuzzing::submission` only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::fuzzing::{self, LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        m @ (0 | 1) => {
            if let Ok(accepted) = fuzzing::submission(body, m == 1) {
                let sealed = fuzzing::sealed_from_bytes(&accepted.sealed_view_key).expect("a stored box parses");
                let key = fuzzing::open(LABEL_VIEW_KEY, &sealed).expect("an accepted view key opens");
                assert_eq!(key.len(), 32);
            }
        }
        2 => {
            if let Ok(sealed) = fuzzing::sealed_from_bytes(body) {
                assert_eq!(sealed.to_bytes(), body, "the stored form reads back byte for byte");
                let _ = fuzzing::open(LABEL_VIEW_KEY, &sealed);
                let _ = fuzzing::open(LABEL_WALLET_PASSWORD, &sealed);
            }
        }
        _ => {
            if let Some(Ok(sealed)) = fuzzing::sealed_from_wire(body) {
                assert_eq!(
                    fuzzing::sealed_from_wire(&serde_json_box(&sealed)),
                    Some(Ok(sealed.clone()))
                );
                let _ = fuzzing::open(LABEL_VIEW_KEY, &sealed);
                let _ = fuzzing::open(LABEL_WALLET_PASSWORD, &sealed);
            }
        }
    }
});

/// The box's canonical wire JSON.
fn serde_json_box(sealed: &fuzzing::Sealed) -> Vec<u8> {
    let wire = sealed.to_wire();
    format!(
        r#"{{"ephemeral_public_key":"{}","nonce":"{}","ciphertext":"{}"}}"#,
        wire.ephemeral_public_key, wire.nonce, wire.ciphertext
    )
    .into_bytes()
}
