//! Seal: the envelope a wallet puts a secret in (its private view key, its wallet password) so that only
//! the server holding the sealing key can open it, through any TLS-terminating proxy and at rest in the
//! job store. Owns the exact construction (both `seal` and `open`) and the server key pair type; it does
//! not store keys nor decide which fields must be sealed.
//!
//! Construction, version 1 (`docs/API.md` repeats it for client authors):
//! ```text
//! S  = s·G                 the server's public sealing key (compressed Ristretto, 32 bytes)
//! e  = random scalar, E = e·G   (ephemeral, one per sealed value)
//! X  = compress(e·S) = compress(s·E)         (the identity is refused)
//! k  = BLAKE2b-256("tari-wallet-sync/seal/v1" || E || S || X)    unkeyed, 32-byte output
//! c  = XChaCha20-Poly1305(key k, nonce n (24 random bytes), aad label, plaintext)   (c ends with the tag)
//! label = "view_key" | "wallet_password"   (binds a box to its field: boxes cannot be swapped)
//! ```
//! The server also seals the key of each finished file it keeps on disk to a key pair derived from the
//! job's bearer token, with label `"result_file_key/" || job_id` (`LABEL_RESULT_FILE_KEY`).
//! On the wire each box is `{ephemeral_public_key: hex(E), nonce: hex(n), ciphertext: hex(c)}`.

use blake2::{Blake2b, Digest, digest::consts::U32};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Domain separation of the key derivation.
pub const KDF_DOMAIN: &[u8] = b"tari-wallet-sync/seal/v1";
/// Domain separation of the key id.
const KEY_ID_DOMAIN: &[u8] = b"tari-wallet-sync/key-id/v1";
/// Label (AEAD associated data) of a sealed private view key.
pub const LABEL_VIEW_KEY: &[u8] = b"view_key";
/// Label (AEAD associated data) of a sealed wallet password.
pub const LABEL_WALLET_PASSWORD: &[u8] = b"wallet_password";
/// Label of a finished file's key sealed to a token's result key, followed by `/` and the job id, so a
/// sealed file key opens for its own job only (the service's `result_store`).
pub const LABEL_RESULT_FILE_KEY: &[u8] = b"result_file_key";
pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// Longest plaintext a box may carry: a submission envelope with a password of up to 4 KiB (the most a
/// wallet file accepts) and its other fields fits, as long as the password needs little JSON escaping
/// (quotes, backslashes and control characters take two to six bytes). `seal` refuses anything longer
/// with `TooLong`, which callers must answer as the input's fault: it is reachable from a request.
pub const MAX_PLAINTEXT_LEN: usize = 5120;

/// Why a box could not be made or opened. Never carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed box's {0} is not valid hex")]
    NotHex(&'static str),
    #[error("the sealed box's {field} must be {expected} bytes, got {got}")]
    Length {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the sealed box's ciphertext must be {min} to {max} bytes, got {got}")]
    CiphertextLength { min: usize, max: usize, got: usize },
    #[error("the sealed box's ephemeral public key is not a valid Ristretto point")]
    InvalidEphemeralKey,
    #[error(
        "the sealed box does not open with this server's key (sealed to another key, altered, or for another field)"
    )]
    Open,
    #[error("the server public key is not a valid Ristretto point")]
    InvalidServerKey,
    #[error("the plaintext is longer than {MAX_PLAINTEXT_LEN} bytes")]
    TooLong,
}

impl SealError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        "BAD_SEAL"
    }
}

/// A sealed box as JSON carries it: three hex strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBox {
    pub ephemeral_public_key: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// A sealed box parsed: what the job store keeps (`to_bytes`) until the scan opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ephemeral_public_key: [u8; 32],
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// Parses the wire form; checks lengths only (opening checks the rest).
    pub fn from_wire(wire: &SealedBox) -> Result<Sealed, SealError> {
        let ephemeral_public_key = fixed::<32>(&wire.ephemeral_public_key, "ephemeral_public_key")?;
        let nonce = fixed::<NONCE_LEN>(&wire.nonce, "nonce")?;
        let ciphertext = hex::decode(wire.ciphertext.trim()).map_err(|_| SealError::NotHex("ciphertext"))?;
        let (min, max) = (TAG_LEN, MAX_PLAINTEXT_LEN + TAG_LEN);
        if !(min..=max).contains(&ciphertext.len()) {
            return Err(SealError::CiphertextLength {
                min,
                max,
                got: ciphertext.len(),
            });
        }
        Ok(Sealed {
            ephemeral_public_key,
            nonce,
            ciphertext,
        })
    }

    pub fn to_wire(&self) -> SealedBox {
        SealedBox {
            ephemeral_public_key: hex::encode(self.ephemeral_public_key),
            nonce: hex::encode(self.nonce),
            ciphertext: hex::encode(&self.ciphertext),
        }
    }

    /// `E || n || c`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.ephemeral_public_key[..], &self.nonce, &self.ciphertext].concat()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Sealed, SealError> {
        if bytes.len() < 32 + NONCE_LEN + TAG_LEN {
            return Err(SealError::CiphertextLength {
                min: TAG_LEN,
                max: MAX_PLAINTEXT_LEN + TAG_LEN,
                got: bytes.len().saturating_sub(32 + NONCE_LEN),
            });
        }
        let (e, rest) = bytes.split_at(32);
        let (n, c) = rest.split_at(NONCE_LEN);
        Ok(Sealed {
            ephemeral_public_key: e.try_into().expect("split at 32"),
            nonce: n.try_into().expect("split at 24"),
            ciphertext: c.to_vec(),
        })
    }
}

