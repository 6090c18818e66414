//! node-fixture: writes a genuine Tari base-node LMDB database with `tari_core`'s own storage code, and a JSON
//! manifest of what the generator put in it (the ground truth a view-key scanner is checked against).
//!
//! ```text
//! node-fixture generate --out DIR [--mock-validators]
//! node-fixture verify --db DIR --manifest FILE
//! node-fixture empty --network NETWORK --out DIR
//! node-fixture genesis --network NETWORK
//! node-fixture wallets --prefix P --count N --network NETWORK --out FILE
//! node-fixture judge --db DIR --network NETWORK --wallets FILE [--files DIR]
//! node-fixture spend --db DIR --file WALLET.sqlite --wallet NAME
//! node-fixture submit --grpc HOST:PORT --file WALLET.sqlite --wallet NAME --to NAME
//! ```
//! `wallets` writes test wallets' keys and addresses (for `mine.py` and wallet apps); `judge` recognises a
//! node database's outputs with the official key manager and checks wallet files against it; `spend`
//! spends an output of a fixture wallet's file through the node's real block validators.
//! `empty` writes the database a node of NETWORK leaves at its first start (genesis only); `genesis`
//! prints NETWORK's genesis hash, hashed under NETWORK (one network per process).
//!
//! `generate` writes the database to `DIR/db` and the manifest to `DIR/manifest.json`. `verify` opens a database
//! directory read-only with plain LMDB (as an outside reader would), decodes its tables with bincode and checks
//! them against a manifest.

mod generate;
mod judge;
mod manifest;
mod other_network;
mod spend;
mod verify;

use std::path::PathBuf;

use anyhow::{Context, bail};
use tari_common::configuration::Network;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn usage() -> ! {
    eprintln!(
        "usage:\n  node-fixture generate --out DIR [--mock-validators]\n  node-fixture verify --db DIR --manifest FILE\n  \
         node-fixture empty --network NETWORK --out DIR\n  node-fixture genesis --network NETWORK"
    );
    std::process::exit(2)
}

fn take_value(args: &mut impl Iterator<Item = String>, flag: &str) -> anyhow::Result<String> {
    args.next().with_context(|| format!("{flag} needs a value"))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else { usage() };
    match command.as_str() {
        "generate" => {
            let mut out = None;
            let mut mock_validators = false;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--out" => out = Some(PathBuf::from(take_value(&mut args, "--out")?)),
                    "--mock-validators" => mock_validators = true,
                    other => bail!("unknown argument {other}"),
                }
            }
            let Some(out) = out else { usage() };
            generate::run(&out, mock_validators)
        }
        "verify" => {
            let mut db = None;
            let mut manifest = None;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--db" => db = Some(PathBuf::from(take_value(&mut args, "--db")?)),
                    "--manifest" => manifest = Some(PathBuf::from(take_value(&mut args, "--manifest")?)),
                    other => bail!("unknown argument {other}"),
                }
            }
            let (Some(db), Some(manifest)) = (db, manifest) else {
                usage()
            };
            verify::run(&db, &manifest)
        }
        "wallets" | "judge" | "spend" | "submit" => {
            let mut flags = std::collections::HashMap::new();
            while let Some(arg) = args.next() {
                let Some(name) = arg.strip_prefix("--") else {
                    bail!("unexpected argument {arg}")
                };
                flags.insert(name.to_string(), take_value(&mut args, &arg)?);
            }
            let get = |name: &str| {
                flags
                    .get(name)
                    .cloned()
                    .with_context(|| format!("--{name} is required"))
            };
            let network = || -> anyhow::Result<Network> { Ok(get("network")?.parse::<Network>()?) };
            match command.as_str() {
                "wallets" => judge::wallets(
                    "tari-wallet-sync/real-node",
                    &get("prefix")?,
                    get("count")?.parse()?,
                    network()?,
                    &PathBuf::from(get("out")?),
                ),
                "judge" => judge::judge(
                    &PathBuf::from(get("db")?),
                    network()?,
                    &PathBuf::from(get("wallets")?),
                    flags.get("files").map(PathBuf::from).as_deref(),
                ),
                "submit" => spend::submit(
                    &get("grpc")?,
                    "tari-wallet-sync/real-node",
                    &PathBuf::from(get("file")?),
                    &get("wallet")?,
                    &get("to")?,
                ),
                _ => spend::spend(
                    &PathBuf::from(get("db")?),
                    &PathBuf::from(get("file")?),
                    &get("wallet")?,
                ),
            }
        }
        "empty" | "genesis" => {
            let mut network = None;
            let mut out = None;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--network" => network = Some(take_value(&mut args, "--network")?.parse::<Network>()?),
                    "--out" => out = Some(PathBuf::from(take_value(&mut args, "--out")?)),
                    other => bail!("unknown argument {other}"),
                }
            }
            let Some(network) = network else { usage() };
            match (command.as_str(), out) {
                ("genesis", _) => other_network::genesis(network),
                ("empty", Some(out)) => other_network::empty_database(network, &out),
                _ => usage(),
            }
        }
        _ => usage(),
    }
}
