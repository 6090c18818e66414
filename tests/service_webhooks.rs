//! Webhooks against a real server on 127.0.0.1:0 and real receivers: every job event reaches the
//! operator's endpoint exactly once, signed (HMAC-SHA256 over `timestamp "." body`, checked here with
//! an HMAC of the test's own), from a queue that survives a restart; failed attempts are retried with
//! backoff until one succeeds, and dropped (and counted) after the last attempt; a connection that
//! never completes fails at the connect timeout. Endpoints do not wait for each other: one that
//! black-holes its requests leaves another's deliveries prompt; a dead endpoint's breaker keeps its
//! deliveries waiting instead of spending their attempts, its queue is capped (the oldest go, counted),
//! and it gets everything once it answers again. A job store that fails while a delivery's outcome is
//! written does not make the delivery go twice.

use std::{
    collections::HashMap,
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
use tari_wallet_sync::service::ServiceConfig;
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{TEST_PASSWORD, TestServer, demo_chain, test_config, wallet_app};
use tokio::net::TcpListener;

const SECRET: &str = "3f1c0b9e2d4a6f8e1b3c5d7f9a0b2c4d6e8f0a1b3c5d7e9f";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    event_id: String,
    body: Vec<u8>,
    at: tokio::time::Instant,
}

/// What a receiver runs once, on its first request, before it answers.
type FirstRequestHook = Box<dyn FnOnce() + Send>;

/// A webhook endpoint: answers 500 to its first `failures` requests, then 204.
struct Receiver {
    failures: usize,
    got: Mutex<Vec<Delivery>>,
    on_first_request: Mutex<Option<FirstRequestHook>>,
}

