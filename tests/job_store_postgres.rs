//! The PostgreSQL job store's own promises, against a real server (one per test binary, a database per
//! test, made by `deploy/postgres/roles.sql`): migrations applied once however many replicas start at
//! once, a newer schema refused, claims from two replicas never overlapping, an ended lease taken over
//! while the old owner writes nothing, changes heard by another replica, a webhook delivery handed to
//! one sender, sealed files kept and wiped with their job, and the URL's password never shown.

use std::{
    collections::HashSet,
    sync::{Arc, Barrier},
    time::Duration,
};

use tari_wallet_sync::service::{
    ServiceError,
    config::{JobStoreTls, PostgresUrl},
    job_store::{
        JobStore, NewJob, SUBMISSION_FORMAT, StoreChange, StoredResult, StoredState,
        postgres::{PostgresConnect, PostgresJobStore, SCHEMA_VERSION},
    },
    webhook::endpoint::Endpoints,
};
use tari_wallet_sync_testkit::postgres::{PASSWORD, TestPostgres, wait_until};

const LEASE: Duration = Duration::from_secs(60);

fn connect(url: &str) -> PostgresConnect {
    PostgresConnect {
        url: url.parse::<PostgresUrl>().unwrap(),
        tls: JobStoreTls::Disable,
        ca_file: None,
        pool: 4,
    }
}

fn open(url: &str, replica: &str) -> PostgresJobStore {
    PostgresJobStore::open(&connect(url), replica, LEASE).unwrap()
}

/// The database's name in a test URL.
fn db_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn job(id: &str) -> NewJob<'_> {
    NewJob {
        id,
        birthday: 5,
        sealed_request: &[9; 80],
        format: SUBMISSION_FORMAT,
        token_hash: &[4; 32],
        result_key: &[6; 32],
        created_ms: 10,
        envelope: None,
        client: [3; 16],
    }
}

fn result() -> StoredResult {
    StoredResult {
        size: 3,
        sha256: "ab".into(),
        stale: false,
        tip_height: Some(12),
    }
}

#[test]
fn migrations_apply_once_from_empty_and_again_change_nothing() {
    let server = TestPostgres::shared();
    let url = server.database();
    let db = db_of(&url);
    drop(open(&url, "r1"));
    let versions = server.admin_sql(db, "SELECT string_agg(version::text, ',') FROM tws.schema_migrations");
    assert_eq!(versions, SCHEMA_VERSION.to_string());
    drop(open(&url, "r1"));
    let versions = server.admin_sql(db, "SELECT COUNT(*) FROM tws.schema_migrations");
    assert_eq!(versions, MIGRATIONS_COUNT.to_string(), "a second start applies nothing");
    // The tables are the service role's own, in its own schema, and nowhere else.
    let owners = server.admin_sql(
        db,
        "SELECT string_agg(DISTINCT schemaname || ':' || tableowner, ',') FROM pg_tables \
         WHERE tablename IN ('jobs', 'tokens', 'seen_envelopes', 'webhook_deliveries', 'meta')",
    );
    assert_eq!(owners, "tws:tws");
}

const MIGRATIONS_COUNT: i32 = SCHEMA_VERSION;

#[test]
fn three_replicas_starting_at_once_migrate_once() {
    let server = TestPostgres::shared();
    let url = server.database();
    let barrier = Arc::new(Barrier::new(3));
    let replicas: Vec<_> = (0..3)
        .map(|n| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresJobStore::open(&connect(&url), &format!("r{n}"), LEASE).map(drop)
            })
        })
        .collect();
    for replica in replicas {
        replica.join().unwrap().unwrap();
    }
    let rows = server.admin_sql(db_of(&url), "SELECT COUNT(*) FROM tws.schema_migrations");
    assert_eq!(rows, SCHEMA_VERSION.to_string());
}

#[test]
fn a_database_newer_than_this_build_is_refused() {
    let server = TestPostgres::shared();
    let url = server.database();
    drop(open(&url, "r1"));
    server.admin_sql(
        db_of(&url),
        &format!(
            "INSERT INTO tws.schema_migrations (version) VALUES ({})",
            SCHEMA_VERSION + 1
        ),
    );
    let Err(error) = PostgresJobStore::open(&connect(&url), "r1", LEASE) else {
        panic!("a newer schema opened")
    };
    assert!(matches!(error, ServiceError::Store { .. }), "{error}");
    assert!(error.to_string().contains("newer than this build"), "{error}");
}

