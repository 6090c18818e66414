//! Envelope: one sealed submission (version 2). Everything a submission must not let anyone read or
//! swap travels in one box sealed to the server's key (`seal`, label `submission/v2`): the private view
//! key, the public spend key, the birthday, the wallet password, a job secret the client chose and a
//! timestamp. The server opens it, refuses a box whose ephemeral key it has seen before or whose
//! timestamp is outside its window, and never hands out a credential: the bearer token derives from the
//! job secret, which only the client knows. Owns the plaintext's JSON, the wire body and the token
//! derivation, for the server and for wallet apps alike; the sealing itself is `seal`'s.
//!
//! ```text
//! plaintext = JSON { view_key: hex(32), spend_public_key: hex(32), birthday: u64, wallet_password: str,
//!                    job_secret: hex(32), timestamp: unix seconds }
//! body      = JSON { version: 2, key_id: str, envelope: SealedBox(label "submission/v2", plaintext) }
//! token     = hex(BLAKE2b-256("tari-wallet-sync/token/v2" || job_secret))
//! ```

use blake2::{Blake2b, Digest, digest::consts::U32};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::seal::{SealError, Sealed, SealedBox, seal_with_rng};

/// The submission format this module speaks.
pub const SUBMISSION_VERSION: u32 = 2;
/// Label (AEAD associated data) of a sealed submission.
pub const LABEL_SUBMISSION: &[u8] = b"submission/v2";
/// Domain separation of the bearer token's derivation from the job secret.
pub const TOKEN_DOMAIN: &[u8] = b"tari-wallet-sync/token/v2";

/// What a submission seals. Zeroized on drop; `Debug` shows nothing secret.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct SubmissionSecrets {
    /// The private view key, 64 hex characters (the 32 little-endian scalar bytes).
    pub view_key: String,
    /// The public spend key, 64 hex characters (compressed Ristretto).
    pub spend_public_key: String,
    /// Wallet creation height: nothing earlier is scanned.
    pub birthday: u64,
    /// The password the wallet file is sealed with (required: a file without one holds the view key in
    /// effect in the clear).
    pub wallet_password: String,
    /// 32 random bytes as hex, chosen by the client for this submission: the job's bearer token derives
    /// from it, so only the client can use the job.
    pub job_secret: String,
    /// Unix seconds when the client sealed the envelope; outside the server's window it is refused.
    pub timestamp: u64,
}

