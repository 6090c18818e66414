//! A fleet through a real HAProxy: the example deployment's `deploy/haproxy/haproxy.cfg` as shipped (its
//! variables set to loopback ports and short timeouts by `testkit::haproxy`) in front of three replicas on
//! 127.0.0.1, each its own service with its own job store and the fleet's one sealing key, trusting
//! HAProxy's `X-Forwarded-For`. Clients connect from addresses of their own (Linux routes all of 127/8 to
//! loopback). What a wallet and an operator rely on:
//! - a wallet app's whole sync (key, sealed submission, events, download) works through HAProxy, over
//!   HTTP/1.1 and h2c, and over HTTPS with HTTP/2 where HAProxy terminates TLS; every replica advertises
//!   the same key;
//! - a flooding client is refused with `RATE_LIMITED` and stays refused on every further request, each
//!   counted by the one replica its address hashes to (its limit holds for the fleet, not per replica),
//!   while a client from another address is served;
//! - a stopped replica is taken out by the `/ready` health check and its clients are served by another;
//! - an event stream stays open through HAProxy past its client and server timeouts, kept alive by the
//!   service's keep-alive comments, and ends with the job's `ready`; without keep-alives inside the
//!   timeout, HAProxy cuts it (the control that shows the first can fail).

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tari_wallet_sync::service::{RateLimit, ServiceConfig, generate_key_file};
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::{
    haproxy::{Haproxy, HaproxySettings},
    service::{
        TestServer, demo_chain, downloaded_wallet_balance, edge::Http1, sealed_submission, test_config, wallet_app,
    },
};

/// Three replicas behind HAProxy, sharing one sealing key.
struct Fleet {
    replicas: Vec<Option<TestServer>>,
    haproxy: Haproxy,
    key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// Replicas `r1`..`r3` with the test config changed by `tweak`, and HAProxy with `settings`; returns
    /// once HAProxy has every replica `UP`.
    async fn start(tweak: impl Fn(&mut ServiceConfig), settings: HaproxySettings) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("server-key");
        generate_key_file(&key_file).unwrap();
        let mut replicas = Vec::new();
        for n in 1..=3 {
            let mut config = test_config(&dir.path().join(format!("r{n}")));
            config.server_key_file = Some(key_file.clone());
            config.replica_id = Some(format!("r{n}"));
            config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            tweak(&mut config);
            replicas.push(Some(TestServer::start(config).await));
        }
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.as_ref().unwrap().addr).collect();
        let haproxy = Haproxy::start([addrs[0], addrs[1], addrs[2]], &settings)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for n in 1..=3 {
            haproxy
                .wait_for(&format!("replica{n}"), "UP", Duration::from_secs(20))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", haproxy.log()));
        }
        Fleet {
            replicas,
            haproxy,
            key_file,
            _dir: dir,
        }
    }

    fn replica(&self, n: usize) -> &TestServer {
        self.replicas[n - 1].as_ref().expect("a running replica")
    }

    /// A connection to HAProxy from `local`.
    async fn connect_from(&self, local: IpAddr) -> Http1 {
        Http1::connect(local, self.haproxy.addr).await.unwrap()
    }

    /// Stops replica `n` and waits until HAProxy's health check has taken it out.
    async fn stop(&mut self, n: usize) {
        self.replicas[n - 1].take().expect("running").stop().await.unwrap();
        self.haproxy
            .wait_for(&format!("replica{n}"), "DOWN", Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.haproxy.log()));
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The replica (1..3) a job id names (`r2-…`).
fn replica_of(job_id: &str) -> usize {
    job_id
        .strip_prefix('r')
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a job id with a replica prefix: {job_id}"))
}

