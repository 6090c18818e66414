//! Generate: writes the fixture. Builds the chain with tari_core's LMDB backend and
//! `BlockchainDatabase::add_block`, blocks assembled as `tari_core::test_helpers::create_block` assembles them,
//! coinbases and transactions from the official `tari_transaction_components` builders, keys from official key
//! managers; then writes the manifest of what it built. This module owns the chain's shape (network, block time,
//! fork and tip heights) and the order of the work; the work itself is in the submodules.
//!
//! ```text
//! parties ──> schedule ──> payments ──> block ──> chain ──> record ──> manifest.json
//!   keys       who/when     txs          coinbase,   database:  ledger checked
//!                                        header,     add_block, against the node
//!                                        MMR, PoW    the reorg  and key managers
//! ```
//!
//! - `parties`: the wallets' fixed keys and key managers, and output recovery with them.
//! - `schedule`: who is paid, who spends, and the seeded choices, per height and branch.
//! - `ledger`: the generator's own record of every output and branch (the ground truth).
//! - `payments`: the funder's payments and the test wallets' spends.
//! - `block`: one block, coinbase to proof of work.
//! - `database`: opening the node's database and adding blocks to it.
//! - `chain`: the branches, the reorg and its shadow database.
//! - `record`: the cross-checks and the manifest.

mod block;
mod chain;
pub(crate) mod database;
mod ledger;
pub(crate) mod parties;
mod payments;
mod record;
mod schedule;

use std::{fs, path::Path, time::Instant};

use tari_common::{configuration::Network, network_check::set_network_if_choice_valid};
use tari_core::{consensus::BaseNodeConsensusManager, test_helpers::create_consensus_rules};
use tari_transaction_components::key_manager::KeyManager;

use self::{
    database::open_db,
    parties::{PARTY_NAMES, Party},
};

pub(crate) const NETWORK: Network = Network::LocalNet;
pub(crate) const BLOCK_TIME: u64 = 120;
/// Both branches share blocks up to and including this height.
const FORK_HEIGHT: u64 = 285;
/// The first branch (to be orphaned) reaches this height.
const ORPHANED_TIP: u64 = 290;
/// The competing branch, with more work, reaches this height.
const FORK_TIP: u64 = 293;
/// The chain continues on the winning branch to here.
const FINAL_TIP: u64 = 300;

struct Ctx {
    rules: BaseNodeConsensusManager,
    parties: Vec<Party>,
    /// The coinbase builder's key manager (a pool paying miners' addresses); owns nothing.
    pool: KeyManager,
}

pub fn run(out: &Path, mock_validators: bool) -> anyhow::Result<()> {
    // Exactly as a node sets its network while loading its configuration (`tari_common`'s
    // `set_network_if_choice_valid` -> `Network::set_current`): every hash the database stores is
    // domain-separated by it.
    set_network_if_choice_valid(NETWORK)?;
    let started = Instant::now();
    fs::create_dir_all(out)?;
    let db_path = out.join("db");
    let shadow_path = out.join("shadow-db");
    for path in [&db_path, &shadow_path] {
        if path.exists() {
            fs::remove_dir_all(path)?;
        }
    }
    let rules = create_consensus_rules();
    let db = open_db(&db_path, &rules, mock_validators, false)?;
    // A second database follows the shared chain; the competing branch is built on it, so its blocks get real MMR
    // roots (they can only be computed on the tip), and then handed to the main database.
    let shadow = open_db(&shadow_path, &rules, mock_validators, true)?;

    let parties = PARTY_NAMES
        .iter()
        .map(|name| Party::new(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pool = Party::new("pool")?.km;
    let ctx = Ctx { rules, parties, pool };

    let history = chain::build(&ctx, &db, shadow, started)?;
    let (manifest, recogniser_checks) = record::manifest(&ctx, &db, history, mock_validators)?;

    let manifest_path = out.join("manifest.json");
    fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)? + "\n")?;
    drop(db);
    eprintln!(
        "wrote {} and {} in {:.1?}: tip {} ({} outputs, {} inputs; {} wallet outputs, {} spent; {} recogniser \
         checks)",
        db_path.display(),
        manifest_path.display(),
        started.elapsed(),
        FINAL_TIP,
        manifest.totals.outputs,
        manifest.totals.inputs,
        manifest.totals.wallet_outputs,
        manifest.totals.wallet_outputs_spent,
        recogniser_checks
    );
    Ok(())
}
