//! Encrypted data: opening an output's `encrypted_data` (tag ‖ XChaCha20 nonce ‖ ciphertext of value,
//! mask and memo) under one candidate key. Owns the byte layout and the size rules; not key derivation.

use chacha20poly1305::{AeadInPlace, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroize;

use super::{kdf, tag};

const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const VALUE_LEN: usize = 8;
const MASK_LEN: usize = 32;
/// Largest memo an output may carry.
pub const MAX_MEMO_LEN: usize = 256;
/// Smallest valid encrypted data: tag, nonce, value and mask with an empty memo.
pub const MIN_ENCRYPTED_DATA_LEN: usize = TAG_LEN + NONCE_LEN + VALUE_LEN + MASK_LEN;
/// Largest valid encrypted data.
pub const MAX_ENCRYPTED_DATA_LEN: usize = MIN_ENCRYPTED_DATA_LEN + MAX_MEMO_LEN;
const MAX_PLAINTEXT_LEN: usize = MAX_ENCRYPTED_DATA_LEN - TAG_LEN - NONCE_LEN;

/// Associated data of every output's AEAD.
const AAD: &[u8] = b"TARI_AAD_VALUE_AND_MASK_EXTEND_NONCE_VARIANT";

/// Whether `len` is a length Tari accepts for encrypted data; anything else cannot be an output of ours.
pub fn valid_length(len: usize) -> bool {
    (MIN_ENCRYPTED_DATA_LEN..=MAX_ENCRYPTED_DATA_LEN).contains(&len)
}

/// Reusable plaintext buffer, so a trial decryption never allocates. Zeroized after each use by `Opened`.
pub struct Plaintext {
    bytes: [u8; MAX_PLAINTEXT_LEN],
}

impl Default for Plaintext {
    fn default() -> Self {
        Plaintext {
            bytes: [0; MAX_PLAINTEXT_LEN],
        }
    }
}

/// A successful decryption, borrowed from the plaintext buffer; the buffer is wiped when this drops.
pub struct Opened<'a> {
    plain: &'a mut [u8],
}

impl Opened<'_> {
    pub fn value(&self) -> u64 {
        u64::from_le_bytes(self.plain[..VALUE_LEN].try_into().expect("fixed width"))
    }

    pub fn mask_bytes(&self) -> [u8; 32] {
        self.plain[VALUE_LEN..VALUE_LEN + MASK_LEN]
            .try_into()
            .expect("fixed width")
    }

    pub fn memo_bytes(&self) -> &[u8] {
        &self.plain[VALUE_LEN + MASK_LEN..]
    }
}

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.plain.zeroize();
    }
}

/// Whether the tag of `data` (of a valid length) verifies under the AEAD key `aead_key` (`tag`).
pub fn tag_verifies(aead_key: &[u8; 32], data: &[u8]) -> bool {
    let (tag, rest) = data.split_at(TAG_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    tag::verifies(
        aead_key,
        nonce.try_into().expect("24 bytes"),
        AAD,
        ciphertext,
        tag.try_into().expect("16 bytes"),
    )
}

/// The same check by the `chacha20poly1305` crate, the attempts' path before `tag` (the bench compares).
pub fn crate_tag_verifies(aead_key: &[u8; 32], data: &[u8], buffer: &mut Plaintext) -> bool {
    let (tag, rest) = data.split_at(TAG_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let plain = &mut buffer.bytes[..ciphertext.len()];
    plain.copy_from_slice(ciphertext);
    let verified = XChaCha20Poly1305::new(aead_key.into())
        .decrypt_in_place_detached(XNonce::from_slice(nonce), AAD, plain, Tag::from_slice(tag))
        .is_ok();
    plain.zeroize();
    verified
}

/// Tries to open `data` with the AEAD key derived from `key` and `commitment`. `None` when the length is
/// invalid or the tag does not verify; the tag is checked before anything is decrypted (by `tag`, then
/// again by the crate that decrypts).
pub fn open<'a>(key: &[u8; 32], commitment: &[u8; 32], data: &[u8], buffer: &'a mut Plaintext) -> Option<Opened<'a>> {
    if !valid_length(data.len()) {
        return None;
    }
    let (tag, rest) = data.split_at(TAG_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let mut aead_key = [0u8; 32];
    kdf::aead_key(key, commitment, &mut aead_key);
    // Nearly every attempt is a miss: settle it with the tag alone, at a fifth of the crate's cost.
    if !tag_verifies(&aead_key, data) {
        aead_key.zeroize();
        return None;
    }
    let cipher = XChaCha20Poly1305::new((&aead_key).into());
    aead_key.zeroize();
    let plain = &mut buffer.bytes[..ciphertext.len()];
    plain.copy_from_slice(ciphertext);
    match cipher.decrypt_in_place_detached(XNonce::from_slice(nonce), AAD, plain, Tag::from_slice(tag)) {
        Ok(()) => Some(Opened { plain }),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_match_tari() {
        assert_eq!(MIN_ENCRYPTED_DATA_LEN, 80);
        assert_eq!(MAX_ENCRYPTED_DATA_LEN, 336);
        assert!(!valid_length(79) && valid_length(80) && valid_length(336) && !valid_length(337));
    }

    #[test]
    fn garbage_never_opens_and_never_panics() {
        let mut buffer = Plaintext::default();
        for len in [0, 1, 16, 40, 79, 80, 81, 200, 336, 337, 1000] {
            let data = vec![0xa5u8; len];
            assert!(open(&[1; 32], &[2; 32], &data, &mut buffer).is_none());
        }
    }
}
