//! Two replicas of the service in one process, each a real server on 127.0.0.1:0, on one job store and
//! one server key: a `MemoryJobStore` and its `replica()` handle, and a real PostgreSQL database (Debian's
//! server, `testkit::postgres`) each replica opens from its configuration. A job submitted at one is
//! followed over SSE at both (a stream resumed at the other with `Last-Event-ID` repeats nothing and
//! ends under the same event id), read, downloaded and deleted at the other, whichever scanned it.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use tari_wallet_sync::service::{MemoryJobStore, ServiceConfig, config::JobStoreLocation};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy},
};
use tari_wallet_sync_testkit::{
    postgres::TestPostgres,
    service::{TestServer, demo_chain, sealed_submission, test_config},
};

/// A replica's config: its own data directory and id, the fleet's server key.
fn replica_config(data_dir: &std::path::Path, key_dir: &std::path::Path, name: &str) -> ServiceConfig {
    let mut config = test_config(data_dir);
    config.server_key_file = Some(key_dir.join("server-key"));
    config.replica_id = Some(name.into());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_at_one_replica_is_followed_downloaded_and_deleted_at_the_other() {
    let (key_dir, dir_a, dir_b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let store_a = MemoryJobStore::new();
    let store_b = store_a.replica("b");
    let a = TestServer::start_with_store(replica_config(dir_a.path(), key_dir.path(), "a"), Arc::new(store_a)).await;
    let b = TestServer::start_with_store(replica_config(dir_b.path(), key_dir.path(), "b"), Arc::new(store_b)).await;
    one_job_across_two_replicas(a, b, [dir_a, dir_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_job_submitted_at_one_replica_is_followed_downloaded_and_deleted_at_the_other() {
    let postgres = TestPostgres::shared();
    let store: JobStoreLocation = postgres.database().parse().unwrap();
    let (key_dir, dir_a, dir_b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let on_store = |dir: &std::path::Path, name: &str| {
        let mut config = replica_config(dir, key_dir.path(), name);
        config.job_store = store.clone();
        config
    };
    let a = TestServer::start(on_store(dir_a.path(), "a")).await;
    let b = TestServer::start(on_store(dir_b.path(), "b")).await;
    one_job_across_two_replicas(a, b, [dir_a, dir_b]).await;
}

async fn one_job_across_two_replicas(a: TestServer, b: TestServer, [dir_a, dir_b]: [tempfile::TempDir; 2]) {
    let (client_a, client_b) = (
        Client::new(&a.base_url, Protocol::Http1),
        Client::new(&b.base_url, Protocol::Http2),
    );

    let key = client_a
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    let public: [u8; 32] = hex::decode(key.json().unwrap()["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let wallet = &demo_chain().wallets[0];
    let submission = sealed_submission(&public, wallet, None);
    let submitted = client_a
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{:?}", submitted.body);
    let job = submitted.json().unwrap();
    let auth = submission.auth();
    let headers = [("authorization", auth.as_str())];

    // Followed at a for its first event, then resumed at b from it: nothing repeated.
    let mut at_a = client_a.events(
        job["events_url"].as_str().unwrap(),
        &submission.token,
        None,
        ReconnectPolicy::default(),
    );
    let first = tokio::time::timeout(Duration::from_secs(60), at_a.next())
        .await
        .expect("a first event")
        .expect("a stream")
        .expect("an event");
    // (A job already ended at its first event has nothing to resume: a stream would wait in vain.)
    if !first.event.is_terminal() {
        let mut resumed = client_b.events(
            job["events_url"].as_str().unwrap(),
            &submission.token,
            Some(first.id),
            ReconnectPolicy::default(),
        );
        let next = tokio::time::timeout(Duration::from_secs(60), resumed.next())
            .await
            .expect("an event after the first")
            .expect("a stream")
            .expect("an event");
        assert!(
            next.id > first.id,
            "resumed at b after {}: {} repeats nothing",
            first.id,
            next.id
        );
        drop(resumed);
    }
    let mut a_last_id = first.id;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), at_a.next())
        .await
        .expect("the job ends in time at a")
    {
        a_last_id = item.expect("an event").id;
    }

    // Followed at b to the end, the ids growing, whichever replica scans it.
    let mut events = client_b.events(
        job["events_url"].as_str().unwrap(),
        &submission.token,
        None,
        ReconnectPolicy::default(),
    );
    let (mut last_id, mut last) = (0, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Some(item) = tokio::time::timeout_at(deadline, events.next())
        .await
        .expect("the job ends in time")
    {
        let item = item.expect("an event");
        assert!(item.id > last_id, "event ids grow");
        last_id = item.id;
        last = Some(item.event);
    }
    assert_eq!(last_id, a_last_id, "the job ends under one event id at both replicas");
    let Some(JobEvent::Ready {
        sha256, download_url, ..
    }) = last
    else {
        panic!("the job ends ready: {last:?}")
    };

    // Read at both, downloaded at b.
    for client in [&client_a, &client_b] {
        let status = client
            .request(Method::GET, job["status_url"].as_str().unwrap(), &headers, None)
            .await
            .unwrap();
        assert_eq!(status.json().unwrap()["result"]["sha256"], sha256.as_str());
    }
    let download = client_b
        .request(Method::GET, &download_url, &headers, None)
        .await
        .unwrap();
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(
        tari_wallet_sync_testkit::service::downloaded_wallet_balance(&download.body),
        wallet.expected_balance
    );
    for dir in [&dir_a, &dir_b] {
        let results = std::fs::read_dir(dir.path().join("results")).unwrap().count();
        assert_eq!(
            results, 0,
            "the sealed file is in the shared store, not on a replica's disk"
        );
    }

    // Deleted at a: b shows it deleted as soon as it hears of it, under the same event id as a.
    let deleted = client_a
        .request(
            Method::DELETE,
            job["status_url"].as_str().unwrap().trim_end_matches("/status"),
            &headers,
            None,
        )
        .await
        .unwrap();
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    let status_at = |client: &Client| {
        let url = job["status_url"].as_str().unwrap().to_string();
        let client = client.clone();
        async move {
            client
                .request(Method::GET, &url, &headers, None)
                .await
                .unwrap()
                .json()
                .unwrap()
        }
    };
    let at_a = status_at(&client_a).await;
    assert_eq!(at_a["state"], "deleted");
    let mut at_b = status_at(&client_b).await;
    for _ in 0..2000 {
        if at_b["state"] == "deleted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        at_b = status_at(&client_b).await;
    }
    assert_eq!((&at_b["state"], &at_b["event_id"]), (&at_a["state"], &at_a["event_id"]));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