fn fixed<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], SealError> {
    let bytes = hex::decode(text.trim()).map_err(|_| SealError::NotHex(field))?;
    bytes.as_slice().try_into().map_err(|_| SealError::Length {
        field,
        expected: N,
        got: bytes.len(),
    })
}

/// The server's sealing key pair. Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ServerKey {
    secret: Scalar,
    #[zeroize(skip)]
    public: [u8; 32],
}

impl ServerKey {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> ServerKey {
        let secret = random_nonzero_scalar(rng);
        ServerKey::from_scalar(secret)
    }

    /// From the 32 secret bytes as stored: a canonical non-zero scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<ServerKey> {
        let secret = Option::<Scalar>::from(Scalar::from_canonical_bytes(*bytes))?;
        (secret != Scalar::ZERO).then(|| ServerKey::from_scalar(secret))
    }

    fn from_scalar(secret: Scalar) -> ServerKey {
        let public = RistrettoPoint::mul_base(&secret).compress().to_bytes();
        ServerKey { secret, public }
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// A short public name of the key (16 hex characters), so a client can tell a rotated key.
    pub fn key_id(&self) -> String {
        key_id(&self.public)
    }

    /// Opens a box sealed to this key under `label`.
    pub fn open(&self, label: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let ephemeral = CompressedRistretto(sealed.ephemeral_public_key)
            .decompress()
            .ok_or(SealError::InvalidEphemeralKey)?;
        let shared = (self.secret * ephemeral).compress();
        if shared == CompressedRistretto::default() {
            return Err(SealError::InvalidEphemeralKey);
        }
        let key = derive_key(&sealed.ephemeral_public_key, &self.public, shared.as_bytes());
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: label,
        };
        cipher
            .decrypt(XNonce::from_slice(&sealed.nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("secret", &"<redacted>")
            .field("public", &hex::encode(self.public))
            .finish()
    }
}

/// The key id of a server public key.
pub fn key_id(server_public: &[u8; 32]) -> String {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(KEY_ID_DOMAIN);
    hasher.update(server_public);
    hex::encode(&hasher.finalize()[..8])
}

/// `k = BLAKE2b-256(KDF_DOMAIN || E || S || X)`.
fn derive_key(ephemeral: &[u8; 32], server: &[u8; 32], shared: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(KDF_DOMAIN);
    hasher.update(ephemeral);
    hasher.update(server);
    hasher.update(shared);
    Zeroizing::new(hasher.finalize().into())
}

fn random_nonzero_scalar<R: RngCore + CryptoRng>(rng: &mut R) -> Scalar {
    loop {
        let mut wide = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(wide.as_mut());
        let scalar = Scalar::from_bytes_mod_order_wide(&wide);
        if scalar != Scalar::ZERO {
            return scalar;
        }
    }
}

/// Seals `plaintext` under `label` to the server public key `server_public`, with the operating system's
/// randomness.
pub fn seal(server_public: &[u8; 32], label: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
    seal_with_rng(&mut rand::rngs::OsRng, server_public, label, plaintext)
}

/// `seal` with a chosen random source (tests pin it for golden vectors).
pub fn seal_with_rng<R: RngCore + CryptoRng>(
    rng: &mut R,
    server_public: &[u8; 32],
    label: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, SealError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(SealError::TooLong);
    }
    let server = CompressedRistretto(*server_public)
        .decompress()
        .filter(|p| p.compress() != CompressedRistretto::default())
        .ok_or(SealError::InvalidServerKey)?;
    let ephemeral_secret = random_nonzero_scalar(rng);
    let ephemeral_public_key = RistrettoPoint::mul_base(&ephemeral_secret).compress().to_bytes();
    let shared = (ephemeral_secret * server).compress();
    let key = derive_key(&ephemeral_public_key, server_public, shared.as_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: label,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any length we allow");
    Ok(Sealed {
        ephemeral_public_key,
        nonce,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn server() -> ServerKey {
        ServerKey::from_bytes(&[9u8; 32]).unwrap()
    }

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let server = server();
        let sealed = seal(&server.public_key(), LABEL_VIEW_KEY, &[7u8; 32]).unwrap();
        assert_eq!(sealed.ciphertext.len(), 32 + TAG_LEN);
        assert_eq!(&server.open(LABEL_VIEW_KEY, &sealed).unwrap()[..], &[7u8; 32]);
        // Another field's label, another server, a flipped bit: all refused alike.
        assert_eq!(server.open(LABEL_WALLET_PASSWORD, &sealed), Err(SealError::Open));
        let other = ServerKey::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(other.open(LABEL_VIEW_KEY, &sealed), Err(SealError::Open));
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(server.open(LABEL_VIEW_KEY, &altered), Err(SealError::Open));
    }

    #[test]
    fn the_wire_and_store_forms_round_trip_and_check_lengths() {
        let sealed = seal(&server().public_key(), LABEL_VIEW_KEY, b"secret").unwrap();
        assert_eq!(Sealed::from_wire(&sealed.to_wire()).unwrap(), sealed);
        assert_eq!(Sealed::from_bytes(&sealed.to_bytes()).unwrap(), sealed);
        let mut wire = sealed.to_wire();
        wire.nonce.push_str("00");
        assert_eq!(
            Sealed::from_wire(&wire),
            Err(SealError::Length {
                field: "nonce",
                expected: 24,
                got: 25
            })
        );
        wire = sealed.to_wire();
        wire.ciphertext = "zz".into();
        assert_eq!(Sealed::from_wire(&wire), Err(SealError::NotHex("ciphertext")));
    }

    /// A plaintext one byte over the bound is an error, never a panic (a plain submission is sealed to
    /// the server's own key on the request's task).
    #[test]
    fn refuses_a_plaintext_over_the_bound() {
        let server = server();
        let longest = vec![b'a'; MAX_PLAINTEXT_LEN];
        let sealed = seal(&server.public_key(), LABEL_VIEW_KEY, &longest).unwrap();
        assert_eq!(sealed.ciphertext.len(), MAX_PLAINTEXT_LEN + TAG_LEN);
        assert_eq!(Sealed::from_wire(&sealed.to_wire()).unwrap(), sealed);
        let over = vec![b'a'; MAX_PLAINTEXT_LEN + 1];
        assert_eq!(
            seal(&server.public_key(), LABEL_VIEW_KEY, &over),
            Err(SealError::TooLong)
        );
    }

    #[test]
    fn refuses_an_invalid_ephemeral_point() {
        let mut sealed = seal(&server().public_key(), LABEL_VIEW_KEY, b"x").unwrap();
        sealed.ephemeral_public_key = [0xff; 32];
        assert_eq!(
            server().open(LABEL_VIEW_KEY, &sealed),
            Err(SealError::InvalidEphemeralKey)
        );
        sealed.ephemeral_public_key = [0; 32];
        assert_eq!(
            server().open(LABEL_VIEW_KEY, &sealed),
            Err(SealError::InvalidEphemeralKey)
        );
    }

    /// Pins the construction: a change to the KDF, the labels or the AEAD breaks every client.
    #[test]
    fn golden_vector() {
        let mut rng = rand_chacha_free_rng();
        let sealed = seal_with_rng(&mut rng, &server().public_key(), LABEL_VIEW_KEY, &[1u8; 32]).unwrap();
        let bytes = hex::encode(sealed.to_bytes());
        assert_eq!(bytes, GOLDEN, "the seal construction changed");
        assert_eq!(server().key_id().len(), 16);
    }

    /// A deterministic CryptoRng from rand's StdRng (ChaCha12), seeded.
    fn rand_chacha_free_rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(5)
    }

    const GOLDEN: &str = "9a603f8a497f45dd3db6967d03d797e42f395a9ba75510083371be1eb64bf05fe216986d9e3517822d01881ed1\
                          2533cf7429a193c3eac38817e61868ac5ae8d1eaa9e8c17796191a0d61ee42826369741abdf8b5f22ec698\
                          43f8bf5ba770c5dfb98a634b72db184b";
}
