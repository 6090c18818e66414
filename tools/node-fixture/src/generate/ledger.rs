//! Ledger: the generator's own record of what it built, which is the manifest's ground truth. Each output it created
//! (`Txo`: owner, kind, value, memo, where it was mined and spent, and its spendable form) and each branch of the
//! chain (`Branch`: tip, outputs, block hashes). It does not read the node's database; the record is only
//! cross-checked against it.

use anyhow::{Context, ensure};
use tari_common_types::types::FixedHash;
use tari_node_components::blocks::Block;
use tari_transaction_components::transaction_components::{MemoField, Transaction, TransactionOutput, WalletOutput};

use super::{Ctx, parties::recover};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Coinbase,
    StealthPayment,
    Change,
    ToSelf,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Coinbase => "coinbase",
            Kind::StealthPayment => "stealth_payment",
            Kind::Change => "change",
            Kind::ToSelf => "to_self",
        }
    }
}

/// One output the generator created, with its owner and (when the owner can spend it) its spendable form.
#[derive(Clone)]
pub(super) struct Txo {
    pub(super) owner: usize,
    pub(super) kind: Kind,
    /// Diffie-Hellman (sender offset key) encryption, as opposed to the owner's own view key.
    pub(super) dh_encrypted: bool,
    pub(super) output: TransactionOutput,
    pub(super) spendable: Option<WalletOutput>,
    pub(super) value: u64,
    pub(super) memo: MemoField,
    pub(super) maturity: u64,
    pub(super) height: u64,
    pub(super) block_hash: FixedHash,
    pub(super) spent: Option<(u64, FixedHash)>,
}

/// One branch of the chain as the generator sees it: its tip block and every output it created.
#[derive(Clone)]
pub(super) struct Branch {
    pub(super) tip: Block,
    pub(super) txos: Vec<Txo>,
    pub(super) hashes: Vec<FixedHash>,
}

impl Branch {
    pub(super) fn apply(&mut self, block: &Block, new: Vec<Txo>, spent: Vec<usize>) {
        let hash = block.hash();
        let height = block.header.height;
        for mut txo in new {
            txo.height = height;
            txo.block_hash = hash;
            self.txos.push(txo);
        }
        for i in spent {
            self.txos[i].spent = Some((height, hash));
        }
        self.hashes.push(hash);
        self.tip = block.clone();
    }
}

pub(super) fn find_output(tx: &Transaction, wallet_output: &WalletOutput) -> anyhow::Result<TransactionOutput> {
    tx.body
        .outputs()
        .iter()
        .find(|o| o.commitment == *wallet_output.commitment())
        .cloned()
        .context("built output is not in its transaction")
}

pub(super) fn received_txo(ctx: &Ctx, owner: usize, kind: Kind, output: TransactionOutput) -> anyhow::Result<Txo> {
    let (value, memo, spendable) = recover(&ctx.parties[owner], &output)?
        .with_context(|| format!("{} cannot recover an output paid to it", ctx.parties[owner].name))?;
    ensure!(
        spendable.is_some(),
        "{} cannot spend an output paid to it",
        ctx.parties[owner].name
    );
    Ok(Txo {
        owner,
        kind,
        dh_encrypted: true,
        maturity: output.features.maturity,
        output,
        spendable,
        value,
        memo,
        height: 0,
        block_hash: FixedHash::zero(),
        spent: None,
    })
}

pub(super) fn own_txo(owner: usize, kind: Kind, wallet_output: &WalletOutput, tx: &Transaction) -> anyhow::Result<Txo> {
    let output = find_output(tx, wallet_output)?;
    Ok(Txo {
        owner,
        kind,
        dh_encrypted: false,
        maturity: output.features.maturity,
        output,
        spendable: Some(wallet_output.clone()),
        value: wallet_output.value().as_u64(),
        memo: wallet_output.payment_id().clone(),
        height: 0,
        block_hash: FixedHash::zero(),
        spent: None,
    })
}
