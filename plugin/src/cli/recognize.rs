//! `recognize`: runs the recogniser over outputs listed in a JSON file and prints the ones a view key
//! owns. A way to try recognition on real outputs (copied from a node or explorer) without a cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tari_wallet_sync::recognize::{OutputView, Provenance, Recognizer, ScriptClass};

use crate::secret_input::{read_secret, wallet_key};

#[derive(clap::Args)]
pub struct Args {
    /// JSON file: an array of objects with hex fields `commitment`, `sender_offset_public_key`,
    /// `encrypted_data` and optionally `script`.
    #[arg(long)]
    outputs: PathBuf,
    /// File holding the private view key as hex (`-` reads standard input).
    #[arg(long)]
    view_key_file: String,
    /// The wallet's public spend key, hex.
    #[arg(long)]
    spend_public_key: String,
}

#[derive(Deserialize)]
struct OutputJson {
    #[serde(with = "hex::serde")]
    commitment: [u8; 32],
    #[serde(with = "hex::serde")]
    sender_offset_public_key: [u8; 32],
    #[serde(with = "hex::serde")]
    encrypted_data: Vec<u8>,
    #[serde(default, with = "optional_hex")]
    script: Option<Vec<u8>>,
}

mod optional_hex {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| hex::decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[derive(Serialize)]
struct HitJson {
    index: usize,
    value: u64,
    mask: String,
    memo: String,
    provenance: Provenance,
    script_class: Option<ScriptClass>,
}

pub fn run(args: Args) -> Result<()> {
    let view_key = read_secret(&args.view_key_file, "view key")?;
    let key = wallet_key(&view_key, &args.spend_public_key)?;
    let text = std::fs::read_to_string(&args.outputs).with_context(|| format!("reading {}", args.outputs.display()))?;
    let outputs: Vec<OutputJson> =
        serde_json::from_str(&text).with_context(|| format!("parsing outputs from {}", args.outputs.display()))?;
    let views: Vec<OutputView<'_>> = outputs
        .iter()
        .map(|o| OutputView {
            commitment: &o.commitment,
            sender_offset_public_key: &o.sender_offset_public_key,
            stored_offset: None,
            encrypted_data: &o.encrypted_data,
            script: o.script.as_deref(),
        })
        .collect();
    let mut hits = Vec::new();
    Recognizer::new().scan(&views, std::slice::from_ref(&key), |hit| {
        hits.push(HitJson {
            index: hit.output_index,
            value: hit.value,
            mask: hex::encode(hit.mask.as_bytes()),
            memo: hit.memo().to_string(),
            provenance: hit.provenance,
            script_class: hit.script_class,
        })
    });
    let balance: u64 = hits.iter().map(|h| h.value).sum();
    println!(
        "{}",
        serde_json::json!({ "outputs_checked": views.len(), "owned": hits, "total_value": balance })
    );
    Ok(())
}