/// Two replicas claiming the same jobs at the same moment, round after round: every job goes to
/// exactly one of them.
#[test]
fn claims_from_two_replicas_never_overlap() {
    let url = TestPostgres::shared().database();
    let (one, two) = (open(&url, "r1"), open(&url, "r2"));
    for round in 0..25 {
        let ids: Vec<String> = (0..8).map(|n| format!("j{round}_{n}")).collect();
        for id in &ids {
            one.insert(&job(id)).unwrap();
        }
        let barrier = Arc::new(Barrier::new(2));
        let claims: Vec<Vec<String>> = [one.clone(), two.clone()]
            .into_iter()
            .map(|store| {
                let (ids, barrier) = (ids.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .claim(&ids, 1_000)
                        .unwrap()
                        .into_iter()
                        .map(|c| c.id)
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let (a, b): (HashSet<_>, HashSet<_>) = (claims[0].iter().collect(), claims[1].iter().collect());
        assert!(
            a.is_disjoint(&b),
            "round {round}: both claimed {:?}",
            a.intersection(&b)
        );
        assert_eq!(a.len() + b.len(), ids.len(), "round {round}: every job claimed once");
    }
}

/// A replica's lease ends (it died): the job goes back to the queue, another replica claims it above
/// every revision the first gave, and the first one's late outcome writes nothing.
#[test]
fn an_ended_lease_is_taken_over_and_the_old_owner_writes_nothing() {
    let url = TestPostgres::shared().database();
    let (old, new) = (open(&url, "old"), open(&url, "new"));
    old.insert(&job("a")).unwrap();
    let first = old.claim(&["a".into()], 1_000).unwrap();
    assert_eq!((first[0].revision, first[0].attempts), (2, 1));
    assert!(new.claim(&["a".into()], 2_000).unwrap().is_empty(), "the lease holds");
    assert!(old.renew(&["a".into()], 30_000).unwrap().is_empty(), "still held");
    assert!(new.reclaim_expired(89_000).unwrap().is_empty(), "renewed to 90 s");
    assert_eq!(new.reclaim_expired(91_000).unwrap(), ["a"]);
    let taken = new.claim(&["a".into()], 91_000).unwrap();
    assert_eq!(
        (taken[0].revision, taken[0].attempts),
        (4, 2),
        "reclaim and claim bump it"
    );

    assert_eq!(
        old.renew(&["a".into()], 92_000).unwrap(),
        ["a"],
        "the old owner learns it lost it"
    );
    assert!(!old.finish_ready("a", &result(), None, 92_000, 99_000).unwrap());
    assert!(!old.finish_failed("a", "SCAN_FAILED", "x", 92_000, 99_000).unwrap());
    assert!(!old.requeue("a", true).unwrap());
    let row = new.job("a").unwrap().unwrap();
    assert_eq!((row.state, row.revision, row.attempts), (StoredState::Scanning, 4, 2));
    assert!(
        new.sealed("a").unwrap().is_some(),
        "the envelope is still there for the new owner"
    );

    assert!(new.finish_ready("a", &result(), Some(b"box"), 93_000, 99_000).unwrap());
    let row = old.job("a").unwrap().unwrap();
    assert_eq!((row.state, row.revision), (StoredState::Ready, 5));
    assert_eq!(
        old.result_file("a").unwrap().as_deref(),
        Some(&b"box"[..]),
        "any replica reads it"
    );
    old.tombstone("a", StoredState::Expired, 200_000).unwrap();
    assert_eq!(new.result_file("a").unwrap(), None, "wiped with the job");
}

/// A change committed by one replica reaches another's feed; so does published progress.
#[test]
fn a_change_reaches_the_other_replica() {
    let url = TestPostgres::shared().database();
    let (writer, reader) = (open(&url, "w"), open(&url, "r"));
    let mut changes = reader.changes().unwrap();
    writer.insert(&job("a")).unwrap();
    writer.claim(&["a".into()], 1_000).unwrap();
    writer
        .publish_progress("a", (2 << 32) | 1, br#"{"percent":40}"#)
        .unwrap();
    let mut seen = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            while let Ok(change) = changes.try_recv() {
                seen.push(change);
            }
            seen.len() >= 3
        }),
        "{seen:?}"
    );
    assert_eq!(
        seen,
        [
            StoreChange::Job {
                id: "a".into(),
                revision: 1
            },
            StoreChange::Job {
                id: "a".into(),
                revision: 2
            },
            StoreChange::Progress {
                id: "a".into(),
                event_id: (2 << 32) | 1,
                progress: br#"{"percent":40}"#.to_vec()
            },
        ]
    );

    // A tombstone and its purge reach the other replica too, the purge above every revision the row had,
    // so its mirror forgets the job.
    writer.tombstone("a", StoredState::Deleted, 5_000).unwrap();
    assert_eq!(writer.purge(6_000).unwrap(), 1);
    let mut later = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            while let Ok(change) = changes.try_recv() {
                later.push(change);
            }
            later.len() >= 2
        }),
        "{later:?}"
    );
    assert_eq!(
        later,
        [
            StoreChange::Job {
                id: "a".into(),
                revision: 3
            },
            StoreChange::Job {
                id: "a".into(),
                revision: 4
            },
        ]
    );
    assert!(reader.job("a").unwrap().is_none());
    assert!(reader.ping().is_ok());
}

