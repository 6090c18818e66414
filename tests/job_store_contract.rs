//! The `JobStore` contract, run on every store: memory, SQLite and PostgreSQL (a real server, a database
//! per test). What the trait's docs promise whatever the backend: envelopes wiped in the write that ends
//! a scan, the replay cache written with its job, webhook events queued with their job's change (once,
//! each endpoint within its cap), changes guarded by the state they leave, attempts counted as scans
//! start, and counts kept as the store writes. Each case is a function over `&dyn JobStore`; the macro
//! at the end runs it on the three stores.

use std::{sync::Arc, time::Duration};

use tari_wallet_sync::service::{
    MemoryJobStore, SqliteJobStore,
    config::{JobStoreTls, PostgresUrl},
    job_store::{
        Inserted, JobStore, NewJob, SUBMISSION_FORMAT, StoredResult, StoredState,
        postgres::{PostgresConnect, PostgresJobStore},
    },
    webhook::endpoint::{DropReason, Endpoints},
};
use tari_wallet_sync_testkit::postgres::TestPostgres;

/// A store under test, with whatever must live as long as it (the SQLite store's directory).
struct Subject {
    store: Box<dyn JobStore>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Subject {
    Subject {
        store: Box::new(MemoryJobStore::new()),
        _dir: None,
    }
}

fn sqlite() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    Subject {
        store: Box::new(SqliteJobStore::open(dir.path()).unwrap()),
        _dir: Some(dir),
    }
}

fn postgres() -> Subject {
    let url: PostgresUrl = TestPostgres::shared().database().parse().unwrap();
    let connect = PostgresConnect {
        url,
        tls: JobStoreTls::Disable,
        ca_file: None,
        pool: 4,
    };
    Subject {
        store: Box::new(PostgresJobStore::open(&connect, "replica_a", Duration::from_secs(60)).unwrap()),
        _dir: None,
    }
}

