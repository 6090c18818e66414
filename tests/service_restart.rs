//! Service restarts: jobs accepted before a restart complete after it, with the same sealing key, and
//! no job keeps its key once its scan has ended.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tari_wallet_sync::service::testing::{TestServer, demo_chain, keys_held, sealed_submission, test_config};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_complete_after_a_restart_and_leave_no_key_behind() {
    let data = tempfile::tempdir().unwrap();
    let chain = demo_chain();

    // First run: jobs wait an hour for their pass, then the service stops.
    let mut config = test_config(data.path());
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
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
    for wallet in &chain.wallets {
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

    // Second run on the same data directory.
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let again = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["public_key"], key["public_key"], "the sealing key persists");
    for (wallet, job) in &jobs {
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
    assert_eq!(keys_held(data.path()), 0, "every key is wiped once its scan ended");
    let log = std::fs::metadata(data.path().join("jobs.sqlite-wal")).map_or(0, |m| m.len());
    assert_eq!(log, 0, "the write-ahead log keeps no copy of a wiped key");
}
