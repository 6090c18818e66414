//! Service end to end: a real server on 127.0.0.1:0 and real hyper clients over HTTP/1.1 and HTTP/2
//! (prior knowledge): submit a sealed key, follow the job over SSE to `ready`, download (whole and by
//! ranges), decompress, and find the demo wallet's balance; resubmission, deletion, expiry, operations.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode, Version};
use sha2::{Digest, Sha256};
use tari_wallet_sync::service::OPENAPI_JSON;
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, ReconnectPolicy, Response},
};
use tari_wallet_sync_testkit::service::{
    TestServer, TestSubmission, demo_chain, sealed_submission, test_config, wallet_app::submit_job,
};

async fn server_public(client: &Client) -> [u8; 32] {
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    assert_eq!(key.status, StatusCode::OK);
    hex::decode(key.json().unwrap()["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

async fn submit(client: &Client, submission: &TestSubmission) -> Response {
    client
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap()
}

async fn get(client: &Client, path: &str, token: &str, extra: &[(&str, &str)]) -> Response {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    client.request(Method::GET, path, &headers, None).await.unwrap()
}

/// Follows a job's events to the end; checks ids grow and progress only moves forward.
async fn follow(client: &Client, events_url: &str, token: &str) -> Vec<JobEvent> {
    let mut stream = client.events(events_url, token, None, ReconnectPolicy::default());
    let mut events = Vec::new();
    let mut last_id = 0;
    let mut last_done = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Some(item) = tokio::time::timeout_at(deadline, stream.next())
        .await
        .expect("job ends in time")
    {
        let item = item.expect("event");
        assert!(item.id > last_id, "event ids grow");
        last_id = item.id;
        if let JobEvent::Progress { outputs_done, .. } = item.event {
            assert!(
                last_done.is_none_or(|d| outputs_done > d),
                "progress strictly increases"
            );
            last_done = Some(outputs_done);
        }
        events.push(item.event);
    }
    events
}

fn balance_of(download: &[u8]) -> u64 {
    tari_wallet_sync_testkit::service::downloaded_wallet_balance(download)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_job_over_http1_and_http2() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let chain = demo_chain();
    for (protocol, wallet) in [
        (Protocol::Http1, &chain.wallets[0]),
        (Protocol::Http2, &chain.wallets[1]),
    ] {
        let client = Client::new(&server.base_url, protocol);
        let public = server_public(&client).await;
        let submission = sealed_submission(&public, wallet, Some("hunter2"));
        let submitted = submit(&client, &submission).await;
        assert_eq!(submitted.status, StatusCode::ACCEPTED, "{:?}", submitted.body);
        let expected_version = if protocol == Protocol::Http2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        assert_eq!(submitted.version, expected_version);
        let job = submitted.json().unwrap();
        assert!(job.get("token").is_none(), "the server hands out no credential");
        let token = submission.token.clone();
        assert_eq!(job["state"], "queued");
        assert_eq!(submitted.header("location"), job["status_url"].as_str());

        let events = follow(&client, job["events_url"].as_str().unwrap(), &token).await;
        let Some(JobEvent::Ready {
            size,
            sha256,
            download_url,
            stale,
            tip_height,
        }) = events.last().cloned()
        else {
            panic!("the job ends ready: {events:?}")
        };
        assert!(events.iter().any(|e| matches!(e, JobEvent::Progress { .. })) || events.len() == 1);
        assert_eq!((stale, tip_height), (false, Some(39)), "a directory source is current");

        let status = get(&client, job["status_url"].as_str().unwrap(), &token, &[])
            .await
            .json()
            .unwrap();
        assert_eq!(status["state"], "ready");
        assert_eq!(status["result"]["sha256"], sha256);
        assert_eq!(status["result"]["stale"], false);
        assert_eq!(status["result"]["tip_height"], 39);

        let download = get(&client, &download_url, &token, &[]).await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.version, expected_version);
        assert_eq!(download.header("content-type"), Some("application/zstd"));
        assert_eq!(download.header("content-length"), Some(size.to_string().as_str()));
        assert_eq!(download.header("etag"), Some(format!("\"{sha256}\"").as_str()));
        assert_eq!(download.header("tws-stale"), Some("false"));
        assert_eq!(download.header("tws-tip-height"), Some("39"));
        assert_eq!(download.body.len() as u64, size);
        assert_eq!(hex::encode(Sha256::digest(&download.body)), sha256);
        assert_eq!(balance_of(&download.body), wallet.expected_balance, "{}", wallet.name);
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_resume_by_range_and_late_subscribers_get_the_current_state() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let wallet = &demo_chain().wallets[2];
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let client = Client::new(&server.base_url, protocol);
        let public = server_public(&client).await;
        let job = submit_job(&client, &sealed_submission(&public, wallet, None)).await;
        let token = job["token"].as_str().unwrap();
        let events_url = job["events_url"].as_str().unwrap();
        let events = follow(&client, events_url, token).await;
        assert!(matches!(events.last(), Some(JobEvent::Ready { .. })));

        // A late subscriber's first event is the current state; so is a resume from an older id.
        let mut late = client.events(events_url, token, None, ReconnectPolicy::default());
        let first = late.next().await.unwrap().unwrap();
        assert!(matches!(first.event, JobEvent::Ready { .. }));
        assert!(late.next().await.is_none(), "the stream ends after ready");
        let mut resumed = client.events(events_url, token, Some(first.id - 1), ReconnectPolicy::default());
        assert_eq!(resumed.next().await.unwrap().unwrap(), first);

        let url = job["download_url"].as_str().unwrap();
        let whole = get(&client, url, token, &[]).await;
        let len = whole.body.len();
        let etag = whole.header("etag").unwrap().to_string();
        assert!(len > 100);
        let head = get(&client, url, token, &[("range", "bytes=0-99")]).await;
        assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(head.header("content-range"), Some(format!("bytes 0-99/{len}").as_str()));
        assert_eq!(head.body.len(), 100);
        let tail = get(&client, url, token, &[("range", "bytes=100-"), ("if-range", &etag)]).await;
        assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!([&head.body[..], &tail.body[..]].concat(), whole.body.to_vec());
        let suffix = get(&client, url, token, &[("range", "bytes=-10")]).await;
        assert_eq!(&suffix.body[..], &whole.body[len - 10..]);
        // A range of another version of the file gets the whole current file.
        let stale = get(&client, url, token, &[("range", "bytes=100-"), ("if-range", "\"old\"")]).await;
        assert_eq!((stale.status, stale.body.len()), (StatusCode::OK, len));
        let beyond = get(&client, url, token, &[("range", &format!("bytes={len}-"))]).await;
        assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(beyond.json().unwrap()["error"]["code"], "RANGE_NOT_SATISFIABLE");
        assert_eq!(beyond.header("content-range"), Some(format!("bytes */{len}").as_str()));
        let cached = get(&client, url, token, &[("if-none-match", &etag)]).await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
        assert_eq!(balance_of(&whole.body), wallet.expected_balance);
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_submission_is_its_own_job_and_delete_wipes_it() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_public(&client).await;
    let wallet = &demo_chain().wallets[0];
    // The same wallet twice: two jobs with their own credentials (they may share a scan pass).
    let first = submit_job(&client, &sealed_submission(&public, wallet, None)).await;
    let again = submit_job(&client, &sealed_submission(&public, wallet, None)).await;
    assert_ne!(again["job_id"], first["job_id"]);
    assert!(again.get("deduplicated").is_none());
    let (token, second_token) = (first["token"].as_str().unwrap(), again["token"].as_str().unwrap());
    follow(&client, first["events_url"].as_str().unwrap(), token).await;
    follow(&client, again["events_url"].as_str().unwrap(), second_token).await;
    let url = first["download_url"].as_str().unwrap();
    assert_eq!(get(&client, url, token, &[]).await.status, StatusCode::OK);
    // One job's token opens nothing of the other's.
    let crossed = get(&client, url, second_token, &[]).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(crossed.json().unwrap()["error"]["code"], "INVALID_TOKEN");

    let job_url = format!("/api/v1/wallet/sync/{}", first["job_id"].as_str().unwrap());
    let auth = format!("Bearer {token}");
    let deleted = client
        .request(Method::DELETE, &job_url, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = get(&client, url, token, &[]).await;
    assert_eq!(
        (gone.status, gone.json().unwrap()["error"]["code"].clone()),
        (StatusCode::GONE, "JOB_DELETED".into())
    );
    let status = get(&client, first["status_url"].as_str().unwrap(), token, &[])
        .await
        .json()
        .unwrap();
    assert_eq!(status["state"], "deleted");
    let twice = client
        .request(Method::DELETE, &job_url, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_eq!(twice.status, StatusCode::GONE);
    assert_eq!(twice.json().unwrap()["error"]["code"], "JOB_DELETED");
    // The other job is untouched by the first one's deletion.
    let other_url = again["download_url"].as_str().unwrap();
    assert_eq!(get(&client, other_url, second_token, &[]).await.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_expire_after_their_ttl() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.result_ttl = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_public(&client).await;
    let job = submit_job(&client, &sealed_submission(&public, &demo_chain().wallets[1], None)).await;
    let token = job["token"].as_str().unwrap();
    follow(&client, job["events_url"].as_str().unwrap(), token).await;
    let url = job["download_url"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = get(&client, url, token, &[]).await;
        if response.status == StatusCode::GONE {
            assert_eq!(response.json().unwrap()["error"]["code"], "RESULT_EXPIRED");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the result expires");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_routes_answer() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    for path in ["/live", "/ready", "/health"] {
        let response = client.request(Method::GET, path, &[], None).await.unwrap();
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    let health = client
        .request(Method::GET, "/health", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["lifecycle"], "ready");
    assert_eq!(health["cache"]["outputs"], 2000);
    let ready = client
        .request(Method::GET, "/ready", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["state"], "ready");
    assert_eq!(ready["cache_tip_height"], 39);
    assert!(ready["node_tip_height"].is_null(), "a directory source knows no node");
    let openapi = client
        .request(Method::GET, "/api/v1/openapi.json", &[], None)
        .await
        .unwrap();
    assert_eq!(openapi.body, OPENAPI_JSON.as_bytes());
    let document: serde_json::Value = openapi.json().unwrap();
    for path in [
        "/api/v1/server-key",
        "/api/v1/wallet/sync",
        "/api/v1/wallet/sync/{job_id}/status",
        "/api/v1/wallet/sync/{job_id}/events",
        "/api/v1/wallet/sync/{job_id}/events-ticket",
        "/api/v1/wallet/sync/{job_id}/download",
        "/api/v1/wallet/sync/{job_id}",
        "/health",
        "/live",
        "/ready",
        "/metrics",
        "/api/v1/openapi.json",
    ] {
        assert!(document["paths"][path].is_object(), "openapi.json documents {path}");
    }
    let metrics = client.request(Method::GET, "/metrics", &[], None).await.unwrap();
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    for needle in [
        "tws_jobs{state=\"queued\"}",
        "tws_queue_depth 0",
        "tws_cache_tip_height 39",
        "tws_http_responses_total{route=\"health\",status=\"200\"} 2",
        "tws_job_duration_seconds_count",
        "tws_outputs_scanned_total",
        "tws_lifecycle_state{state=\"ready\"} 1",
        "tws_lifecycle_state{state=\"degraded\"} 0",
        "tws_node_tip_height -1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_event_stream_gets_its_state_then_keep_alives() {
    use http_body_util::BodyExt;

    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_public(&client).await;
    let job = submit_job(&client, &sealed_submission(&public, &demo_chain().wallets[0], None)).await;
    let auth = format!("Bearer {}", job["token"].as_str().unwrap());
    let response = client
        .send(
            Method::GET,
            job["events_url"].as_str().unwrap(),
            &[("authorization", &auth)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut next = async || {
        let frame = tokio::time::timeout(Duration::from_secs(3), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
    };
    let first = next().await;
    assert!(first.starts_with("retry: 2000\n\nid: "), "{first}");
    assert!(
        first.ends_with("event: queued\ndata: {\"event\":\"queued\",\"position\":1}\n\n"),
        "{first}"
    );
    assert_eq!(next().await, ": keep-alive\n\n");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_pasted_with_spaces_or_upper_case_hex_are_scanned_as_accepted() {
    // What the submission accepts, the scan must open: a job is never accepted only to fail later.
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let wallet = &demo_chain().wallets[0];
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_public(&client).await;
    let mut secrets = tari_wallet_sync_testkit::service::submission_secrets(wallet, None);
    secrets.view_key = format!(" {}\n", secrets.view_key.to_uppercase());
    secrets.spend_public_key = format!("\t{} ", secrets.spend_public_key);
    let submission = tari_wallet_sync_testkit::service::seal_secrets(&public, secrets);
    let submitted = submit(&client, &submission).await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{:?}", submitted.body);
    let job = submitted.json().unwrap();
    let events = follow(&client, job["events_url"].as_str().unwrap(), &submission.token).await;
    let Some(JobEvent::Ready { download_url, .. }) = events.last().cloned() else {
        panic!("the job ends ready: {events:?}")
    };
    let download = get(&client, &download_url, &submission.token, &[]).await;
    assert_eq!(balance_of(&download.body), wallet.expected_balance);
    server.stop().await.unwrap();
}
