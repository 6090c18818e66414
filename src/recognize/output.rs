//! Output view and recognition result: what the recogniser reads from one output and what it reports
//! when the output is ours. Borrowed views, so a memory-mapped cache can be scanned without copies.

use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroize;

use super::STORED_OFFSET_LEN;

/// The fields of one output that recognition needs, borrowed from wherever they live.
#[derive(Debug, Clone, Copy)]
pub struct OutputView<'a> {
    /// Pedersen commitment `C`, compressed.
    pub commitment: &'a [u8; 32],
    /// Sender offset public key `R`, compressed.
    pub sender_offset_public_key: &'a [u8; 32],
    /// `R` as the cache stores it, decompressed at ingest (`stored_offset::encode` of the key above);
    /// `None` to decompress it here.
    pub stored_offset: Option<&'a [u8; STORED_OFFSET_LEN]>,
    /// The output's `encrypted_data` bytes.
    pub encrypted_data: &'a [u8],
    /// The serialized script (opcodes), when known; only used to classify a hit.
    pub script: Option<&'a [u8]>,
}

/// Which key opened the encrypted data (Tari's `RecoveryProvenance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// Opened with the view key itself: change, sends to self, coin splits, burns. The memo is ours.
    OwnViewKey,
    /// Opened with the Diffie-Hellman key of the view key and `R`: one-sided, stealth and coinbase
    /// payments. The memo is a claim by the sender.
    DiffieHellman,
}

/// How an owned output's script can be spent; ownership never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptClass {
    /// `PushPubKey(S + H(mask)·G)`: a stealth output, spendable with the spend key plus the tweak.
    Stealth,
    /// `PushPubKey(S)`: spendable with the spend key.
    SpendKey,
    /// `Nop`: legacy script.
    Nop,
    /// Anything else (multisig, HTLC, custom): owned value under a non-standard script.
    Other,
}

/// One of our outputs, opened.
#[derive(Debug, Clone)]
pub struct Recognized {
    /// Index into the `outputs` slice given to the recogniser.
    pub output_index: usize,
    /// Index into the `keys` slice given to the recogniser.
    pub key_index: usize,
    pub value: u64,
    /// Commitment mask (blinding factor); checked to open the commitment with `value`.
    pub mask: Scalar,
    /// The decrypted memo bytes; [`Recognized::memo`] reads them as Tari does.
    pub memo_bytes: Vec<u8>,
    pub provenance: Provenance,
    /// For Diffie-Hellman hits: whether the mask is the standard `k_mask(v·R)` (Tari's
    /// `TariKeyId::DHCommitmentMask`), rather than a mask the sender chose and encrypted.
    pub mask_from_shared_secret: bool,
    /// `None` when no script was given.
    pub script_class: Option<ScriptClass>,
}

impl Drop for Recognized {
    fn drop(&mut self) {
        self.mask.zeroize();
    }
}
