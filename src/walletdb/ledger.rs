//! Ledger: the per-output and per-spend rows minotari-cli writes while it scans a block, in its order and
//! value formats: `outputs` with their `OutputDetected` event and credit, `inputs` with their debit and the
//! output turned `SPENT`, and `OutputConfirmed` events with the confirmation columns. Owns the SQL of those
//! four tables; which block comes when is `builder`'s.

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use serde_json::json;
use tari_common_types::{payment_reference::generate_payment_reference, transaction::TxId, types::FixedHash};

use super::{
    WalletDbError,
    wallet_output::{BuiltOutput, memo_claims, memo_text},
};
use crate::scan::OwnedOutput;

/// The client's default confirmation window (`required_confirmations`).
pub const REQUIRED_CONFIRMATIONS: u64 = 3;

/// A block timestamp as a UTC date-time.
pub fn utc(timestamp: u64) -> Result<DateTime<Utc>, WalletDbError> {
    i64::try_from(timestamp)
        .ok()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
        .ok_or(WalletDbError::Timestamp(timestamp))
}

/// rusqlite's text for a bound `DateTime<Utc>` (what the client's `mined_timestamp` columns hold).
fn utc_text(at: &DateTime<Utc>) -> String {
    at.format("%F %T%.f%:z").to_string()
}

/// rusqlite's text for a bound `NaiveDateTime` (`effective_date`).
fn naive_text(at: &NaiveDateTime) -> String {
    at.format("%F %T%.f").to_string()
}

/// FixedHash as serde writes it inside the client's JSON: an array of 32 numbers.
fn hash_json(hash: &[u8; 32]) -> serde_json::Value {
    json!(hash)
}

/// An output's hash, height and memo columns, as its confirmation event repeats them.
type ConfirmedRow = (Vec<u8>, i64, Option<String>, Option<String>);

/// Writes one wallet's ledger rows.
pub struct Ledger<'c> {
    conn: &'c Connection,
    account_id: i64,
    view_key: [u8; 32],
}

impl Drop for Ledger<'_> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.view_key);
    }
}

impl<'c> Ledger<'c> {
    pub fn new(conn: &'c Connection, account_id: i64, view_key: &[u8; 32]) -> Self {
        Ledger {
            conn,
            account_id,
            view_key: *view_key,
        }
    }

