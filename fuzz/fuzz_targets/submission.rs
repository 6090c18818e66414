//! The submission body and the sealed boxes in it: `mode u8` (mod 6), then
//! 0/1. a `POST /api/v1/wallet/sync` body sent as JSON, validated as the handler does (1: from a
//!      loopback peer), against an engine whose server key is `fuzzing::fuzz_server_key`; an accepted
//!      envelope, as the store keeps it, must open with that key to the secrets it was accepted for (a
//!      plain submission is sealed to it at once), the key read from them is the one the scan will use,
//!      and every field is one the scan and the wallet file can take (the password within
//!      `MAX_PASSWORD_LEN`): a job is never accepted only to fail after its scan;
//! 2.   a box as the job store keeps it (`Sealed::from_bytes`), then opened under every label;
//! 3.   a box as JSON carries it (`Sealed::from_wire`), then opened under every label;
//! 4/5. as 0/1, with the request's `Content-Type` value first (up to the first newline; no newline: no
//!      header): only a JSON type is ever accepted.
//! No input may panic (a plain body over what a box holds once did, on the connection's task).
//! Pointing this target at a new submission format means changing `fuzzing::submission` only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::{
    fuzzing::{self, Accepted, LABEL_SUBMISSION, LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD, SubmissionSecrets},
    recognize::WalletKey,
    walletdb::account::MAX_PASSWORD_LEN,
};

/// The v2 envelope's label and the two a store of an earlier version still holds boxes under.
const LABELS: [&[u8]; 3] = [LABEL_SUBMISSION, LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        m @ (0 | 1) => {
            if let Ok(accepted) = fuzzing::submission(body, m == 1) {
                check_accepted(&accepted);
            }
        }
        m @ (4 | 5) => {
            let (content_type, body) = match body.iter().position(|&b| b == b'\n') {
                Some(at) => (Some(&body[..at]), &body[at + 1..]),
                None => (None, body),
            };
            if let Ok(accepted) = fuzzing::submission_with_type(content_type, body, m == 5) {
                let essence = content_type
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.split(';').next())
                    .map(str::trim);
                assert!(
                    essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")),
                    "only JSON is accepted, not {content_type:?}"
                );
                check_accepted(&accepted);
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

/// What an accepted submission must be: an envelope that opens with the server key to the secrets it was
/// accepted for, whose key the scan reads back and whose fields the wallet file takes.
fn check_accepted(accepted: &Accepted) {
    let sealed = fuzzing::sealed_from_bytes(&accepted.sealed_request).expect("a stored box parses");
    let opened = fuzzing::open(LABEL_SUBMISSION, &sealed).expect("an accepted envelope opens");
    let secrets = SubmissionSecrets::from_plaintext(&opened).expect("to the secrets it carried");
    assert_eq!(secrets.birthday, accepted.birthday);
    // The scan reads the key back with the parser the submission passed (a job accepted only to fail as
    // unopenable was a bug this target found).
    let key = WalletKey::from_hex(&secrets.view_key, &secrets.spend_public_key)
        .expect("the scan opens the key it was accepted with");
    assert_eq!(key.spend_public_key().to_bytes(), accepted.spend_public_key);
    assert!(
        !secrets.wallet_password.is_empty(),
        "a file is always sealed with a password"
    );
    // The wallet file's own bound: a longer password failed the job only after its whole scan.
    assert!(secrets.wallet_password.len() <= MAX_PASSWORD_LEN);
}

/// The box's canonical wire JSON.
fn serde_json_box(sealed: &fuzzing::Sealed) -> Vec<u8> {
    let wire = sealed.to_wire();
    format!(
        r#"{{"ephemeral_public_key":"{}","nonce":"{}","ciphertext":"{}"}}"#,
        wire.ephemeral_public_key, wire.nonce, wire.ciphertext
    )
    .into_bytes()
}
