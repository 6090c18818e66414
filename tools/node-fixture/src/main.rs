//! node-fixture: writes a genuine Tari base-node LMDB database with `tari_core`'s own storage code, and a JSON
//! manifest of what the generator put in it (the ground truth a view-key scanner is checked against).
//!
//! ```text
//! node-fixture generate --out DIR [--mock-validators]
//! node-fixture verify --db DIR --manifest FILE
//! node-fixture empty --network NETWORK --out DIR
//! node-fixture genesis --network NETWORK
//! ```
//! `empty` writes the database a node of NETWORK leaves at its first start (genesis only); `genesis`
//! prints NETWORK's genesis hash, hashed under NETWORK (one network per process).
//!
//! `generate` writes the database to `DIR/db` and the manifest to `DIR/manifest.json`. `verify` opens a database
//! directory read-only with plain LMDB (as an outside reader would), decodes its tables with bincode and checks
//! them against a manifest.

mod generate;
mod manifest;
mod other_network;
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
