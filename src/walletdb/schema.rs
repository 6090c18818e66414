//! Schema: the tables and indexes of a minotari-cli wallet database at migration 30, created in one step.
//! It owns the DDL and `user_version`; it writes no rows.
//!
//! minotari-cli builds its file by replaying 30 migrations; we write the end state directly. What must match
//! is what the client (and SQLite) can observe: every table, column (name, declared type, order,
//! constraints, default), index (columns, order, uniqueness, partial `WHERE`) and `PRAGMA user_version`.
//! The `sql` text SQLite keeps in `sqlite_master` matches the migrated file token for token; only
//! whitespace and the migrations' `--` comments differ. Three shapes there come from the migration history
//! and are kept on purpose: `"outputs"` is quoted (SQLite writes the name that way when a migration renamed
//! a rebuilt table into place), columns added later by `ALTER TABLE` sit after the older ones and before
//! the table constraints, and declared types keep their original spelling (`blob`, `Blob`, `BIGINT`).
//!
//! The client's migration runner (`rusqlite_migration`) keeps no table of its own: `user_version` is its
//! whole bookkeeping. At 30 it runs nothing; below 30 it would replay the later migrations over our tables;
//! above 30 it refuses the file. There must be no `_sqlx_migrations` table: the client treats one as a
//! legacy database, sets `user_version` to its row count and drops it.
//!
//! `tests/fixtures/walletdb-schema.txt` records `sqlite_master` and `user_version` of a database migrated
//! by the client's own runner; the tests below compare ours with it, as text and as structure.

use rusqlite::Connection;

/// `PRAGMA user_version` of the schema built here: the number of minotari-cli migrations it equals.
pub const SCHEMA_VERSION: u32 = 30;