/// A delivery due for both replicas' senders is handed to one of them; the other gets it only once the
/// first's claim window has passed without an outcome (it died).
#[test]
fn a_webhook_delivery_is_handed_to_one_sender() {
    let url = TestPostgres::shared().database();
    let hook = "http://127.0.0.1:9/hook".to_string();
    let (one, two) = (open(&url, "r1"), open(&url, "r2"));
    for store in [&one, &two] {
        store
            .attach_webhooks(Arc::new(Endpoints::new(std::slice::from_ref(&hook), 100)))
            .unwrap();
    }
    one.insert(&job("a")).unwrap();
    one.claim(&["a".into()], 1_000).unwrap();
    one.finish_ready("a", &result(), None, 1_000, 9_000).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let handed: Vec<usize> = [one.clone(), two.clone()]
        .into_iter()
        .map(|store| {
            let (barrier, hook) = (barrier.clone(), hook.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.due_webhooks(&hook, 2_000, 10).unwrap().len()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(handed.iter().sum::<usize>(), 1, "{handed:?}");
    assert!(two.due_webhooks(&hook, 3_000, 10).unwrap().is_empty(), "claimed");
    let again = two.due_webhooks(&hook, 2_000 + 5 * 60_000 + 1, 10).unwrap();
    assert_eq!(again.len(), 1, "the claim window passed without an outcome");
    assert!(two.webhook_done(again[0].id).unwrap());
    assert!(!one.webhook_done(again[0].id).unwrap(), "delivered once");
}

/// Neither a wrong password nor a server that is not there shows the URL's password: not in the error,
/// not in its debug form.
#[test]
fn the_urls_password_never_shows() {
    let server = TestPostgres::shared();
    let url = server.database();
    let wrong = url.replace(PASSWORD, "Wr0ngPassw0rd-s3cr3t");
    let Err(error) = PostgresJobStore::open(&connect(&wrong), "r", LEASE) else {
        panic!("opened with a wrong password")
    };
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("Wr0ngPassw0rd-s3cr3t"), "{shown}");
    assert!(shown.contains("***"), "{shown}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("postgres://tws:{PASSWORD}@127.0.0.1:{port}/tws");
    let Err(error) = PostgresJobStore::open(&connect(&nowhere), "r", LEASE) else {
        panic!("opened a server that is not there")
    };
    let shown = format!("{error} {error:?}");
    assert!(matches!(error, ServiceError::StoreUnreachable { .. }), "{shown}");
    assert!(shown.contains("STORE_UNREACHABLE"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

/// Counts other replicas changed reach this one's at its next checkpoint.
#[test]
fn counts_follow_other_replicas_at_each_checkpoint() {
    let url = TestPostgres::shared().database();
    let (one, two) = (open(&url, "r1"), open(&url, "r2"));
    one.insert(&job("a")).unwrap();
    one.insert(&job("b")).unwrap();
    assert_eq!((one.keys_held(), two.keys_held()), (2, 0));
    two.checkpoint().unwrap();
    assert_eq!(two.keys_held(), 2);
    two.tombstone("a", StoredState::Deleted, 10).unwrap();
    one.checkpoint().unwrap();
    assert_eq!(one.keys_held(), 1);
}

/// TLS against a real server speaking it: `verify-full` trusts the CA file it is given and refuses a
/// certificate no trusted root signed; `require` encrypts without checking it.
#[test]
fn tls_is_verified_against_the_ca_file_or_only_required() {
    let certificate = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (
        certificate.serialize_pem().unwrap(),
        certificate.serialize_private_key_pem(),
    );
    let server = TestPostgres::start_with_tls(Some((&cert, &key)));
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let with = |tls: JobStoreTls, ca_file: Option<std::path::PathBuf>| {
        PostgresJobStore::open(
            &PostgresConnect {
                tls,
                ca_file,
                ..connect(&url)
            },
            "r1",
            LEASE,
        )
    };

    let store = with(JobStoreTls::VerifyFull, Some(ca_file)).unwrap();
    store.insert(&job("a")).unwrap();
    let db = db_of(&url);
    let encrypted = server.admin_sql(
        db,
        "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'tws'",
    );
    assert_eq!(encrypted, "t", "every connection of the service is encrypted");
    drop(store);

    let Err(error) = with(JobStoreTls::VerifyFull, None) else {
        panic!("a certificate no trusted root signed was accepted")
    };
    assert!(error.to_string().contains("certificate"), "{error}");

    let store = with(JobStoreTls::Require, None).unwrap();
    assert_eq!(store.load().unwrap().len(), 1);
}
