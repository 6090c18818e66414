//! Wallet key: the private view key and public spend key one scan works with. It owns validation of
//! untrusted key bytes and the per-key precomputation; it never prints or keeps a copy of the secret.

use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Why key bytes were refused. Messages never echo the key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the private view key must be 32 bytes, got {0}")]
    ViewKeyLength(usize),
    #[error("the private view key is not a canonical scalar")]
    NonCanonicalViewKey,
    #[error("the private view key is zero")]
    ZeroViewKey,
    #[error("the public spend key must be 32 bytes, got {0}")]
    SpendKeyLength(usize),
    #[error("the public spend key is not a valid Ristretto point")]
    InvalidSpendKey,
    #[error("the public spend key is the identity point")]
    IdentitySpendKey,
    #[error("a key is not valid hex")]
    NotHex,
}

impl KeyError {
    /// Stable machine-readable code for APIs and CLIs.
    pub fn code(self) -> &'static str {
        match self {
            KeyError::ViewKeyLength(_) | KeyError::SpendKeyLength(_) => "KEY_LENGTH",
            KeyError::NonCanonicalViewKey => "NON_CANONICAL_SCALAR",
            KeyError::ZeroViewKey => "ZERO_VIEW_KEY",
            KeyError::InvalidSpendKey | KeyError::IdentitySpendKey => "INVALID_POINT",
            KeyError::NotHex => "NOT_HEX",
        }
    }
}

/// A wallet's private view key `v` and public spend key `S`, with what every scan step derives from them
/// computed once: `v/2` (the scanner multiplies by it and doubles in the batched compression), its
/// signed radix-16 digits (what our windowed multiplications consume) and `S` decompressed (for stealth
/// script classification). Zeroized on drop; `Debug` shows only the public half.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct WalletKey {
    view: Scalar,
    view_bytes: [u8; 32],
    view_half: Scalar,
    view_half_digits: [i8; 64],
    #[zeroize(skip)]
    spend_public: CompressedRistretto,
    #[zeroize(skip)]
    spend_point: RistrettoPoint,
}

impl WalletKey {
    /// Builds a key from untrusted bytes: the view key must be a canonical non-zero scalar, the spend key
    /// a valid non-identity compressed Ristretto point.
    pub fn from_bytes(view_key: &[u8], spend_public_key: &[u8]) -> Result<Self, KeyError> {
        let mut view_bytes: [u8; 32] = view_key
            .try_into()
            .map_err(|_| KeyError::ViewKeyLength(view_key.len()))?;
        let parsed = Option::<Scalar>::from(Scalar::from_canonical_bytes(view_bytes));
        let Some(view) = parsed else {
            view_bytes.zeroize();
            return Err(KeyError::NonCanonicalViewKey);
        };
        if view == Scalar::ZERO {
            return Err(KeyError::ZeroViewKey);
        }
        let spend_bytes: [u8; 32] = spend_public_key
            .try_into()
            .map_err(|_| KeyError::SpendKeyLength(spend_public_key.len()))?;
        if spend_bytes == [0u8; 32] {
            return Err(KeyError::IdentitySpendKey);
        }
        let spend_public = CompressedRistretto(spend_bytes);
        let spend_point = spend_public.decompress().ok_or(KeyError::InvalidSpendKey)?;
        let view_half = view * Scalar::from(2u8).invert();
        let view_half_digits = super::shared::signed_radix_16(view_half.as_bytes());
        Ok(WalletKey {
            view,
            view_bytes,
            view_half,
            view_half_digits,
            spend_public,
            spend_point,
        })
    }

    /// Builds a key from hex strings (64 hex characters each). The hex buffer is zeroized.
    pub fn from_hex(view_key_hex: &str, spend_public_key_hex: &str) -> Result<Self, KeyError> {
        let mut view = zeroize::Zeroizing::new(hex::decode(view_key_hex.trim()).map_err(|_| KeyError::NotHex)?);
        let spend = hex::decode(spend_public_key_hex.trim()).map_err(|_| KeyError::NotHex)?;
        let key = Self::from_bytes(&view, &spend);
        view.zeroize();
        key
    }

    /// The public spend key `S` as given.
    /// How an owned output's script can be spent with this wallet's keys (its mask gives the stealth
    /// tweak): for callers that learn the script only after recognition (a light cache).
    pub fn classify_script(&self, script: &[u8], mask: &Scalar) -> super::ScriptClass {
        super::opening::classify_script(script, &self.spend_public, &self.spend_point, mask.as_bytes())
    }

    pub fn spend_public_key(&self) -> &CompressedRistretto {
        &self.spend_public
    }

    /// The public view key `v·G`: safe to show, identifies the wallet.
    pub fn public_view_key(&self) -> CompressedRistretto {
        RistrettoPoint::mul_base(&self.view).compress()
    }

    pub(crate) fn view_bytes(&self) -> &[u8; 32] {
        &self.view_bytes
    }

    pub(crate) fn view_half(&self) -> &Scalar {
        &self.view_half
    }

    pub(crate) fn view_half_digits(&self) -> &[i8; 64] {
        &self.view_half_digits
    }

    pub(crate) fn spend_point(&self) -> &RistrettoPoint {
        &self.spend_point
    }
}

impl std::fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletKey")
            .field("view", &"<redacted>")
            .field("spend_public", &hex::encode(self.spend_public.as_bytes()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEND: [u8; 32] = curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.0;

    #[test]
    fn accepts_a_canonical_view_key_and_a_valid_spend_key() {
        let key = WalletKey::from_bytes(&[7u8; 32], &SPEND).unwrap();
        assert_eq!(key.view, key.view_half() * Scalar::from(2u8));
        assert_eq!(key.spend_public_key().0, SPEND);
    }

    #[test]
    fn refuses_bad_key_bytes_with_distinct_errors() {
        assert_eq!(
            WalletKey::from_bytes(&[1u8; 31], &SPEND).unwrap_err(),
            KeyError::ViewKeyLength(31)
        );
        assert_eq!(
            WalletKey::from_bytes(&[0xffu8; 32], &SPEND).unwrap_err(),
            KeyError::NonCanonicalViewKey
        );
        assert_eq!(
            WalletKey::from_bytes(&[0u8; 32], &SPEND).unwrap_err(),
            KeyError::ZeroViewKey
        );
        assert_eq!(
            WalletKey::from_bytes(&[1u8; 32], &[1u8; 33]).unwrap_err(),
            KeyError::SpendKeyLength(33)
        );
        assert_eq!(
            WalletKey::from_bytes(&[1u8; 32], &[0u8; 32]).unwrap_err(),
            KeyError::IdentitySpendKey
        );
        // 0xff..ff is not a valid Ristretto encoding (not a canonical field element).
        assert_eq!(
            WalletKey::from_bytes(&[1u8; 32], &[0xffu8; 32]).unwrap_err(),
            KeyError::InvalidSpendKey
        );
        assert_eq!(WalletKey::from_hex("zz", "00").unwrap_err(), KeyError::NotHex);
    }

    #[test]
    fn debug_never_shows_the_view_key() {
        let key = WalletKey::from_bytes(&[0x0au8; 32], &SPEND).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([0x0au8; 32])));
        assert!(shown.contains("redacted"));
    }
}
