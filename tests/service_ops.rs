//! The unauthenticated operations routes as an attacker and an operator meet them, over real clients
//! on 127.0.0.1: a flood from one address is cut off with `429 RATE_LIMITED` (while the operator's own
//! port keeps answering), `metrics_listen` moves `/metrics` off the public port, and a scrape costs no
//! job-store call: its gauges change when jobs change state, not when it is asked.

#[path = "support/watched_store.rs"]
mod watched_store;

use std::time::Duration;

use http::{Method, StatusCode};
use tari_wallet_sync::service::{RateLimit, ServiceConfig};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, Response},
};
use tari_wallet_sync_testkit::service::{
    TestServer, demo_chain, test_config,
    wallet_app::{last_event, submit},
};

fn with_operator_port(data: &std::path::Path) -> ServiceConfig {
    let mut config = test_config(data);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

async fn get(client: &Client, path: &str) -> Response {
    client.request(Method::GET, path, &[], None).await.unwrap()
}

fn assert_error(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.json().unwrap()["error"]["code"], code);
}

async fn scrape(client: &Client) -> String {
    let response = get(client, "/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    String::from_utf8(response.body.to_vec()).unwrap()
}

/// The value of the sample `name` (with its labels), e.g. `tws_jobs{state="ready"}`.
fn sample(text: &str, name: &str) -> String {
    let prefix = format!("{name} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
    line[prefix.len()..].to_string()
}

/// The job gauges, queue and keys of a scrape (the lines that must not move unless jobs do).
fn job_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("tws_jobs{") || l.starts_with("tws_queue_depth ") || l.starts_with("tws_sealed_keys"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_operations_requests_from_one_address_is_cut_off() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.ops_rate_per_ip = RateLimit {
        per_window: 5,
        window: Duration::from_secs(3600),
    };
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    for _ in 0..5 {
        assert_eq!(get(&client, "/metrics").await.status, StatusCode::OK);
    }
    // The bucket is the address's, whatever operations route it asks; each refusal says when to retry.
    for path in ["/metrics", "/health", "/ready", "/live", "/no-such-route"] {
        let limited = get(&client, path).await;
        assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
        let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=720).contains(&retry), "{retry}");
    }
    // Over HTTP/2 too (a new connection is no new bucket); the API's own limit is apart.
    let h2 = Client::new(&server.base_url, Protocol::Http2);
    assert_error(
        &get(&h2, "/metrics").await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    );
    assert_eq!(get(&h2, "/api/v1/server-key").await.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_port_serves_metrics_and_the_public_port_does_not() {
    let data = tempfile::tempdir().unwrap();
    let mut config = with_operator_port(data.path());
    config.ops_rate_per_ip = RateLimit {
        per_window: 20,
        window: Duration::from_secs(3600),
    };
    let server = TestServer::start(config).await;
    let public = Client::new(&server.base_url, Protocol::Http1);
    let operator_url = server.metrics_url.clone().expect("an operator port");
    assert_ne!(operator_url, server.base_url);
    let operator = Client::new(&operator_url, Protocol::Http2);

    for path in ["/metrics", "//metrics"] {
        assert_error(&get(&public, path).await, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let posted = public.request(Method::POST, "/metrics", &[], None).await.unwrap();
    assert_error(&posted, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(get(&public, "/health").await.status, StatusCode::OK);
    assert_eq!(get(&public, "/ready").await.status, StatusCode::OK);
    assert_eq!(get(&public, "/api/v1/server-key").await.status, StatusCode::OK);

    // The operator's port: the operations routes, and nothing of the API.
    let response = get(&operator, "/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(response.body.to_vec()).unwrap();
    assert_eq!(sample(&text, "tws_lifecycle_state{state=\"ready\"}"), "1");
    assert_eq!(sample(&text, "tws_cache_tip_height"), "39");
    assert_eq!(
        sample(&text, "tws_http_responses_total{route=\"not_found\",status=\"404\"}"),
        "3",
        "the public port's refusals are counted"
    );
    assert_eq!(get(&operator, "/health").await.status, StatusCode::OK);
    assert_eq!(get(&operator, "/ready").await.status, StatusCode::OK);
    for path in ["/api/v1/server-key", "/api/v1/openapi.json"] {
        assert_error(&get(&operator, path).await, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let body = serde_json::json!({ "view_key": "00", "spend_public_key": "00" }).to_string();
    let submitted = operator
        .request(Method::POST, "/api/v1/wallet/sync", &[], Some(body.into()))
        .await
        .unwrap();
    assert_error(&submitted, StatusCode::NOT_FOUND, "NOT_FOUND");

    // A scraper that asks for OpenMetrics gets it, with the same samples.
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let response = operator
        .request(Method::GET, "/metrics", &[("accept", accept)], None)
        .await
        .unwrap();
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = String::from_utf8(response.body.to_vec()).unwrap();
    assert_eq!(sample(&text, "tws_cache_tip_height"), "39");
    assert!(
        text.contains("# TYPE tws_jobs_submitted counter\n") && text.ends_with("# EOF\n"),
        "{text}"
    );

    // A flood on the public port (all loopback behind a local proxy) leaves the operator's bucket alone.
    let mut limited = 0;
    for _ in 0..25 {
        if get(&public, "/health").await.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "the public port's bucket ran dry");
    let text = scrape(&operator).await;
    assert_eq!(
        sample(&text, "tws_rate_limited_total{scope=\"ip_operations\"}"),
        limited.to_string()
    );
    server.stop().await.unwrap();
}

/// Scrapes read what jobs recorded as they moved: many scrapes make no job-store call (the service runs
/// over the SQLite store wrapped to count the calls that reach it), and give the same job gauges until a
/// job changes state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_makes_no_store_call_and_its_gauges_move_only_with_the_jobs() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.batch_delay = Duration::from_secs(3600);
    let store = watched_store::WatchedStore::open(&config, Duration::ZERO);
    let (base_url, service, shutdown) = watched_store::start(config, store.clone()).await;
    let client = Client::new(&base_url, Protocol::Http2);
    let wallets = &demo_chain().wallets;

    let calls = store.calls();
    assert!(calls > 0, "the count sees the calls of the start");
    let first = scrape(&client).await;
    for _ in 0..100 {
        assert_eq!(job_lines(&scrape(&client).await), job_lines(&first));
    }
    for path in ["/health", "/ready", "/live"] {
        assert_eq!(get(&client, path).await.status, StatusCode::OK);
    }
    assert_eq!(store.calls(), calls, "operations routes made job-store calls");
    assert_eq!(sample(&first, "tws_jobs{state=\"queued\"}"), "0");

    // A job waits (the batch delay is an hour): one queued, its key held, with no scrape asking the store.
    let before = store.calls();
    let job = submit(&client, &wallets[0], None).await;
    let calls = store.calls();
    assert!(calls > before, "the submission's write was counted");
    let queued = scrape(&client).await;
    assert_eq!(sample(&queued, "tws_jobs{state=\"queued\"}"), "1");
    assert_eq!(sample(&queued, "tws_queue_depth"), "1");
    assert_eq!(sample(&queued, "tws_sealed_keys_held"), "1");
    assert_eq!(sample(&queued, "tws_jobs_submitted_total"), "1");
    for _ in 0..50 {
        assert_eq!(job_lines(&scrape(&client).await), job_lines(&queued));
    }
    assert_eq!(store.calls(), calls);

    // Deleted: the gauges move at once, the key is gone from the store's count.
    let deleted = client
        .request(
            Method::DELETE,
            &format!("/api/v1/wallet/sync/{}", job.json["job_id"].as_str().unwrap()),
            &[("authorization", &job.auth)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    let after = scrape(&client).await;
    assert_eq!(sample(&after, "tws_jobs{state=\"queued\"}"), "0");
    assert_eq!(sample(&after, "tws_jobs{state=\"deleted\"}"), "1");
    assert_eq!(sample(&after, "tws_queue_depth"), "0");
    assert_eq!(sample(&after, "tws_sealed_keys_held"), "0");
    shutdown.cancel();
    service.wait().await.unwrap();

    // A job that runs: ready in the gauges, keys wiped.
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = submit(&client, &wallets[1], None).await;
    assert!(matches!(last_event(&client, &job).await, JobEvent::Ready { .. }));
    let text = scrape(&client).await;
    assert_eq!(sample(&text, "tws_jobs{state=\"ready\"}"), "1");
    assert_eq!(sample(&text, "tws_jobs{state=\"scanning\"}"), "0");
    assert_eq!(sample(&text, "tws_sealed_keys_held"), "0");
    assert_eq!(sample(&text, "tws_jobs_ready_total"), "1");
    assert_eq!(sample(&text, "tws_job_duration_seconds_count"), "1");
    server.stop().await.unwrap();
}
