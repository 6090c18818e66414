//! `src/recognize` of the main crate, module by module (paths relative to this directory), without `memo`.

#[path = "../../../../src/recognize/aead.rs"]
mod aead;
#[path = "../../../../src/recognize/batch.rs"]
mod batch;
#[path = "../../../../src/recognize/field/mod.rs"]
mod field;
#[path = "../../../../src/recognize/kdf.rs"]
mod kdf;
#[path = "../../../../src/recognize/key.rs"]
mod key;
#[path = "../../../../src/recognize/opening.rs"]
mod opening;
#[path = "../../../../src/recognize/output.rs"]
mod output;
#[path = "../../../../src/recognize/shared/mod.rs"]
mod shared;
#[path = "../../../../src/recognize/stored_offset.rs"]
pub mod stored_offset;
#[path = "../../../../src/recognize/tag.rs"]
mod tag;

pub use aead::valid_length;
pub use batch::{CHUNK, Recognizer};
pub use key::{KeyError, WalletKey};
pub use output::{OutputView, Provenance, Recognized, ScriptClass};
pub use shared::{LaneKind, Multiplication, vector_lanes_enabled};
pub use stored_offset::STORED_OFFSET_LEN;