impl Receiver {
    async fn start(listener: TcpListener, failures: usize) -> Arc<Receiver> {
        let receiver = Arc::new(Receiver {
            failures,
            got: Mutex::new(Vec::new()),
            on_first_request: Mutex::new(None),
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
        if let Some(hook) = self.on_first_request.lock().unwrap().take() {
            hook();
        }
        let mut got = self.got.lock().unwrap();
        got.push(Delivery {
            signature,
            event_id,
            body,
            at: tokio::time::Instant::now(),
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

/// A config sending to every address of `receivers`, in that order, with test-friendly waits.
fn endpoints_config(data: &Path, receivers: &[SocketAddr]) -> ServiceConfig {
    let mut config = webhook_config(data, receivers[0], 10);
    config.webhook_urls = receivers.iter().map(|a| format!("http://{a}/hooks")).collect();
    // Twenty submissions from one client at once.
    config.max_queued_per_client = 32;
    config
}

/// `count` jobs of the demo wallets (each with a password of its own, so none is a resubmission),
/// followed together to their end over one HTTP/2 connection; returns each job's id and when its
/// `ready` event arrived here.
async fn ready_jobs(server: &TestServer, count: usize) -> Vec<(String, tokio::time::Instant)> {
    let client = Client::new(&server.base_url, Protocol::Http2);
    let wallets = &demo_chain().wallets;
    let mut jobs = Vec::with_capacity(count);
    for n in 0..count {
        let password = format!("{TEST_PASSWORD} {n}");
        jobs.push(wallet_app::submit(&client, &wallets[n % wallets.len()], Some(&password)).await);
    }
    let follow = jobs.iter().map(|job| {
        let client = client.clone();
        async move {
            let end = wallet_app::last_event(&client, job).await;
            assert!(matches!(end, JobEvent::Ready { .. }), "{end:?}");
            (
                job.json["job_id"].as_str().unwrap().to_string(),
                tokio::time::Instant::now(),
            )
        }
    });
    futures_util::future::join_all(follow).await
}

/// Polls `/metrics` until `sample` reads `expected` (generous deadline: a loaded machine).
async fn wait_for_metric(server: &TestServer, sample: &str, expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = metric(server, sample).await;
        if value == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} is {value}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_black_holed_endpoint_does_not_delay_another() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts TCP connections (the kernel's backlog) and never reads or answers a byte.
    let black_hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let healthy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = [black_hole.local_addr().unwrap(), healthy.local_addr().unwrap()];
    let receiver = Receiver::start(healthy, 0).await;
    // The black hole first: the old single sender tried it before every event to the healthy one.
    let server = TestServer::start(endpoints_config(dir.path(), &addrs)).await;

    let ready = ready_jobs(&server, 20).await;
    let got = receiver.wait_for(20).await;
    assert_eq!(got.len(), 20, "every event once: {got:?}");
    let arrived: HashMap<String, tokio::time::Instant> = got
        .iter()
        .map(|delivery| {
            let event = verify(delivery);
            (event["job_id"].as_str().unwrap().to_string(), delivery.at)
        })
        .collect();
    let mut delays_ms: Vec<i64> = ready
        .iter()
        .map(|(job, ready_at)| {
            let at = arrived[job];
            // Negative: the webhook came before the event stream said `ready`.
            if at >= *ready_at {
                (at - *ready_at).as_millis() as i64
            } else {
                -((*ready_at - at).as_millis() as i64)
            }
        })
        .collect();
    delays_ms.sort_unstable();
    eprintln!("healthy endpoint: delivery after the ready event, ms (sorted): {delays_ms:?}");
    // Each attempt at the black hole waits out webhook_attempt_timeout (10 s): a delivery that queued
    // behind one would arrive that much later.
    assert!(
        *delays_ms.last().unwrap() < 5_000,
        "deliveries to the healthy endpoint wait for nothing: {delays_ms:?}"
    );
    let black_hole_queue = format!("tws_webhook_endpoint_queue_depth{{endpoint=\"{}\"}}", addrs[0]);
    assert_eq!(metric(&server, &black_hole_queue).await, 20.0);
    let healthy_queue = format!("tws_webhook_endpoint_queue_depth{{endpoint=\"{}\"}}", addrs[1]);
    assert_eq!(metric(&server, &healthy_queue).await, 0.0);
    // A stop does not wait for the black hole either.
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the service stops while an attempt hangs")
        .unwrap();
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_keeps_its_newest_deliveries_unspent_behind_its_breaker() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens on this port: every attempt is refused.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let healthy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = [dead, healthy.local_addr().unwrap()];
    let receiver = Receiver::start(healthy, 0).await;
    let mut config = endpoints_config(dir.path(), &addrs);
    config.webhook_max_queued = 3;
    config.webhook_breaker_failures = 1;
    config.webhook_breaker_cooldown = Duration::from_secs(3600);
    let server = TestServer::start(config).await;

    let ready = ready_jobs(&server, 5).await;
    assert_eq!(receiver.wait_for(5).await.len(), 5, "the healthy endpoint gets all");
    wait_for_metric(&server, "tws_webhook_dropped_total{reason=\"queue_full\"}", 2.0).await;
    let dead_label = format!("endpoint=\"{dead}\"");
    assert_eq!(
        metric(&server, &format!("tws_webhook_endpoint_queue_depth{{{dead_label}}}")).await,
        3.0
    );
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 3.0);
    assert_eq!(
        metric(&server, &format!("tws_webhook_breaker{{{dead_label},state=\"open\"}}")).await,
        1.0
    );
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"failed\"}").await,
        1.0,
        "one attempt opened the breaker; the rest wait without spending attempts"
    );
    assert_eq!(
        metric(&server, "tws_webhook_dropped_total{reason=\"attempts\"}").await,
        0.0
    );
    server.stop().await.unwrap();

    // The rows are bounded too: the newest three events wait in the store, their attempts unspent.
    let store = rusqlite::Connection::open(dir.path().join("data").join("jobs.sqlite")).unwrap();
    let mut rows = store
        .prepare("SELECT body, attempts FROM webhook_deliveries WHERE url = ?1 ORDER BY id")
        .unwrap();
    let waiting: Vec<(String, u32)> = rows
        .query_map([format!("http://{dead}/hooks")], |r| {
            let body: Vec<u8> = r.get(0)?;
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            Ok((event["job_id"].as_str().unwrap().to_string(), r.get(1)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    assert!(
        waiting.iter().map(|(_, attempts)| attempts).sum::<u32>() <= 1,
        "{waiting:?}"
    );
    let all_jobs: Vec<&String> = ready.iter().map(|(job, _)| job).collect();
    for (job, _) in &waiting {
        assert!(all_jobs.contains(&job), "{job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_probes_and_delivers_everything_once_the_endpoint_answers() {
    let dir = tempfile::tempdir().unwrap();
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut config = webhook_config(dir.path(), addr, 30);
    config.webhook_breaker_failures = 2;
    config.webhook_breaker_cooldown = Duration::from_millis(200);
    config.webhook_retry_max = Duration::from_millis(400);
    let server = TestServer::start(config).await;
    let ready = ready_jobs(&server, 3).await;
    let open = format!("tws_webhook_breaker{{endpoint=\"{addr}\",state=\"open\"}}");
    wait_for_metric(&server, &open, 1.0).await;

    let receiver = Receiver::start(TcpListener::bind(addr).await.unwrap(), 0).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "each event once: {got:?}");
    let mut delivered: Vec<String> = got
        .iter()
        .map(|d| verify(d)["job_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = ready.into_iter().map(|(job, _)| job).collect();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected);
    let closed = format!("tws_webhook_breaker{{endpoint=\"{addr}\",state=\"closed\"}}");
    wait_for_metric(&server, &closed, 1.0).await;
    assert_eq!(metric(&server, "tws_webhook_queue_depth").await, 0.0);
    assert_eq!(
        metric(&server, "tws_webhook_dropped_total{reason=\"attempts\"}").await,
        0.0
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_while_a_delivery_is_recorded_does_not_send_it_twice() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::start(listener, 0).await;
    let config = webhook_config(dir.path(), addr, 10);
    let store_file = config.data_dir.join("jobs.sqlite");
    // On the first delivery another process's writer takes the job store's write lock for longer than
    // the service waits for it (5 s): removing the delivered row fails at first.
    let (released_tx, released) = std::sync::mpsc::channel();
    *receiver.on_first_request.lock().unwrap() = Some(Box::new(move || {
        let other = rusqlite::Connection::open(&store_file).unwrap();
        other.busy_timeout(Duration::from_secs(30)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(7));
            other.execute_batch("COMMIT").unwrap();
            released_tx.send(()).unwrap();
        });
    }));
    let server = TestServer::start(config).await;
    ready_job(&server).await;
    tokio::task::spawn_blocking(move || released.recv_timeout(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    wait_for_metric(&server, "tws_webhook_queue_depth", 0.0).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(
        got.len(),
        1,
        "delivered once, though its removal failed at first: {got:?}"
    );
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"delivered\"}").await,
        1.0
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_completes_fails_at_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // A listener that never accepts, its queue filled: the kernel drops further SYNs, so a connect to
    // it hangs as to an address that does not answer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(1).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(addr)).await
        {
            fillers.push(stream);
        }
    }
    let hangs = tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr)).await;
    assert!(hangs.is_err(), "a connect to the full listener hangs");

    let mut config = webhook_config(dir.path(), addr, 100);
    config.webhook_connect_timeout = Duration::from_millis(200);
    // Far longer than the test: only the connect timeout can end these attempts.
    config.webhook_attempt_timeout = Duration::from_secs(300);
    config.webhook_breaker_failures = 100;
    let server = TestServer::start(config).await;
    ready_job(&server).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while metric(&server, "tws_webhook_deliveries_total{outcome=\"failed\"}").await < 3.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "attempts end at the connect timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await.unwrap();
    drop((full, fillers));
}
