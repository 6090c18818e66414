//! Memo: a hit's memo bytes read as Tari reads them. The only part of recognition that needs the Tari
//! crates' types, kept apart so `tools/recognize-fallback` builds everything else without them.

use tari_transaction_components::transaction_components::MemoField;

use super::Recognized;

impl Recognized {
    /// The memo, parsed as the official key manager parses decrypted memo bytes (`MemoField::from_bytes`).
    pub fn memo(&self) -> MemoField {
        MemoField::from_bytes(&self.memo_bytes)
    }
}
