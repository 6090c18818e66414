//! Service restarts: jobs accepted before a restart complete after it, queued or running when it
//! stopped, with the same sealing key, and no job keeps its key once its scan has ended.

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    service::{
        CacheSource,
        testing::{GatedBuilder, TestServer, demo_chain, keys_held, sealed_submission, test_config},
    },
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy},
};

type Jobs = Vec<(&'static DemoWallet, serde_json::Value)>;

/// Submits every demo wallet (sealed, with a password); returns the server key and the jobs.
async fn submit_all(client: &Client) -> (serde_json::Value, Jobs) {
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    let public: [u8; 32] = hex::decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let mut jobs = Vec::new();
    for wallet in &demo_chain().wallets {
        let body = sealed_submission(&public, wallet, Some("correct horse"));
        let response = client
            .request(
                Method::POST,
                "/api/v1/wallet/sync",
                &[],
                Some(Bytes::from(body.to_string())),
            )
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::ACCEPTED);
        jobs.push((wallet, response.json().unwrap()));
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
            tari_wallet_sync::service::testing::downloaded_wallet_balance(&file.body),
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
