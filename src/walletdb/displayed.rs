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

use super::{
    WalletDbError,
    interrupt::{Interrupt, Stopped},
    wallet_output::memo_text,
};

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

/// Steps the change-matching search may take per block, over all of the block's change outputs: about
/// 5 ms here. The client's own search has no bound, and a crafted memo over a few dozen inputs makes it
/// run for hours (the work roughly doubles per input); past the budget a change output is shown as the
/// client shows one its search found no inputs for (`docs/walletdb.md`). Honest sends match within a
/// few hundred steps, so they never reach it.
pub const SEARCH_STEPS_PER_BLOCK: u64 = 1 << 20;
/// Search steps between two checks of the build's interrupt (a clock read): microseconds of work.
const STEPS_PER_CHECK: u64 = 1 << 14;

/// What writing one block's displayed transactions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Rows upserted.
    pub rows: usize,
    /// The search ran out of steps: at least one change output is shown unmatched.
    pub search_exhausted: bool,
}

/// Builds and upserts the block's displayed transactions, in the client's order.
pub fn write_block(
    conn: &Connection,
    ctx: &BlockContext<'_>,
    credits: &[Credit<'_>],
    debits: &[Debit],
    interrupt: &Interrupt<'_>,
) -> Result<Written, WalletDbError> {
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
    // Sums in u128: a memo may claim any amount, and a sum that wrapped or saturated could match.
    let targets: Vec<(u128, usize)> = rest
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (_, amount, _, _) = c.memo.get_transaction_info_details().expect("filtered above");
            let fee = c.memo.get_fee().map_or(0, |f| f.as_u64());
            (u128::from(amount.as_u64()) + u128::from(c.value) + u128::from(fee), i)
        })
        .collect();
    let values: Vec<u64> = inputs.iter().map(|d| d.value).collect();
    let mut used = vec![false; inputs.len()];
    let mut unmatched = Vec::new();
    let mut budget = Budget {
        left: SEARCH_STEPS_PER_BLOCK,
        interrupt,
    };
    let matched = subset_sums(&values, targets.clone(), &mut budget).map_err(WalletDbError::Stopped)?;
    for (output_index, chosen) in matched {
        let total: u128 = chosen.iter().map(|&i| u128::from(values[i])).sum();
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
            debit: u64::try_from(total).unwrap_or(u64::MAX),
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
    Ok(Written {
        rows: drafts.len(),
        search_exhausted: budget.left == 0,
    })
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

/// The steps one block's search may still take, and the build's interrupt.
struct Budget<'a> {
    left: u64,
    interrupt: &'a Interrupt<'a>,
}

impl Budget<'_> {
    /// Takes one step; `Ok(false)` once the budget is spent.
    fn step(&mut self) -> Result<bool, Stopped> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        if self.left.is_multiple_of(STEPS_PER_CHECK) {
            self.interrupt.check()?;
        }
        Ok(true)
    }
}

/// The client's matching of change outputs to spent inputs: targets in ascending order, each served
/// from the inputs not yet used by a depth-first subset search over candidates in descending value.
/// Returns, per target, the input indices chosen: empty when none add up, and for every target the
/// search reaches after the block's step budget is spent.
fn subset_sums(
    values: &[u64],
    mut targets: Vec<(u128, usize)>,
    budget: &mut Budget<'_>,
) -> Result<Vec<(usize, Vec<usize>)>, Stopped> {
    targets.sort_by_key(|t| t.0);
    let mut remaining: Vec<usize> = (0..values.len()).collect();
    let mut result = Vec::new();
    for (target, output_index) in targets {
        let mut candidates: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| u128::from(values[i]) <= target)
            .collect();
        candidates.sort_by(|&a, &b| values[b].cmp(&values[a]));
        let vals: Vec<u64> = candidates.iter().map(|&i| values[i]).collect();
        let chosen: Vec<usize> = match search(&vals, target, budget)? {
            Some(taken) => candidates
                .iter()
                .zip(&taken)
                .filter(|(_, t)| **t)
                .map(|(&i, _)| i)
                .collect(),
            None => Vec::new(),
        };
        remaining.retain(|i| !chosen.contains(i));
        result.push((output_index, chosen));
    }
    Ok(result)
}

/// One frame of the search: decide about candidate `step` with `current` taken so far.
#[derive(Clone, Copy)]
enum Frame {
    /// Enter the subtree at `step`.
    Enter { step: usize, current: u128 },
    /// The subtree that took candidate `step` failed: try it without.
    Skip { step: usize, current: u128 },
}

