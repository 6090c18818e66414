//! The job store's tests: reopening, wiping, sealed file keys, attempts, envelopes, migrations from
//! schemas 1 and 4 (the webhook queue's are in `webhooks/tests.rs`).

use super::{SqliteJobStore as Store, *};
use crate::service::jobs::store::SUBMISSION_FORMAT;

fn job<'a>(id: &'a str, sealed: &'a [u8]) -> NewJob<'a> {
    NewJob {
        id,
        birthday: 5,
        sealed_request: sealed,
        format: SUBMISSION_FORMAT,
        token_hash: &[4; 32],
        result_key: &[6; 32],
        created_ms: 10,
        envelope: None,
        client: [0; 16],
    }
}

#[test]
fn jobs_survive_reopen_and_keys_are_wiped_when_scans_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.next_boot().unwrap(), 1);
    store.insert(&job("a", &[9; 80])).unwrap();
    store.insert(&job("b", &[9; 80])).unwrap();
    store.claim(&["a".into()], 0).unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.next_boot().unwrap(), 2);
    let jobs = store.load().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[0].state, jobs[0].attempts, jobs[0].tokens.len()),
        (StoredState::Scanning, 1, 1)
    );
    let parts = store.sealed("a").unwrap().unwrap();
    assert_eq!((parts.sealed_envelope, parts.format), (vec![9; 80], SUBMISSION_FORMAT));
    assert_eq!((store.keys_held(), store.count_keys_held().unwrap()), (2, 2));

    let result = StoredResult {
        size: 100,
        sha256: "ab".into(),
        stale: true,
        tip_height: Some(12),
    };
    store.finish_ready("a", &result, None, 20, 30).unwrap();
    assert_eq!((store.keys_held(), store.count_keys_held().unwrap()), (1, 1));
    // A write that finds no keys (again, or a job in another state) takes nothing off the count.
    store.finish_ready("a", &result, None, 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.tombstone("b", StoredState::Expired, 50).unwrap();
    assert_eq!((store.keys_held(), store.count_keys_held().unwrap()), (0, 0));
    // A queued job deleted: its keys go with the tombstone.
    store.insert(&job("c", &[9; 80])).unwrap();
    assert_eq!(store.keys_held(), 1);
    store.tombstone("c", StoredState::Deleted, 50).unwrap();
    assert_eq!((store.keys_held(), store.count_keys_held().unwrap()), (0, 0));
    assert!(store.sealed("a").unwrap().is_none());
    assert_eq!(store.load().unwrap()[0].result, Some(result));

    // The token's sealed file key, until the job is wiped.
    assert_eq!(store.result_keys("a", true).unwrap(), vec![([4; 32], [6; 32])]);
    store.set_sealed_file_key("a", &[4; 32], b"boxed").unwrap();
    assert!(store.result_keys("a", true).unwrap().is_empty());
    assert_eq!(store.result_keys("a", false).unwrap().len(), 1);
    assert_eq!(
        store.sealed_file_key("a", &[4; 32]).unwrap().as_deref(),
        Some(&b"boxed"[..])
    );
    assert_eq!(store.sealed_file_key("a", &[5; 32]).unwrap(), None);
    store.tombstone("a", StoredState::Deleted, 40).unwrap();
    assert_eq!(store.sealed_file_key("a", &[4; 32]).unwrap(), None);
    assert!(store.result_keys("a", false).unwrap().is_empty());
    store.checkpoint().unwrap();
    assert_eq!(store.purge(41).unwrap(), 1);
    assert_eq!(store.load().unwrap().len(), 2);
}

