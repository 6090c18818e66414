//! Envelope: the one place a submission's sealed envelope is opened with the server's keys, at admission
//! (to check what it carries) and when its scan starts (to use it), and the one parser its keys are read
//! with, so what passed at admission opens at the scan. Which key opens it: the one the submission's
//! `key_id` names, else each key the server holds in turn (`keyring`: current, next, previous), so a job
//! queued before a key rotation still opens after it while its old key is held. Also the one place a
//! plain submission is sealed to the server's own (current) key. The HTTP layer hands the envelope over
//! as it came (`http::submit`); the store keeps its bytes sealed (`store`).

use tari_wallet_sync_sse::{
    envelope::{LABEL_SUBMISSION, SubmissionSecrets},
    seal::{SealError, Sealed, ServerKey, seal},
};

use super::keyring::{KeyRole, ServerKeys};
use crate::{
    recognize::{KeyError, WalletKey},
    service::jobs::store::{SUBMISSION_FORMAT, SealedParts},
};

/// Why an envelope did not open.
#[derive(Debug)]
pub(in crate::service) enum OpenError {
    /// The submission names a key this server does not hold (rotated away, or never ours).
    UnknownKey,
    /// Not sealed to any key this server holds, or tampered with (or a stored row not in today's format).
    Seal(SealError),
    /// It opened, but what it holds is not a submission's secrets.
    Contents,
}

/// An opened envelope and the role of the key that opened it.
pub(in crate::service) struct Opened {
    pub secrets: SubmissionSecrets,
    pub key: KeyRole,
}

/// Opens a submission's envelope with the key `key_id` names, or, without one, with each key in turn.
/// At most three keys are held, so a box that opens with none costs three Diffie-Hellman steps (the
/// submission rate limit bounds how often a client can ask for them).
pub(in crate::service) fn open(keys: &ServerKeys, key_id: Option<&str>, sealed: &Sealed) -> Result<Opened, OpenError> {
    match key_id {
        Some(key_id) => {
            let (role, key) = keys.by_id(key_id).ok_or(OpenError::UnknownKey)?;
            open_with(role, key, sealed)
        }
        None => {
            let mut last = SealError::Open;
            for (role, key) in keys.in_order() {
                match open_with(role, key, sealed) {
                    Err(OpenError::Seal(error @ SealError::Open)) => last = error,
                    other => return other,
                }
            }
            Err(OpenError::Seal(last))
        }
    }
}

fn open_with(key: KeyRole, server_key: &ServerKey, sealed: &Sealed) -> Result<Opened, OpenError> {
    let opened = server_key.open(LABEL_SUBMISSION, sealed).map_err(OpenError::Seal)?;
    let secrets = SubmissionSecrets::from_plaintext(&opened).map_err(|_| OpenError::Contents)?;
    Ok(Opened { secrets, key })
}

/// Opens a job's envelope as the store kept it (no key id is stored: each key in turn).
pub(in crate::service) fn open_stored(keys: &ServerKeys, parts: &SealedParts) -> Result<Opened, OpenError> {
    if parts.format != SUBMISSION_FORMAT {
        // The SQLite store's migration 7 failed every format-1 job still holding keys; a row of another
        // format is not ours.
        return Err(OpenError::Seal(SealError::Open));
    }
    let sealed = Sealed::from_bytes(&parts.sealed_envelope).map_err(OpenError::Seal)?;
    open(keys, None, &sealed)
}

/// Seals a plain submission's secrets to the server's current key, so the store never holds them in
/// the clear. `SealError::TooLong` for a plaintext no box holds.
pub(in crate::service) fn seal_to_self(keys: &ServerKeys, secrets: &SubmissionSecrets) -> Result<Sealed, SealError> {
    seal(&keys.current().public_key(), LABEL_SUBMISSION, &secrets.to_plaintext())
}

/// The wallet key an envelope carries; the spend key is the envelope's own (the store keeps none).
pub(in crate::service) fn wallet_key(secrets: &SubmissionSecrets) -> Result<WalletKey, KeyError> {
    WalletKey::from_hex(&secrets.view_key, &secrets.spend_public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> SubmissionSecrets {
        SubmissionSecrets {
            view_key: "11".repeat(32),
            spend_public_key: "22".repeat(32),
            birthday: 7,
            wallet_password: "pw".into(),
            job_secret: "33".repeat(32),
            timestamp: 1,
        }
    }

    fn key() -> ServerKey {
        ServerKey::generate(&mut rand::thread_rng())
    }

    #[test]
    fn a_stored_envelope_opens_with_its_server_key_only_and_in_todays_format_only() {
        let (server, other) = (ServerKeys::single(key()), ServerKeys::single(key()));
        let sealed = seal_to_self(&server, &secrets()).unwrap();
        let parts = SealedParts {
            format: SUBMISSION_FORMAT,
            sealed_envelope: sealed.to_bytes(),
        };
        assert_eq!(open_stored(&server, &parts).unwrap().secrets.birthday, 7);
        assert!(matches!(open_stored(&other, &parts), Err(OpenError::Seal(_))));
        let old = SealedParts {
            format: 1,
            sealed_envelope: sealed.to_bytes(),
        };
        assert!(matches!(open_stored(&server, &old), Err(OpenError::Seal(_))));
        let mut torn = sealed.to_bytes();
        let last = torn.len() - 1;
        torn[last] ^= 1;
        let torn = SealedParts {
            format: SUBMISSION_FORMAT,
            sealed_envelope: torn,
        };
        assert!(matches!(open_stored(&server, &torn), Err(OpenError::Seal(_))));
    }

    /// After a rotation the previous key still opens what was sealed to it, named or not, and a key
    /// the server no longer holds is named as such.
    #[test]
    fn each_key_held_opens_its_boxes_and_a_named_key_picks_it() {
        let (old, new) = (key(), key());
        let sealed_to_old = seal_to_self(&ServerKeys::single(old.clone()), &secrets()).unwrap();
        let rotated = ServerKeys::for_tests(new.clone(), None, Some(old.clone()));
        let opened = open(&rotated, None, &sealed_to_old).unwrap();
        assert_eq!((opened.key, opened.secrets.birthday), (KeyRole::Previous, 7));
        let named = open(&rotated, Some(&old.key_id()), &sealed_to_old).unwrap();
        assert_eq!(named.key, KeyRole::Previous);
        // Named wrongly: the named key alone is tried.
        assert!(matches!(
            open(&rotated, Some(&new.key_id()), &sealed_to_old),
            Err(OpenError::Seal(SealError::Open))
        ));
        let dropped = ServerKeys::single(new.clone());
        assert!(matches!(
            open(&dropped, Some(&old.key_id()), &sealed_to_old),
            Err(OpenError::UnknownKey)
        ));
        assert!(matches!(
            open(&dropped, None, &sealed_to_old),
            Err(OpenError::Seal(SealError::Open))
        ));
        // A replica that holds the new key as `next` opens what a rotated replica sealed.
        let sealed_to_new = seal_to_self(&dropped, &secrets()).unwrap();
        let ahead = ServerKeys::for_tests(old, Some(new), None);
        assert_eq!(open(&ahead, None, &sealed_to_new).unwrap().key, KeyRole::Next);
    }
}
