//! Builder: turns one wallet's scan result into the wallet file, replaying what minotari-cli would have
//! written scanning the same blocks. Owns the in-memory database, the block-by-block order and the
//! summary; rows are `account`, `ledger`, `displayed` and `tips`, compression is `file`.
//!
//! Only heights where something happens are visited: a block with owned outputs (rows, events, credits),
//! one spending them (inputs, debits) and the block `REQUIRED_CONFIRMATIONS` above each output
//! (`OutputConfirmed`); every block of the scan still gets its thinned `scanned_tip_blocks` row.

use std::collections::BTreeMap;

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use super::{
    WalletDbError, WalletFile, WalletSummary, account,
    account::{AccountSpec, SealedAccount},
    chain::{ChainBlock, ChainBlocks},
    displayed::{self, BlockContext, Credit, Debit},
    error::Heights,
    file,
    interrupt::Interrupt,
    ledger::{Ledger, REQUIRED_CONFIRMATIONS, utc},
    proofs, schema, tips,
    wallet_output::OutputMaker,
};
use crate::{
    cache::CacheView,
    proof,
    recognize::WalletKey,
    scan::ScanResult,
    source::full_outputs::{FullOutputSources, ResolvedOutputs, apply_details},
};

/// zstd level used unless told otherwise, chosen by `benches/walletdb.rs` (table in docs/walletdb.md): at
/// 3 a wallet file shrinks to under 10% at about 500 MB/s; level 9 saves under one more point of the file
/// for 5x the time (6 s instead of 1 s on a 100,000-output wallet), level 19 two points for minutes.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// How a wallet file is built.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub zstd_level: i32,
    /// Depth at which the client counts an output confirmed (its default, 3).
    pub required_confirmations: u64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            zstd_level: DEFAULT_ZSTD_LEVEL,
            required_confirmations: REQUIRED_CONFIRMATIONS,
        }
    }
}

/// Opens the private in-memory database a wallet file is built in: SQLite's `memdb` VFS, so the finished
/// file can be read in place (`serialize` without a copy), never touching a disk.
pub fn open_memory_db() -> Result<Connection, WalletDbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // No leading '/': a memdb name starting with one would be shared by every connection in the process.
    let conn = Connection::open_with_flags("file:tws-wallet?vfs=memdb", flags)?;
    // A rollback-journal file (header bytes 18-19 = 1): self-contained, no -wal beside it; the client
    // switches it to WAL itself. Foreign keys on, as in the client, so a bad row fails here.
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA foreign_keys = ON; PRAGMA synchronous = OFF;")?;
    Ok(conn)
}

/// Writes the schema and every row for one wallet into `conn` (an empty database). `full` holds the full
/// output of each of `result`'s owned outputs, in order.
pub fn fill(
    conn: &mut Connection,
    key: &WalletKey,
    account: &AccountSpec,
    result: &ScanResult,
    chain: &dyn ChainBlocks,
    full: &ResolvedOutputs,
    options: &BuildOptions,
) -> Result<WalletSummary, WalletDbError> {
    let sealed = account::seal(key, account)?;
    fill_sealed(
        conn,
        key,
        account,
        &sealed,
        result,
        chain,
        full,
        options,
        &Interrupt::never(),
    )
}

