//! Recognition: decides whether an output belongs to a view key and opens it (value, mask, memo), exactly
//! as Tari's `KeyManager::try_output_key_recovery` does. Pure computation: no I/O, no threads.
//!
//! Per output and key: try the view key itself on the encrypted data; failing that, the Diffie-Hellman
//! key `k_enc(v·R)`. A decryption counts only when the mask is canonical and opens the commitment.
//!
//! Layout: `batch` orders the work of a chunk; `shared` computes its Diffie-Hellman products `(v/2)·R`
//! (per key with dalek, or from per-output tables shared by the keys) on the lanes of `field`; `aead`,
//! `kdf`, `tag` and `opening` are the protocol's steps; `stored_offset` reads `R` as the cache stores it; `memo`
//! reads a hit's memo with the Tari crates' type, the only module that needs them (the rest also builds
//! alone, in `tools/recognize-fallback`).

mod aead;
mod batch;
mod field;
mod kdf;
mod key;
mod memo;
mod opening;
mod output;
mod shared;
#[doc(hidden)]
pub mod steps;
pub mod stored_offset;
mod tag;

pub use aead::{MAX_ENCRYPTED_DATA_LEN, MAX_MEMO_LEN, MIN_ENCRYPTED_DATA_LEN, valid_length};
pub use batch::{CHUNK, Recognizer};
pub use key::{KeyError, WalletKey};
pub use output::{OutputView, Provenance, Recognized, ScriptClass};
pub use shared::{LaneKind, Multiplication, vector_lanes_enabled};
pub use stored_offset::STORED_OFFSET_LEN;