fn job<'a>(id: &'a str, envelope: Option<(&'a [u8; 32], u64)>) -> NewJob<'a> {
    NewJob {
        id,
        birthday: 5,
        sealed_request: &[9; 80],
        format: SUBMISSION_FORMAT,
        token_hash: &[4; 32],
        result_key: &[6; 32],
        created_ms: 10,
        envelope,
        client: [0; 16],
    }
}

fn result() -> StoredResult {
    StoredResult {
        size: 100,
        sha256: "ab".into(),
        stale: true,
        tip_height: Some(12),
    }
}

const A: &str = "http://127.0.0.1:1/a";
const B: &str = "http://127.0.0.1:2/b";
const FAR: u64 = 10_000_000_000_000;

fn endpoints(store: &dyn JobStore, urls: &[&str], cap: u64) -> Arc<Endpoints> {
    let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    let endpoints = Arc::new(Endpoints::new(&urls, cap));
    store.attach_webhooks(endpoints.clone()).unwrap();
    endpoints
}

fn ready(store: &dyn JobStore, id: &str, now: u64) {
    store.insert(&job(id, None)).unwrap();
    store.claim(&[id.to_string()], now).unwrap();
    store.finish_ready(id, &result(), None, now, now + 10).unwrap();
}

fn job_of(body: &[u8]) -> String {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    body["job_id"].as_str().unwrap().to_string()
}

/// A job's life: keys held until its scan ends, a second outcome writes nothing, tombstones keep only
/// the id and token hashes, sealed file keys until the job is wiped, tombstones purged in time.
fn keys_are_held_until_scans_end_and_tombstones_keep_nothing(store: &dyn JobStore) {
    let first = store.next_boot().unwrap();
    assert_eq!(store.next_boot().unwrap(), first + 1, "each start counted");
    store.insert(&job("a", None)).unwrap();
    store.insert(&job("b", None)).unwrap();
    store.claim(&["a".into()], 10).unwrap();
    let jobs = store.load().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (
            jobs[0].id.as_str(),
            jobs[0].state,
            jobs[0].attempts,
            jobs[0].tokens.clone()
        ),
        ("a", StoredState::Scanning, 1, vec![[4; 32]])
    );
    assert_eq!(jobs[1].state, StoredState::Queued);
    let parts = store.sealed("a").unwrap().unwrap();
    assert_eq!((parts.sealed_envelope, parts.format), (vec![9; 80], SUBMISSION_FORMAT));
    assert_eq!(store.keys_held(), 2);

    // The file's key is sealed to the job's tokens while its scan is this replica's.
    assert_eq!(store.result_keys("a", true).unwrap(), vec![([4; 32], [6; 32])]);
    store.set_sealed_file_key("a", &[4; 32], b"boxed").unwrap();
    assert!(store.result_keys("a", true).unwrap().is_empty());
    assert_eq!(store.result_keys("a", false).unwrap().len(), 1);

    store.finish_ready("a", &result(), None, 20, 30).unwrap();
    assert_eq!(store.keys_held(), 1);
    assert!(store.sealed("a").unwrap().is_none(), "the envelope went with the scan");
    // A write that finds no keys (again, or a job in another state) takes nothing off the count.
    store.finish_ready("a", &result(), None, 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    assert_eq!(store.keys_held(), 0);
    let jobs = store.load().unwrap();
    assert_eq!(
        (jobs[0].state, jobs[0].result.clone()),
        (StoredState::Ready, Some(result()))
    );
    assert_eq!(jobs[0].expires_ms, Some(30));
    assert_eq!(
        (jobs[1].state, jobs[1].error.clone()),
        (StoredState::Failed, Some(("SCAN_FAILED".to_string(), "x".to_string())))
    );
    store.insert(&job("c", None)).unwrap();
    assert_eq!(store.keys_held(), 1);
    store.tombstone("c", StoredState::Deleted, 50).unwrap();
    assert_eq!(
        store.keys_held(),
        0,
        "a queued job deleted: its key goes with the tombstone"
    );
    assert!(store.sealed("c").unwrap().is_none());

    // The token's sealed file key (set during the scan), until the job is wiped.
    assert!(store.load().unwrap()[0].file_written);
    assert_eq!(
        store.sealed_file_key("a", &[4; 32]).unwrap().as_deref(),
        Some(&b"boxed"[..])
    );
    assert_eq!(store.sealed_file_key("a", &[5; 32]).unwrap(), None);
    store.tombstone("a", StoredState::Deleted, 40).unwrap();
    assert_eq!(store.sealed_file_key("a", &[4; 32]).unwrap(), None);
    assert!(store.result_keys("a", false).unwrap().is_empty());
    let a = store.load().unwrap().remove(0);
    assert_eq!(
        (a.state, a.result, a.tokens),
        (StoredState::Deleted, None, vec![[4; 32]])
    );
    store.checkpoint().unwrap();
    assert_eq!(store.purge(40).unwrap(), 0, "not before its time");
    assert_eq!(store.purge(41).unwrap(), 1);
    assert_eq!(store.purge(51).unwrap(), 1);
    assert_eq!(store.load().unwrap().len(), 1, "b, failed, stays until it expires");
}

/// A pass that ends after a DELETE changes nothing: the job stays deleted, no event is queued.
fn a_deleted_job_never_becomes_ready_and_queues_no_event(store: &dyn JobStore) {
    endpoints(store, &[A], 10);
    store.insert(&job("a", None)).unwrap();
    store.claim(&["a".into()], 10).unwrap();
    store.tombstone("a", StoredState::Deleted, 99).unwrap();
    store.finish_ready("a", &result(), None, 20, 30).unwrap();
    store.finish_failed("a", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.requeue("a", false).unwrap();
    let stored = store.load().unwrap().remove(0);
    assert_eq!((stored.state, stored.result), (StoredState::Deleted, None));
    assert_eq!((store.keys_held(), store.webhook_queue_depth()), (0, 0));
}

/// Attempts count as scans start (a scan the process died in counts); a drain gives one back.
fn attempts_are_counted_as_scans_start_and_a_drain_gives_one_back(store: &dyn JobStore) {
    store.insert(&job("a", None)).unwrap();
    let attempts = |store: &dyn JobStore| store.load().unwrap()[0].attempts;
    store.claim(&["a".into()], 10).unwrap();
    store.requeue("a", false).unwrap();
    assert_eq!(attempts(store), 1, "a failed attempt stays counted");
    store.claim(&["a".into()], 10).unwrap();
    store.requeue("a", true).unwrap();
    assert_eq!(attempts(store), 1, "an attempt the shutdown interrupted is given back");
    assert_eq!(store.load().unwrap()[0].state, StoredState::Queued);
    // An outcome that could not be written leaves the job scanning: its next scan counts all the same.
    store.claim(&["a".into()], 10).unwrap();
    store.claim(&["a".into()], 10).unwrap();
    assert_eq!(
        (store.load().unwrap()[0].state, attempts(store)),
        (StoredState::Scanning, 3)
    );
}

/// An envelope is accepted as one job within its window, remembered with it, forgotten after.
fn an_envelope_makes_one_job_and_is_forgotten_with_its_window(store: &dyn JobStore) {
    assert_eq!(store.insert(&job("a", Some((&[1; 32], 1_000)))).unwrap(), Inserted::New);
    // Sent again (a retry, a replay, or both at once): nothing written, the first job named.
    assert_eq!(
        store.insert(&job("b", Some((&[1; 32], 1_000)))).unwrap(),
        Inserted::Repeat(Some("a".into()))
    );
    assert_eq!(store.load().unwrap().len(), 1, "no row for the repeat");
    assert_eq!(store.keys_held(), 1);
    assert_eq!(store.insert(&job("c", Some((&[2; 32], 2_000)))).unwrap(), Inserted::New);
    assert_eq!(store.envelope_job(&[1; 32]).unwrap(), Some(Some("a".into())));
    assert_eq!(store.envelope_job(&[3; 32]).unwrap(), None);
    assert_eq!(store.envelopes_remembered(), 2);
    assert_eq!(store.oldest_envelope_ms().unwrap(), Some(1_000));
    store.purge(999).unwrap();
    assert!(store.envelope_job(&[1; 32]).unwrap().is_some());
    store.purge(1_001).unwrap();
    assert_eq!(store.envelope_job(&[1; 32]).unwrap(), None);
    assert_eq!(store.envelopes_remembered(), 1);
    assert_eq!(store.oldest_envelope_ms().unwrap(), Some(2_000));
}

/// One delivery per endpoint with each event (ready, failed, expired; deleting is none), the same event
/// id and body for both, none for a change that did not happen.
fn events_are_queued_once_per_endpoint_with_their_change(store: &dyn JobStore) {
    let endpoints = endpoints(store, &[A, B], 100);
    store.insert(&job("a", None)).unwrap();
    store.insert(&job("b", None)).unwrap();
    store.claim(&["a".into()], 10).unwrap();
    store.finish_ready("a", &result(), None, 20, 30).unwrap();
    store.finish_ready("a", &result(), None, 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.tombstone("b", StoredState::Expired, 50).unwrap();
    store.tombstone("b", StoredState::Expired, 60).unwrap();
    store.insert(&job("c", None)).unwrap();
    store.tombstone("c", StoredState::Deleted, 50).unwrap();
    assert_eq!(
        store.webhook_queue_depth(),
        6,
        "ready, failed, expired, each to two endpoints"
    );
    assert_eq!(endpoints.list().iter().map(|e| e.queued()).collect::<Vec<_>>(), [3, 3]);

    let due_a = store.due_webhooks(A, FAR, 100).unwrap();
    let due_b = store.due_webhooks(B, FAR, 100).unwrap();
    assert_eq!((due_a.len(), due_b.len()), (3, 3));
    assert!(due_a.iter().all(|d| d.url == A) && due_b.iter().all(|d| d.url == B));
    for (a, b) in due_a.iter().zip(&due_b) {
        assert_eq!(a.event_id, b.event_id, "one event id for both endpoints");
        assert_eq!(a.body, b.body);
    }
    let kinds: Vec<(String, String)> = due_a
        .iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            (job_of(&d.body), body["type"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        kinds,
        [("a", "ready"), ("b", "failed"), ("b", "expired")].map(|(j, t)| (j.to_string(), t.to_string()))
    );
    assert!(
        store.due_webhooks(A, 19, 100).unwrap().is_empty(),
        "not due before its time"
    );
    store.webhook_retry(due_a[0].id, 1, 5_000).unwrap();
    store.webhook_retry(due_a[2].id, 1, 6_000).unwrap();
    store.webhook_retry(due_a[1].id, 1, 7_000).unwrap();
    assert_eq!(
        store.next_webhook_ms(A).unwrap(),
        Some(5_000),
        "the earliest retry is the next due"
    );
    assert!(store.due_webhooks(A, 4_999, 100).unwrap().is_empty());
    let due = store.due_webhooks(A, 6_000, 100).unwrap();
    assert_eq!(
        due.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(),
        [(due_a[0].id, 1), (due_a[2].id, 1)],
        "due ones, the earliest first, their attempts counted"
    );
    assert!(store.webhook_done(due_a[1].id).unwrap());
    assert!(!store.webhook_done(due_a[1].id).unwrap(), "gone already: counted once");
    assert_eq!(store.webhook_queue_depth(), 5);
    assert_eq!(endpoints.list().iter().map(|e| e.queued()).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(store.next_webhook_ms("http://elsewhere/").unwrap(), None);
}

/// An endpoint at its cap loses its oldest deliveries, counted; the other endpoint keeps all of its own.
fn an_endpoint_at_its_cap_keeps_its_newest_deliveries(store: &dyn JobStore) {
    let endpoints = endpoints(store, &[A, B], 3);
    for (n, id) in ["j1", "j2", "j3", "j4", "j5"].iter().enumerate() {
        ready(store, id, 100 + n as u64);
        for due in store.due_webhooks(B, 100 + n as u64, 100).unwrap() {
            assert!(store.webhook_done(due.id).unwrap());
        }
    }
    let a = store.due_webhooks(A, FAR, 100).unwrap();
    assert_eq!(
        a.iter().map(|d| job_of(&d.body)).collect::<Vec<_>>(),
        ["j3", "j4", "j5"],
        "the newest three"
    );
    assert_eq!(endpoints.find(A).unwrap().queued(), 3);
    assert_eq!(endpoints.find(B).unwrap().queued(), 0);
    assert_eq!(store.webhook_queue_depth(), 3);
    assert_eq!(endpoints.dropped(DropReason::QueueFull), 2);
}

/// An expired result queues one `expired` event, however often it is expired; its tombstone is purged
/// once its time is up.
fn an_expired_result_queues_one_event_and_its_tombstone_is_purged_in_time(store: &dyn JobStore) {
    endpoints(store, &[A], 10);
    ready(store, "a", 20);
    store.tombstone("a", StoredState::Expired, 100).unwrap();
    store.tombstone("a", StoredState::Expired, 100).unwrap();
    assert_eq!(store.webhook_queue_depth(), 2, "ready, then one expired");
    assert_eq!(store.purge(100).unwrap(), 0);
    assert_eq!(store.purge(101).unwrap(), 1);
    assert!(store.load().unwrap().is_empty());
}

/// Jobs come back oldest first, those of one millisecond in submission order.
fn jobs_load_oldest_first_in_submission_order(store: &dyn JobStore) {
    for (id, created) in [("x", 30), ("y", 10), ("z", 10), ("w", 20)] {
        store
            .insert(&NewJob {
                created_ms: created,
                ..job(id, None)
            })
            .unwrap();
    }
    let order: Vec<String> = store.load().unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(order, ["y", "z", "w", "x"]);
}

macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(#[test] fn $case() { super::$case(&*super::memory().store) })*
        }
        mod sqlite_store {
            $(#[test] fn $case() { super::$case(&*super::sqlite().store) })*
        }
        mod postgres_store {
            $(#[test] fn $case() { super::$case(&*super::postgres().store) })*
        }
    };
}

on_every_store!(
    keys_are_held_until_scans_end_and_tombstones_keep_nothing,
    a_deleted_job_never_becomes_ready_and_queues_no_event,
    attempts_are_counted_as_scans_start_and_a_drain_gives_one_back,
    an_envelope_makes_one_job_and_is_forgotten_with_its_window,
    events_are_queued_once_per_endpoint_with_their_change,
    an_endpoint_at_its_cap_keeps_its_newest_deliveries,
    an_expired_result_queues_one_event_and_its_tombstone_is_purged_in_time,
    jobs_load_oldest_first_in_submission_order,
);
