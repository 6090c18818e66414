//! The job domain's unit tests, over the in-memory job store and without a server: admission (bounds,
//! headroom, the per-wallet limit, an envelope sent again, a replay of a forgotten job, draining), the
//! scheduler's pass selection (fair between clients, within the pass bound) and the end of a pass
//! (ready, failed with its code, retried, interrupted), deletion racing a pass, expiry and recovery.
//! Only finished files touch a disk (a temporary results folder), as they do in the product.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use curve25519_dalek::{RistrettoPoint, Scalar};
use tari_wallet_sync_sse::{
    envelope::{SubmissionSecrets, unix_now},
    seal::ServerKey,
};

use super::{
    Jobs, Parts,
    scheduler::{Outcome, finish, take_batch},
    submission::{Submission, Submitted},
};
use crate::service::{
    CacheSource, RateLimit, ServiceConfig,
    clock::now_ms,
    error::{ApiError, FailureCode, JobFailure},
    jobs::job::{Job, JobStatus, hash_token},
    jobs::results::artifact::{Artifact, JsonSummaryBuilder},
    jobs::results::sealed_files::{ResultStore, result_public_key},
    jobs::store::{JobStore, MemoryJobStore, NewJob, SUBMISSION_FORMAT, StoredState},
    requester::Client,
    webhook::endpoint::Endpoints,
};

/// The job domain over a memory store with one webhook endpoint configured (so queued events show).
struct Harness {
    jobs: Arc<Jobs>,
    store: MemoryJobStore,
    /// The data directory: finished files only.
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(tweak: impl FnOnce(&mut ServiceConfig)) -> Harness {
        Harness::over(MemoryJobStore::new(), tweak)
    }

    /// Over `store` as it is (jobs already in it are reloaded, as after a restart).
    fn over(store: MemoryJobStore, tweak: impl FnOnce(&mut ServiceConfig)) -> Harness {
        Harness::replica(store, ServerKey::generate(&mut rand::thread_rng()), tweak)
    }

    /// Over `store` with `server_key`: replicas of one fleet share their store's state and the key.
    fn replica(store: MemoryJobStore, server_key: ServerKey, tweak: impl FnOnce(&mut ServiceConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let missing_cache = dir.path().join("no-cache");
        let mut config = ServiceConfig::new(dir.path(), &missing_cache);
        config.submit_rate_per_ip = RateLimit::OFF;
        config.sync_rate_per_wallet = RateLimit::OFF;
        config.request_rate_per_ip = RateLimit::OFF;
        tweak(&mut config);
        let endpoints = Endpoints::new(&["http://127.0.0.1:9/hook".to_string()], 100);
        store.attach_webhooks(Arc::new(endpoints)).unwrap();
        let stored = store.load().unwrap();
        let parts = Parts {
            config,
            // No cache: submissions are priced at 1 output-key and nothing is scanned.
            source: CacheSource::directory(missing_cache),
            builder: Arc::new(JsonSummaryBuilder::default()),
            store: Arc::new(store.clone()),
            results: ResultStore::open(dir.path(), 0).unwrap(),
            server_keys: super::keyring::ServerKeys::single(server_key),
            webhooks: None,
        };
        let jobs = Arc::new(Jobs::assemble(parts, stored).unwrap());
        Harness { jobs, store, _dir: dir }
    }

    async fn submit(&self, wallet: u64, client: u8) -> Result<Submitted, ApiError> {
        self.jobs
            .submit(submission(&self.jobs, wallet, None), client_at(client))
            .await
    }

    fn job(&self, id: &str) -> Arc<Job> {
        self.jobs.registry().jobs[id].clone()
    }

    fn stored_state(&self, id: &str) -> Option<StoredState> {
        self.store
            .load()
            .unwrap()
            .into_iter()
            .find(|j| j.id == id)
            .map(|j| j.state)
    }

    fn result_file_exists(&self, id: &str) -> bool {
        self.jobs.results.path(id).exists()
    }

    /// Takes the next pass (every job priced 1) and marks it scanning in the store, as the scheduler does.
    fn take_pass(&self) -> Vec<Arc<Job>> {
        let batch = take_batch(&self.jobs, |_| 1);
        let ids: Vec<String> = batch.iter().map(|job| job.id.clone()).collect();
        self.store.claim(&ids, 0).unwrap();
        batch
    }
}

fn client_at(last: u8) -> Client {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
    Client {
        ip,
        bucket: ip,
        aggregate: None,
    }
}

fn secrets(wallet: u64) -> SubmissionSecrets {
    SubmissionSecrets {
        view_key: hex::encode(Scalar::from(wallet).to_bytes()),
        spend_public_key: hex::encode(
            RistrettoPoint::mul_base(&Scalar::from(wallet + 1000))
                .compress()
                .to_bytes(),
        ),
        birthday: 0,
        wallet_password: "a password".into(),
        job_secret: hex::encode(rand::random::<[u8; 32]>()),
        timestamp: unix_now(),
    }
}

/// A validated submission of `wallet`, as `http::submit` hands it over.
fn submission(jobs: &Jobs, wallet: u64, replay: Option<[u8; 32]>) -> Submission {
    let secrets = secrets(wallet);
    let token = secrets.token().unwrap();
    Submission {
        key: jobs.wallet_key(&secrets).unwrap(),
        sealed_request: jobs.seal_to_self(&secrets).unwrap(),
        birthday: secrets.birthday,
        token_hash: hash_token(&token),
        result_key: result_public_key(&token),
        replay: replay.map(|ephemeral| (ephemeral, now_ms() + 60_000)),
    }
}

fn ready_outcome() -> Outcome {
    Outcome::Ready {
        artifact: Artifact::compress(b"a wallet file", 3).unwrap(),
        stale: false,
        tip_height: Some(40),
    }
}

fn refusal(result: Result<Submitted, ApiError>) -> &'static str {
    match result {
        Ok(submitted) => panic!("accepted as {}", submitted.job_id),
        Err(error) => error.code(),
    }
}

