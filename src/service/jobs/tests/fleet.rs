//! The job domain on a store two replicas share: two `Jobs` over one `MemoryJobStore` and its
//! `replica()` handle, each with its follower task (`fleet::run`), without a server. A job admitted at one
//! is authorised, read, followed, downloaded and deleted at the other; both give each event the same id;
//! they never scan the same job; a replica that stops mid-pass loses its job to the other after its lease
//! and writes nothing when it finishes late; a replica whose store does not answer claims nothing.

use std::{sync::Arc, time::Duration};

use tari_wallet_sync_sse::seal::ServerKey;
use tokio_util::sync::CancellationToken;

use super::{Harness, client_at, ready_outcome, secrets};
use crate::scan::Progress;
use crate::service::{
    chain::lifecycle::{Lifecycle, STORE_UNREACHABLE},
    clock::now_ms,
    error::ApiError,
    jobs::{
        Jobs,
        fleet::{self, fleet_job_id},
        job::{JobStatus, hash_token},
        results::sealed_files::result_public_key,
        scheduler::{Outcome, after_pass, claim_batch, finish, take_batch},
        store::{JobStore, MemoryJobStore, StoredState},
        submission::Submission,
    },
};

/// Two replicas, `a` and `b`, on one memory store with one server key, each following the store.
struct Fleet {
    a: Harness,
    b: Harness,
    /// Stops both followers when the test ends.
    _followers: FollowerGuard,
}

struct FollowerGuard(CancellationToken);

impl Drop for FollowerGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Fleet {
    fn new() -> Fleet {
        Fleet::with_lease_at_a(Duration::from_secs(30))
    }

    /// `a`'s claims last `lease` (a short one lets a test see a lease end without waiting for it).
    fn with_lease_at_a(lease: Duration) -> Fleet {
        let store_b = MemoryJobStore::new();
        let store_a = store_b.replica("a").with_lease(lease);
        let key = ServerKey::generate(&mut rand::thread_rng());
        let b = Harness::replica(store_b, key.clone(), |c| c.replica_id = Some("b".into()));
        let a = Harness::replica(store_a, key, |c| c.replica_id = Some("a".into()));
        let stop = CancellationToken::new();
        for jobs in [&a.jobs, &b.jobs] {
            assert!(jobs.is_shared(), "a second handle makes the store shared");
            tokio::spawn(fleet::run(jobs.clone(), stop.clone()));
        }
        Fleet {
            a,
            b,
            _followers: FollowerGuard(stop),
        }
    }
}

/// A submission of `wallet` whose token the test knows (the client derives it from its job secret).
fn with_token(jobs: &Jobs, wallet: u64) -> (Submission, zeroize::Zeroizing<String>) {
    let secrets = secrets(wallet);
    let token = secrets.token().unwrap();
    let submission = Submission {
        key: jobs.wallet_key(&secrets).unwrap(),
        sealed_request: jobs.seal_to_self(&secrets).unwrap(),
        birthday: secrets.birthday,
        token_hash: hash_token(&token),
        result_key: result_public_key(&token),
        replay: None,
    };
    (submission, token)
}

/// Waits (generously: a loaded machine is slow, never wrong) until `done` holds; panics after 20 s.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..4000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Job `id`'s latest state and event id at `h`, if `h` knows it.
fn shown(h: &Harness, id: &str) -> Option<(JobStatus, u64)> {
    let job = h.jobs.registry().jobs.get(id).cloned()?;
    let snapshot = job.snapshot();
    Some((snapshot.status, snapshot.event_id))
}

/// A pass at `h` as its scheduler starts one: the fair queue's pick, claimed in the store.
async fn claimed_pass(h: &Harness) -> Vec<Arc<crate::service::jobs::job::Job>> {
    let picked = take_batch(&h.jobs, |_| 1);
    claim_batch(&h.jobs, picked).await.expect("the store answers")
}