/// `fill` with the account already sealed (its Argon2id done).
#[allow(clippy::too_many_arguments)]
fn fill_sealed(
    conn: &mut Connection,
    key: &WalletKey,
    account: &AccountSpec,
    sealed: &SealedAccount,
    result: &ScanResult,
    chain: &dyn ChainBlocks,
    full: &ResolvedOutputs,
    options: &BuildOptions,
    interrupt: &Interrupt<'_>,
) -> Result<WalletSummary, WalletDbError> {
    if full.outputs.len() != result.outputs.len() {
        return Err(WalletDbError::FullOutputCount {
            owned: result.outputs.len(),
            given: full.outputs.len(),
        });
    }
    let tx = conn.transaction()?;
    schema::create_schema(&tx)?;
    let account_id = account::insert(&tx, account, sealed)?;
    let mut summary = WalletSummary {
        tip_height: result.tip.map(|t| t.height),
        ..WalletSummary::default()
    };
    if let Some(tip) = result.tip {
        if chain.block(tip.height).map(|b| b.hash) != Some(tip.hash) {
            return Err(WalletDbError::ChainMismatch(tip.height));
        }
        replay(
            &tx,
            key,
            account_id,
            result,
            tip.height,
            chain,
            full,
            options,
            interrupt,
            &mut summary,
        )?;
        summary.scanned_tip_rows = tips::insert(&tx, account_id, result.from_height, tip.height, chain)? as u64;
    }
    summary.client_total = tx.query_row(
        "SELECT COALESCE(SUM(balance_credit), 0) - COALESCE(SUM(balance_debit), 0) FROM balance_changes",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    tx.commit()?;
    Ok(summary)
}

/// What happens at one height.
#[derive(Default)]
struct Work {
    detected: Vec<usize>,
    spent: Vec<usize>,
    confirmed: Vec<usize>,
}

#[allow(clippy::too_many_arguments)]
fn replay(
    conn: &Connection,
    key: &WalletKey,
    account_id: i64,
    result: &ScanResult,
    tip: u64,
    chain: &dyn ChainBlocks,
    full: &ResolvedOutputs,
    options: &BuildOptions,
    interrupt: &Interrupt<'_>,
    summary: &mut WalletSummary,
) -> Result<(), WalletDbError> {
    let outputs = &result.outputs;
    let mut plan: BTreeMap<u64, Work> = BTreeMap::new();
    for (i, o) in outputs.iter().enumerate() {
        plan.entry(o.height).or_default().detected.push(i);
        if let Some(spend) = o.spent.filter(|s| s.height <= tip) {
            plan.entry(spend.height).or_default().spent.push(i);
        }
        let confirm_at = o.height.saturating_add(options.required_confirmations);
        if confirm_at <= tip {
            plan.entry(confirm_at).or_default().confirmed.push(i);
        }
    }
    let maker = OutputMaker::new(key)?;
    let view_key = Zeroizing::new(*key.view_bytes());
    let ledger = Ledger::new(conn, account_id, &view_key);
    let reconstructed = full.reconstructed;
    let mut ids: Vec<Option<i64>> = vec![None; outputs.len()];
    // Heights of owned outputs the client's code cannot import: all of them are counted before the build
    // fails, so the failure says how many.
    let mut unimportable = Vec::new();
    for (&height, work) in &plan {
        interrupt.check().map_err(WalletDbError::Stopped)?;
        let block = chain.block(height).ok_or(WalletDbError::MissingBlock(height))?;
        let mut credits = Vec::new();
        for &i in &work.detected {
            let owned = &outputs[i];
            if owned.block_hash != block.hash {
                return Err(WalletDbError::ChainMismatch(height));
            }
            let transaction_output = full.outputs[i].clone();
            let coinbase_extra = transaction_output
                .features
                .is_coinbase()
                .then(|| transaction_output.features.coinbase_extra.clone());
            let Some(built) = maker.make(owned, transaction_output, reconstructed)? else {
                unimportable.push(height);
                continue;
            };
            if !unimportable.is_empty() {
                // The file will not be built: only the count and heights still matter.
                continue;
            }
            let id = ledger.detect(owned, &built)?;
            ids[i] = Some(id);
            summary.outputs += 1;
            credits.push(Credit {
                hash: owned.output_hash,
                value: owned.value,
                memo: &owned.memo,
                coinbase_extra,
            });
        }
        let mut debits = Vec::new();
        for &i in &work.spent {
            let (Some(id), Some(spend)) = (ids[i], outputs[i].spent) else {
                continue;
            };
            if spend.block_hash != block.hash {
                return Err(WalletDbError::ChainMismatch(height));
            }
            ledger.spend(id, outputs[i].value, height, &block.hash, block.timestamp)?;
            summary.spent += 1;
            debits.push(Debit {
                output_id: id,
                hash: outputs[i].output_hash,
                value: outputs[i].value,
            });
        }
        for &i in &work.confirmed {
            if let Some(id) = ids[i] {
                ledger.confirm(id, height, &block.hash)?;
            }
        }
        if unimportable.is_empty() && (!credits.is_empty() || !debits.is_empty()) {
            let ctx = context(account_id, height, block, tip, options, ledger.view_key())?;
            let written = displayed::write_block(conn, &ctx, &credits, &debits, interrupt)?;
            summary.displayed_transactions += written.rows as u64;
            summary.search_exhausted_blocks += u64::from(written.search_exhausted);
        }
    }
    if !unimportable.is_empty() {
        return Err(WalletDbError::OutputImport {
            count: unimportable.len(),
            heights: Heights(unimportable),
        });
    }
    summary.unspent_value = outputs
        .iter()
        .zip(&ids)
        .filter(|(o, id)| id.is_some() && o.is_unspent_value())
        .map(|(o, _)| o.value)
        .sum();
    Ok(())
}

fn context<'a>(
    account_id: i64,
    height: u64,
    block: ChainBlock,
    tip: u64,
    options: &BuildOptions,
    view_key: &'a [u8; 32],
) -> Result<BlockContext<'a>, WalletDbError> {
    Ok(BlockContext {
        account_id,
        height,
        block_hash: block.hash,
        timestamp: utc(block.timestamp)?.naive_utc(),
        tip,
        required_confirmations: options.required_confirmations,
        view_key,
    })
}

