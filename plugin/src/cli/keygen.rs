//! `keygen`: writes a new sealing key file for a key rotation (`docs/fleet.md`): 0600, never over an
//! existing file, in the key file format the service reads (`server_key_file` and its rotation
//! siblings). Prints the key's public id and public key; the secret never leaves the file.

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// The new key file (refused if anything is there already).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let key = tari_wallet_sync::service::generate_key_file(&args.out)
        .with_context(|| format!("writing a new sealing key to {}", args.out.display()))?;
    println!("wrote {} (0600)", args.out.display());
    println!("key_id: {}", key.key_id());
    println!("public_key: {}", hex::encode(key.public_key()));
    Ok(())
}
