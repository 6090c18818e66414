//! Two replicas of the service in one process, each a real server on 127.0.0.1:0, on one job store (a
//! `MemoryJobStore` and its `replica()` handle, as two processes would share a PostgreSQL store) and one
//! server key: a job submitted at one is followed over SSE, read, downloaded and deleted at the other,
//! whichever of them scanned it.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use tari_wallet_sync::service::{MemoryJobStore, ServiceConfig};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy},
};
use tari_wallet_sync_testkit::service::{TestServer, demo_chain, sealed_submission, test_config};

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