/// A data directory of schema 1 (before files survived restarts) opens, its jobs intact.
#[test]
fn migrates_a_version_1_store() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch(
        "PRAGMA application_id = 1415009073;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, dedupe BLOB NOT NULL,
            birthday INTEGER NOT NULL, spend_public_key BLOB, sealed_view_key BLOB, sealed_password BLOB,
            attempts INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, finished_ms INTEGER,
            expires_ms INTEGER, error_code TEXT, error_message TEXT, result_size INTEGER,
            result_sha256 TEXT);
         CREATE TABLE tokens (job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            hash BLOB NOT NULL, PRIMARY KEY (job_id, hash));
         INSERT INTO jobs (id, state, dedupe, birthday, created_ms, expires_ms, result_size, result_sha256)
            VALUES ('old', 'ready', zeroblob(32), 0, 1, 99, 10, 'cd');
         INSERT INTO tokens (job_id, hash) VALUES ('old', zeroblob(32));
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    let jobs = store.load().unwrap();
    assert_eq!((jobs[0].state, jobs[0].tokens.len()), (StoredState::Ready, 1));
    assert_eq!(
        jobs[0].result.as_ref().map(|r| (r.size, r.stale, r.tip_height)),
        Some((10, false, None))
    );
    // A schema-1 token has no result key: nothing is ever sealed to it.
    assert!(store.result_keys("old", false).unwrap().is_empty());
    // A schema-1 job is a format-1 job; new ones are format 2.
    store.insert(&job("new", &[9; 80])).unwrap();
    assert_eq!(store.sealed("new").unwrap().unwrap().format, SUBMISSION_FORMAT);
    drop(store);
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// Attempts are counted when a scan starts, so one the process died in counts; a drain gives it back.
#[test]
fn attempts_are_counted_as_scans_start_and_a_drain_gives_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert(&job("a", &[9; 80])).unwrap();
    let attempts = |store: &Store| store.load().unwrap()[0].attempts;
    store.claim(&["a".into()], 0).unwrap();
    store.requeue("a", false).unwrap();
    assert_eq!(attempts(&store), 1, "a failed attempt stays counted");
    store.claim(&["a".into()], 0).unwrap();
    store.requeue("a", true).unwrap();
    assert_eq!(attempts(&store), 1, "an attempt the shutdown interrupted is given back");
    assert_eq!(store.load().unwrap()[0].state, StoredState::Queued);
    // An outcome that could not be written leaves the job scanning: its next scan counts all the same.
    store.claim(&["a".into()], 0).unwrap();
    store.claim(&["a".into()], 0).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        (store.load().unwrap()[0].state, attempts(&store)),
        (StoredState::Scanning, 3)
    );
}

/// A data directory of schema 4 opens at schema 5: the wallet fingerprint and the spend key are gone
/// from the rows and from the file's bytes, a queued format-2 job keeps its envelope, and a queued
/// format-1 job (whose spend key was only in the clear) fails with `FORMAT_RETIRED`, its boxes wiped.
#[test]
fn migrates_a_version_4_store_and_leaves_no_wallet_link_behind() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch(
        "PRAGMA application_id = 1415009073; PRAGMA journal_mode = WAL; PRAGMA secure_delete = ON;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('queued', 'scanning',
            'ready', 'failed', 'deleted', 'expired')), dedupe BLOB NOT NULL, birthday INTEGER NOT NULL,
            spend_public_key BLOB, sealed_view_key BLOB, sealed_password BLOB,
            attempts INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, finished_ms INTEGER,
            expires_ms INTEGER, error_code TEXT, error_message TEXT, result_size INTEGER,
            result_sha256 TEXT, result_stale INTEGER, result_tip_height INTEGER,
            format INTEGER NOT NULL DEFAULT 1);
         CREATE INDEX jobs_by_state ON jobs (state, created_ms);
         CREATE TABLE tokens (job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            hash BLOB NOT NULL, result_key BLOB, sealed_file_key BLOB, PRIMARY KEY (job_id, hash));
         CREATE TABLE seen_envelopes (ephemeral BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL);
         CREATE TABLE webhook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL,
            event_id TEXT NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL);
         INSERT INTO jobs (id, state, dedupe, birthday, spend_public_key, sealed_view_key, format, created_ms)
            VALUES ('v2', 'queued', X'd1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1', 7,
                    X'5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e', X'0909090909', 2, 1);
         INSERT INTO jobs (id, state, dedupe, birthday, spend_public_key, sealed_view_key, sealed_password,
                           created_ms)
            VALUES ('v1', 'queued', X'd2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2', 8,
                    X'5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f', X'0808080808',
                    X'0707070707', 2);
         INSERT INTO tokens (job_id, hash) VALUES ('v2', zeroblob(32)), ('v1', X'01');
         PRAGMA user_version = 4;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    drop(conn);

    let store = Store::open(dir.path()).unwrap();
    let jobs = store.load().unwrap();
    assert_eq!((jobs[0].id.as_str(), jobs[0].state), ("v2", StoredState::Queued));
    let parts = store.sealed("v2").unwrap().unwrap();
    assert_eq!((parts.sealed_envelope, parts.format), (vec![9; 5], 2));
    assert_eq!((jobs[1].id.as_str(), jobs[1].state), ("v1", StoredState::Failed));
    assert_eq!(jobs[1].error.as_ref().map(|e| e.0.as_str()), Some("FORMAT_RETIRED"));
    assert!(store.sealed("v1").unwrap().is_none());
    assert_eq!((store.keys_held(), store.count_keys_held().unwrap()), (1, 1));
    drop(store);

    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('jobs')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for gone in ["dedupe", "spend_public_key", "sealed_password", "sealed_view_key"] {
        assert!(
            !columns.iter().any(|c| c == gone),
            "{gone} is still a column: {columns:?}"
        );
    }
    drop(conn);
    let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join(format!("{FILE_NAME}-wal"))) {
        bytes.extend(wal);
    }
    for gone in [[0xd1; 32], [0xd2; 32], [0x5e; 32], [0x5f; 32]] {
        assert!(
            !bytes.windows(32).any(|w| w == gone),
            "{:02x} is still in the store's bytes",
            gone[0]
        );
    }
}

