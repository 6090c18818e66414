//! Wallet database: the SQLite file minotari-cli (the official view-key wallet) opens and keeps syncing.
//! It owns the file's layout (tables, indexes, `user_version`) and, later, the rows we write into it.
//! It does not scan, recognize outputs or talk to the node; it receives finished results.
//!
//! The client migrates its file with `rusqlite_migration`, whose only bookkeeping is `PRAGMA user_version`:
//! a file at [`schema::SCHEMA_VERSION`] with the schema its 30 migrations leave is "up to date" to the
//! client, which then resumes from the highest `scanned_tip_blocks` row. `docs/walletdb.md` describes every
//! table and column and how the client reads them.

pub mod schema;
