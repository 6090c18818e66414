//! Service restarts: jobs accepted before a restart complete after it, queued or running when it
//! stopped, with the same sealing key, and no job keeps its key once its scan has ended. A ready job stays
//! ready: its file waits on disk sealed to a key only its tokens derive, opens with the first download,
//! and goes with DELETE and expiry; a file damaged at rest fails its job with `RESULT_LOST`, a results
//! folder missing at a start stops it instead. A job whose outcome the store will not take (a real
//! SQLite trigger refusing the write) never reads as failed with its key on disk, and is never scanned
//! again and again across restarts.

use std::{collections::HashSet, path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    service::{CacheSource, Service, ServiceConfig, ServiceError, WalletDbBuilder},
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy, Response},
};
use tari_wallet_sync_testkit::service::{GatedBuilder, TestServer, demo_chain, keys_held, test_config, wallet_app};
use tokio_util::sync::CancellationToken;

type Jobs = Vec<(&'static DemoWallet, serde_json::Value)>;

/// Submits every demo wallet (sealed, with a password); returns the server key and the jobs.
async fn submit_all(client: &Client) -> (serde_json::Value, Jobs) {
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    let mut jobs = Vec::new();
    for wallet in &demo_chain().wallets {
        jobs.push((
            wallet,
            wallet_app::submit(client, wallet, Some("correct horse"))
                .await
                .with_token(),
        ));
    }
    (key, jobs)
}

async fn state_of(client: &Client, job: &serde_json::Value) -> String {
    let auth = format!("Bearer {}", job["token"].as_str().unwrap());
    let status = client
        .request(
            Method::GET,
            job["status_url"].as_str().unwrap(),
            &[("authorization", &auth)],
            None,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    status["state"].as_str().unwrap().to_string()
}

/// Second run on the same data directory: the same key, every job ready with its wallet's balance, no
/// key left in the store, and no copy of one in the write-ahead log.
async fn every_job_completes_after_a_restart(data: &Path, key: &serde_json::Value, jobs: &Jobs) {
    let server = TestServer::start(test_config(data)).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let again = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["public_key"], key["public_key"], "the sealing key persists");
    for (wallet, job) in jobs {
        let token = job["token"].as_str().unwrap();
        let mut events = client.events(
            job["events_url"].as_str().unwrap(),
            token,
            None,
            ReconnectPolicy::default(),
        );
        let mut last = None;
        while let Some(event) = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
        {
            last = Some(event.unwrap().event);
        }
        let Some(JobEvent::Ready { download_url, .. }) = last else {
            panic!("{} ends ready, not {last:?}", wallet.name)
        };
        let auth = format!("Bearer {token}");
        let file = client
            .request(Method::GET, &download_url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        assert_eq!(
            tari_wallet_sync_testkit::service::downloaded_wallet_balance(&file.body),
            wallet.expected_balance,
            "{}",
            wallet.name
        );
    }
    server.stop().await.unwrap();
    assert_eq!(keys_held(data), 0, "every key is wiped once its scan ended");
    let log = std::fs::metadata(data.join("jobs.sqlite-wal")).map_or(0, |m| m.len());
    assert_eq!(log, 0, "the write-ahead log keeps no copy of a wiped key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_complete_after_a_restart_and_leave_no_key_behind() {
    let data = tempfile::tempdir().unwrap();

    // First run: jobs wait an hour for their pass, then the service stops.
    let mut config = test_config(data.path());
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let (key, jobs) = submit_all(&client).await;
    // An open event stream does not hold up the drain: it ends when the service stops.
    let auth = format!("Bearer {}", jobs[0].1["token"].as_str().unwrap());
    let open = client
        .send(
            Method::GET,
            jobs[0].1["events_url"].as_str().unwrap(),
            &[("authorization", &auth)],
            None,
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    server.stop().await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(5), open.into_body().collect()).await;
    assert!(rest.is_ok(), "the event stream ended with the drain");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drained well before the deadline"
    );
    assert_eq!(
        keys_held(data.path()),
        3,
        "queued jobs keep their sealed keys across the restart"
    );

    every_job_completes_after_a_restart(data.path(), &key, &jobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_and_queued_ones_complete_after_a_restart_and_leave_no_key_behind() {
    let data = tempfile::tempdir().unwrap();

    // First run: one wallet per pass; the first job's pass is held at its file build (the scan done,
    // the job `scanning` in memory and in the store) while the other two wait in the queue.
    let mut config = test_config(data.path());
    config.max_batch_keys = 1;
    let gate = Arc::new(GatedBuilder::default());
    let source = CacheSource::directory(demo_chain().cache_dir.clone());
    let server = TestServer::start_with(config, source, gate.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let (key, jobs) = submit_all(&client).await;
    tokio::time::timeout(Duration::from_secs(30), gate.wait_for_builds(1))
        .await
        .expect("the first pass reaches its build");
    let mut states = Vec::new();
    for (_, job) in &jobs {
        states.push(state_of(&client, job).await);
    }
    assert_eq!(states, ["scanning", "queued", "queued"]);

    // Stop while it runs: the build finishes after the shutdown began, so its file (which would die
    // with the process) is dropped and the job stays queued in the store, key and all.
    server.begin_stop();
    gate.open();
    server.stop().await.unwrap();
    assert_eq!(keys_held(data.path()), 3, "the running job keeps its sealed key too");

    every_job_completes_after_a_restart(data.path(), &key, &jobs).await;
}

/// A job finished before a restart, as its client saw it.
struct Finished {
    job: serde_json::Value,
    token: String,
    file: Bytes,
    etag: String,
    ready: JobEvent,
}

async fn submit_one(client: &Client, wallet: &DemoWallet) -> serde_json::Value {
    wallet_app::submit(client, wallet, None).await.with_token()
}

/// The job's events to the end of the stream (after `ready` or `failed`).
async fn events_of(client: &Client, job: &serde_json::Value, token: &str) -> Vec<JobEvent> {
    let url = job["events_url"].as_str().unwrap();
    let mut stream = client.events(url, token, None, ReconnectPolicy::default());
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("the job ends in time")
    {
        events.push(event.unwrap().event);
    }
    events
}

async fn get(client: &Client, path: &str, token: &str, extra: &[(&str, &str)]) -> Response {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    client.request(Method::GET, path, &headers, None).await.unwrap()
}

async fn status_of(client: &Client, job: &serde_json::Value, token: &str) -> serde_json::Value {
    get(client, job["status_url"].as_str().unwrap(), token, &[])
        .await
        .json()
        .unwrap()
}

async fn metric(client: &Client, name: &str) -> String {
    let text = client.request(Method::GET, "/metrics", &[], None).await.unwrap().body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
    line[name.len() + 1..].to_string()
}

/// Submits `wallet`, follows it to ready and downloads its file.
async fn finish(client: &Client, wallet: &DemoWallet) -> Finished {
    let job = submit_one(client, wallet).await;
    let token = job["token"].as_str().unwrap().to_string();
    let ready = events_of(client, &job, &token).await.pop().unwrap();
    let JobEvent::Ready {
        ref sha256,
        ref download_url,
        ..
    } = ready
    else {
        panic!("{} ends ready, not {ready:?}", wallet.name)
    };
    let file = get(client, download_url, &token, &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(&hex::encode(Sha256::digest(&file.body)), sha256);
    Finished {
        token,
        etag: file.header("etag").unwrap().to_string(),
        file: file.body,
        job,
        ready,
    }
}

fn result_file(data: &Path, job: &serde_json::Value) -> std::path::PathBuf {
    data.join("results").join(job["job_id"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_job_stays_ready_across_a_restart_and_serves_the_same_file() {
    let data = tempfile::tempdir().unwrap();
    let wallet = &demo_chain().wallets[0];
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let first = finish(&client, wallet).await;
    let before = status_of(&client, &first.job, &first.token).await;
    server.stop().await.unwrap();
    assert!(result_file(data.path(), &first.job).is_file());

    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let after = status_of(&client, &first.job, &first.token).await;
    assert_eq!(after["state"], "ready");
    assert_eq!(
        after["result"], before["result"],
        "size, sha256, expiry, stale, tip height"
    );
    assert_eq!(
        events_of(&client, &first.job, &first.token).await,
        vec![first.ready.clone()]
    );

    // The first download after the restart is a range: opened from disk.
    let url = first.job["download_url"].as_str().unwrap();
    let part = get(&client, url, &first.token, &[("range", "bytes=10-99")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, first.file.slice(10..100));
    assert_eq!(part.header("etag"), Some(first.etag.as_str()));
    let whole = get(&client, url, &first.token, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(
        (whole.body.clone(), whole.header("etag")),
        (first.file.clone(), Some(first.etag.as_str()))
    );
    assert_eq!(
        tari_wallet_sync_testkit::service::downloaded_wallet_balance(&whole.body),
        wallet.expected_balance
    );
    let unchanged = get(&client, url, &first.token, &[("if-none-match", &first.etag)]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(metric(&client, "tws_results_reopened_total").await, "1");
    server.stop().await.unwrap();
    assert_eq!(keys_held(data.path()), 0, "no view key is kept for a stored file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_file_is_sealed_and_a_wrong_token_opens_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let first = finish(&client, &demo_chain().wallets[1]).await;
    let other = finish(&client, &demo_chain().wallets[2]).await;
    server.stop().await.unwrap();

    let sealed = std::fs::read(result_file(data.path(), &first.job)).unwrap();
    let plain = &first.file[..];
    assert!(plain.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "the download is zstd");
    assert!(!sealed.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "no zstd frame at rest");
    assert_ne!(sealed.len(), plain.len());
    assert!(
        !sealed.windows(plain.len()).any(|w| w == plain),
        "the file is not stored as such"
    );
    let at_rest: HashSet<&[u8]> = sealed.windows(16).collect();
    assert!(
        plain.chunks_exact(16).all(|c| !at_rest.contains(c)),
        "no 16 bytes of the file at rest"
    );

    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let url = first.job["download_url"].as_str().unwrap();
    for wrong in [other.token.as_str(), &"00".repeat(32), ""] {
        let refused = get(&client, url, wrong, &[]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{wrong}");
    }
    assert_eq!(
        metric(&client, "tws_results_reopened_total").await,
        "0",
        "nothing was opened"
    );
    assert_eq!(status_of(&client, &first.job, &first.token).await["state"], "ready");
    let whole = get(&client, url, &first.token, &[]).await;
    assert_eq!((whole.status, whole.body), (StatusCode::OK, first.file));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_expiry_remove_the_stored_file() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.result_ttl = Duration::from_secs(3);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let deleted = finish(&client, &demo_chain().wallets[0]).await;
    let path = result_file(data.path(), &deleted.job);
    assert!(path.is_file());
    let auth = format!("Bearer {}", deleted.token);
    let job_url = format!("/api/v1/wallet/sync/{}", deleted.job["job_id"].as_str().unwrap());
    let response = client
        .request(Method::DELETE, &job_url, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert!(!path.exists(), "DELETE removes the stored file");

    let expiring = finish(&client, &demo_chain().wallets[1]).await;
    let path = result_file(data.path(), &expiring.job);
    assert!(path.is_file());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while status_of(&client, &expiring.job, &expiring.token).await["state"] != "expired" {
        assert!(tokio::time::Instant::now() < deadline, "the result expires");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!path.exists(), "expiry removes the stored file");
    server.stop().await.unwrap();
    assert_eq!(std::fs::read_dir(data.path().join("results")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_stored_file_fails_its_job_with_result_lost() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let damaged = finish(&client, &demo_chain().wallets[0]).await;
    let missing = finish(&client, &demo_chain().wallets[1]).await;
    server.stop().await.unwrap();
    let path = result_file(data.path(), &damaged.job);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    std::fs::remove_file(result_file(data.path(), &missing.job)).unwrap();

    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    // A missing file is known at start.
    let status = status_of(&client, &missing.job, &missing.token).await;
    assert_eq!(
        (status["state"].as_str(), status["error"]["code"].as_str()),
        (Some("failed"), Some("RESULT_LOST"))
    );
    // A damaged one when its download opens it.
    assert_eq!(status_of(&client, &damaged.job, &damaged.token).await["state"], "ready");
    let url = damaged.job["download_url"].as_str().unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), get(&client, url, &damaged.token, &[]))
        .await
        .expect("answered, not hung");
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let error = refused.json().unwrap();
    assert_eq!(error["error"]["code"], "JOB_FAILED");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("RESULT_LOST"),
        "{error}"
    );
    let status = status_of(&client, &damaged.job, &damaged.token).await;
    assert_eq!(
        (status["state"].as_str(), status["error"]["code"].as_str()),
        (Some("failed"), Some("RESULT_LOST"))
    );
    let events = events_of(&client, &damaged.job, &damaged.token).await;
    assert!(
        matches!(events.last(), Some(JobEvent::Failed { code, .. }) if code == "RESULT_LOST"),
        "{events:?}"
    );
    assert!(!path.exists(), "a damaged file is removed");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_stored_is_served_until_a_restart_loses_it() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    // Once the service is up, the files' directory turns into a file: every write fails.
    client.request(Method::GET, "/live", &[], None).await.unwrap();
    let results = data.path().join("results");
    std::fs::remove_dir(&results).unwrap();
    std::fs::write(&results, b"in the way").unwrap();
    let unstored = finish(&client, &demo_chain().wallets[2]).await;
    assert_eq!(metric(&client, "tws_result_file_failures_total").await, "1");
    assert_eq!(metric(&client, "tws_result_files_written_total").await, "0");
    server.stop().await.unwrap();

    std::fs::remove_file(&results).unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let status = status_of(&client, &unstored.job, &unstored.token).await;
    assert_eq!(
        (status["state"].as_str(), status["error"]["code"].as_str()),
        (Some("failed"), Some("RESULT_LOST"))
    );
    server.stop().await.unwrap();
}

/// A trigger in the job store that refuses every change of a job to one of `states`, as a full disk or
/// an I/O error would refuse the write: the real SQLite, from a connection of its own.
fn refuse_writes_to(data: &Path, states: &[&str]) {
    let conn = rusqlite::Connection::open(data.join("jobs.sqlite")).unwrap();
    let states = states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    conn.execute_batch(&format!(
        "CREATE TRIGGER refuse_outcomes BEFORE UPDATE OF state ON jobs WHEN NEW.state IN ({states})
         BEGIN SELECT RAISE(ABORT, 'injected: the store refuses this write'); END;"
    ))
    .unwrap();
}

fn allow_writes_again(data: &Path) {
    let conn = rusqlite::Connection::open(data.join("jobs.sqlite")).unwrap();
    conn.execute_batch("DROP TRIGGER refuse_outcomes").unwrap();
}

/// The job's row as the store holds it: state, attempts, whether it still holds its sealed envelope.
fn stored_row(data: &Path, job: &serde_json::Value) -> (String, u32, bool) {
    let conn = rusqlite::Connection::open(data.join("jobs.sqlite")).unwrap();
    conn.query_row(
        "SELECT state, attempts, sealed_envelope IS NOT NULL FROM jobs WHERE id = ?1",
        [job["job_id"].as_str().unwrap()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// A job whose `ready` the store will not take (after the finishing write's retries) is scanned again
/// while it has attempts, then fails with `TOO_MANY_ATTEMPTS`, which the store does take: failed in
/// memory and in the store alike, its sealed envelope wiped, no file left, and it stays failed across a
/// restart without another scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_ready_cannot_be_stored_fails_without_leaving_its_key_behind() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_attempts = 2;
    let server = TestServer::start(config.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    refuse_writes_to(data.path(), &["ready"]);
    let job = submit_one(&client, &demo_chain().wallets[0]).await;
    let token = job["token"].as_str().unwrap().to_string();
    let events = events_of(&client, &job, &token).await;
    assert!(
        matches!(events.last(), Some(JobEvent::Failed { code, .. }) if code == "TOO_MANY_ATTEMPTS"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, JobEvent::Ready { .. })),
        "never announced ready: {events:?}"
    );
    assert_eq!(
        metric(&client, "tws_scan_passes_total").await,
        "2",
        "one scan per attempt"
    );
    assert_eq!(stored_row(data.path(), &job), ("failed".to_string(), 2, false));
    assert_eq!(keys_held(data.path()), 0, "no key behind a failed job");
    assert!(
        !result_file(data.path(), &job).exists(),
        "no file of a job that is not ready"
    );
    server.stop().await.unwrap();

    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let status = status_of(&client, &job, &token).await;
    assert_eq!(
        (status["state"].as_str(), status["error"]["code"].as_str()),
        (Some("failed"), Some("TOO_MANY_ATTEMPTS"))
    );
    assert_eq!(metric(&client, "tws_queue_depth").await, "0");
    server.stop().await.unwrap();
}

/// A job whose outcome the store takes neither as `ready` nor as `failed` stays as the store holds it,
/// scanning with its sealed envelope, in memory too: never reported failed with its key on disk. It is
/// scanned no more than `max_attempts` times, and once the store writes again a restart fails it with
/// `TOO_MANY_ATTEMPTS` (the attempts were counted in the store) instead of scanning it at every start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_outcome_cannot_be_stored_is_not_rescanned_forever() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_attempts = 2;
    let server = TestServer::start(config.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    refuse_writes_to(data.path(), &["ready", "failed"]);
    let job = submit_one(&client, &demo_chain().wallets[1]).await;
    let token = job["token"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while metric(&client, "tws_scan_passes_total").await != "2" {
        assert!(tokio::time::Instant::now() < deadline, "the second attempt never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last attempt's writes (retried for a few seconds) fail too; these hold before and after them.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(metric(&client, "tws_scan_passes_total").await, "2", "no third scan");
    assert_eq!(status_of(&client, &job, &token).await["state"], "scanning", "as stored");
    assert_eq!(stored_row(data.path(), &job), ("scanning".to_string(), 2, true));
    server.stop().await.unwrap();
    assert_eq!(
        keys_held(data.path()),
        1,
        "the key stays with a job the store still has scanning"
    );

    allow_writes_again(data.path());
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let status = status_of(&client, &job, &token).await;
    assert_eq!(
        (status["state"].as_str(), status["error"]["code"].as_str()),
        (Some("failed"), Some("TOO_MANY_ATTEMPTS"))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metric(&client, "tws_scan_passes_total").await, "0", "not scanned again");
    server.stop().await.unwrap();
    assert_eq!(keys_held(data.path()), 0);
    assert_eq!(stored_row(data.path(), &job), ("failed".to_string(), 2, false));
}

/// Starts the service expecting it to refuse; the error it stops with.
async fn refused_start(config: ServiceConfig) -> ServiceError {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = CacheSource::directory(config.cache_dir.clone());
    let builder = Arc::new(WalletDbBuilder::default());
    match Service::start(config, source, builder, listener, CancellationToken::new()).await {
        Ok(_) => panic!("the service started"),
        Err(error) => error,
    }
}

/// The results folder missing at a start while ready jobs have files there (a mount not up yet, a
/// restore under way) stops the start instead of failing every such job as lost; put back, the jobs are
/// ready with their files. A symlink in its place is refused: the clean-up never works through one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_results_folder_stops_the_start_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let first = finish(&client, &demo_chain().wallets[0]).await;
    server.stop().await.unwrap();

    let results = data.path().join("results");
    let aside = data.path().join("results-aside");
    std::fs::rename(&results, &aside).unwrap();
    let refused = refused_start(test_config(data.path())).await;
    assert!(refused.to_string().contains("missing"), "{refused}");
    assert!(!results.exists(), "not recreated empty");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&aside, &results).unwrap();
        let refused = refused_start(test_config(data.path())).await;
        assert!(refused.to_string().contains("symlink"), "{refused}");
        std::fs::remove_file(&results).unwrap();
    }

    std::fs::rename(&aside, &results).unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    assert_eq!(status_of(&client, &first.job, &first.token).await["state"], "ready");
    let whole = get(&client, first.job["download_url"].as_str().unwrap(), &first.token, &[]).await;
    assert_eq!((whole.status, whole.body), (StatusCode::OK, first.file));
    server.stop().await.unwrap();
}
