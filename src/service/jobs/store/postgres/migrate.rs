//! The PostgreSQL job store's schema and its migrations: numbered SQL files embedded in the binary
//! (`migrations/NNNN_*.sql`), the versions applied kept in `schema_migrations (version, applied_at)`.
//! Each migration runs in its own transaction, under a transaction-scoped advisory lock that every
//! replica takes first, and the version is read again under the lock: replicas started at once migrate
//! once, one after the other, and none sees a half-migrated schema. A database newer than this build is
//! refused (its replicas were upgraded first: this one would misread its rows).

use tokio_postgres::Client;

use super::model::Failure;

/// One step of the schema: applied to a database at `version - 1`.
pub(super) struct Migration {
    pub version: i32,
    pub sql: &'static str,
}

/// Every migration, in order. Append only: a released step never changes, a new one gets the next number.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("migrations/0001_fleet.sql"),
}];

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock every replica takes to migrate ("TWSM"): one number the whole database agrees on.
const MIGRATION_LOCK: i64 = 0x5457_534d;

/// Brings the database to `SCHEMA_VERSION`, one transaction per step; what it applied.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<i32>, Failure> {
    let mut applied = Vec::new();
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let version: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await?
            .get(0);
        if version > SCHEMA_VERSION {
            return Err(Failure::Refused(format!(
                "the database's schema is version {version}, newer than this build's {SCHEMA_VERSION}: \
                 upgrade this replica (it would misread the newer rows)"
            )));
        }
        let Some(step) = MIGRATIONS.iter().find(|m| m.version > version) else {
            tx.commit().await?;
            return Ok(applied);
        };
        tx.batch_execute(step.sql).await?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&step.version])
            .await?;
        tx.commit().await?;
        applied.push(step.version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbered from 1 without a gap, the last one this build's version: a step is never skipped.
    #[test]
    fn migrations_are_numbered_in_order_up_to_the_schema_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i32 + 1);
            assert!(!migration.sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
