//! Displayed transactions: the transaction list minotari-cli shows, built per block from that block's
//! credits and debits by the client's rules (`transactions/displayed_transaction_processor/`). Owns the
//! grouping (coinbase, received, sent with change by subset sum, sent without change) and the row and
//! JSON shapes; the ledger rows themselves are `ledger`'s.
//!
//! The client never rebuilds this table from the ledger, so a file without these rows would show an
//! empty history. Status and confirmations are written as the client's monitor leaves them once it has
//! seen the tip: `confirmed` at 3 or more confirmations, else `unconfirmed`.

use chrono::NaiveDateTime;
use rusqlite::{Connection, params};
use serde::Serialize;
use tari_common_types::{
    payment_reference::generate_payment_reference, tari_address::TariAddress, transaction::TxId, types::FixedHash,
};
use tari_transaction_components::{
    MicroMinotari,
    transaction_components::{CoinBaseExtra, MemoField, OutputType},
};

use super::{WalletDbError, wallet_output::memo_text};

/// One detected output of the block.
pub struct Credit<'a> {
    pub hash: [u8; 32],
    pub value: u64,
    pub memo: &'a MemoField,
    /// `Some` exactly for coinbase outputs.
    pub coinbase_extra: Option<CoinBaseExtra>,
}

/// One owned output the block spends.
pub struct Debit {
    pub output_id: i64,
    pub hash: [u8; 32],
    pub value: u64,
}

/// The block being processed and where the chain stands.
pub struct BlockContext<'a> {
    pub account_id: i64,
    pub height: u64,
    pub block_hash: [u8; 32],
    pub timestamp: NaiveDateTime,
    pub tip: u64,
    pub required_confirmations: u64,
    pub view_key: &'a [u8; 32],
}

#[derive(Serialize)]
struct Displayed {
    id: TxId,
    direction: &'static str,
    source: &'static str,
    status: &'static str,
    amount: MicroMinotari,
    message: Option<String>,
    counterparty: Option<TariAddress>,
    blockchain: Blockchain,
    fee: Option<Fee>,
    details: Details,
}

#[derive(Serialize)]
struct Blockchain {
    block_height: u64,
    timestamp: NaiveDateTime,
    confirmations: u64,
    block_hash: FixedHash,
}

#[derive(Serialize)]
struct Fee {
    amount: MicroMinotari,
}

#[derive(Serialize)]
struct Details {
    account_id: i64,
    total_credit: MicroMinotari,
    total_debit: MicroMinotari,
    inputs: Vec<InputInfo>,
    outputs: Vec<OutputInfo>,
    output_type: Option<OutputType>,
    coinbase_extra: Option<CoinBaseExtra>,
    memo_hex: Option<String>,
    sent_output_hashes: Vec<FixedHash>,
    sent_payrefs: Vec<FixedHash>,
}

#[derive(Serialize)]
struct InputInfo {
    output_hash: FixedHash,
    amount: MicroMinotari,
    matched_output_id: i64,
    mined_in_block_hash: FixedHash,
}

#[derive(Serialize)]
struct OutputInfo {
    hash: FixedHash,
    amount: MicroMinotari,
    status: &'static str,
    mined_in_block_height: u64,
    mined_in_block_hash: FixedHash,
    output_type: OutputType,
    is_change: bool,
}

/// What the client's builder is given for one transaction.
struct Draft<'a> {
    anchor: [u8; 32],
    source: &'static str,
    credit: u64,
    debit: u64,
    fee: Option<u64>,
    memo: Option<&'a MemoField>,
    counterparty: Option<TariAddress>,
    inputs: Vec<&'a Debit>,
    output: Option<(&'a Credit<'a>, OutputType)>,
}