    fn stmt(&self, sql: &str) -> Result<CachedStatement<'c>, WalletDbError> {
        Ok(self.conn.prepare_cached(sql)?)
    }

    pub fn view_key(&self) -> &[u8; 32] {
        &self.view_key
    }

    fn event(&self, event_type: &str, description: String, data: serde_json::Value) -> Result<(), WalletDbError> {
        self.stmt("INSERT INTO events (account_id, event_type, description, data_json) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![self.account_id, event_type, description, data.to_string()])?;
        Ok(())
    }

    /// The output row, its `OutputDetected` event and its credit, as `process_outputs` writes them.
    /// Returns the output's row id.
    pub fn detect(&self, owned: &OwnedOutput, built: &BuiltOutput) -> Result<i64, WalletDbError> {
        let mined = utc(owned.block_timestamp)?;
        let tx_id = TxId::new_deterministic(&self.view_key, &owned.output_hash).as_i64_wrapped();
        let payref =
            generate_payment_reference(&FixedHash::from(owned.block_hash), &FixedHash::from(owned.output_hash));
        let (memo_parsed, memo_hex) = memo_text(&built.memo_bytes);
        let event = json!({ "OutputDetected": {
            "hash": hash_json(&owned.output_hash),
            "block_height": owned.height,
            "block_hash": hash_json(&owned.block_hash),
            "memo_parsed": memo_parsed,
            "memo_hex": memo_hex,
        }});
        self.stmt(
            "INSERT INTO outputs (account_id, tx_id, output_hash, mined_in_block_height, mined_in_block_hash, value,
                 mined_timestamp, wallet_output_json, memo_parsed, memo_hex, payment_reference, is_burn)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            self.account_id,
            tx_id,
            &owned.output_hash[..],
            owned.height as i64,
            &owned.block_hash[..],
            owned.value as i64,
            utc_text(&mined),
            built.json,
            memo_parsed,
            memo_hex,
            hex::encode(payref.as_slice()),
            built.is_burn,
        ])?;
        let output_id = self.conn.last_insert_rowid();
        self.event(
            "OutputDetected",
            format!("Detected output at height {}", owned.height),
            event,
        )?;
        let claims = memo_claims(&owned.memo, built.is_coinbase);
        let description = if built.is_coinbase {
            "Coinbase output found in blockchain scan"
        } else {
            "Output found in blockchain scan"
        };
        // Unlike the output row, the credit always carries memo text, empty for no memo.
        self.stmt(
            "INSERT INTO balance_changes (account_id, caused_by_output_id, caused_by_input_id, description,
                 balance_credit, balance_debit, effective_date, effective_height, claimed_recipient_address,
                 claimed_sender_address, memo_parsed, memo_hex, claimed_fee, claimed_amount, is_reversal,
                 reversal_of_balance_change_id, is_reversed)
             VALUES (?1, ?2, NULL, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, NULL, 0)",
        )?
        .execute(params![
            self.account_id,
            output_id,
            description,
            owned.value as i64,
            naive_text(&mined.naive_utc()),
            owned.height as i64,
            claims.recipient,
            claims.sender,
            String::from_utf8_lossy(&built.memo_bytes),
            hex::encode(&built.memo_bytes),
            claims.fee.map(|v| v as i64),
            claims.amount.map(|v| v as i64),
        ])?;
        Ok(output_id)
    }

    /// The input row, its debit and the spent status, as `process_inputs` writes them.
    pub fn spend(
        &self,
        output_id: i64,
        value: u64,
        height: u64,
        block_hash: &[u8; 32],
        timestamp: u64,
    ) -> Result<(), WalletDbError> {
        let mined = utc(timestamp)?;
        self.stmt(
            "INSERT OR IGNORE INTO inputs (account_id, output_id, mined_in_block_height, mined_in_block_hash,
                 mined_timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            self.account_id,
            output_id,
            height as i64,
            &block_hash[..],
            utc_text(&mined)
        ])?;
        let input_id: i64 = self
            .stmt("SELECT id FROM inputs WHERE output_id = ?1 AND deleted_at IS NULL")?
            .query_row([output_id], |row| row.get(0))?;
        self.stmt(
            "INSERT INTO balance_changes (account_id, caused_by_output_id, caused_by_input_id, description,
                 balance_credit, balance_debit, effective_date, effective_height, is_reversal,
                 reversal_of_balance_change_id, is_reversed)
             VALUES (?1, NULL, ?2, 'Output spent as input', 0, ?3, ?4, ?5, 0, NULL, 0)",
        )?
        .execute(params![
            self.account_id,
            input_id,
            value as i64,
            naive_text(&mined.naive_utc()),
            height as i64
        ])?;
        self.stmt("UPDATE outputs SET status = 'SPENT' WHERE id = ?1")?
            .execute([output_id])?;
        Ok(())
    }

    /// Marks an output confirmed at block `height` and records its `OutputConfirmed` event, as
    /// `process_confirmations` does when the block `REQUIRED_CONFIRMATIONS` above it is scanned.
    pub fn confirm(&self, output_id: i64, height: u64, block_hash: &[u8; 32]) -> Result<(), WalletDbError> {
        let row: Option<ConfirmedRow> = self
            .stmt("SELECT output_hash, mined_in_block_height, memo_parsed, memo_hex FROM outputs WHERE id = ?1")?
            .query_row([output_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((hash, mined, memo_parsed, memo_hex)) = row else {
            return Ok(());
        };
        let event = json!({ "OutputConfirmed": {
            "hash": hash,
            "block_height": mined,
            "confirmation_height": height,
            "memo_parsed": memo_parsed,
            "memo_hex": memo_hex,
        }});
        self.event(
            "OutputConfirmed",
            format!("Output confirmed at height {height} (originally at {mined})"),
            event,
        )?;
        self.stmt("UPDATE outputs SET confirmed_height = ?1, confirmed_hash = ?2 WHERE id = ?3")?
            .execute(params![height as i64, &block_hash[..], output_id])?;
        Ok(())
    }
}
