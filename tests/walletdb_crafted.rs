//! Wallets crafted against the wallet-file builder, on genuine outputs and transactions built by the
//! official crates (`create_test_input`, `TransactionBuilder`), mined into a cache, scanned and built:
//!
//! - a 60-input spend whose change memo claims a total no subset of the inputs adds up to, that the
//!   client's depth-first search cannot rule out early (even inputs, an odd total near half their
//!   sum: the second recipient's amount is what the change memo leaves out). minotari-cli's own search
//!   would run for hours; ours stops at its step budget, so the file builds in well under a second,
//!   holds every output, shows the change as the client shows change it found no inputs for, and has
//!   the balance the client computes (Σ credits − Σ debits);
//! - owned outputs the official code cannot import (a multisig deposit to the wallet): the build fails
//!   with `OUTPUT_IMPORT_FAILED`, saying how many and where, instead of leaving them out;
//! - a build that is cancelled, or past its deadline, stops with `BUILD_CANCELLED` / `BUILD_TIMEOUT`.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rusqlite::Connection;
use tari_common::configuration::Network;
use tari_common_types::tari_address::TariAddress;
use tari_crypto::tari_utilities::ByteArray;
use tari_node_components::blocks::BlockHeader;
use tari_transaction_components::{
    MicroMinotari, TransactionBuilder,
    key_manager::{KeyManager, TransactionKeyManagerInterface},
    test_helpers::{create_consensus_constants, create_test_input},
    transaction_builder::RecipientSpec,
    transaction_components::{MemoField, OutputFeatures, TransactionOutput, WalletOutput},
};
use tari_wallet_sync::{
    cache::{BlockData, Cache, CacheView, OutputData},
    network,
    proof::BlockTree,
    recognize::WalletKey,
    scan::{ScanRequest, ScanResult, scan_one},
    source::{
        full_outputs::{BlockLeaf, FullOutputSources, FullOutputs, SourceFailure, Wanted},
        output_details,
    },
    walletdb::{
        AccountSpec, BuildOptions, Interrupt, SEARCH_STEPS_PER_BLOCK, WalletDbError, build_from_chain,
        build_from_chain_until,
    },
};
use zeroize::Zeroizing;

const NETWORK: Network = Network::LocalNet;
const INPUTS: u64 = 60;

/// A wallet as the official key manager makes one, and the view-key pair the service is given.
struct Wallet {
    key_manager: KeyManager,
    key: WalletKey,
    address: TariAddress,
}

fn wallet() -> Wallet {
    let key_manager = KeyManager::new_random().expect("a random wallet");
    let view = key_manager.get_private_view_key();
    let spend = key_manager.get_spend_key().pub_key;
    let address =
        TariAddress::new_dual_address_with_default_features(key_manager.get_view_key().pub_key, spend.clone(), NETWORK)
            .expect("valid keys");
    let key = WalletKey::from_bytes(view.as_bytes(), spend.as_bytes()).expect("valid wallet keys");
    Wallet {
        key_manager,
        key,
        address,
    }
}

/// What the cache keeps of a full output.
fn output_data(output: &TransactionOutput) -> OutputData {
    let (script, output_type, maturity) = output_details(output);
    OutputData {
        output_hash: *output.hash(),
        commitment: output.commitment.as_bytes().try_into().expect("32 bytes"),
        sender_offset_public_key: output.sender_offset_public_key.as_bytes().try_into().expect("32 bytes"),
        encrypted_data: output.encrypted_data.as_bytes().to_vec(),
        script,
        output_type,
        maturity,
    }
}

/// A chain mined into a cache, block after block, and the node's full outputs of every output in it.
struct Chain {
    cache: Cache,
    full: Vec<TransactionOutput>,
    /// Each block's header, as a node makes it: its `block_output_mr` over the block's outputs, its hash
    /// the block's (so output proofs can be built against it).
    headers: Vec<BlockHeader>,
}

