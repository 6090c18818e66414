//! The webhook queue's tests: one row per endpoint with its job's change, counts kept across a reopen,
//! each endpoint's cap (the oldest go, counted), rows of removed endpoints dropped at start.

use std::sync::Arc;

use super::super::SqliteJobStore as Store;
use crate::service::jobs::store::{JobStore, NewJob, SUBMISSION_FORMAT, StoredResult, StoredState};
use crate::service::webhook::endpoint::{DropReason, Endpoints};

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
        client: [0; 16],
    }
}

const RESULT: StoredResult = StoredResult {
    size: 100,
    sha256: String::new(),
    stale: false,
    tip_height: Some(12),
};

/// Opens the store in `dir` with `urls`, each endpoint keeping at most `cap`.
fn open(dir: &std::path::Path, urls: &[&str], cap: u64) -> (Store, Arc<Endpoints>) {
    let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    let endpoints = Arc::new(Endpoints::new(&urls, cap));
    let store = Store::open(dir).unwrap();
    store.set_webhook_endpoints(endpoints.clone()).unwrap();
    (store, endpoints)
}

/// Job `id` inserted, scanned and made ready at `now` (one event per endpoint).
fn ready(store: &Store, id: &str, now: u64) {
    store.insert(&job(id)).unwrap();
    store.claim(&[id.to_string()], 0).unwrap();
    store.finish_ready(id, &RESULT, None, now, now + 10).unwrap();
}

fn job_of(body: &[u8]) -> String {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    body["job_id"].as_str().unwrap().to_string()
}

const A: &str = "http://127.0.0.1:1/a";
const B: &str = "http://127.0.0.1:2/b";
const FAR: u64 = 10_000_000_000_000;

#[test]
fn job_events_are_queued_once_per_endpoint_with_the_change_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, endpoints) = open(dir.path(), &[A, B], 100);
    store.insert(&job("a")).unwrap();
    store.insert(&job("b")).unwrap();
    store.claim(&["a".into()], 0).unwrap();
    store.finish_ready("a", &RESULT, None, 20, 30).unwrap();
    // A write that changes nothing queues nothing: no event twice.
    store.finish_ready("a", &RESULT, None, 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.finish_failed("b", "SCAN_FAILED", "x", 20, 30).unwrap();
    store.tombstone("b", StoredState::Expired, 50).unwrap();
    store.tombstone("b", StoredState::Expired, 60).unwrap();
    // Deleting is not an event.
    store.insert(&job("c")).unwrap();
    store.tombstone("c", StoredState::Deleted, 50).unwrap();
    assert_eq!(
        store.webhook_queue_depth(),
        6,
        "ready, failed, expired, each to two endpoints"
    );
    assert_eq!(endpoints.list().iter().map(|e| e.queued()).collect::<Vec<_>>(), [3, 3]);
    drop(store);

    let (store, endpoints) = open(dir.path(), &[A, B], 100);
    assert_eq!(store.webhook_queue_depth(), 6, "counted again at open");
    assert_eq!(endpoints.find(B).unwrap().queued(), 3);
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

    store.webhook_retry(due_a[0].id, 1, 20_000_000_000_000).unwrap();
    assert_eq!(store.due_webhooks(A, FAR, 100).unwrap().len(), 2);
    assert_eq!(store.next_webhook_ms(A).unwrap(), Some(20));
    assert!(store.webhook_done(due_a[1].id).unwrap());
    assert!(!store.webhook_done(due_a[1].id).unwrap(), "gone already: counted once");
    assert_eq!(store.webhook_queue_depth(), 5);
    assert_eq!(endpoints.list().iter().map(|e| e.queued()).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(store.next_webhook_ms("http://elsewhere/").unwrap(), None);
}

#[test]
fn an_endpoint_at_its_cap_loses_its_oldest_delivery_and_the_other_keeps_all() {
    let dir = tempfile::tempdir().unwrap();
    let (store, endpoints) = open(dir.path(), &[A, B], 3);
    for (n, id) in ["j1", "j2", "j3", "j4", "j5"].iter().enumerate() {
        ready(&store, id, 100 + n as u64);
        // B's worker delivers each event at once; A's endpoint is down.
        for due in store.due_webhooks(B, FAR, 100).unwrap() {
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

    // A delivery cut while its attempt was under way: its outcome changes no count.
    let cut = a[0].id;
    ready(&store, "j6", 200);
    assert!(!store.webhook_done(cut).unwrap());
    store.webhook_retry(cut, 1, 0).unwrap();
    assert_eq!(endpoints.find(A).unwrap().queued(), 3);
    assert_eq!(endpoints.find(B).unwrap().queued(), 1, "j6's, not delivered yet");
    assert_eq!(store.webhook_queue_depth(), 4);
    assert_eq!(endpoints.dropped(DropReason::QueueFull), 3);
}

#[test]
fn at_start_removed_endpoints_lose_their_rows_and_a_lowered_cap_cuts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), &[A, B], 10);
    for (n, id) in ["j1", "j2", "j3", "j4"].iter().enumerate() {
        ready(&store, id, 100 + n as u64);
    }
    assert_eq!(store.webhook_queue_depth(), 8);
    drop(store);

    let (store, endpoints) = open(dir.path(), &[B], 2);
    assert_eq!(store.webhook_queue_depth(), 2);
    assert_eq!(endpoints.dropped(DropReason::EndpointRemoved), 4);
    assert_eq!(endpoints.dropped(DropReason::QueueFull), 2);
    assert_eq!(store.next_webhook_ms(A).unwrap(), None);
    let b = store.due_webhooks(B, FAR, 100).unwrap();
    assert_eq!(b.iter().map(|d| job_of(&d.body)).collect::<Vec<_>>(), ["j3", "j4"]);
    assert_eq!(endpoints.find(B).unwrap().queued(), 2);
}

#[test]
fn without_endpoints_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    ready(&store, "j1", 100);
    assert_eq!(store.webhook_queue_depth(), 0);
}