mod fleet;

#[tokio::test]
async fn a_submission_is_queued_with_its_position_and_its_sealed_key_in_the_store() {
    let h = Harness::new(|_| {});
    let first = h.submit(1, 1).await.unwrap();
    let second = h.submit(2, 2).await.unwrap();
    assert_eq!(first.status, JobStatus::Queued { position: 1 });
    assert_eq!(second.status, JobStatus::Queued { position: 2 });
    assert_eq!(h.store.keys_held(), 2);
    assert_eq!(h.stored_state(&first.job_id), Some(StoredState::Queued));
    assert_eq!(h.jobs.queue_depth(), 2);
}

#[tokio::test]
async fn one_client_queues_no_more_than_its_share_while_others_still_can() {
    let h = Harness::new(|c| c.max_queued_per_client = 2);
    h.submit(1, 1).await.unwrap();
    h.submit(2, 1).await.unwrap();
    assert_eq!(refusal(h.submit(3, 1).await), "RATE_LIMITED");
    h.submit(4, 2).await.unwrap();
    assert_eq!(h.jobs.queue_depth(), 3);
}

#[tokio::test]
async fn the_last_quarter_of_the_queue_is_for_clients_holding_little() {
    let h = Harness::new(|c| {
        c.max_queued_jobs = 4;
        c.max_queued_per_client = 10;
    });
    for wallet in 1..=3 {
        h.submit(wallet, 1).await.unwrap();
    }
    // The open three quarters are taken: the flooder is refused, a newcomer gets the headroom.
    assert_eq!(refusal(h.submit(4, 1).await), "QUEUE_FULL");
    h.submit(5, 2).await.unwrap();
    assert_eq!(
        refusal(h.submit(6, 3).await),
        "QUEUE_FULL",
        "the queue is full for everyone"
    );
}

#[tokio::test]
async fn a_client_holds_no_more_jobs_than_max_jobs_per_client() {
    let h = Harness::new(|c| {
        c.max_jobs_per_client = 2;
        c.max_queued_per_client = 10;
    });
    let first = h.submit(1, 1).await.unwrap();
    h.submit(2, 1).await.unwrap();
    assert_eq!(refusal(h.submit(3, 1).await), "RATE_LIMITED");
    // A tombstone takes no room.
    h.jobs.delete(&h.job(&first.job_id)).await.unwrap();
    h.submit(3, 1).await.unwrap();
}

