//! Secret input: reads a key from a file or standard input so it never sits in shell history or the
//! process list. Returns zeroizing strings; never echoes what it read.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use tari_wallet_sync::recognize::WalletKey;
use zeroize::Zeroizing;

/// Reads a secret from `path`, or from standard input when `path` is `-`. Surrounding whitespace is
/// trimmed; an empty secret is an error.
pub fn read_secret(path: &str, what: &str) -> Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new(String::new());
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut raw)
            .with_context(|| format!("reading the {what} from standard input"))?;
    } else {
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_string(&mut raw))
            .with_context(|| format!("reading the {what} from {path}"))?;
    }
    let trimmed = Zeroizing::new(raw.trim().to_string());
    if trimmed.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(trimmed)
}

/// A wallet key from the view key's hex text and the public spend key's hex; the error names the
/// stable code and never the key.
pub fn wallet_key(view_key_hex: &str, spend_public_key: &str) -> Result<WalletKey> {
    WalletKey::from_hex(view_key_hex, spend_public_key).map_err(|e| anyhow!("{e} ({})", e.code()))
}
