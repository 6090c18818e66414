//! Envelope: the one place a submission's sealed envelope is opened with the server key, at admission
//! (to check what it carries) and when its scan starts (to use it), and the one parser its keys are read
//! with, so what passed at admission opens at the scan. Also the one place a plain submission is sealed
//! to the server's own key. The HTTP layer hands the envelope over as it came (`http::submit`); the store
//! keeps its bytes sealed (`store`).

use tari_wallet_sync_sse::{
    envelope::{LABEL_SUBMISSION, SubmissionSecrets},
    seal::{SealError, Sealed, ServerKey, seal},
};

use crate::{
    recognize::{KeyError, WalletKey},
    service::jobs::store::{SUBMISSION_FORMAT, SealedParts},
};

/// Why an envelope did not open.
#[derive(Debug)]
pub(in crate::service) enum OpenError {
    /// Not sealed to this server key, or tampered with (or a stored row not in today's format).
    Seal(SealError),
    /// It opened, but what it holds is not a submission's secrets.
    Contents,
}

/// Opens a submission's envelope with the server key.
pub(in crate::service) fn open(server_key: &ServerKey, sealed: &Sealed) -> Result<SubmissionSecrets, OpenError> {
    let opened = server_key.open(LABEL_SUBMISSION, sealed).map_err(OpenError::Seal)?;
    SubmissionSecrets::from_plaintext(&opened).map_err(|_| OpenError::Contents)
}

/// Opens a job's envelope as the store kept it.
pub(in crate::service) fn open_stored(
    server_key: &ServerKey,
    parts: &SealedParts,
) -> Result<SubmissionSecrets, OpenError> {
    if parts.format != SUBMISSION_FORMAT {
        // The SQLite store's migration 7 failed every format-1 job still holding keys; a row of another
        // format is not ours.
        return Err(OpenError::Seal(SealError::Open));
    }
    let sealed = Sealed::from_bytes(&parts.sealed_envelope).map_err(OpenError::Seal)?;
    open(server_key, &sealed)
}

/// Seals a plain submission's secrets to the server's own key, so the store never holds them in the
/// clear. `SealError::TooLong` for a plaintext no box holds.
pub(in crate::service) fn seal_to_self(
    server_key: &ServerKey,
    secrets: &SubmissionSecrets,
) -> Result<Sealed, SealError> {
    seal(&server_key.public_key(), LABEL_SUBMISSION, &secrets.to_plaintext())
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

    #[test]
    fn a_stored_envelope_opens_with_its_server_key_only_and_in_todays_format_only() {
        let mut rng = rand::thread_rng();
        let (server, other) = (ServerKey::generate(&mut rng), ServerKey::generate(&mut rng));
        let sealed = seal_to_self(&server, &secrets()).unwrap();
        let parts = SealedParts {
            format: SUBMISSION_FORMAT,
            sealed_envelope: sealed.to_bytes(),
        };
        assert_eq!(open_stored(&server, &parts).unwrap().birthday, 7);
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
}
