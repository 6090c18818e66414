//! Recognition: decides whether an output belongs to a view key and opens it (value, mask, memo), exactly
//! as Tari's `KeyManager::try_output_key_recovery` does. Pure computation: no I/O, no threads.
//!
//! Per output and key: try the view key itself on the encrypted data; failing that, the Diffie-Hellman
//! key `k_enc(v·R)`. A decryption counts only when the mask is canonical and opens the commitment.

mod aead;
mod batch;
mod kdf;
mod key;
mod opening;
mod output;
#[doc(hidden)]
pub mod steps;
pub mod stored_offset;

pub use aead::{MAX_ENCRYPTED_DATA_LEN, MAX_MEMO_LEN, MIN_ENCRYPTED_DATA_LEN, valid_length};
pub use batch::{CHUNK, Recognizer};
pub use key::{KeyError, WalletKey};
pub use output::{OutputView, Provenance, Recognized, ScriptClass};
pub use stored_offset::STORED_OFFSET_LEN;