/// Tables, parents first. Column order and declared types are the client's; comments are ours.
const TABLES: &[&str] = &[
    // One row per wallet: the `WalletType` JSON, encrypted under the user's password, and its fingerprint.
    "CREATE TABLE accounts (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        friendly_name TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL UNIQUE,
        encrypted_wallet BLOB NOT NULL,
        cipher_nonce BLOB NOT NULL,
        salt BLOB NOT NULL,
        birthday INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
    )",
    // Scanned blocks (height, hash) per account: where a scan resumes and where a reorg is found.
    "CREATE TABLE scanned_tip_blocks (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        hash Blob NOT NULL,
        height INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )",
    // Owned outputs. Quoted name and the trailing `is_burn` mirror the client's rebuilt table.
    r#"CREATE TABLE "outputs" (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        tx_id INTEGER NOT NULL,
        output_hash blob NOT NULL,
        mined_in_block_hash blob NOT NULL,
        mined_in_block_height INTEGER NOT NULL,
        value INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        wallet_output_json TEXT NOT NULL,
        mined_timestamp TIMESTAMP NOT NULL,
        confirmed_height INTEGER,
        confirmed_hash BLOB,
        memo_parsed TEXT,
        memo_hex TEXT,
        status TEXT NOT NULL DEFAULT 'UNSPENT',
        locked_at TIMESTAMP,
        locked_by_request_id TEXT,
        deleted_at TIMESTAMP,
        deleted_in_block_height INTEGER,
        payment_reference TEXT,
        is_burn INTEGER NOT NULL DEFAULT 0,
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )"#,
    // Spends of owned outputs, one per output while not soft-deleted.
    "CREATE TABLE inputs (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        output_id INTEGER NOT NULL,
        mined_in_block_hash blob NOT NULL,
        mined_in_block_height INTEGER NOT NULL,
        mined_timestamp TIMESTAMP NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        deleted_at TIMESTAMP,
        deleted_in_block_height INTEGER,
        FOREIGN KEY (output_id) REFERENCES outputs(id),
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )",
    // The ledger the balance is summed from: one credit per output, one debit per input, reversals on reorg.
    "CREATE TABLE balance_changes (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        caused_by_output_id INTEGER,
        caused_by_input_id INTEGER,
        description TEXT NOT NULL,
        balance_debit INTEGER NOT NULL,
        balance_credit INTEGER NOT NULL,
        effective_date TIMESTAMP NOT NULL,
        effective_height INTEGER NOT NULL,
        claimed_recipient_address TEXT,
        claimed_sender_address TEXT,
        memo_parsed TEXT,
        memo_hex TEXT,
        claimed_fee INTEGER,
        claimed_amount INTEGER,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        is_reversal BOOLEAN NOT NULL DEFAULT FALSE,
        reversal_of_balance_change_id INTEGER REFERENCES balance_changes(id),
        is_reversed BOOLEAN NOT NULL DEFAULT FALSE,
        FOREIGN KEY (account_id) REFERENCES accounts(id),
        FOREIGN KEY (caused_by_output_id) REFERENCES outputs(id),
        FOREIGN KEY (caused_by_input_id) REFERENCES inputs(id)
    )",
    // Wallet history entries (`WalletEventType` as JSON).
    "CREATE TABLE events (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        description TEXT NOT NULL,
        data_json TEXT,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )",
    // Spending side (left empty by us): unsigned transactions that lock outputs.
    "CREATE TABLE pending_transactions (
        id TEXT PRIMARY KEY NOT NULL,
        account_id INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL,
        status TEXT NOT NULL,
        requires_change_output BOOLEAN NOT NULL DEFAULT FALSE,
        total_value INTEGER NOT NULL DEFAULT 0,
        fee_without_change INTEGER NOT NULL DEFAULT 0,
        fee_with_change INTEGER NOT NULL DEFAULT 0,
        expires_at TIMESTAMP NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (account_id) REFERENCES accounts(id),
        UNIQUE (account_id, idempotency_key)
    )",
    // Spending side (left empty by us): signed transactions being broadcast and watched.
    "CREATE TABLE completed_transactions (
        id INTEGER PRIMARY KEY NOT NULL,
        account_id INTEGER NOT NULL,
        pending_tx_id TEXT NOT NULL,
        status TEXT NOT NULL,
        last_rejected_reason TEXT,
        kernel_excess BLOB NOT NULL,
        sent_payref TEXT,
        mined_height INTEGER,
        mined_block_hash BLOB,
        confirmation_height INTEGER,
        broadcast_attempts INTEGER NOT NULL DEFAULT 0,
        sent_output_hash TEXT,
        serialized_transaction BLOB NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (account_id) REFERENCES accounts(id),
        FOREIGN KEY (pending_tx_id) REFERENCES pending_transactions(id)
    )",
    // The transaction list the client shows (`DisplayedTransaction` as JSON); it has no foreign keys.
    "CREATE TABLE displayed_transactions (
        id TEXT PRIMARY KEY NOT NULL,
        account_id INTEGER NOT NULL,
        direction TEXT NOT NULL,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        amount INTEGER NOT NULL,
        block_height INTEGER NOT NULL,
        timestamp TEXT NOT NULL,
        transaction_json TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        updated_at TEXT NOT NULL DEFAULT (datetime('now')),
        payref TEXT
    )",
    // Daemon side (left empty by us): outgoing webhook deliveries.
    "CREATE TABLE webhook_queue (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        target_url TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempt_count INTEGER NOT NULL DEFAULT 0,
        next_retry_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        last_error TEXT,
        FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE SET NULL
    )",
    // Spending side (left empty by us): proofs for burns this wallet made.
    "CREATE TABLE burn_proofs (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        output_hash BLOB NOT NULL,
        commitment BLOB NOT NULL,
        claim_public_key TEXT NOT NULL,
        ownership_proof_nonce BLOB NOT NULL,
        ownership_proof_sig BLOB NOT NULL,
        kernel_excess BLOB NOT NULL,
        kernel_excess_nonce BLOB NOT NULL,
        kernel_excess_sig BLOB NOT NULL,
        sender_offset_public_key BLOB NOT NULL,
        encrypted_data BLOB NOT NULL,
        value INTEGER NOT NULL,
        kernel_fee INTEGER NOT NULL DEFAULT 0,
        kernel_lock_height INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending_merkle',
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )",
    // Payment references made stale by reorgs, so old ones still resolve (filled by the client on reorg).
    "CREATE TABLE payref_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        transaction_id BIGINT NOT NULL,
        old_payref TEXT NOT NULL,
        output_hash TEXT,
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        FOREIGN KEY (account_id) REFERENCES accounts(id)
    )",
];

