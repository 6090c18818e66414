//! Store load: the service's submissions and status reads on the embedded SQLite job store and on a
//! PostgreSQL one (Debian's server on 127.0.0.1, started here by `testkit::postgres`), side by side in
//! one run: 200 sealed submissions from 20 concurrent clients, then 4,000 status reads from the same
//! clients, each answered under load. Reports p50/p99 of each and the wall time. Loopback only.
//!
//! `cargo run --example store_load` (needs `postgresql` installed: `tools/test` installs it)

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::config::JobStoreLocation;
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::{
    postgres::TestPostgres,
    service::{TestServer, TestSubmission, demo_chain, sealed_submission, test_config},
};

const SUBMISSIONS: usize = 200;
const READS: usize = 4_000;
const CLIENTS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

struct Figures {
    submit: Vec<Duration>,
    submit_wall: Duration,
    read: Vec<Duration>,
    read_wall: Duration,
}

async fn run(store: JobStoreLocation) -> Figures {
    let data = tempfile::tempdir().expect("temporary directory");
    let mut config = test_config(data.path());
    config.job_store = store;
    config.replica_id = Some("load".into());
    config.max_queued_jobs = SUBMISSIONS * 2;
    config.max_jobs_held = SUBMISSIONS * 4;
    // One address plays every client here.
    config.max_queued_per_client = SUBMISSIONS * 2;
    config.max_jobs_per_client = SUBMISSIONS * 2;
    config.max_connections_per_ip = CLIENTS * 4;
    let server = TestServer::start(config).await;
    let probe = Client::new(&server.base_url, Protocol::Http1);
    let key = probe
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .expect("server key");
    let public: [u8; 32] = hex::decode(key.json().expect("json")["public_key"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32");
    let wallets = &demo_chain().wallets;
    let bodies: Vec<TestSubmission> = (0..SUBMISSIONS)
        .map(|i| sealed_submission(&public, &wallets[i % wallets.len()], None))
        .collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, share) in bodies.chunks(SUBMISSIONS / CLIENTS).enumerate() {
        let protocol = if c % 2 == 0 { Protocol::Http1 } else { Protocol::Http2 };
        let client = Client::new(&server.base_url, protocol);
        let share = share.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for body in share {
                let at = Instant::now();
                let answer = client
                    .request(
                        Method::POST,
                        "/api/v1/wallet/sync",
                        &[],
                        Some(Bytes::from(body.to_string())),
                    )
                    .await
                    .expect("submit");
                assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
                let status = answer.json().expect("json")["status_url"]
                    .as_str()
                    .expect("status")
                    .to_string();
                done.push((at.elapsed(), status, body.auth()));
            }
            (client, done)
        }));
    }
    let mut submit = Vec::new();
    let mut clients = Vec::new();
    for task in tasks {
        let (client, done) = task.await.expect("client");
        submit.extend(done.iter().map(|(latency, _, _)| *latency));
        clients.push((client, done));
    }
    let submit_wall = started.elapsed();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, jobs) in clients {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..READS / CLIENTS {
                let (_, status, auth) = &jobs[i % jobs.len()];
                let at = Instant::now();
                let answer = client
                    .request(Method::GET, status, &[("authorization", auth)], None)
                    .await
                    .expect("status");
                assert_eq!(answer.status, StatusCode::OK);
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    let mut read = Vec::new();
    for task in tasks {
        read.extend(task.await.expect("reader"));
    }
    let read_wall = started.elapsed();
    server.stop().await.expect("clean stop");
    submit.sort();
    read.sort();
    Figures {
        submit,
        submit_wall,
        read,
        read_wall,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let postgres = TestPostgres::start();
    let stores = [
        ("sqlite", JobStoreLocation::Sqlite),
        ("postgresql", postgres.database().parse().expect("url")),
    ];
    for (name, store) in stores {
        let f = run(store).await;
        println!(
            "{name:>10}: {SUBMISSIONS} submissions p50 {:.2} ms p99 {:.2} ms ({:.0}/s); {READS} status reads p50 {:.2} ms p99 {:.2} ms ({:.0}/s)",
            percentile(&f.submit, 0.5),
            percentile(&f.submit, 0.99),
            SUBMISSIONS as f64 / f.submit_wall.as_secs_f64(),
            percentile(&f.read, 0.5),
            percentile(&f.read, 0.99),
            READS as f64 / f.read_wall.as_secs_f64(),
        );
    }
}