/// A job's wallet file, the one path the service and `export` share: the owned outputs' full outputs
/// from `sources` (a demo cache rebuilds them from itself), each checked against the chain's output
/// hash; their script classes, types and maturities taken from them; then the file. A real chain's
/// outputs that no source supplies fail the build (`FULL_OUTPUTS_UNAVAILABLE`): a file that looks
/// right but cannot spend is never produced.
pub fn build_from_chain(
    key: &WalletKey,
    account: &AccountSpec,
    result: &ScanResult,
    view: &CacheView,
    sources: &FullOutputSources,
    options: &BuildOptions,
) -> Result<WalletFile, WalletDbError> {
    build_from_chain_until(key, account, result, view, sources, options, &Interrupt::never())
}

/// `build_from_chain` that stops with `WalletDbError::Stopped` once `interrupt` says so: checked after
/// the node's answers, at every block written, inside the change-matching search and while compressing.
pub fn build_from_chain_until(
    key: &WalletKey,
    account: &AccountSpec,
    result: &ScanResult,
    view: &CacheView,
    sources: &FullOutputSources,
    options: &BuildOptions,
    interrupt: &Interrupt<'_>,
) -> Result<WalletFile, WalletDbError> {
    // The node's answers take round trips; the password's Argon2id takes CPU: do both at once. Proofs
    // are built and checked against their headers before the file exists (`proof::build`).
    let (fetched, sealed) = std::thread::scope(|scope| {
        let fetching = scope.spawn(|| -> Result<_, WalletDbError> {
            let full = sources.resolve(view, &result.outputs)?;
            let started = std::time::Instant::now();
            let stop = || interrupt.check().is_err();
            let proofs = proof::build(view, &result.outputs, &full, sources, &stop).map_err(|e| match e {
                proof::ProofBuildError::Stopped => match interrupt.check() {
                    Err(stopped) => WalletDbError::Stopped(stopped),
                    Ok(()) => WalletDbError::Proof(e),
                },
                e => WalletDbError::Proof(e),
            })?;
            Ok((full, proofs, started.elapsed()))
        });
        let sealed = account::seal(key, account);
        let fetched = fetching.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, sealed)
    });
    let ((full, proofs, proof_time), sealed) = (fetched?, sealed?);
    interrupt.check().map_err(WalletDbError::Stopped)?;
    let mut completed = result.clone();
    apply_details(key, &mut completed.outputs, &full);
    let mut conn = open_memory_db()?;
    let mut summary = fill_sealed(
        &mut conn, key, account, &sealed, &completed, view, &full, options, interrupt,
    )?;
    if let Some(proofs) = &proofs {
        proofs::write(&mut conn, proofs)?;
        summary.proved_outputs = Some(proofs.outputs.len() as u64);
    }
    summary.proof_micros = proof_time.as_micros() as u64;
    finish(conn, summary, options, interrupt)
}

/// Builds the wallet file for one wallet from its full outputs (one per owned output, in order): schema,
/// account, every row, serialized and compressed in memory.
pub fn build_wallet_file(
    key: &WalletKey,
    account: &AccountSpec,
    result: &ScanResult,
    chain: &dyn ChainBlocks,
    full: &ResolvedOutputs,
    options: &BuildOptions,
) -> Result<WalletFile, WalletDbError> {
    let mut conn = open_memory_db()?;
    let summary = fill(&mut conn, key, account, result, chain, full, options)?;
    finish(conn, summary, options, &Interrupt::never())
}

/// Serializes the filled database in place and compresses it.
fn finish(
    mut conn: Connection,
    summary: WalletSummary,
    options: &BuildOptions,
    interrupt: &Interrupt<'_>,
) -> Result<WalletFile, WalletDbError> {
    let data = conn.serialize(rusqlite::MAIN_DB)?;
    let mut wallet = file::compress_until(&data, options.zstd_level, interrupt)?;
    wallet.summary = summary;
    Ok(wallet)
}