/// Named indexes, grouped by table. Partial indexes cover only live (not soft-deleted) rows.
const INDEXES: &[&str] = &[
    "CREATE INDEX idx_scanned_tip_blocks_account_height ON scanned_tip_blocks(account_id, height DESC)",
    "CREATE UNIQUE INDEX idx_scanned_tip_blocks_account_height_hash
        ON scanned_tip_blocks(account_id, height, hash)",
    "CREATE UNIQUE INDEX idx_outputs_output_hash_active ON outputs(output_hash) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_outputs_account_mined_height_active
        ON outputs(account_id, mined_in_block_height) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_outputs_status_active ON outputs(status) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_outputs_account_status_active ON outputs(account_id, status) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_outputs_account_confirmed_active
        ON outputs(account_id) WHERE confirmed_height IS NULL AND deleted_at IS NULL",
    "CREATE UNIQUE INDEX idx_outputs_tx_id_active ON outputs(tx_id) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX idx_inputs_output_id_unique_active ON inputs(output_id) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_inputs_account_mined_height_active
        ON inputs(account_id, mined_in_block_height) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_balance_changes_account_height ON balance_changes(account_id, effective_height)",
    "CREATE INDEX idx_balance_changes_reversal_of
        ON balance_changes(reversal_of_balance_change_id) WHERE reversal_of_balance_change_id IS NOT NULL",
    "CREATE INDEX idx_balance_changes_is_reversed ON balance_changes(is_reversed) WHERE is_reversed = TRUE",
    "CREATE INDEX idx_pending_transactions_status_expires_at ON pending_transactions(status, expires_at)",
    "CREATE INDEX idx_completed_transactions_account_id ON completed_transactions(account_id)",
    "CREATE INDEX idx_completed_transactions_pending_tx_id ON completed_transactions(pending_tx_id)",
    "CREATE INDEX idx_completed_transactions_status ON completed_transactions(status)",
    "CREATE INDEX idx_completed_transactions_account_status ON completed_transactions(account_id, status)",
    "CREATE INDEX idx_completed_transactions_mined_height ON completed_transactions(mined_height)",
    "CREATE INDEX idx_displayed_transactions_account_id ON displayed_transactions(account_id)",
    "CREATE INDEX idx_displayed_transactions_status ON displayed_transactions(status)",
    "CREATE INDEX idx_displayed_transactions_block_height ON displayed_transactions(block_height)",
    "CREATE INDEX idx_displayed_transactions_account_status ON displayed_transactions(account_id, status)",
    "CREATE INDEX idx_displayed_transactions_account_height
        ON displayed_transactions(account_id, block_height DESC)",
    "CREATE INDEX idx_displayed_transactions_payref ON displayed_transactions(payref)",
    "CREATE INDEX idx_webhook_queue_pending ON webhook_queue(status, next_retry_at)",
    "CREATE UNIQUE INDEX idx_burn_proofs_output_hash ON burn_proofs(output_hash)",
    "CREATE INDEX idx_burn_proofs_status ON burn_proofs(status)",
    "CREATE INDEX idx_payref_history_lookup ON payref_history (account_id, old_payref)",
];