/// Builds and upserts the block's displayed transactions, in the client's order.
pub fn write_block(
    conn: &Connection,
    ctx: &BlockContext<'_>,
    credits: &[Credit<'_>],
    debits: &[Debit],
) -> Result<usize, WalletDbError> {
    let mut drafts = Vec::new();
    // The client walks its credit list backwards, taking coinbases first, then outputs without sender
    // details (received); outputs with details are change of our own sends.
    let mut rest: Vec<&Credit<'_>> = credits.iter().collect();
    for pass in [Pass::Coinbase, Pass::Received] {
        for i in (0..rest.len()).rev() {
            let c = rest[i];
            let take = match pass {
                Pass::Coinbase => c.coinbase_extra.is_some(),
                Pass::Received => c.memo.get_transaction_info_details().is_none(),
            };
            if take {
                rest.remove(i);
                drafts.push(incoming(c, pass == Pass::Coinbase));
            }
        }
    }
    let mut inputs: Vec<&Debit> = debits.iter().collect();
    inputs.sort_by_key(|d| d.value);
    let targets: Vec<(u64, usize)> = rest
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (_, amount, _, _) = c.memo.get_transaction_info_details().expect("filtered above");
            let fee = c.memo.get_fee().map_or(0, |f| f.as_u64());
            (amount.as_u64().saturating_add(c.value).saturating_add(fee), i)
        })
        .collect();
    let values: Vec<u64> = inputs.iter().map(|d| d.value).collect();
    let mut used = vec![false; inputs.len()];
    let mut unmatched = Vec::new();
    for (output_index, chosen) in subset_sums(&values, targets.clone()) {
        let total: u64 = chosen.iter().map(|&i| values[i]).sum();
        let target = targets.iter().find(|t| t.1 == output_index).expect("one per output").0;
        if total != target {
            unmatched.push(output_index);
            continue;
        }
        chosen.iter().for_each(|&i| used[i] = true);
        let c = rest[output_index];
        drafts.push(Draft {
            anchor: c.hash,
            source: "transfer",
            credit: c.value,
            debit: total,
            fee: c.memo.get_fee().map(|f| f.as_u64()),
            memo: Some(c.memo),
            counterparty: c.memo.claimed_sender_address(),
            inputs: chosen.iter().map(|&i| inputs[i]).collect(),
            output: Some((c, OutputType::Standard)),
        });
    }
    for i in unmatched {
        drafts.push(incoming(rest[i], false));
    }
    for (input, _) in inputs.iter().zip(&used).filter(|(_, used)| !**used) {
        drafts.push(Draft {
            anchor: input.hash,
            source: "transfer",
            credit: 0,
            debit: input.value,
            fee: None,
            memo: None,
            counterparty: None,
            inputs: vec![input],
            output: None,
        });
    }
    for draft in &drafts {
        upsert(conn, ctx, draft)?;
    }
    Ok(drafts.len())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Coinbase,
    Received,
}

fn incoming<'a>(c: &'a Credit<'a>, coinbase: bool) -> Draft<'a> {
    Draft {
        anchor: c.hash,
        source: if coinbase { "coinbase" } else { "transfer" },
        credit: c.value,
        debit: 0,
        fee: None,
        memo: Some(c.memo),
        counterparty: if coinbase {
            None
        } else {
            c.memo.claimed_sender_address()
        },
        inputs: Vec::new(),
        output: Some((
            c,
            if coinbase {
                OutputType::Coinbase
            } else {
                OutputType::Standard
            },
        )),
    }
}

/// The client's matching of change outputs to spent inputs: targets in ascending order, each served
/// from the inputs not yet used by a depth-first subset search over candidates in descending value.
/// Returns, per target, the input indices chosen (empty when none add up).
fn subset_sums(values: &[u64], mut targets: Vec<(u64, usize)>) -> Vec<(usize, Vec<usize>)> {
    targets.sort_by_key(|t| t.0);
    let mut remaining: Vec<usize> = (0..values.len()).collect();
    let mut result = Vec::new();
    for (target, output_index) in targets {
        let mut candidates: Vec<usize> = remaining.iter().copied().filter(|&i| values[i] <= target).collect();
        candidates.sort_by(|&a, &b| values[b].cmp(&values[a]));
        let vals: Vec<u64> = candidates.iter().map(|&i| values[i]).collect();
        let mut suffix = vec![0u64; vals.len() + 1];
        for i in (0..vals.len()).rev() {
            suffix[i] = suffix[i + 1].saturating_add(vals[i]);
        }
        let mut taken = vec![false; vals.len()];
        let chosen: Vec<usize> = if suffix[0] >= target && search(&vals, &suffix, &mut taken, 0, 0, target) {
            candidates
                .iter()
                .zip(&taken)
                .filter(|(_, t)| **t)
                .map(|(&i, _)| i)
                .collect()
        } else {
            Vec::new()
        };
        remaining.retain(|i| !chosen.contains(i));
        result.push((output_index, chosen));
    }
    result
}