/// The client's depth-first search (take a candidate before skipping it, prune when even all the rest
/// cannot reach the target or the sum is past it), with an explicit stack so a block with thousands of
/// inputs cannot overflow the thread's stack, and one budget step per subtree entered. Returns which
/// candidates add up to `target`, or `None` when none do or the budget ran out first.
fn search(vals: &[u64], target: u128, budget: &mut Budget<'_>) -> Result<Option<Vec<bool>>, Stopped> {
    let mut suffix = vec![0u128; vals.len() + 1];
    for i in (0..vals.len()).rev() {
        suffix[i] = suffix[i + 1] + u128::from(vals[i]);
    }
    if suffix[0] < target {
        return Ok(None);
    }
    let mut taken = vec![false; vals.len()];
    let mut stack = vec![Frame::Enter { step: 0, current: 0 }];
    while let Some(frame) = stack.pop() {
        let (step, current) = match frame {
            Frame::Enter { step, current } => (step, current),
            Frame::Skip { step, current } => {
                taken[step] = false;
                stack.push(Frame::Enter {
                    step: step + 1,
                    current,
                });
                continue;
            }
        };
        if !budget.step()? {
            return Ok(None);
        }
        if current == target {
            return Ok(Some(taken));
        }
        if step == vals.len() || current + suffix[step] < target || current > target {
            continue;
        }
        let with = current + u128::from(vals[step]);
        if with <= target {
            taken[step] = true;
            stack.push(Frame::Skip { step, current });
            stack.push(Frame::Enter {
                step: step + 1,
                current: with,
            });
        } else {
            taken[step] = false;
            stack.push(Frame::Enter {
                step: step + 1,
                current,
            });
        }
    }
    Ok(None)
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
    use super::*;

    fn match_all(values: &[u64], targets: Vec<(u128, usize)>, steps: u64) -> (Vec<(usize, Vec<usize>)>, u64) {
        let never = Interrupt::never();
        let mut budget = Budget {
            left: steps,
            interrupt: &never,
        };
        let matched = subset_sums(values, targets, &mut budget).expect("never interrupted");
        (matched, budget.left)
    }

    #[test]
    fn matches_change_to_the_inputs_that_paid_for_it() {
        // Inputs 5, 7, 10; a send of 12 is paid by 5 + 7, one of 10 by 10; 100 by nothing.
        let (got, _) = match_all(&[5, 7, 10], vec![(12, 0), (10, 1), (100, 2)], SEARCH_STEPS_PER_BLOCK);
        assert_eq!(got, vec![(1, vec![2]), (0, vec![1, 0]), (2, vec![])]);
    }

    /// The client's recursive search, as it is written (no budget): the reference the stack version
    /// must equal while it has steps left.
    fn reference(vals: &[u64], suffix: &[u64], taken: &mut [bool], step: usize, current: u64, target: u64) -> bool {
        if current == target {
            return true;
        }
        if step == vals.len() || current + suffix[step] < target || current > target {
            return false;
        }
        if current + vals[step] <= target {
            taken[step] = true;
            if reference(vals, suffix, taken, step + 1, current + vals[step], target) {
                return true;
            }
        }
        taken[step] = false;
        reference(vals, suffix, taken, step + 1, current, target)
    }

    #[test]
    fn the_stack_search_chooses_what_the_recursive_one_chooses() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..2000 {
            let len = next(12) as usize;
            let mut vals: Vec<u64> = (0..len).map(|_| 1 + next(40)).collect();
            vals.sort_by(|a, b| b.cmp(a));
            let target = next(vals.iter().sum::<u64>() + 3);
            let mut suffix = vec![0u64; len + 1];
            for i in (0..len).rev() {
                suffix[i] = suffix[i + 1] + vals[i];
            }
            let mut taken = vec![false; len];
            let expected =
                (suffix[0] >= target && reference(&vals, &suffix, &mut taken, 0, 0, target)).then_some(taken);
            let never = Interrupt::never();
            let mut budget = Budget {
                left: u64::MAX,
                interrupt: &never,
            };
            let got = search(&vals, u128::from(target), &mut budget).unwrap();
            assert_eq!(got, expected, "round {round}");
        }
    }

    /// Inputs of even value and a target one above an even sum: no subset adds up, and the pruning
    /// cannot see it, so the unbounded search visits about 2^n subsets.
    fn crafted(inputs: u64) -> (Vec<u64>, u128) {
        let values: Vec<u64> = (0..inputs).map(|i| 2 * (1_000_003 + i * 7919)).collect();
        let half = values.iter().sum::<u64>() / 2;
        (values, u128::from(half | 1))
    }

    #[test]
    fn a_crafted_target_stops_at_the_budget_and_later_targets_show_unmatched() {
        let (values, target) = crafted(60);
        // Every input together: a send the search would match at once, reached after the crafted one.
        let everything: u128 = values.iter().map(|&v| u128::from(v)).sum();
        let (got, left) = match_all(&values, vec![(everything, 1), (target, 0)], 10_000);
        assert_eq!(left, 0, "the budget is spent");
        assert_eq!(got, vec![(0, vec![]), (1, vec![])], "both unmatched, in target order");
        let (got, _) = match_all(&values, vec![(everything, 1)], 10_000);
        assert_eq!(got, vec![(1, (0..60).rev().collect())], "with steps left it matches");
    }

    #[test]
    fn a_cancelled_build_stops_inside_the_search() {
        let (values, target) = crafted(60);
        let cancelled = || true;
        let interrupt = Interrupt::new(std::time::Duration::from_secs(60), &cancelled);
        let mut budget = Budget {
            left: u64::MAX,
            interrupt: &interrupt,
        };
        assert_eq!(
            subset_sums(&values, vec![(target, 0)], &mut budget).unwrap_err(),
            Stopped::Cancelled
        );
        assert!(u64::MAX - budget.left <= STEPS_PER_CHECK, "within one check interval");
    }

    #[test]
    fn huge_claimed_amounts_do_not_overflow() {
        // MAX - 1 + 5 would saturate to MAX: no match. MAX - 1 + 3 + ... neither; 5 + 3 is 8.
        let values = [u64::MAX - 1, 5, 3];
        let (got, _) = match_all(&values, vec![(u128::from(u64::MAX), 0), (8, 1)], SEARCH_STEPS_PER_BLOCK);
        assert_eq!(got, vec![(1, vec![1, 2]), (0, vec![])]);
        let (got, _) = match_all(&values, vec![(u128::from(u64::MAX) + 4, 0)], SEARCH_STEPS_PER_BLOCK);
        assert_eq!(got, vec![(0, vec![0, 1])], "exact beyond u64");
    }
}