impl Chain {
    fn new(dir: &Path) -> Chain {
        Chain {
            cache: Cache::create(dir, NETWORK.as_byte()).expect("a cache"),
            full: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn mine(&mut self, outputs: &[TransactionOutput], spent: Vec<[u8; 32]>) -> u64 {
        let (height, prev_hash) = match self.cache.tip() {
            Some(tip) => (tip.height + 1, tip.hash),
            None => (0, [0; 32]),
        };
        let mut header = BlockHeader::new(1);
        header.height = height;
        header.prev_hash = prev_hash.into();
        header.timestamp = (1_750_000_000 + height * 120).into();
        header.block_output_mr = BlockTree::rebuild(outputs.iter().map(BlockLeaf::of).collect())
            .root()
            .into();
        let hash: [u8; 32] = *header.hash();
        self.headers.push(header);
        let block = BlockData {
            height,
            hash,
            prev_hash,
            timestamp: 1_750_000_000 + height * 120,
            outputs: outputs.iter().map(output_data).collect(),
            spent,
            output_details: true,
        };
        self.cache.append_block(&block).expect("a block that extends the chain");
        self.full.extend(outputs.iter().cloned());
        height
    }

    fn sources(&self) -> FullOutputSources {
        FullOutputSources::new(vec![Arc::new(Node(self.full.clone(), self.headers.clone()))])
    }
}

/// The node's full outputs, looked up by output hash as a node's query service answers.
struct Node(Vec<TransactionOutput>, Vec<BlockHeader>);

impl FullOutputs for Node {
    fn describe(&self) -> String {
        "the test chain".into()
    }

    fn fetch(&self, wanted: &[Wanted]) -> Result<Vec<Option<TransactionOutput>>, SourceFailure> {
        Ok(wanted
            .iter()
            .map(|w| self.0.iter().find(|o| o.hash().as_slice() == w.output_hash).cloned())
            .collect())
    }

    fn header(&self, height: u64) -> Result<Option<BlockHeader>, SourceFailure> {
        Ok(self.1.iter().find(|h| h.height == height).cloned())
    }
}

fn account() -> AccountSpec {
    AccountSpec {
        name: "default".into(),
        password: Zeroizing::new("a crafted wallet".into()),
        birthday: 0,
    }
}

fn scan(view: &CacheView, wallet: &Wallet) -> ScanResult {
    scan_one(
        view,
        ScanRequest {
            key: wallet.key.clone(),
            birthday: 0,
        },
    )
    .expect("scans")
}

/// One `TransactionBuilder` transaction spending `inputs`, paying `payments` (address, amount) in order;
/// returns its outputs and its change, as mined.
fn spend(
    sender: &Wallet,
    inputs: Vec<WalletOutput>,
    payments: Vec<(TariAddress, u64, RecipientTweak)>,
) -> (Vec<TransactionOutput>, TransactionOutput) {
    let mut builder =
        TransactionBuilder::new(create_consensus_constants(0), sender.key_manager.clone(), NETWORK).expect("builder");
    builder.with_lock_height(0).with_fee_per_gram(MicroMinotari::from(5));
    for input in inputs {
        builder.with_input(input).expect("input");
    }
    for (address, amount, tweak) in payments {
        let spec = RecipientSpec::stealth(
            address,
            MicroMinotari::from(amount),
            OutputFeatures::default(),
            MemoField::new_empty(),
        );
        builder.with_recipient_spec(tweak(spec)).expect("recipient");
    }
    builder.reserve_sender_offset_keys(&[]).expect("reserve");
    let finalized = builder.build().expect("a valid transaction");
    let outputs = finalized.transaction.body.outputs().to_vec();
    let change = finalized.change.as_ref().expect("change").commitment().clone();
    let change = outputs
        .iter()
        .find(|o| o.commitment == change)
        .expect("the change is an output of the transaction")
        .clone();
    (outputs, change)
}

type RecipientTweak = fn(RecipientSpec) -> RecipientSpec;

fn as_is(spec: RecipientSpec) -> RecipientSpec {
    spec
}

fn open_file(bytes: &[u8], dir: &Path) -> Connection {
    let raw = zstd::decode_all(bytes).expect("zstd");
    let path = dir.join("wallet.sqlite");
    std::fs::write(&path, raw).expect("write");
    Connection::open(&path).expect("sqlite")
}

fn int(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[test]
fn a_crafted_60_input_spend_builds_in_under_a_second_with_the_clients_balance() {
    network::use_network(NETWORK).expect("the process network");
    let dir = tempfile::tempdir().expect("tempdir");
    let me = wallet();
    let (alice, bob) = (wallet(), wallet());
    let mut chain = Chain::new(&dir.path().join("cache"));

    // Sixty outputs of even value, mined in one block.
    let inputs: Vec<WalletOutput> = (0..INPUTS)
        .map(|i| {
            create_test_input(
                MicroMinotari::from(2 * (1_000_003 + i * 7919)),
                0,
                &me.key_manager,
                vec![],
                None,
            )
        })
        .collect();
    let funding: Vec<TransactionOutput> = inputs
        .iter()
        .map(|o| o.to_transaction_output().expect("an output"))
        .collect();
    let total: u64 = inputs.iter().map(|o| o.value().as_u64()).sum();
    chain.mine(&funding, vec![]);

    // One spend of all sixty: alice first (the change memo names her amount), bob an odd amount near
    // half the inputs. The memo's total (alice + change + fee) is then the inputs less bob's: odd, so
    // no subset of even inputs reaches it, and near half their sum, where the search has most to try.
    let to_bob = (total / 2) | 1;
    let spent: Vec<[u8; 32]> = funding.iter().map(|o| *o.hash()).collect();
    let (outputs, change) = spend(
        &me,
        inputs,
        vec![
            (alice.address.clone(), 1_000_000, as_is),
            (bob.address.clone(), to_bob, as_is),
        ],
    );
    let spend_height = chain.mine(&outputs, spent);
    for _ in 0..3 {
        chain.mine(&[], vec![]);
    }
    let view = chain.cache.view();

    let result = scan(&view, &me);
    assert_eq!(result.outputs.len() as u64, INPUTS + 1, "sixty inputs and the change");
    assert_eq!(
        result.outputs.iter().filter(|o| o.spent.is_some()).count() as u64,
        INPUTS
    );
    let owned_change = result
        .outputs
        .iter()
        .find(|o| o.output_hash == change.hash().as_slice())
        .expect("the change is ours");
    let (_, claimed, _, _) = owned_change
        .memo
        .get_transaction_info_details()
        .expect("the change memo carries the send");
    let fee = owned_change.memo.get_fee().expect("and its fee").as_u64();
    let target = claimed.as_u64() + owned_change.value + fee;
    assert_eq!(
        (claimed.as_u64(), target),
        (1_000_000, total - to_bob),
        "the crafted total"
    );
    assert_eq!(target % 2, 1, "odd, above even inputs");

    let started = Instant::now();
    let file = build_from_chain(
        &me.key,
        &account(),
        &result,
        &view,
        &chain.sources(),
        &BuildOptions::default(),
    )
    .expect("the file builds");
    let took = started.elapsed();
    eprintln!("crafted {INPUTS}-input spend: built in {took:?} (search budget {SEARCH_STEPS_PER_BLOCK} steps)");
    assert!(took < Duration::from_secs(1), "built in {took:?}");
    let summary = &file.summary;
    assert_eq!((summary.outputs, summary.spent), (INPUTS + 1, INPUTS));
    assert_eq!(
        summary.search_exhausted_blocks, 1,
        "the budget, not the search, ended it"
    );

    // The balance minotari-cli shows: its ledger, Σ credits − Σ debits, and the unspent change.
    let conn = open_file(&file.to_vec(), dir.path());
    let ledger = int(
        &conn,
        "SELECT SUM(balance_credit) - SUM(balance_debit) FROM balance_changes WHERE account_id = 1",
    );
    assert_eq!(ledger as u64, owned_change.value);
    assert_eq!(summary.client_total, owned_change.value);
    assert_eq!(summary.unspent_value, owned_change.value);
    assert_eq!(
        int(&conn, "SELECT SUM(value) FROM outputs WHERE status = 'UNSPENT'") as u64,
        owned_change.value
    );
    // Shown as the client shows change it found no inputs for: the change as received, and each input
    // as a send of its own, anchored on (and upserted over) the input's receive, as the client writes it.
    let height = spend_height;
    let count = |direction: &str| {
        int(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM displayed_transactions WHERE json_extract(transaction_json, '$.direction') = \
                 '{direction}' AND json_extract(transaction_json, '$.blockchain.block_height') = {height}"
            ),
        )
    };
    assert_eq!((count("incoming"), count("outgoing")), (1, INPUTS as i64));
    let amount = |direction: &str| {
        int(
            &conn,
            &format!(
                "SELECT SUM(json_extract(transaction_json, '$.amount')) FROM displayed_transactions WHERE \
                 json_extract(transaction_json, '$.direction') = '{direction}' AND \
                 json_extract(transaction_json, '$.blockchain.block_height') = {height}"
            ),
        ) as u64
    };
    assert_eq!((amount("incoming"), amount("outgoing")), (owned_change.value, total));
}

#[test]
fn owned_outputs_the_official_code_cannot_import_fail_the_build_saying_how_many() {
    network::use_network(NETWORK).expect("the process network");
    let dir = tempfile::tempdir().expect("tempdir");
    let (me, payer) = (wallet(), wallet());
    let mut chain = Chain::new(&dir.path().join("cache"));
    let funds: Vec<WalletOutput> = (0..2)
        .map(|_| create_test_input(MicroMinotari::from(50_000_000), 0, &payer.key_manager, vec![], None))
        .collect();
    chain.mine(
        &funds
            .iter()
            .map(|o| o.to_transaction_output().expect("output"))
            .collect::<Vec<_>>(),
        vec![],
    );
    // Two multisig deposits to the wallet, in two blocks: ours by the view key, but no script key the
    // wallet can derive, so `WalletOutput::new_imported` refuses them (the client drops them unsaid).
    fn multisig(spec: RecipientSpec) -> RecipientSpec {
        let parties = (0..2).map(|_| wallet().key_manager.get_spend_key().pub_key).collect();
        spec.with_multisig_script(1, parties, Box::new([7u8; 32]))
    }
    let mut heights = Vec::new();
    for fund in funds {
        let (outputs, _) = spend(&payer, vec![fund], vec![(me.address.clone(), 2_000_000, multisig)]);
        heights.push(chain.mine(&outputs, vec![]));
    }
    let view = chain.cache.view();
    let result = scan(&view, &me);
    assert_eq!(result.outputs.len(), 2, "both deposits are recognised as ours");
    let error = build_from_chain(
        &me.key,
        &account(),
        &result,
        &view,
        &chain.sources(),
        &BuildOptions::default(),
    )
    .expect_err("no file leaves them out");
    assert_eq!(error.code(), "OUTPUT_IMPORT_FAILED");
    assert!(
        matches!(&error, WalletDbError::OutputImport { count: 2, heights: h } if h.0 == heights),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "2 owned outputs could not be imported: the wallet cannot derive a script key for their script (at \
             heights {}, {})",
            heights[0], heights[1]
        )
    );
}

#[test]
fn a_build_stops_when_cancelled_or_past_its_deadline() {
    network::use_network(NETWORK).expect("the process network");
    let dir = tempfile::tempdir().expect("tempdir");
    let me = wallet();
    let mut chain = Chain::new(&dir.path().join("cache"));
    for i in 0..5u64 {
        let input = create_test_input(MicroMinotari::from(1_000 + i), 0, &me.key_manager, vec![], None);
        chain.mine(&[input.to_transaction_output().expect("output")], vec![]);
    }
    let view = chain.cache.view();
    let result = scan(&view, &me);
    let sources = chain.sources();
    let build = |interrupt: &Interrupt<'_>| {
        build_from_chain_until(
            &me.key,
            &account(),
            &result,
            &view,
            &sources,
            &BuildOptions::default(),
            interrupt,
        )
    };
    // Cancelled (a DELETE) after the build began: it stops at its next check.
    let checks = AtomicUsize::new(0);
    let deleted = || checks.fetch_add(1, Ordering::Relaxed) >= 1;
    let stopped = build(&Interrupt::new(Duration::from_secs(600), &deleted)).expect_err("stops");
    assert_eq!(stopped.code(), "BUILD_CANCELLED");
    // Past its deadline (Argon2id alone takes longer than this one).
    let never = || false;
    let late = build(&Interrupt::new(Duration::from_millis(1), &never)).expect_err("stops");
    assert_eq!(late.code(), "BUILD_TIMEOUT");
    // Neither: the file.
    let file = build(&Interrupt::new(Duration::from_secs(600), &never)).expect("builds");
    assert_eq!(file.summary.outputs, 5);
}
