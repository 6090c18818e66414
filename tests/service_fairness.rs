//! Fair under a flood, through a real HTTP client against the real server on 127.0.0.1 (clients told
//! apart by `X-Forwarded-For` from a trusted proxy, as behind nginx): a newcomer is accepted while
//! flooders fill the queue and goes in the next pass; a pass is bounded in output-keys; each client's
//! scan budget prices birthdays; a wallet is its view key whatever spend key comes with it; an envelope
//! sent again answers with its job, and one refused is taken when sent again after the wait; finished
//! files held in memory stay within their byte bound and are served from disk beyond it.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use http::{Method, StatusCode};
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    service::{CacheSource, RateLimit, ServiceConfig},
};
use tari_wallet_sync_sse::client::{Client, Protocol, Response};
use tari_wallet_sync_testkit::service::{
    GatedBuilder, TestServer, TestSubmission, demo_chain, sealed_submission, test_config, wallet_app,
    wallet_app::server_key,
};

const SUBMIT: &str = "/api/v1/wallet/sync";

async fn post_from(client: &Client, submission: &TestSubmission, address: &str) -> Response {
    let headers = [("content-type", "application/json"), ("x-forwarded-for", address)];
    client
        .request(
            Method::POST,
            SUBMIT,
            &headers,
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap()
}

fn code(response: &Response) -> String {
    let json = response.json().unwrap_or_default();
    json["error"]["code"].as_str().unwrap_or_default().to_string()
}

fn retry_after(response: &Response) -> u64 {
    response
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header")
}

fn random_scalar() -> Scalar {
    let mut wide = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A wallet nobody paid (its scan finds nothing), born at `birthday`, with `view_key` if given.
fn stranger(birthday: u64, view_key: Option<&str>) -> DemoWallet {
    let spend = RistrettoPoint::mul_base(&random_scalar());
    DemoWallet {
        name: "stranger".into(),
        view_key: view_key.map_or_else(|| hex::encode(random_scalar().as_bytes()), str::to_string),
        spend_public_key: hex::encode(spend.compress().as_bytes()),
        birthday,
        expected_balance: 0,
        expected_outputs: 0,
        expected_spent: 0,
    }
}

/// A config whose clients are told apart by `X-Forwarded-For` from the loopback proxy.
fn behind_proxy(data: &std::path::Path) -> ServiceConfig {
    let mut config = test_config(data);
    config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config
}

async fn status(client: &Client, submission: &TestSubmission, job: &serde_json::Value) -> serde_json::Value {
    let url = job["status_url"].as_str().unwrap();
    client
        .request(Method::GET, url, &[("authorization", &submission.auth())], None)
        .await
        .unwrap()
        .json()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_is_taken_at_once_and_scanned_in_the_next_pass_while_flooders_fill_the_queue() {
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    config.max_queued_jobs = 16;
    config.max_queued_per_client = 4;
    // Four genesis wallets per pass: the chain's outputs, four times.
    let outputs = 2000;
    config.max_pass_output_keys = 4 * outputs;
    // Passes seconds apart, so what went before the newcomer's can be told from what came after.
    config.batch_delay = Duration::from_secs(3);
    let gate = Arc::new(GatedBuilder::default());
    // A failed assertion must not leave a build parked at the gate: the runtime would wait for it.
    struct OpenOnDrop(Arc<GatedBuilder>);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }
    let _open_on_drop = OpenOnDrop(gate.clone());
    let source = CacheSource::directory(config.cache_dir.clone());
    let server = TestServer::start_with(config, source, gate.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;

    // One flooder's job starts a pass that the gate holds, so the rest wait in the queue.
    let first = sealed_submission(&public, &stranger(0, None), None);
    assert_eq!(
        post_from(&client, &first, "198.51.100.1").await.status,
        StatusCode::ACCEPTED
    );
    gate.wait_for_builds(1).await;

    // Four flooders, four genesis jobs each (four each at most, the first's pass job included): the
    // open three quarters of the queue (12) fill, then only clients holding fewer than two may take the
    // headroom, so the flood cannot take it all.
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for flooder in 1..=4 {
        for _ in 0..4 {
            let submission = sealed_submission(&public, &stranger(0, None), None);
            let response = post_from(&client, &submission, &format!("198.51.100.{flooder}")).await;
            match response.status {
                StatusCode::ACCEPTED => accepted.push((submission, response.json().unwrap())),
                _ => refused.push(response),
            }
        }
    }
    assert!(
        (12..=13).contains(&accepted.len()),
        "the open share of the queue, and one headroom slot for a flooder holding one: {}",
        accepted.len()
    );
    for response in &refused {
        assert!(
            matches!(code(response).as_str(), "QUEUE_FULL" | "RATE_LIMITED"),
            "{}",
            code(response)
        );
        assert!(retry_after(response) >= 1);
    }

    // The newcomer: accepted at once, and at the head of the queue: its round is the flooders' first
    // (their first jobs still wait), and within a round the client with fewer jobs waiting goes first.
    let newcomer = sealed_submission(&public, &stranger(0, None), None);
    let response = post_from(&client, &newcomer, "203.0.113.77").await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{:?}", response.body);
    let job = response.json().unwrap();
    assert_eq!(job["queue_position"].as_u64(), Some(1), "{job}");

    // The held pass ends; the next one (four genesis wallets) takes the newcomer.
    gate.open();
    let mut ready = false;
    for _ in 0..300 {
        let now = status(&client, &newcomer, &job).await;
        if now["state"] == "ready" {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the newcomer's job is ready");
    // Most of the flood is still behind it: at most one pass (four jobs) went before.
    let mut still_queued = 0;
    for (submission, job) in &accepted {
        if status(&client, submission, job).await["state"] != "ready" {
            still_queued += 1;
        }
    }
    assert!(
        still_queued >= 6,
        "{still_queued} of {} flood jobs still waiting",
        accepted.len()
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_s_scan_budget_prices_birthdays() {
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    // One and a half genesis scans of the 2,000-output chain per hour.
    config.client_scan_budget = RateLimit {
        per_window: 3000,
        window: Duration::from_secs(3600),
    };
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_key(&client).await;
    let tip = 39;

    let genesis = sealed_submission(&public, &stranger(0, None), None);
    assert_eq!(
        post_from(&client, &genesis, "198.51.100.1").await.status,
        StatusCode::ACCEPTED
    );
    let again = sealed_submission(&public, &stranger(0, None), None);
    let refused = post_from(&client, &again, "198.51.100.1").await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".into())
    );
    assert!(retry_after(&refused) > 600, "the budget refills over the hour");
    // A young wallet costs a block's outputs: it fits what is left.
    let young = sealed_submission(&public, &stranger(tip, None), None);
    assert_eq!(
        post_from(&client, &young, "198.51.100.1").await.status,
        StatusCode::ACCEPTED
    );
    // Another client has its own budget.
    assert_eq!(
        post_from(&client, &again, "198.51.100.2").await.status,
        StatusCode::ACCEPTED
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_is_its_view_key_whatever_spend_key_comes_with_it() {
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    config.sync_rate_per_wallet = RateLimit {
        per_window: 3,
        window: Duration::from_secs(3600),
    };
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_key(&client).await;
    let view_key = hex::encode(random_scalar().as_bytes());

    let mut statuses = Vec::new();
    for i in 0..5 {
        // A fresh spend key and a fresh address each time: still one wallet.
        let submission = sealed_submission(&public, &stranger(0, Some(&view_key)), None);
        let response = post_from(&client, &submission, &format!("198.51.100.{}", 10 + i)).await;
        statuses.push((response.status.as_u16(), code(&response)));
    }
    assert_eq!(
        statuses,
        [
            (202, String::new()),
            (202, String::new()),
            (202, String::new()),
            (429, "RATE_LIMITED".into()),
            (429, "RATE_LIMITED".into())
        ]
    );
    let other = sealed_submission(&public, &stranger(0, None), None);
    assert_eq!(
        post_from(&client, &other, "198.51.100.10").await.status,
        StatusCode::ACCEPTED
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_sent_again_answers_with_its_job_and_one_refused_is_taken_after_the_wait() {
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    config.max_queued_per_client = 1;
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;

    let first = sealed_submission(&public, &stranger(0, None), None);
    let accepted = post_from(&client, &first, "198.51.100.1").await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let job = accepted.json().unwrap();
    // Sent again (the answer was lost, or someone replays it): the same job, still no token.
    for _ in 0..2 {
        let again = post_from(&client, &first, "198.51.100.1").await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
        let repeat = again.json().unwrap();
        assert_eq!(repeat["job_id"], job["job_id"]);
        assert!(repeat.get("token").is_none());
    }

    // A second job waits its turn: refused (its envelope not remembered), then sent again once the
    // client's first job is gone: taken.
    let second = sealed_submission(&public, &stranger(0, None), None);
    let refused = post_from(&client, &second, "198.51.100.1").await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".into())
    );
    assert!(retry_after(&refused) >= 1);
    let deleted = client
        .request(
            Method::DELETE,
            &format!("{SUBMIT}/{}", job["job_id"].as_str().unwrap()),
            &[("authorization", &first.auth())],
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    let taken = post_from(&client, &second, "198.51.100.1").await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{:?}", taken.body);
    assert_ne!(taken.json().unwrap()["job_id"], job["job_id"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_files_stay_within_their_byte_bounds() {
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    // Room in memory for about one demo wallet file.
    config.max_held_bytes = 120_000;
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let wallets = &demo_chain().wallets;

    let mut files = Vec::new();
    let mut jobs = Vec::new();
    for wallet in wallets {
        let job = wallet_app::submit(&client, wallet, None).await;
        let ready = wallet_app::last_event(&client, &job).await;
        files.push(ready);
        jobs.push(job);
    }
    let metrics = Client::new(server.metrics_url.as_ref().unwrap(), Protocol::Http1);
    let scrape = metrics.request(Method::GET, "/metrics", &[], None).await.unwrap();
    let text = String::from_utf8(scrape.body.to_vec()).unwrap();
    let held: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tws_held_file_bytes "))
        .expect("the gauge")
        .parse()
        .unwrap();
    assert!(held <= 120_000, "{held} bytes held");
    // Every file downloads, from memory or from its sealed copy on disk, and is the wallet's.
    for ((job, ready), wallet) in jobs.iter().zip(&files).zip(wallets) {
        let tari_wallet_sync_sse::JobEvent::Ready { download_url, .. } = ready else {
            panic!("{ready:?}")
        };
        let file = wallet_app::download(&client, job, download_url).await;
        assert_eq!(
            tari_wallet_sync_testkit::service::downloaded_wallet_balance(&file),
            wallet.expected_balance
        );
    }
    server.stop().await.unwrap();

    // A client whose files fill its byte budget waits for them to expire or go.
    let data = tempfile::tempdir().unwrap();
    let mut config = behind_proxy(data.path());
    config.max_held_bytes_per_client = 1;
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;
    let first = sealed_submission(&public, &wallets[0], None);
    let job = post_from(&client, &first, "198.51.100.1").await.json().unwrap();
    for _ in 0..300 {
        if status(&client, &first, &job).await["state"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = sealed_submission(&public, &wallets[1], None);
    let refused = post_from(&client, &second, "198.51.100.1").await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".into())
    );
    assert!(retry_after(&refused) > 60, "until the file expires");
    assert_eq!(
        post_from(&client, &second, "198.51.100.2").await.status,
        StatusCode::ACCEPTED
    );
    server.stop().await.unwrap();
}