/// The pass's outcomes recorded at `h`, then its jobs read back from the store.
async fn finish_pass(h: &Harness, batch: Vec<Arc<crate::service::jobs::job::Job>>, outcomes: Vec<Outcome>) {
    let ids: Vec<String> = batch.iter().map(|job| job.id.clone()).collect();
    finish(&h.jobs, batch, outcomes).await;
    after_pass(&h.jobs, &ids).await;
}

fn progress(done: u64) -> Progress {
    Progress {
        outputs_done: done,
        outputs_total: 100,
        blocks_done: done / 10,
        blocks_total: 10,
        height: done / 10,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_admitted_at_one_replica_is_authorised_read_downloaded_and_deleted_at_the_other() {
    let f = Fleet::new();
    let (submission, token) = with_token(&f.a.jobs, 1);
    let id = f.a.jobs.submit(submission, client_at(1)).await.unwrap().job_id;
    assert!(id.starts_with("a-") && fleet_job_id(&id));
    // Asked at b at once: read from the store on the miss, even before b's follower hears of it.
    f.b.jobs.look_up(&id).await;
    let at_b = f.b.jobs.authorize(&id, Some(&token)).unwrap();
    assert!(matches!(at_b.status(), JobStatus::Queued { .. }));
    assert!(matches!(
        f.b.jobs.authorize(&id, Some("another")),
        Err(ApiError::InvalidToken)
    ));
    // An id no replica makes is never looked for in the store.
    f.b.jobs.look_up("not-an-id").await;
    assert!(matches!(
        f.b.jobs.authorize("not-an-id", Some(&token)),
        Err(ApiError::JobNotFound)
    ));

    // a scans it; b follows it to ready and serves the file from the store.
    let pass = claimed_pass(&f.a).await;
    assert_eq!(pass.len(), 1);
    finish_pass(&f.a, pass, vec![ready_outcome()]).await;
    until("b shows the job ready", || {
        matches!(at_b.status(), JobStatus::Ready { .. })
    })
    .await;
    assert!(
        !f.a.result_file_exists(&id) && !f.b.result_file_exists(&id),
        "no file on either disk"
    );
    assert!(
        f.b.store.result_file(&id).unwrap().is_some(),
        "the sealed file is in the store"
    );
    let artifact = f.b.jobs.artifact(&at_b, &token).await.unwrap();
    assert_eq!(
        artifact.zstd_len,
        f.b.store.job(&id).unwrap().unwrap().result.unwrap().size
    );

    // Deleted at b: a's job is a tombstone too, and the store's file is gone.
    f.b.jobs.delete(&at_b).await.unwrap();
    let at_a = f.a.job(&id);
    until("a shows the job deleted", || at_a.status() == JobStatus::Deleted).await;
    assert_eq!(f.a.stored_state(&id), Some(StoredState::Deleted));
    assert_eq!(f.b.store.result_file(&id).unwrap(), None);
    assert_eq!(shown(&f.a, &id), shown(&f.b, &id), "the same state under the same id");
    assert!(matches!(f.a.jobs.delete(&at_a).await, Err(ApiError::JobDeleted)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_give_every_event_the_same_id() {
    let f = Fleet::new();
    let id = f.a.submit(1, 1).await.unwrap().job_id;
    until("b hears of the job", || shown(&f.b, &id).is_some()).await;
    let (_, queued_id) = shown(&f.a, &id).unwrap();
    assert_eq!(queued_id, 1 << 32, "revision 1, the state itself");
    assert_eq!(shown(&f.b, &id).unwrap().1, queued_id);

    let pass = claimed_pass(&f.a).await;
    let job = pass[0].clone();
    until("b shows the scan", || shown(&f.b, &id) == shown(&f.a, &id)).await;
    assert_eq!(shown(&f.b, &id).unwrap().1, 2 << 32, "the claim is revision 2");

    for done in [10, 40, 70] {
        job.publish_progress(progress(done));
        f.a.jobs.report_progress(&job);
        until("b shows the same progress", || shown(&f.b, &id) == shown(&f.a, &id)).await;
    }
    assert_eq!(
        shown(&f.b, &id).unwrap().1,
        2 << 32 | 3,
        "progress numbered within the revision"
    );

    finish_pass(&f.a, pass, vec![ready_outcome()]).await;
    until("b shows the file", || shown(&f.b, &id) == shown(&f.a, &id)).await;
    let (status, ready_id) = shown(&f.a, &id).unwrap();
    assert!(matches!(status, JobStatus::Ready { .. }));
    assert_eq!(ready_id, 3 << 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_at_the_other_replica_repeats_no_event() {
    let f = Fleet::new();
    let id = f.a.submit(1, 1).await.unwrap().job_id;
    let pass = claimed_pass(&f.a).await;
    let job = pass[0].clone();
    // A client follows at a and sees the scan's progress; its last event id is what it resumes with.
    let mut at_a = f.a.job(&id).subscribe();
    job.publish_progress(progress(50));
    f.a.jobs.report_progress(&job);
    let last_seen = at_a.borrow_and_update().event_id;
    // It reconnects to b: b's current event is the one it saw, so a stream there sends nothing new
    // (`http::events` sends only an event whose id differs from `Last-Event-ID`).
    f.b.jobs.look_up(&id).await;
    until("b shows the progress a sent", || {
        shown(&f.b, &id).map(|s| s.1) == Some(last_seen)
    })
    .await;
    let mut at_b = f.b.job(&id).subscribe();
    assert_eq!(at_b.borrow_and_update().event_id, last_seen, "no duplicate on resume");
    // The next change comes to both under one new id.
    finish_pass(&f.a, pass, vec![ready_outcome()]).await;
    until("b shows the file", || {
        matches!(shown(&f.b, &id), Some((JobStatus::Ready { .. }, _)))
    })
    .await;
    let next_at_b = at_b.borrow_and_update().event_id;
    assert!(next_at_b > last_seen);
    assert_eq!(next_at_b, at_a.borrow_and_update().event_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_scan_the_same_job() {
    let f = Fleet::new();
    let mut ids = Vec::new();
    for wallet in 1..=4 {
        ids.push(f.a.submit(wallet, wallet as u8).await.unwrap().job_id);
    }
    until("b hears of every job", || {
        ids.iter().all(|id| shown(&f.b, id).is_some())
    })
    .await;
    // Both fair queues pick every job; the store grants each to one replica only.
    let picked_a = take_batch(&f.a.jobs, |_| 1);
    let picked_b = take_batch(&f.b.jobs, |_| 1);
    assert_eq!((picked_a.len(), picked_b.len()), (4, 4));
    let (got_a, got_b) = tokio::join!(claim_batch(&f.a.jobs, picked_a), claim_batch(&f.b.jobs, picked_b));
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    assert_eq!(got_a.len() + got_b.len(), 4, "every job claimed once");
    assert!(
        got_a.iter().all(|a| got_b.iter().all(|b| a.id != b.id)),
        "no job in both passes"
    );
    for id in &ids {
        assert_eq!(
            f.a.store.job(id).unwrap().unwrap().attempts,
            1,
            "one scan counted per job"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stops_mid_pass_loses_its_job_to_the_other_which_finishes_it_once() {
    // a's lease is 1 ms: it ends as soon as a stops renewing, without the test waiting out 30 s.
    let f = Fleet::with_lease_at_a(Duration::from_millis(1));
    let (submission, token) = with_token(&f.a.jobs, 1);
    let id = f.a.jobs.submit(submission, client_at(1)).await.unwrap().job_id;
    until("b hears of the job", || shown(&f.b, &id).is_some()).await;
    let stranded = claimed_pass(&f.a).await;
    assert_eq!(stranded.len(), 1);
    // a stops here (it never renews). Past its lease whatever the machine's load: only order matters.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        !f.b.store.renew(std::slice::from_ref(&id), now_ms()).unwrap().is_empty(),
        "b holds no lease on it"
    );
    assert_eq!(f.b.jobs.reclaim_expired().await.unwrap(), 1);
    until("b queues the job", || f.b.jobs.queue_depth() == 1).await;
    let taken_over = claimed_pass(&f.b).await;
    assert_eq!(taken_over.len(), 1);
    let claimed_by_b = f.b.store.job(&id).unwrap().unwrap();
    assert_eq!((claimed_by_b.state, claimed_by_b.attempts), (StoredState::Scanning, 2));

    // a wakes up while b scans and finishes late: it writes nothing (no state, no file, no event).
    assert_eq!(
        f.a.store.renew(std::slice::from_ref(&id), now_ms()).unwrap(),
        vec![id.clone()]
    );
    finish_pass(&f.a, stranded, vec![ready_outcome()]).await;
    let after_a = f.a.store.job(&id).unwrap().unwrap();
    assert_eq!(after_a.revision, claimed_by_b.revision, "no change by a");
    assert_eq!(after_a.state, StoredState::Scanning);
    assert_eq!(f.a.store.result_file(&id).unwrap(), None, "no file from a");
    assert_eq!(f.a.store.webhook_queue_depth(), 0, "no event from a");

    // b finishes: one ready change, one file, one event.
    finish_pass(&f.b, taken_over, vec![ready_outcome()]).await;
    let after_b = f.b.store.job(&id).unwrap().unwrap();
    assert_eq!(after_b.state, StoredState::Ready);
    assert_eq!(after_b.revision, claimed_by_b.revision + 1, "one change: ready");
    assert!(f.b.store.result_file(&id).unwrap().is_some(), "the file is stored");
    assert_eq!(f.b.store.webhook_queue_depth(), 1, "one ready event");
    // Both serve b's file, and a shows b's state under b's id.
    until("a shows b's result", || shown(&f.a, &id) == shown(&f.b, &id)).await;
    let at_a = f.a.jobs.authorize(&id, Some(&token)).unwrap();
    assert!(
        f.a.jobs.artifact(&at_a, &token).await.is_ok(),
        "b's sealed keys open b's file at a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_store_does_not_answer_claims_nothing_and_reads_degraded() {
    let f = Fleet::new();
    let id = f.a.submit(1, 1).await.unwrap().job_id;
    f.a.store.set_reachable(false);
    f.a.jobs.check_store().await;
    assert_eq!(f.a.jobs.lifecycle(), Lifecycle::Degraded);
    assert_eq!(f.a.jobs.report().fault.map(|fault| fault.code), Some(STORE_UNREACHABLE));
    let picked = take_batch(&f.a.jobs, |_| 1);
    assert_eq!(picked.len(), 1);
    assert!(claim_batch(&f.a.jobs, picked).await.is_none(), "no claim");
    assert_eq!(f.a.stored_state(&id), Some(StoredState::Queued));
    assert_eq!(f.a.jobs.queue_depth(), 1, "the job keeps its place");
    // b, whose store answers, takes it.
    until("b hears of the job", || shown(&f.b, &id).is_some()).await;
    assert_eq!(claimed_pass(&f.b).await.len(), 1);
    // a's store answers again: a claims again (nothing left here) and no longer reads degraded.
    f.a.store.set_reachable(true);
    f.a.jobs.check_store().await;
    assert_ne!(f.a.jobs.lifecycle(), Lifecycle::Degraded);
    assert!(f.a.jobs.report().fault.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_starts_leaves_the_others_scans_alone() {
    let f = Fleet::new();
    let id = f.a.submit(1, 1).await.unwrap().job_id;
    assert_eq!(claimed_pass(&f.a).await.len(), 1);
    // A third replica starts on the same store: it reloads the job as scanning, not queued.
    let c = Harness::replica(f.a.store.replica("c"), f.a.jobs.server_keys.current().clone(), |_| {});
    assert!(matches!(c.job(&id).status(), JobStatus::Scanning { .. }));
    assert_eq!(c.jobs.queue_depth(), 0);
    let stored = c.store.job(&id).unwrap().unwrap();
    assert_eq!((stored.state, stored.attempts), (StoredState::Scanning, 1));
    assert_eq!(shown(&c, &id).map(|s| s.1), shown(&f.a, &id).map(|s| s.1));
}