#[test]
fn an_envelope_is_accepted_as_one_job_within_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let with = |id: &'static str, ephemeral: &'static [u8; 32], until: u64| NewJob {
        envelope: Some((ephemeral, until)),
        ..job(id, &[9; 80])
    };
    assert_eq!(store.insert(&with("a", &[1; 32], 1_000)).unwrap(), Inserted::New);
    // Sent again (a retry, a replay, or both at once): nothing written, the first job named.
    assert_eq!(
        store.insert(&with("b", &[1; 32], 1_000)).unwrap(),
        Inserted::Repeat(Some("a".into()))
    );
    assert_eq!(store.load().unwrap().len(), 1, "no row for the repeat");
    assert_eq!(store.insert(&with("c", &[2; 32], 2_000)).unwrap(), Inserted::New);
    assert_eq!(store.envelope_job(&[1; 32]).unwrap(), Some(Some("a".into())));
    assert_eq!(store.envelope_job(&[3; 32]).unwrap(), None);
    assert_eq!(store.envelopes_remembered(), 2);
    assert_eq!(store.oldest_envelope_ms().unwrap(), Some(1_000));
    drop(store);
    // Across a restart too, the count with it.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.envelopes_remembered(), 2);
    assert_eq!(store.envelope_job(&[1; 32]).unwrap(), Some(Some("a".into())));
    // Forgotten only once its window is over (its timestamp refuses it from then on).
    store.purge(999).unwrap();
    assert!(store.envelope_job(&[1; 32]).unwrap().is_some());
    store.purge(1_001).unwrap();
    assert_eq!(store.envelope_job(&[1; 32]).unwrap(), None);
    assert_eq!(store.envelopes_remembered(), 1);
    assert_eq!(store.oldest_envelope_ms().unwrap(), Some(2_000));
}

#[cfg(unix)]
#[test]
fn every_file_of_the_store_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Side files an older build left world-readable are narrowed too.
    std::fs::write(dir.path().join(format!("{FILE_NAME}-wal")), b"").unwrap();
    std::fs::set_permissions(
        dir.path().join(format!("{FILE_NAME}-wal")),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert(&job("a", &[9; 80])).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", entry.file_name());
        seen += 1;
    }
    assert!(seen >= 2, "the database and its write-ahead log");
}

#[test]
fn refuses_a_negative_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch("PRAGMA user_version = -3").unwrap();
    drop(conn);
    let Err(error) = Store::open(dir.path()) else {
        panic!("opened")
    };
    assert!(error.to_string().contains("-3"), "{error}");
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    assert!(Store::open(dir.path()).is_err());
}

/// One replica: a claim counts the attempt and takes back a job still scanning, a pass learns that a job
/// deleted meanwhile is no longer its, and nothing is shared (no feed, no stored file, no revisions).
#[test]
fn a_single_replicas_claims_count_attempts_and_a_deleted_job_is_lost_to_its_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert(&job("a", &[9; 80])).unwrap();
    store.insert(&job("b", &[9; 80])).unwrap();
    let ids = ["a".to_string(), "b".to_string(), "missing".to_string()];
    let claimed = store.claim(&ids, 0).unwrap();
    assert_eq!(
        claimed.iter().map(|c| (c.id.as_str(), c.attempts)).collect::<Vec<_>>(),
        [("a", 1), ("b", 1)]
    );
    assert_eq!(
        store.claim(&ids[..1], 0).unwrap()[0].attempts,
        2,
        "still scanning: taken back"
    );
    assert!(store.renew(&ids[..2], 0).unwrap().is_empty());
    store.tombstone("b", StoredState::Deleted, 50).unwrap();
    assert_eq!(store.renew(&ids[..2], 0).unwrap(), ["b".to_string()]);
    assert!(
        !store
            .finish_ready(
                "b",
                &StoredResult {
                    size: 1,
                    sha256: "ab".into(),
                    stale: false,
                    tip_height: None
                },
                None,
                1,
                2
            )
            .unwrap()
    );
    assert!(store.requeue("a", false).unwrap());
    assert!(!store.requeue("a", false).unwrap(), "queued already");
    let row = store.job("a").unwrap().unwrap();
    assert_eq!((row.state, row.attempts, row.tokens.len()), (StoredState::Queued, 2, 1));
    assert!(store.job("missing").unwrap().is_none());
    assert!(store.reclaim_expired(u64::MAX).unwrap().is_empty());
    assert!(!store.shared() && store.changes().is_none() && store.ping().is_ok());
    assert_eq!(store.result_file("a").unwrap(), None);
}
