//! The submission body and the sealed boxes in it: `mode u8` (mod 4), then
//! 0/1. a `POST /api/v1/wallet/sync` body, validated as the handler does (1: from a loopback peer),
//!      against an engine whose server key is `fuzzing::fuzz_server_key`; an accepted envelope, as the
//!      store keeps it, must open with that key to the secrets it was accepted for (a plain submission
//!      is sealed to it at once) and the key read from them is the one the scan will use;
//! 2.   a box as the job store keeps it (`Sealed::from_bytes`), then opened under every label;
//! 3.   a box as JSON carries it (`Sealed::from_wire`), then opened under every label.
//! Pointing this target at a new submission format means changing `fuzzing::submission` only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::{
    fuzzing::{self, LABEL_SUBMISSION, LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD, SubmissionSecrets},
    recognize::WalletKey,
};

/// The v2 envelope's label and the two a store of an earlier version still holds boxes under.
const LABELS: [&[u8]; 3] = [LABEL_SUBMISSION, LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        m @ (0 | 1) => {
            if let Ok(accepted) = fuzzing::submission(body, m == 1) {
                let sealed = fuzzing::sealed_from_bytes(&accepted.sealed_request).expect("a stored box parses");
                let opened = fuzzing::open(LABEL_SUBMISSION, &sealed).expect("an accepted envelope opens");
                let secrets = SubmissionSecrets::from_plaintext(&opened).expect("to the secrets it carried");
                assert_eq!(secrets.birthday, accepted.birthday);
                // The scan reads the key back with the parser the submission passed (a job accepted only to
                // fail as unopenable was a bug this target found).
                let key = WalletKey::from_hex(&secrets.view_key, &secrets.spend_public_key)
                    .expect("the scan opens the key it was accepted with");
                assert_eq!(key.spend_public_key().to_bytes(), accepted.spend_public_key);
                assert!(
                    !secrets.wallet_password.is_empty(),
                    "a file is always sealed with a password"
                );
            }
        }
        2 => {
            if let Ok(sealed) = fuzzing::sealed_from_bytes(body) {
                assert_eq!(sealed.to_bytes(), body, "the stored form reads back byte for byte");
                for label in LABELS {
                    let _ = fuzzing::open(label, &sealed);
                }
            }
        }
        _ => {
            if let Some(Ok(sealed)) = fuzzing::sealed_from_wire(body) {
                assert_eq!(
                    fuzzing::sealed_from_wire(&serde_json_box(&sealed)),
                    Some(Ok(sealed.clone()))
                );
                for label in LABELS {
                    let _ = fuzzing::open(label, &sealed);
                }
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
