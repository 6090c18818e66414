//! Other networks: what a node of another network writes at its first start (its database holding only
//! that network's genesis block), for the reader's network checks; and each network's genesis hash, each
//! computed in a process of its own under that network (the process network can be set once), for the
//! reader's table of official genesis hashes.

use std::{fs, path::Path};

use anyhow::{Context, bail};
use tari_common::configuration::Network;
use tari_core::chain_storage::{BlockchainDatabaseConfig, Validators};
use tari_core::validation::DifficultyCalculator;
use tari_core::{
    blocks::genesis_block::get_genesis_block, chain_storage::BlockchainDatabase, consensus::BaseNodeConsensusManager,
    test_helpers::blockchain::TempDatabase, validation::mocks::MockValidator,
};

/// Sets the process network as a node does. A node built for test networks (this tool's build) may only
/// run those; the genesis hashes of the others are computed with `Network::set_current` directly.
fn set_network(network: Network, as_node: bool) -> anyhow::Result<()> {
    if as_node {
        tari_common::network_check::set_network_if_choice_valid(network)?;
    } else if let Err(current) = Network::set_current(network) {
        bail!("the process network is already {current}");
    }
    Ok(())
}

/// Prints `network`'s genesis block hash, hashed under `network`.
pub fn genesis(network: Network) -> anyhow::Result<()> {
    set_network(network, false)?;
    println!("{} {}", network, get_genesis_block(network).block().hash());
    Ok(())
}

/// Writes a database as a node of `network` leaves it at its first start: the genesis block only.
pub fn empty_database(network: Network, out: &Path) -> anyhow::Result<()> {
    set_network(network, true)?;
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    let rules = BaseNodeConsensusManager::builder(network).build()?;
    let mut backend = TempDatabase::from_path_with_rules(out, rules.clone());
    backend.disable_delete_on_drop();
    let db = BlockchainDatabase::start_new(
        backend,
        rules.clone(),
        Validators::new(
            MockValidator::new(true),
            MockValidator::new(true),
            MockValidator::new(true),
        ),
        BlockchainDatabaseConfig::default(),
        DifficultyCalculator::new(rules, Default::default()),
    )?;
    let genesis = db.fetch_block(0, false)?.block().hash();
    eprintln!("wrote {} ({network}, genesis {genesis})", out.display());
    drop(db);
    fs::metadata(out.join("data.mdb")).context("the database file")?;
    Ok(())
}
