//! Webhooks against a real server on 127.0.0.1:0 and a real receiver: every job event reaches the
//! operator's endpoint exactly once, signed (HMAC-SHA256 over `timestamp "." body`, checked here with
//! an HMAC of the test's own), from a queue that survives a restart; failed attempts are retried with
//! backoff until one succeeds, and dropped (and counted) after the last attempt.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tari_wallet_sync::service::{
    ServiceConfig,
    testing::{TEST_PASSWORD, TestServer, demo_chain, test_config, wallet_app},
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tokio::net::TcpListener;

const SECRET: &str = "3f1c0b9e2d4a6f8e1b3c5d7f9a0b2c4d6e8f0a1b3c5d7e9f";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    event_id: String,
    body: Vec<u8>,
}

/// A webhook endpoint: answers 500 to its first `failures` requests, then 204.
struct Receiver {
    failures: usize,
    got: Mutex<Vec<Delivery>>,
}

impl Receiver {
    async fn start(listener: TcpListener, failures: usize) -> Arc<Receiver> {
        let receiver = Arc::new(Receiver {
            failures,
            got: Mutex::new(Vec::new()),
        });
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let receiver = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| receiver.clone().answer(request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
    }

    async fn answer(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/hooks");
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (signature, event_id) = (header("x-tws-signature"), header("x-tws-event-id"));
        assert_eq!(header("content-type"), "application/json");
        let body = request.into_body().collect().await.unwrap().to_bytes().to_vec();
        let mut got = self.got.lock().unwrap();
        got.push(Delivery {
            signature,
            event_id,
            body,
        });
        let status = if got.len() <= self.failures {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        };
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap())
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.deliveries().len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} deliveries expected, got {:?}",
                self.deliveries()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Anything more would come soon after (the backoff here is short).
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.deliveries()
    }
}

/// The receiver's side of the recipe in docs/API.md: HMAC-SHA256(secret, t + "." + body), in time.
fn verify(delivery: &Delivery) -> serde_json::Value {
    let (t, v1) = delivery
        .signature
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("a signature header: {:?}", delivery.signature));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t.parse::<u64>().unwrap().abs_diff(now) < 300, "signed just now");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&delivery.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the shared secret");
    serde_json::from_slice(&delivery.body).unwrap()
}

fn webhook_config(data: &Path, receiver: SocketAddr, max_attempts: u32) -> ServiceConfig {
    let secret = data.join("webhook-secret");
    if !secret.exists() {
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    }
    let mut config = test_config(&data.join("data"));
    config.webhook_urls = vec![format!("http://{receiver}/hooks")];
    config.webhook_secret_file = Some(secret);
    config.webhook_max_attempts = max_attempts;
    config.webhook_retry_base = Duration::from_millis(50);
    config.webhook_retry_max = Duration::from_millis(200);
    config
}

async fn metric(server: &TestServer, sample: &str) -> f64 {
    let client = Client::new(&server.base_url, Protocol::Http1);
    let text = client.request(Method::GET, "/metrics", &[], None).await.unwrap().body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{sample} in /metrics"))
}

/// Submits a demo wallet and follows it to `ready`; returns its job id and token.
async fn ready_job(server: &TestServer) -> (String, String) {
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    let end = wallet_app::last_event(&client, &job).await;
    assert!(matches!(end, JobEvent::Ready { .. }), "{end:?}");
    (job.json["job_id"].as_str().unwrap().to_string(), job.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_while_the_receiver_is_down_are_delivered_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nobody listening yet: every attempt is refused.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let config = webhook_config(dir.path(), addr, 1000);
    let server = TestServer::start(config.clone()).await;
    let (job_id, token) = ready_job(&server).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&server, "tws_webhook_deliveries_total{outcome=\"failed\"}").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "an attempt was made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 1.0);
    server.stop().await.unwrap();

    let receiver = Receiver::start(TcpListener::bind(addr).await.unwrap(), 0).await;
    let server = TestServer::start(config).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "exactly one delivery: {got:?}");
    let event = verify(&got[0]);
    assert_eq!(event["type"], "ready");
    assert_eq!(event["state"], "ready");
    assert_eq!(event["job_id"], job_id.as_str());
    assert_eq!(event["id"], got[0].event_id.as_str());
    assert_eq!(event["result"]["tip_height"], 39);
    let body = String::from_utf8(got[0].body.clone()).unwrap();
    let wallet = &demo_chain().wallets[0];
    for secret in [token.as_str(), &wallet.view_key, TEST_PASSWORD, SECRET] {
        assert!(!body.contains(secret), "no secret in a webhook: {body}");
    }
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 0.0);
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"delivered\"}").await,
        1.0
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::start(listener, 3).await;
    let server = TestServer::start(webhook_config(dir.path(), addr, 10)).await;
    let (job_id, _) = ready_job(&server).await;
    let got = receiver.wait_for(4).await;
    assert_eq!(got.len(), 4, "three failures, then one success, then nothing: {got:?}");
    for delivery in &got {
        let event = verify(delivery);
        assert_eq!(event["job_id"], job_id.as_str());
        assert_eq!(
            delivery.event_id, got[0].event_id,
            "one event, the same id each attempt"
        );
        assert_eq!(delivery.body, got[0].body);
    }
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"failed\"}").await,
        3.0
    );
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"delivered\"}").await,
        1.0
    );
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 0.0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_dropped_and_counted_after_its_last_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::start(listener, usize::MAX).await;
    let server = TestServer::start(webhook_config(dir.path(), addr, 2)).await;
    ready_job(&server).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "two attempts, then none: {got:?}");
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"dropped\"}").await,
        1.0
    );
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 0.0);
    server.stop().await.unwrap();
}