/// Creates every table and index of schema version 30 and sets `user_version`, all or nothing.
///
/// Meant for an empty database: on one that already has any of these objects it fails and leaves the
/// database as it was. It works inside or outside a caller's transaction (it uses a savepoint).
pub fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT walletdb_create_schema")?;
    let created = TABLES
        .iter()
        .chain(INDEXES)
        .try_for_each(|statement| conn.execute(statement, []).map(drop))
        .and_then(|()| conn.pragma_update(None, "user_version", SCHEMA_VERSION));
    match created {
        Ok(()) => conn.execute_batch("RELEASE walletdb_create_schema"),
        Err(error) => {
            // The original error is the one worth reporting; a failed rollback would surface on next use.
            let _ = conn.execute_batch("ROLLBACK TO walletdb_create_schema; RELEASE walletdb_create_schema");
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value;

    /// `sqlite_master` and `user_version` of a database migrated by minotari-cli itself.
    const SNAPSHOT: &str = include_str!("../../tests/fixtures/walletdb-schema.txt");

    /// One `sqlite_master` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Object {
        kind: String,
        name: String,
        table: String,
        sql: Option<String>,
    }

    fn parse_snapshot(text: &str) -> (u32, Vec<Object>) {
        let mut lines = text.lines().skip_while(|line| line.starts_with('#'));
        let version = lines
            .next()
            .and_then(|line| line.strip_prefix("user_version "))
            .and_then(|v| v.parse().ok())
            .expect("snapshot: `user_version N` after the header");
        let mut objects: Vec<Object> = Vec::new();
        for line in lines {
            if let Some(head) = line.strip_prefix("@@ ") {
                let fields: Vec<&str> = head.split(' ').collect();
                let [kind, name, table] = fields[..] else {
                    panic!("snapshot: bad object line {line:?}");
                };
                objects.push(Object {
                    kind: kind.into(),
                    name: name.into(),
                    table: table.into(),
                    sql: None,
                });
            } else {
                let object = objects.last_mut().expect("snapshot: sql before any `@@` line");
                let sql = object.sql.get_or_insert_with(String::new);
                if !sql.is_empty() {
                    sql.push('\n');
                }
                sql.push_str(line);
            }
        }
        (version, objects)
    }

    fn read_schema(conn: &Connection) -> (u32, Vec<Object>) {
        let version = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        let mut statement = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let objects = statement
            .query_map([], |row| {
                Ok(Object {
                    kind: row.get(0)?,
                    name: row.get(1)?,
                    table: row.get(2)?,
                    sql: row.get(3)?,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        (version, objects)
    }

    /// Drops `--` comments (none of the schema's string literals contains `--`), collapses whitespace, and
    /// removes the spaces next to `(` and `,` and before `)`, where SQL gives whitespace no meaning.
    fn normalize(sql: &str) -> String {
        let uncommented: Vec<&str> = sql.lines().map(|line| line.split("--").next().unwrap_or("")).collect();
        let collapsed = uncommented.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = collapsed.chars().collect();
        let mut out = String::with_capacity(collapsed.len());
        for (i, &c) in chars.iter().enumerate() {
            let before = i.checked_sub(1).map(|j| chars[j]);
            let after = chars.get(i + 1).copied();
            let droppable = c == ' ' && (matches!(before, Some('(' | ',')) || matches!(after, Some('(' | ',' | ')')));
            if !droppable {
                out.push(c);
            }
        }
        out
    }

    fn ours() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        create_schema(&conn).unwrap();
        conn
    }

    #[test]
    fn matches_the_migrated_client_schema() {
        let (expected_version, expected) = parse_snapshot(SNAPSHOT);
        let (version, actual) = read_schema(&ours());
        assert_eq!(version, expected_version);
        assert_eq!(version, SCHEMA_VERSION);

        let names = |objects: &[Object]| -> Vec<(String, String, String)> {
            objects
                .iter()
                .map(|o| (o.kind.clone(), o.name.clone(), o.table.clone()))
                .collect()
        };
        assert_eq!(names(&actual), names(&expected), "object set differs from the snapshot");
        for (ours, theirs) in actual.iter().zip(&expected) {
            assert_eq!(
                ours.sql.as_deref().map(normalize),
                theirs.sql.as_deref().map(normalize),
                "sql of {} {} differs from the snapshot",
                ours.kind,
                ours.name
            );
        }
    }

    /// Every row of a table-valued pragma query, rendered for comparison.
    fn pragma_rows(conn: &Connection, sql: &str, arg: &str) -> Vec<String> {
        let mut statement = conn.prepare(sql).unwrap();
        let width = statement.column_count();
        let rows = statement.query_map([arg], |row| (0..width).map(|i| row.get::<_, Value>(i)).collect());
        rows.unwrap()
            .map(|row: rusqlite::Result<Vec<Value>>| format!("{arg}: {:?}", row.unwrap()))
            .collect()
    }

    /// The first column of a query with one text parameter.
    fn names(conn: &Connection, sql: &str, arg: &str) -> Vec<String> {
        let mut statement = conn.prepare(sql).unwrap();
        statement
            .query_map([arg], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Columns, foreign keys, indexes and index keys of every table, as SQLite reports them.
    fn structure(conn: &Connection) -> Vec<String> {
        // Not the index list's `seq`: it only numbers a table's indexes in creation order.
        const TABLES: &str = "SELECT name FROM sqlite_master WHERE type = ?1 ORDER BY name";
        const INDEXES: &str = r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?1) ORDER BY name"#;
        let mut out = Vec::new();
        for table in names(conn, TABLES, "table") {
            out.extend(pragma_rows(conn, "SELECT * FROM pragma_table_xinfo(?1)", &table));
            out.extend(pragma_rows(conn, "SELECT * FROM pragma_foreign_key_list(?1)", &table));
            out.extend(pragma_rows(conn, INDEXES, &table));
            for index in names(conn, INDEXES, &table) {
                out.extend(pragma_rows(conn, "SELECT * FROM pragma_index_xinfo(?1)", &index));
            }
        }
        out
    }

    #[test]
    fn has_the_structure_of_the_migrated_client_schema() {
        // Rebuild the client's schema from the snapshot's own text, then compare what SQLite reports.
        let (_, objects) = parse_snapshot(SNAPSHOT);
        let reference = Connection::open_in_memory().unwrap();
        let tables_first = objects
            .iter()
            .filter(|o| o.kind == "table")
            .chain(objects.iter().filter(|o| o.kind != "table"));
        for object in tables_first.filter(|o| o.name != "sqlite_sequence") {
            if let Some(sql) = &object.sql {
                reference.execute(sql, []).unwrap();
            }
        }
        let (ours, client) = (structure(&ours()), structure(&reference));
        let only_ours: Vec<_> = ours.iter().filter(|row| !client.contains(row)).collect();
        let only_client: Vec<_> = client.iter().filter(|row| !ours.contains(row)).collect();
        assert!(
            only_ours.is_empty() && only_client.is_empty(),
            "only ours: {only_ours:#?}\nonly the client's: {only_client:#?}"
        );
        assert_eq!(ours, client, "same rows in a different order");
    }

    #[test]
    fn is_all_or_nothing_and_refuses_an_existing_schema() {
        let conn = ours();
        let before = read_schema(&conn);
        assert!(create_schema(&conn).is_err());
        assert_eq!(read_schema(&conn), before);
        assert!(conn.is_autocommit(), "the savepoint must be released after a failure");

        let partial = Connection::open_in_memory().unwrap();
        partial.execute("CREATE TABLE payref_history (x)", []).unwrap();
        assert!(create_schema(&partial).is_err());
        let (version, objects) = read_schema(&partial);
        assert_eq!(
            (version, objects.len()),
            (0, 1),
            "a failed create leaves nothing behind"
        );
    }

    #[test]
    fn passes_sqlite_integrity_and_foreign_key_checks() {
        let conn = ours();
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
        assert_eq!(integrity, "ok");
        let mut check = conn.prepare("PRAGMA foreign_key_check").unwrap();
        assert!(check.query([]).unwrap().next().unwrap().is_none());
    }

    #[test]
    fn normalize_ignores_only_layout_and_comments() {
        assert_eq!(normalize("t (\n  a INT, -- note\n  b )"), normalize("t(a INT,b)"));
        assert_ne!(normalize("a INT"), normalize("aINT"));
        assert_ne!(normalize("x(a DESC)"), normalize("x(a)"));
    }
}