fn search(vals: &[u64], suffix: &[u64], taken: &mut [bool], step: usize, current: u64, target: u64) -> bool {
    if current == target {
        return true;
    }
    if step == vals.len() || current.saturating_add(suffix[step]) < target || current > target {
        return false;
    }
    if current + vals[step] <= target {
        taken[step] = true;
        if search(vals, suffix, taken, step + 1, current + vals[step], target) {
            return true;
        }
    }
    taken[step] = false;
    search(vals, suffix, taken, step + 1, current, target)
}

fn upsert(conn: &Connection, ctx: &BlockContext<'_>, draft: &Draft<'_>) -> Result<(), WalletDbError> {
    let id = TxId::new_deterministic(ctx.view_key, &draft.anchor);
    let outgoing = draft.debit > 0;
    let amount = if outgoing {
        draft.debit.saturating_sub(draft.credit)
    } else {
        draft.credit
    };
    let confirmations = ctx.tip.saturating_sub(ctx.height);
    let status = if confirmations >= ctx.required_confirmations {
        "confirmed"
    } else {
        "unconfirmed"
    };
    let (message, memo_hex) = draft.memo.map_or((None, None), |m| memo_text(&m.get_payment_id()));
    let sent: Vec<FixedHash> = draft.memo.and_then(|m| m.get_sent_hashes()).unwrap_or_default();
    let block_hash = FixedHash::from(ctx.block_hash);
    let payrefs: Vec<FixedHash> = sent
        .iter()
        .map(|h| generate_payment_reference(&block_hash, h))
        .collect();
    let displayed = Displayed {
        id,
        direction: if outgoing { "outgoing" } else { "incoming" },
        source: draft.source,
        status,
        amount: amount.into(),
        message,
        counterparty: draft.counterparty.clone(),
        blockchain: Blockchain {
            block_height: ctx.height,
            timestamp: ctx.timestamp,
            confirmations,
            block_hash,
        },
        fee: draft.fee.filter(|_| outgoing).map(|f| Fee { amount: f.into() }),
        details: Details {
            account_id: ctx.account_id,
            total_credit: draft.credit.into(),
            total_debit: draft.debit.into(),
            inputs: draft
                .inputs
                .iter()
                .map(|d| InputInfo {
                    output_hash: d.hash.into(),
                    amount: d.value.into(),
                    matched_output_id: d.output_id,
                    mined_in_block_hash: block_hash,
                })
                .collect(),
            outputs: draft
                .output
                .iter()
                .map(|(c, output_type)| OutputInfo {
                    hash: c.hash.into(),
                    amount: c.value.into(),
                    status: "Unspent",
                    mined_in_block_height: ctx.height,
                    mined_in_block_hash: block_hash,
                    output_type: *output_type,
                    is_change: false,
                })
                .collect(),
            output_type: draft.output.as_ref().map(|(_, t)| *t),
            coinbase_extra: draft.output.as_ref().and_then(|(c, _)| c.coinbase_extra.clone()),
            memo_hex,
            sent_output_hashes: sent,
            sent_payrefs: payrefs.clone(),
        },
    };
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    conn.execute(
        "INSERT INTO displayed_transactions (id, account_id, direction, source, status, amount, block_height,
             timestamp, transaction_json, payref, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, transaction_json = excluded.transaction_json,
             payref = excluded.payref, updated_at = excluded.updated_at",
        params![
            id.as_u64().to_string(),
            ctx.account_id,
            displayed.direction,
            displayed.source,
            status,
            amount as i64,
            ctx.height as i64,
            ctx.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
            serde_json::to_string(&displayed)?,
            serde_json::to_string(&payrefs)?,
            now,
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::subset_sums;

    #[test]
    fn matches_change_to_the_inputs_that_paid_for_it() {
        // Inputs 5, 7, 10; a send of 12 is paid by 5 + 7, one of 10 by 10; 100 by nothing.
        let got = subset_sums(&[5, 7, 10], vec![(12, 0), (10, 1), (100, 2)]);
        assert_eq!(got, vec![(1, vec![2]), (0, vec![1, 0]), (2, vec![])]);
    }
}