/// A counter's value in a Prometheus text page (0 when absent).
fn sample(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn metrics_of(server: &TestServer) -> String {
    let client = Client::new(&server.base_url, Protocol::Http1);
    let page = client.request(Method::GET, "/metrics", &[], None).await.unwrap();
    String::from_utf8(page.body.to_vec()).unwrap()
}

/// Submits `wallet` sealed to the fleet's key over `connection`; asserts 202 and returns the answer and
/// the bearer header.
async fn submit(connection: &mut Http1, key: &[u8; 32], wallet: usize) -> (serde_json::Value, String) {
    let submission = sealed_submission(key, &demo_chain().wallets[wallet], None);
    let answer = connection
        .send(
            Method::POST,
            "/api/v1/wallet/sync",
            &[("content-type", "application/json")],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    (answer.json(), submission.auth())
}

async fn fleet_key(fleet: &Fleet) -> [u8; 32] {
    let key = tari_wallet_sync::service::load_key_file(&fleet.key_file).unwrap();
    key.public_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_syncs_through_haproxy_over_http1_and_http2_with_one_key_on_every_replica() {
    let fleet = Fleet::start(|_| {}, HaproxySettings::default()).await;
    let mut key_ids = Vec::new();
    for n in 1..=3 {
        let client = Client::new(&fleet.replica(n).base_url, Protocol::Http1);
        let key = client
            .request(Method::GET, "/api/v1/server-key", &[], None)
            .await
            .unwrap();
        key_ids.push(key.json().unwrap()["key_id"].clone());
    }
    assert!(
        key_ids.windows(2).all(|w| w[0] == w[1]),
        "one key for the fleet: {key_ids:?}"
    );

    let wallets = &demo_chain().wallets;
    for (protocol, wallet) in [(Protocol::Http1, &wallets[0]), (Protocol::Http2, &wallets[1])] {
        let client = Client::new(&fleet.haproxy.url(), protocol);
        let (ready, file) = wallet_app::sync_wallet(&client, wallet).await;
        assert!(matches!(ready, tari_wallet_sync_sse::JobEvent::Ready { .. }));
        assert_eq!(
            downloaded_wallet_balance(&file),
            wallet.expected_balance,
            "{protocol:?}"
        );
    }
}

/// HAProxy terminating TLS as the deployment ships it: HTTP/2 by ALPN to the wallet, HSTS on answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_syncs_over_https_with_http2_where_haproxy_terminates_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.serialize_pem().unwrap();
    let pem = dir.path().join("haproxy.pem");
    std::fs::write(&pem, format!("{cert_pem}{}", cert.serialize_private_key_pem())).unwrap();
    let settings = HaproxySettings {
        cert: Some(pem),
        ..HaproxySettings::default()
    };
    let fleet = Fleet::start(|_| {}, settings).await;
    let url = format!("https://localhost:{}", fleet.haproxy.addr.port());
    let client = Client::builder(&url)
        .protocol(Protocol::Http2)
        .ca_pem(cert_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    assert_eq!(key.status, StatusCode::OK);
    assert!(key.header("strict-transport-security").is_some(), "HSTS over TLS");
    let wallet = &demo_chain().wallets[2];
    let (_, file) = wallet_app::sync_wallet(&client, wallet).await;
    assert_eq!(downloaded_wallet_balance(&file), wallet.expected_balance);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_refused_fleet_wide_while_another_client_is_served() {
    const LIMIT: u32 = 10;
    let fleet = Fleet::start(
        |config| {
            config.request_rate_per_ip = RateLimit {
                per_window: LIMIT,
                window: Duration::from_secs(3600),
            }
        },
        HaproxySettings::default(),
    )
    .await;
    // Round robin would serve three times the limit; hashed, the flooder meets one replica's limit only,
    // over one connection or many.
    let (mut served, mut refused) = (0, 0);
    for round in 0..4 * LIMIT {
        let mut connection = fleet.connect_from(ip("127.0.0.2")).await;
        let answer = connection
            .send(Method::GET, "/api/v1/server-key", &[], None)
            .await
            .unwrap();
        match answer.status {
            StatusCode::OK => {
                assert_eq!(refused, 0, "request {round} was served after a refusal");
                served += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(answer.code(), "RATE_LIMITED");
                refused += 1;
            }
            other => panic!("request {round}: {other} {:?}", answer.body),
        }
    }
    assert_eq!((served, refused), (LIMIT, 3 * LIMIT), "the limit holds for the fleet");

    // Another address is served meanwhile, a submission included.
    let mut other = fleet.connect_from(ip("127.0.0.3")).await;
    let key = other.send(Method::GET, "/api/v1/server-key", &[], None).await.unwrap();
    assert_eq!(key.status, StatusCode::OK, "another client is served");
    submit(&mut other, &fleet_key(&fleet).await, 0).await;

    // Every refusal was one replica's, and the flooder's address reached the replicas, not HAProxy's.
    let mut refusals = Vec::new();
    for n in 1..=3 {
        let page = metrics_of(fleet.replica(n)).await;
        refusals.push(sample(&page, "tws_rate_limited_total{scope=\"ip_requests\"}"));
    }
    refusals.sort();
    assert_eq!(refusals, [0, 0, 3 * LIMIT as u64], "one replica counted the flooder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_is_taken_out_and_its_clients_are_served_by_another() {
    let mut fleet = Fleet::start(|_| {}, HaproxySettings::default()).await;
    let key = fleet_key(&fleet).await;
    let client = ip("127.0.0.4");
    let mut connection = fleet.connect_from(client).await;
    let (first, _) = submit(&mut connection, &key, 0).await;
    let home = replica_of(first["job_id"].as_str().unwrap());
    drop(connection);

    fleet.stop(home).await;
    let servers = fleet.haproxy.servers().await.unwrap();
    let up = servers.iter().filter(|s| s.status == "UP").count();
    assert_eq!(up, 2, "the others stay in: {servers:?}");

    // The same client, now served by another replica, from submission to its file.
    let mut connection = fleet.connect_from(client).await;
    let (job, auth) = submit(&mut connection, &key, 1).await;
    let elsewhere = replica_of(job["job_id"].as_str().unwrap());
    assert_ne!(elsewhere, home, "served by another replica");
    let status_url = job["status_url"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let answer = connection
            .send(Method::GET, status_url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let status = answer.json();
        if status["state"] != "queued" && status["state"] != "scanning" {
            break status;
        }
        assert!(Instant::now() < deadline, "the job ends within 60 s: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["state"], "ready", "{status}");
    let file = connection
        .send(
            Method::GET,
            job["download_url"].as_str().unwrap(),
            &[("authorization", &auth)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        downloaded_wallet_balance(&file.body),
        demo_chain().wallets[1].expected_balance
    );
}

/// What an event stream through HAProxy carried before it ended: whether `ready` came, how many
/// keep-alive comments, and how long it stayed open.
struct Stream {
    ready: bool,
    keep_alives: usize,
    open_for: Duration,
}

/// Submits a wallet from `local`, opens its event stream through HAProxy and reads it to its end.
async fn follow_through_haproxy(fleet: &Fleet, local: IpAddr) -> Stream {
    let key = fleet_key(fleet).await;
    let mut connection = fleet.connect_from(local).await;
    let (job, auth) = submit(&mut connection, &key, 2).await;
    let mut stream = fleet.connect_from(local).await;
    let response = stream
        .open(
            Method::GET,
            job["events_url"].as_str().unwrap(),
            &[("authorization", &auth), ("accept", "text/event-stream")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let opened = Instant::now();
    let mut body = response.into_body();
    let mut text = String::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(60), body.frame()).await {
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        if text.contains("event: ready") {
            break;
        }
    }
    Stream {
        ready: text.contains("event: ready"),
        keep_alives: text.lines().filter(|line| line.starts_with(':')).count(),
        open_for: opened.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_outlives_haproxys_timeouts_on_keep_alives() {
    let timeout = Duration::from_millis(1500);
    let settings = HaproxySettings {
        timeout,
        ..HaproxySettings::default()
    };
    // The job waits 5 s for its pass: more than three of HAProxy's timeouts with no event.
    let fleet = Fleet::start(
        |config| {
            config.batch_delay = Duration::from_secs(5);
            config.sse_keep_alive = Duration::from_millis(300);
        },
        settings.clone(),
    )
    .await;
    let stream = follow_through_haproxy(&fleet, ip("127.0.0.5")).await;
    assert!(stream.ready, "the stream ended before ready");
    assert!(stream.open_for > 3 * timeout, "open {:?}", stream.open_for);
    assert!(stream.keep_alives >= 3, "{} keep-alives", stream.keep_alives);
    drop(fleet);

    // The control: keep-alives slower than HAProxy's timeout, and HAProxy cuts the stream.
    let fleet = Fleet::start(
        |config| {
            config.batch_delay = Duration::from_secs(5);
            config.sse_keep_alive = Duration::from_secs(4);
        },
        settings,
    )
    .await;
    let stream = follow_through_haproxy(&fleet, ip("127.0.0.6")).await;
    assert!(!stream.ready, "without keep-alives HAProxy's timeout ends the stream");
    assert!(
        stream.open_for < Duration::from_secs(4),
        "cut after {:?}",
        stream.open_for
    );
}