impl std::fmt::Debug for SubmissionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmissionSecrets")
            .field("spend_public_key", &self.spend_public_key)
            .field("birthday", &self.birthday)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /api/v1/wallet/sync`, version 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitBody {
    pub version: u32,
    /// The server key id the envelope was sealed to (tells a rotated key from a damaged box).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub envelope: SealedBox,
}

impl SubmissionSecrets {
    /// Secrets for a new submission of `view_key` (32 bytes) with a fresh random job secret and the
    /// current time.
    pub fn new(view_key: &[u8], spend_public_key: &[u8], birthday: u64, wallet_password: &str) -> SubmissionSecrets {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        SubmissionSecrets {
            view_key: hex::encode(view_key),
            spend_public_key: hex::encode(spend_public_key),
            birthday,
            wallet_password: wallet_password.to_owned(),
            job_secret: hex::encode(secret.as_ref()),
            timestamp: unix_now(),
        }
    }

    /// The bearer token of the job this submission makes, or `None` if the job secret is not 32 bytes
    /// of hex.
    pub fn token(&self) -> Option<Zeroizing<String>> {
        let secret = Zeroizing::new(hex::decode(&self.job_secret).ok()?);
        let secret: &[u8; 32] = secret.as_slice().try_into().ok()?;
        Some(token_from_job_secret(secret))
    }

    /// The plaintext the envelope seals.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).expect("plain strings and numbers serialize"))
    }

    /// Reads an opened envelope's plaintext.
    pub fn from_plaintext(plaintext: &[u8]) -> Result<SubmissionSecrets, serde_json::Error> {
        serde_json::from_slice(plaintext)
    }

    /// Seals the secrets to the server key `server_public` (key id `key_id`): the body to send.
    pub fn seal(&self, server_public: &[u8; 32], key_id: Option<&str>) -> Result<SubmitBody, SealError> {
        self.seal_with_rng(&mut rand::rngs::OsRng, server_public, key_id)
    }

    /// `seal` with a chosen random source (tests pin it for golden vectors).
    pub fn seal_with_rng<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        server_public: &[u8; 32],
        key_id: Option<&str>,
    ) -> Result<SubmitBody, SealError> {
        let sealed: Sealed = seal_with_rng(rng, server_public, LABEL_SUBMISSION, &self.to_plaintext())?;
        Ok(SubmitBody {
            version: SUBMISSION_VERSION,
            key_id: key_id.map(str::to_owned),
            envelope: sealed.to_wire(),
        })
    }
}

/// `hex(BLAKE2b-256(TOKEN_DOMAIN || job_secret))`: the bearer token of a job, derived by the client
/// from its job secret; the server keeps only a hash of it.
pub fn token_from_job_secret(job_secret: &[u8; 32]) -> Zeroizing<String> {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(TOKEN_DOMAIN);
    hasher.update(job_secret);
    Zeroizing::new(hex::encode(hasher.finalize()))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::seal::ServerKey;

    fn secrets() -> SubmissionSecrets {
        SubmissionSecrets {
            view_key: "01".repeat(32),
            spend_public_key: "e2".repeat(32),
            birthday: 7,
            wallet_password: "correct horse".into(),
            job_secret: "0a".repeat(32),
            timestamp: 1_800_000_000,
        }
    }

    #[test]
    fn opens_to_the_same_secrets_and_the_token_derives_from_the_job_secret() {
        let server = ServerKey::from_bytes(&[9u8; 32]).unwrap();
        let body = secrets().seal(&server.public_key(), Some(&server.key_id())).unwrap();
        assert_eq!(body.version, 2);
        let sealed = Sealed::from_wire(&body.envelope).unwrap();
        let opened = server.open(LABEL_SUBMISSION, &sealed).unwrap();
        let back = SubmissionSecrets::from_plaintext(&opened).unwrap();
        assert_eq!(back.to_plaintext(), secrets().to_plaintext());
        assert_eq!(back.token().unwrap(), token_from_job_secret(&[0x0a; 32]));
        // Another label (a v1 view-key box) does not open as a submission, nor the other way round.
        assert!(server.open(crate::seal::LABEL_VIEW_KEY, &sealed).is_err());
        let mut bad = secrets();
        bad.job_secret = "0a".repeat(31);
        assert!(bad.token().is_none());
        assert!(!format!("{:?}", secrets()).contains("correct horse"));
    }

    #[test]
    fn unknown_plaintext_fields_are_refused() {
        let text = br#"{"view_key":"","spend_public_key":"","birthday":0,"wallet_password":"","job_secret":"","timestamp":0,"extra":1}"#;
        assert!(SubmissionSecrets::from_plaintext(text).is_err());
    }

    /// Pins the envelope: a change to the plaintext's JSON, the label or the token derivation breaks
    /// every client (docs/API.md repeats these values).
    #[test]
    fn golden_vector() {
        let server = ServerKey::from_bytes(&[9u8; 32]).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let body = secrets().seal_with_rng(&mut rng, &server.public_key(), None).unwrap();
        let plaintext = String::from_utf8(secrets().to_plaintext().to_vec()).unwrap();
        assert_eq!(
            plaintext,
            format!(
                r#"{{"view_key":"{}","spend_public_key":"{}","birthday":7,"wallet_password":"correct horse","job_secret":"{}","timestamp":1800000000}}"#,
                "01".repeat(32),
                "e2".repeat(32),
                "0a".repeat(32)
            )
        );
        assert_eq!(
            token_from_job_secret(&[0x0a; 32]).as_str(),
            GOLDEN_TOKEN,
            "the token derivation changed"
        );
        let sealed = Sealed::from_wire(&body.envelope).unwrap();
        assert_eq!(&hex::encode(sealed.ephemeral_public_key), GOLDEN_EPHEMERAL);
        assert_eq!(hex::encode(&sealed.ciphertext[..16]), GOLDEN_CIPHERTEXT_START);
    }

    const GOLDEN_TOKEN: &str = "248c2fe73c6bcea7981adbd15c3a912799bd7d8de6416dd396125183f8a7c139";
    const GOLDEN_EPHEMERAL: &str = "9a603f8a497f45dd3db6967d03d797e42f395a9ba75510083371be1eb64bf05f";
    const GOLDEN_CIPHERTEXT_START: &str = "6dc56f00c82cb6bb8ed1cbfa54a7292b";
}