#[tokio::test]
async fn one_wallet_syncs_no_more_often_than_its_limit_from_any_client() {
    let h = Harness::new(|c| {
        c.sync_rate_per_wallet = RateLimit {
            per_window: 1,
            window: Duration::from_secs(3600),
        }
    });
    h.submit(7, 1).await.unwrap();
    assert_eq!(refusal(h.submit(7, 2).await), "RATE_LIMITED");
    h.submit(8, 2).await.unwrap();
}

#[tokio::test]
async fn an_envelope_sent_again_answers_with_its_job_and_writes_nothing() {
    let h = Harness::new(|_| {});
    let ephemeral = rand::random::<[u8; 32]>();
    let first = h
        .jobs
        .submit(submission(&h.jobs, 1, Some(ephemeral)), client_at(1))
        .await
        .unwrap();
    let again = h
        .jobs
        .submit(submission(&h.jobs, 1, Some(ephemeral)), client_at(9))
        .await
        .unwrap();
    assert_eq!(again.job_id, first.job_id);
    assert_eq!(h.store.load().unwrap().len(), 1, "no second job");
    assert_eq!(h.store.envelopes_remembered(), 1);
    assert_eq!(h.jobs.metrics().jobs_submitted.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_envelope_of_a_forgotten_job_is_refused_as_replayed() {
    let store = MemoryJobStore::new();
    let h = Harness::over(store, |_| {});
    let ephemeral = [5; 32];
    // Accepted before as a job this process no longer holds (its tombstone purged from memory).
    h.store
        .insert(&NewJob {
            id: "gone",
            birthday: 0,
            sealed_request: &[1; 80],
            format: SUBMISSION_FORMAT,
            token_hash: &[2; 32],
            result_key: &[3; 32],
            created_ms: now_ms(),
            envelope: Some((&ephemeral, now_ms() + 60_000)),
            client: [0; 16],
        })
        .unwrap();
    let replay = h
        .jobs
        .submit(submission(&h.jobs, 1, Some(ephemeral)), client_at(1))
        .await;
    assert_eq!(refusal(replay), "REPLAYED");
    assert_eq!(h.jobs.queue_depth(), 0);
}

#[tokio::test]
async fn a_draining_service_accepts_nothing() {
    let h = Harness::new(|_| {});
    h.jobs.set_phase(super::Phase::Draining);
    assert_eq!(refusal(h.submit(1, 1).await), "UNAVAILABLE");
    assert_eq!(h.store.load().unwrap().len(), 0);
}

#[tokio::test]
async fn a_pass_takes_clients_in_turn_not_in_submission_order() {
    let h = Harness::new(|c| {
        c.max_batch_keys = 2;
        c.max_queued_per_client = 10;
    });
    let a: Vec<String> = submit_all(&h, &[(1, 1), (2, 1), (3, 1)]).await;
    let b = h.submit(4, 2).await.unwrap().job_id;
    let batch: Vec<String> = h.take_pass().iter().map(|job| job.id.clone()).collect();
    assert_eq!(batch.len(), 2);
    assert!(batch.contains(&a[0]) && batch.contains(&b), "{batch:?}");
    assert_eq!(h.jobs.queue_depth(), 2);
    assert_eq!(h.job(&a[1]).status(), JobStatus::Queued { position: 1 });
}

async fn submit_all(h: &Harness, wallets: &[(u64, u8)]) -> Vec<String> {
    let mut ids = Vec::new();
    for &(wallet, client) in wallets {
        ids.push(h.submit(wallet, client).await.unwrap().job_id);
    }
    ids
}

#[tokio::test]
async fn a_pass_stays_within_its_output_key_bound() {
    let h = Harness::new(|c| {
        c.max_batch_keys = 10;
        c.max_pass_output_keys = 25;
    });
    for client in 1..=4 {
        h.submit(u64::from(client), client).await.unwrap();
    }
    let batch = take_batch(&h.jobs, |_| 10);
    assert_eq!(batch.len(), 2, "two jobs of 10 output-keys fit in 25, a third does not");
    assert!(batch.iter().all(|job| job.attempts.load(Ordering::Relaxed) == 1));
    assert_eq!(h.jobs.queue_depth(), 2);
}

#[tokio::test]
async fn a_finished_pass_makes_its_job_ready_wipes_its_key_and_queues_one_event() {
    let h = Harness::new(|_| {});
    let id = h.submit(1, 1).await.unwrap().job_id;
    let batch = h.take_pass();
    finish(&h.jobs, batch, vec![ready_outcome()]).await;
    assert!(matches!(
        h.job(&id).status(),
        JobStatus::Ready {
            tip_height: Some(40),
            ..
        }
    ));
    assert_eq!(h.stored_state(&id), Some(StoredState::Ready));
    assert_eq!(h.store.keys_held(), 0);
    assert_eq!(h.store.webhook_queue_depth(), 1);
    assert!(h.result_file_exists(&id), "the sealed file is at rest");
    assert_eq!(h.jobs.metrics().jobs_ready.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_job_that_cannot_succeed_fails_with_its_code_at_once() {
    let h = Harness::new(|c| c.max_attempts = 3);
    let id = h.submit(1, 1).await.unwrap().job_id;
    let batch = h.take_pass();
    let failure = JobFailure::new(FailureCode::BadSeal, "does not open", false);
    finish(&h.jobs, batch, vec![Outcome::Failed(failure)]).await;
    match h.job(&id).status() {
        JobStatus::Failed { code, .. } => assert_eq!(code, "BAD_SEAL"),
        other => panic!("{other:?}"),
    }
    let stored = h.store.load().unwrap().remove(0);
    assert_eq!(stored.state, StoredState::Failed);
    assert_eq!(stored.error.unwrap().0, "BAD_SEAL");
    assert_eq!(h.store.keys_held(), 0);
    assert_eq!(h.store.webhook_queue_depth(), 1);
}

#[tokio::test]
async fn a_service_side_failure_is_retried_until_the_last_attempt() {
    let h = Harness::new(|c| c.max_attempts = 2);
    let id = h.submit(1, 1).await.unwrap().job_id;
    let scan_failed = || Outcome::Failed(JobFailure::new(FailureCode::ScanFailed, "scan failed", true));
    finish(&h.jobs, h.take_pass(), vec![scan_failed()]).await;
    assert!(matches!(h.job(&id).status(), JobStatus::Queued { position: 1 }));
    assert_eq!(h.stored_state(&id), Some(StoredState::Queued));
    assert_eq!(h.store.keys_held(), 1, "the key is kept for the retry");
    assert_eq!(h.store.webhook_queue_depth(), 0);
    finish(&h.jobs, h.take_pass(), vec![scan_failed()]).await;
    assert!(matches!(h.job(&id).status(), JobStatus::Failed { code, .. } if code == "SCAN_FAILED"));
    let stored = h.store.load().unwrap().remove(0);
    assert_eq!((stored.state, stored.attempts), (StoredState::Failed, 2));
    assert_eq!(h.store.keys_held(), 0);
}

#[tokio::test]
async fn a_pass_the_shutdown_interrupted_gives_its_attempt_back() {
    let h = Harness::new(|_| {});
    let id = h.submit(1, 1).await.unwrap().job_id;
    finish(&h.jobs, h.take_pass(), vec![Outcome::Interrupted]).await;
    let stored = h.store.load().unwrap().remove(0);
    assert_eq!((stored.state, stored.attempts), (StoredState::Queued, 0));
    assert_eq!(h.store.keys_held(), 1);
    assert_eq!(stored.id, id);
}

#[tokio::test]
async fn a_job_deleted_while_its_file_was_built_leaves_no_file_no_event_and_no_key() {
    let h = Harness::new(|_| {});
    let id = h.submit(1, 1).await.unwrap().job_id;
    let batch = h.take_pass();
    h.jobs.delete(&h.job(&id)).await.unwrap();
    assert_eq!(h.store.keys_held(), 0, "the DELETE wiped the key at once");
    // The pass ends with a file all the same: the DELETE stands.
    finish(&h.jobs, batch, vec![ready_outcome()]).await;
    assert_eq!(h.job(&id).status(), JobStatus::Deleted);
    assert_eq!(h.stored_state(&id), Some(StoredState::Deleted));
    assert!(!h.result_file_exists(&id), "the file was discarded");
    assert_eq!(h.store.webhook_queue_depth(), 0);
    assert_eq!(h.jobs.metrics().jobs_ready.load(Ordering::Relaxed), 0);
    assert!(matches!(h.jobs.delete(&h.job(&id)).await, Err(ApiError::JobDeleted)));
}

#[tokio::test]
async fn a_job_deleted_while_it_was_scanned_is_not_put_back_by_a_retry() {
    let h = Harness::new(|c| c.max_attempts = 3);
    let id = h.submit(1, 1).await.unwrap().job_id;
    let batch = h.take_pass();
    h.jobs.delete(&h.job(&id)).await.unwrap();
    let retryable = JobFailure::new(FailureCode::ScanFailed, "scan failed", true);
    finish(&h.jobs, batch, vec![Outcome::Failed(retryable)]).await;
    assert_eq!(h.job(&id).status(), JobStatus::Deleted);
    assert_eq!(h.jobs.queue_depth(), 0);
    assert_eq!(h.stored_state(&id), Some(StoredState::Deleted));
}

#[tokio::test]
async fn results_past_their_time_expire_with_one_event_and_their_file_wiped() {
    let h = Harness::new(|c| c.result_ttl = Duration::from_millis(1));
    let id = h.submit(1, 1).await.unwrap().job_id;
    finish(&h.jobs, h.take_pass(), vec![ready_outcome()]).await;
    assert!(h.result_file_exists(&id));
    // Past the 1 ms TTL whatever the machine's load: only order matters here.
    std::thread::sleep(Duration::from_millis(5));
    h.jobs.sweep().await.unwrap();
    assert_eq!(h.job(&id).status(), JobStatus::Expired);
    assert_eq!(h.stored_state(&id), Some(StoredState::Expired));
    assert!(!h.result_file_exists(&id));
    assert_eq!(h.store.webhook_queue_depth(), 2, "ready, then expired");
}

#[tokio::test]
async fn a_restart_queues_waiting_jobs_again_and_fails_those_out_of_attempts() {
    let store = MemoryJobStore::new();
    for (id, scans) in [("fresh", 0), ("worn", 2)] {
        store
            .insert(&NewJob {
                id,
                birthday: 0,
                sealed_request: &[1; 80],
                format: SUBMISSION_FORMAT,
                token_hash: &[2; 32],
                result_key: &[3; 32],
                created_ms: now_ms(),
                envelope: None,
                client: [0; 16],
            })
            .unwrap();
        for _ in 0..scans {
            store.claim(&[id.to_string()], 0).unwrap();
        }
    }
    let h = Harness::over(store, |c| c.max_attempts = 2);
    assert_eq!(h.job("fresh").status(), JobStatus::Queued { position: 1 });
    assert!(matches!(h.job("worn").status(), JobStatus::Failed { code, .. } if code == "TOO_MANY_ATTEMPTS"));
    assert_eq!(h.stored_state("worn"), Some(StoredState::Failed));
    assert_eq!(h.store.keys_held(), 1, "only the queued job keeps its key");
    assert_eq!(h.jobs.queue_depth(), 1);
}

#[tokio::test]
async fn only_a_jobs_own_token_opens_it() {
    let h = Harness::new(|_| {});
    let secrets = secrets(1);
    let token = secrets.token().unwrap();
    let mut submission = submission(&h.jobs, 1, None);
    submission.token_hash = hash_token(&token);
    let id = h.jobs.submit(submission, client_at(1)).await.unwrap().job_id;
    assert_eq!(h.jobs.authorize(&id, Some(&token)).unwrap().id, id);
    assert!(matches!(
        h.jobs.authorize(&id, Some("another")),
        Err(ApiError::InvalidToken)
    ));
    assert!(matches!(h.jobs.authorize(&id, None), Err(ApiError::MissingToken)));
    let unknown = "0".repeat(32);
    assert!(matches!(
        h.jobs.authorize(&unknown, Some(&token)),
        Err(ApiError::JobNotFound)
    ));
}
