//! Payments: the non-coinbase transactions of a block, built with the official `TransactionBuilder` by the paying
//! party's own key manager: the funder's one-sided payments and the test wallets' spends. Each returns the
//! transaction with the ledger entries it creates and spends; when the payer cannot afford it, nothing. When a
//! block pays is the schedule's decision; the coinbase and the block are built elsewhere.

use anyhow::{Context, anyhow, ensure};
use tari_transaction_components::{
    MicroMinotari, TransactionBuilder,
    transaction_builder::RecipientSpec,
    transaction_components::{MemoField, OutputFeatures, Transaction, memo_field::TxType},
};

use super::{
    Ctx, NETWORK,
    ledger::{Branch, Kind, Txo, find_output, own_txo, received_txo},
    parties::{FUNDER, STRANGER, TEST_WALLETS},
    schedule::Rng,
};

pub(super) struct Built {
    pub(super) tx: Transaction,
    pub(super) new: Vec<Txo>,
    pub(super) spent: Vec<usize>,
}

/// The funder pays one-sided (stealth) outputs to some test wallets, and sometimes the stranger; change back.
pub(super) fn funder_payment(ctx: &Ctx, branch: &Branch, height: u64, rng: &mut Rng) -> anyhow::Result<Option<Built>> {
    let count = 1 + rng.below(3) as usize;
    let first = rng.below(TEST_WALLETS as u64) as usize;
    let mut recipients: Vec<usize> = (0..count).map(|i| (first + i) % TEST_WALLETS).collect();
    if rng.below(2) == 0 {
        recipients.push(STRANGER);
    }
    let amounts: Vec<u64> = recipients.iter().map(|_| 1_000_000 + rng.below(499_000_000)).collect();
    let needed: u64 = amounts.iter().sum::<u64>() + 10_000_000;

    let mut candidates: Vec<usize> = (0..branch.txos.len())
        .filter(|&i| {
            let t = &branch.txos[i];
            t.owner == FUNDER && t.spent.is_none() && t.spendable.is_some() && t.maturity <= height
        })
        .collect();
    candidates.sort_by_key(|&i| std::cmp::Reverse(branch.txos[i].value));
    let mut inputs = Vec::new();
    let mut total = 0;
    for i in candidates {
        if total >= needed {
            break;
        }
        total += branch.txos[i].value;
        inputs.push(i);
    }
    if total < needed {
        return Ok(None);
    }

    let funder = &ctx.parties[FUNDER];
    let mut builder = TransactionBuilder::new(
        ctx.rules.consensus_constants(height).clone(),
        funder.km.clone(),
        NETWORK,
    )?;
    builder.with_lock_height(0).with_fee_per_gram(MicroMinotari::from(5));
    for &i in &inputs {
        builder.with_input(branch.txos[i].spendable.clone().expect("filtered"))?;
    }
    for (n, (&to, &amount)) in recipients.iter().zip(&amounts).enumerate() {
        let memo = if n % 2 == 0 {
            MemoField::new_open(
                format!("pay {height}.{n} to {}", ctx.parties[to].name).into_bytes(),
                TxType::PaymentToOther,
            )
            .map_err(|e| anyhow!(e))?
        } else {
            MemoField::new_empty()
        };
        builder.with_recipient_spec(RecipientSpec::stealth(
            ctx.parties[to].address.clone(),
            MicroMinotari::from(amount),
            OutputFeatures::default(),
            memo,
        ))?;
    }
    builder.reserve_sender_offset_keys(&[])?;
    let finalized = builder.build()?;
    let tx = finalized.transaction;
    ensure!(
        finalized.spec_outputs.len() == recipients.len(),
        "one output per recipient"
    );
    let mut new = Vec::new();
    for (wallet_output, &to) in finalized.spec_outputs.iter().zip(&recipients) {
        new.push(received_txo(
            ctx,
            to,
            Kind::StealthPayment,
            find_output(&tx, wallet_output)?,
        )?);
    }
    if let Some(change) = &finalized.change {
        new.push(own_txo(FUNDER, Kind::Change, change, &tx)?);
    }
    ensure!(new.len() == tx.body.outputs().len(), "every output is accounted for");
    Ok(Some(Built { tx, new, spent: inputs }))
}

/// A test wallet spends one of its own outputs: a one-sided payment to another wallet or the stranger, sometimes an
/// output to itself, and change back to itself.
pub(super) fn wallet_spend(
    ctx: &Ctx,
    branch: &Branch,
    height: u64,
    spender: usize,
    rng: &mut Rng,
) -> anyhow::Result<Option<Built>> {
    let candidates: Vec<usize> = (0..branch.txos.len())
        .filter(|&i| {
            let t = &branch.txos[i];
            t.owner == spender
                && t.spent.is_none()
                && t.spendable.is_some()
                && t.maturity <= height
                && t.value >= 3_000_000
        })
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let pick = candidates[rng.below(candidates.len().min(3) as u64) as usize];
    let input = &branch.txos[pick];
    let target = if rng.below(2) == 0 {
        (spender + 1) % TEST_WALLETS
    } else {
        STRANGER
    };
    let party = &ctx.parties[spender];
    let mut builder =
        TransactionBuilder::new(ctx.rules.consensus_constants(height).clone(), party.km.clone(), NETWORK)?;
    builder.with_lock_height(0).with_fee_per_gram(MicroMinotari::from(5));
    builder.with_input(input.spendable.clone().expect("filtered"))?;
    let pay = input.value / 3;
    builder.with_recipient_spec(RecipientSpec::stealth(
        ctx.parties[target].address.clone(),
        MicroMinotari::from(pay),
        OutputFeatures::default(),
        MemoField::new_open(
            format!("spend {height} {} -> {}", party.name, ctx.parties[target].name).into_bytes(),
            TxType::PaymentToOther,
        )
        .map_err(|e| anyhow!(e))?,
    ))?;
    let to_self = rng.below(2) == 0;
    if to_self {
        builder.with_recipient_spec(RecipientSpec::to_self(
            MicroMinotari::from(input.value / 5),
            OutputFeatures::default(),
            MemoField::new_open(format!("to self {height}").into_bytes(), TxType::PaymentToSelf)
                .map_err(|e| anyhow!(e))?,
        ))?;
    }
    builder.reserve_sender_offset_keys(&[])?;
    let finalized = builder.build()?;
    let tx = finalized.transaction;
    let mut new = vec![received_txo(
        ctx,
        target,
        Kind::StealthPayment,
        find_output(&tx, &finalized.spec_outputs[0])?,
    )?];
    if to_self {
        new.push(own_txo(spender, Kind::ToSelf, &finalized.spec_outputs[1], &tx)?);
    }
    let change = finalized.change.as_ref().context("a partial spend leaves change")?;
    new.push(own_txo(spender, Kind::Change, change, &tx)?);
    ensure!(new.len() == tx.body.outputs().len(), "every output is accounted for");
    Ok(Some(Built {
        tx,
        new,
        spent: vec![pick],
    }))
}
