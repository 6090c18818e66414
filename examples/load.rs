//! Load: 200 sync jobs from 50 concurrent clients against an in-process service on a demo chain, then
//! 8 jobs queued together (one shared scan pass) against the same 8 jobs one after another.
//! Reports failed jobs, submit latency p50/p99 and total time. Loopback only, bounded in count.
//!
//! `cargo run --release --example load`

use std::time::{Duration, Instant};

use bytes::Bytes;
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use http::{Method, StatusCode};
use rand::RngCore;
use tari_wallet_sync::demo::chain::{DemoChainSpec, DemoWallet, write_demo_chain};
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::service::{TestServer, TestSubmission, sealed_submission, test_config};

const JOBS: usize = 200;
const CLIENTS: usize = 50;

/// A wallet nobody paid: its job scans everything and finds nothing, which is the full cost of a job.
fn stranger(rng: &mut impl RngCore) -> DemoWallet {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let view = Scalar::from_bytes_mod_order_wide(&wide);
    rng.fill_bytes(&mut wide);
    let spend = RistrettoPoint::mul_base(&Scalar::from_bytes_mod_order_wide(&wide));
    DemoWallet {
        name: "stranger".into(),
        view_key: hex::encode(view.as_bytes()),
        spend_public_key: hex::encode(spend.compress().as_bytes()),
        birthday: 0,
        expected_balance: 0,
        expected_outputs: 0,
        expected_spent: 0,
    }
}

/// Submits one job; returns the submit latency and the (status url, token), or the failure.
async fn submit(client: &Client, body: &TestSubmission) -> Result<(Duration, String, String), String> {
    let started = Instant::now();
    let response = client
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[],
            Some(Bytes::from(body.to_string())),
        )
        .await
        .map_err(|e| e.to_string())?;
    let latency = started.elapsed();
    if response.status != StatusCode::ACCEPTED {
        return Err(format!("submit answered {}", response.status));
    }
    let json = response.json().map_err(|e| e.to_string())?;
    let status_url = json["status_url"].as_str().map(str::to_owned).ok_or("no status_url")?;
    Ok((latency, status_url, body.token.clone()))
}

/// Polls a job's status until it is ready (Ok) or failed (Err), for at most five minutes.
async fn wait_ready(client: &Client, status_url: &str, token: &str) -> Result<(), String> {
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let response = client
            .request(Method::GET, status_url, &[("authorization", &auth)], None)
            .await
            .map_err(|e| e.to_string())?;
        let state = response.json().map_err(|e| e.to_string())?["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        match state.as_str() {
            "ready" => return Ok(()),
            "failed" => return Err("job failed".into()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Err("timed out".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let data = tempfile::tempdir().expect("temporary directory");
    // A chain big enough that scanning, not HTTP, is most of a job: 20,000 genuine outputs.
    let cache_dir = data.path().join("cache");
    let spec = DemoChainSpec {
        outputs: 20_000,
        blocks: 200,
        wallets: 2,
        seed: 3,
    };
    write_demo_chain(&spec, &cache_dir).expect("demo chain");
    let mut config = test_config(&data.path().join("service"));
    config.cache_dir = cache_dir;
    config.max_queued_jobs = JOBS * 2;
    // One address plays 50 clients here.
    config.max_queued_per_client = JOBS * 2;
    config.max_connections_per_ip = CLIENTS * 2;
    let server = TestServer::start(config).await;
    let probe = Client::new(&server.base_url, Protocol::Http1);
    let key = probe
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .expect("server key");
    let server_public: [u8; 32] = hex::decode(key.json().expect("json")["public_key"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32");

    let mut rng = rand::thread_rng();
    let bodies: Vec<TestSubmission> = (0..JOBS)
        .map(|_| sealed_submission(&server_public, &stranger(&mut rng), None))
        .collect();

    // 50 clients, half over HTTP/1.1 and half over HTTP/2, each submitting its share and waiting.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, share) in bodies.chunks(JOBS / CLIENTS).enumerate() {
        let protocol = if c % 2 == 0 { Protocol::Http1 } else { Protocol::Http2 };
        let client = Client::new(&server.base_url, protocol);
        let share = share.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut pending = Vec::new();
            for body in &share {
                match submit(&client, body).await {
                    Ok((latency, status_url, token)) => {
                        outcomes.push(Ok(latency));
                        pending.push((status_url, token));
                    }
                    Err(e) => outcomes.push(Err(e)),
                }
            }
            let mut failed = outcomes.iter().filter(|o| o.is_err()).count();
            for (status_url, token) in pending {
                failed += usize::from(wait_ready(&client, &status_url, &token).await.is_err());
            }
            (outcomes.into_iter().filter_map(Result::ok).collect::<Vec<_>>(), failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (ok, f) = task.await.expect("client task");
        latencies.extend(ok);
        failed += f;
    }
    let total = started.elapsed();
    latencies.sort();
    println!(
        "{JOBS} jobs from {CLIENTS} clients: {failed} failed, submit p50 {:.1} ms p99 {:.1} ms, all ready in {:.2} s",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        total.as_secs_f64()
    );

    // 8 jobs queued together share one scan pass; the same 8 one after another take 8 passes.
    let eight: Vec<TestSubmission> = (0..8)
        .map(|_| sealed_submission(&server_public, &stranger(&mut rng), None))
        .collect();
    let started = Instant::now();
    let mut queued = Vec::new();
    for body in &eight {
        queued.push(submit(&probe, body).await.expect("submit"));
    }
    for (_, status_url, token) in &queued {
        wait_ready(&probe, status_url, token).await.expect("ready");
    }
    let together = started.elapsed();
    let again: Vec<TestSubmission> = (0..8)
        .map(|_| sealed_submission(&server_public, &stranger(&mut rng), None))
        .collect();
    let started = Instant::now();
    for body in &again {
        let (_, status_url, token) = submit(&probe, body).await.expect("submit");
        wait_ready(&probe, &status_url, &token).await.expect("ready");
    }
    let one_by_one = started.elapsed();
    println!(
        "8 jobs queued together: {:.2} s; one after another: {:.2} s (ratio {:.2})",
        together.as_secs_f64(),
        one_by_one.as_secs_f64(),
        together.as_secs_f64() / one_by_one.as_secs_f64()
    );
    server.stop().await.expect("clean stop");
}
