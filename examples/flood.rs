//! Flood: the scan queue and submissions under attack, against a running `tari-wallet-sync serve` (the
//! release binary; its clients told apart by `X-Forwarded-For`, so start it with
//! `TWS_TRUSTED_PROXIES=127.0.0.1`). Each scenario prints one JSON line.
//!
//! ```sh
//! cargo run --release --example flood -- queue  --server http://127.0.0.1:8080 [--flooders 32] [--jobs 8]
//! cargo run --release --example flood -- wallet --server URL [--submissions 8]
//! cargo run --release --example flood -- resend --server URL [--queued 8]
//! cargo run --release --example flood -- held   --server URL --wallets FILE --wallet NAME --jobs 500 \
//!     [--pid PID] [--metrics URL]
//! ```
//! - `queue`: `--flooders` addresses submit `--jobs` genesis wallets each at once; then a newcomer submits
//!   one (resealed and retried after each `Retry-After` while refused). Reports what the flood got, when the
//!   newcomer was accepted and ready, and when the flood's last job was ready.
//! - `wallet`: one view key with a fresh random spend key (and address) per submission: how many pass.
//! - `resend`: one address submits `--queued` + 1 jobs; the last is refused; the same body is sent again
//!   after its `Retry-After` (within the envelope's window): what it gets.
//! - `held`: `--jobs` jobs of one wallet from as many addresses; after all are ready, the server's resident
//!   memory (`/proc/PID/status`) and `tws_held_file_bytes` (from `--metrics`).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use http::{Method, StatusCode};
use rand::RngCore;
use tari_wallet_sync::demo::chain::DemoWallet;
use tari_wallet_sync_sse::client::{Client, Protocol, Response};
use tari_wallet_sync_testkit::service::{TestSubmission, sealed_submission};

const SUBMIT: &str = "/api/v1/wallet/sync";
/// An envelope sealed longer ago than this may fall out of the server's default window (10 min).
const WINDOW: Duration = Duration::from_secs(540);

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).map(|i| args[i + 1].clone())
}

fn number(args: &[String], flag: &str, default: usize) -> usize {
    arg(args, flag).map_or(default, |v| v.parse().expect("a number"))
}

fn random_scalar() -> Scalar {
    let mut wide = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A wallet nobody paid (its job scans from genesis and finds nothing), with `view_key` if given.
fn stranger(view_key: Option<&str>) -> DemoWallet {
    DemoWallet {
        name: "stranger".into(),
        view_key: view_key.map_or_else(|| hex::encode(random_scalar().as_bytes()), str::to_string),
        spend_public_key: hex::encode(RistrettoPoint::mul_base(&random_scalar()).compress().as_bytes()),
        birthday: 0,
        expected_balance: 0,
        expected_outputs: 0,
        expected_spent: 0,
    }
}

async fn server_key(client: &Client) -> [u8; 32] {
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .expect("server key");
    hex::decode(key.json().expect("json")["public_key"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

async fn post(client: &Client, submission: &TestSubmission, address: &str) -> Response {
    let headers = [("content-type", "application/json"), ("x-forwarded-for", address)];
    client
        .request(
            Method::POST,
            SUBMIT,
            &headers,
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .expect("the server answers")
}

fn code(response: &Response) -> String {
    if response.status == StatusCode::ACCEPTED {
        return "ACCEPTED".into();
    }
    let json = response.json().unwrap_or_default();
    json["error"]["code"].as_str().unwrap_or("?").to_string()
}

fn retry_after(response: &Response) -> Duration {
    Duration::from_secs(response.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(1))
}

/// The job's state, polled until it is ready or failed.
async fn wait_done(client: &Client, job: &serde_json::Value, submission: &TestSubmission) -> String {
    let url = job["status_url"].as_str().expect("status_url").to_string();
    let auth = submission.auth();
    loop {
        let status = client
            .request(Method::GET, &url, &[("authorization", &auth)], None)
            .await
            .expect("status");
        let state = status.json().map(|j| j["state"].as_str().unwrap_or("").to_string());
        match state.as_deref() {
            Ok("ready" | "failed" | "expired" | "deleted") => return state.unwrap(),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn tally(codes: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for code in codes {
        *counts.entry(code).or_insert(0) += 1;
    }
    counts
}

async fn queue(server: &str, args: &[String]) -> serde_json::Value {
    let (flooders, jobs) = (number(args, "--flooders", 32), number(args, "--jobs", 8));
    let client = Client::new(server, Protocol::Http2);
    let public = server_key(&client).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for f in 0..flooders {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let address = format!("10.1.{}.{}", f / 250, f % 250 + 1);
            let mut answers = Vec::new();
            for _ in 0..jobs {
                let submission = sealed_submission(&public, &stranger(None), None);
                let response = post(&client, &submission, &address).await;
                let job = response.json().ok().filter(|_| response.status == StatusCode::ACCEPTED);
                answers.push((code(&response), job.map(|job| (job, submission))));
            }
            answers
        }));
    }
    let mut codes = Vec::new();
    let mut accepted = Vec::new();
    for task in tasks {
        for (code, job) in task.await.expect("flooder") {
            codes.push(code);
            accepted.extend(job);
        }
    }
    let flood_submitted = started.elapsed();

    // The newcomer, as a well-behaved client: sealed anew and retried after each Retry-After.
    let newcomer_started = Instant::now();
    let mut first_answer = None;
    let mut attempts = 0;
    let (job, submission) = loop {
        attempts += 1;
        let submission = sealed_submission(&public, &stranger(None), None);
        let response = post(&client, &submission, "203.0.113.77").await;
        first_answer.get_or_insert_with(|| (code(&response), response.header("retry-after").map(str::to_string)));
        if response.status == StatusCode::ACCEPTED {
            break (response.json().expect("json"), submission);
        }
        tokio::time::sleep(retry_after(&response)).await;
    };
    let accepted_after = newcomer_started.elapsed();
    let position = job["queue_position"].clone();
    let newcomer_state = wait_done(&client, &job, &submission).await;
    let newcomer_ready = newcomer_started.elapsed();
    let mut flood_states = Vec::new();
    for (job, submission) in &accepted {
        flood_states.push(wait_done(&client, job, submission).await);
    }
    let flood_total = started.elapsed();
    serde_json::json!({
        "scenario": "queue",
        "flooders": flooders,
        "jobs_each": jobs,
        "flood_answers": tally(codes),
        "flood_submitted_s": flood_submitted.as_secs_f64(),
        "flood_states": tally(flood_states),
        "flood_total_s": flood_total.as_secs_f64(),
        "newcomer_first_answer": first_answer.map(|(c, r)| serde_json::json!({ "code": c, "retry_after": r })),
        "newcomer_attempts": attempts,
        "newcomer_accepted_after_s": accepted_after.as_secs_f64(),
        "newcomer_queue_position": position,
        "newcomer_state": newcomer_state,
        "newcomer_ready_after_s": newcomer_ready.as_secs_f64(),
    })
}

async fn wallet(server: &str, args: &[String]) -> serde_json::Value {
    let submissions = number(args, "--submissions", 8);
    let client = Client::new(server, Protocol::Http2);
    let public = server_key(&client).await;
    let view_key = hex::encode(random_scalar().as_bytes());
    let mut codes = Vec::new();
    for i in 0..submissions {
        let submission = sealed_submission(&public, &stranger(Some(&view_key)), None);
        let response = post(&client, &submission, &format!("10.2.0.{}", i + 1)).await;
        codes.push(code(&response));
    }
    serde_json::json!({ "scenario": "wallet", "submissions": submissions, "answers": codes })
}

async fn resend(server: &str, args: &[String]) -> serde_json::Value {
    let queued = number(args, "--queued", 8);
    let client = Client::new(server, Protocol::Http2);
    let public = server_key(&client).await;
    let address = "10.3.0.1";
    let mut codes = Vec::new();
    let mut last = None;
    for _ in 0..=queued {
        let submission = sealed_submission(&public, &stranger(None), None);
        let sealed_at = Instant::now();
        let response = post(&client, &submission, address).await;
        codes.push(code(&response));
        last = Some((submission, response, sealed_at));
    }
    let (submission, refused, sealed_at) = last.expect("at least one");
    let wait = retry_after(&refused);
    let waited = wait.min(WINDOW.saturating_sub(sealed_at.elapsed()));
    tokio::time::sleep(waited).await;
    let again = post(&client, &submission, address).await;
    serde_json::json!({
        "scenario": "resend",
        "answers": codes,
        "refused_retry_after_s": wait.as_secs(),
        "waited_s": waited.as_secs_f64(),
        "resent_answer": code(&again),
    })
}

fn resident_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn held(server: &str, args: &[String]) -> serde_json::Value {
    let jobs = number(args, "--jobs", 500);
    let wallets: Vec<DemoWallet> = serde_json::from_slice(
        &std::fs::read(arg(args, "--wallets").expect("--wallets FILE")).expect("the wallets file"),
    )
    .expect("wallets JSON");
    let name = arg(args, "--wallet").expect("--wallet NAME");
    let wallet = wallets.iter().find(|w| w.name == name).expect("the wallet");
    let client = Client::new(server, Protocol::Http2);
    let public = server_key(&client).await;
    let before = arg(args, "--pid").and_then(|pid| resident_kib(&pid));
    let mut pending = Vec::new();
    let mut codes = Vec::new();
    for i in 0..jobs {
        let submission = sealed_submission(&public, wallet, None);
        let address = format!("10.4.{}.{}", i / 250, i % 250 + 1);
        let response = post(&client, &submission, &address).await;
        codes.push(code(&response));
        if response.status == StatusCode::ACCEPTED {
            pending.push((response.json().expect("json"), submission));
        }
    }
    let mut sizes = Vec::new();
    let mut states = Vec::new();
    for (job, submission) in &pending {
        states.push(wait_done(&client, job, submission).await);
        let auth = submission.auth();
        let url = job["status_url"].as_str().unwrap();
        let status = client
            .request(Method::GET, url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        sizes.push(status.json().unwrap()["result"]["size"].as_u64().unwrap_or(0));
    }
    let after = arg(args, "--pid").and_then(|pid| resident_kib(&pid));
    let held_gauge = match arg(args, "--metrics") {
        Some(url) => {
            let metrics = Client::new(&url, Protocol::Http1);
            let scrape = metrics
                .request(Method::GET, "/metrics", &[], None)
                .await
                .expect("metrics");
            String::from_utf8_lossy(&scrape.body)
                .lines()
                .find_map(|l| l.strip_prefix("tws_held_file_bytes ").map(str::to_string))
        }
        None => None,
    };
    let total: u64 = sizes.iter().sum();
    serde_json::json!({
        "scenario": "held",
        "jobs": jobs,
        "answers": tally(codes),
        "states": tally(states),
        "file_bytes_each": sizes.first(),
        "file_bytes_total": total,
        "rss_kib_before": before,
        "rss_kib_after": after,
        "held_file_bytes": held_gauge,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = arg(&args, "--server").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let report = match args.first().map(String::as_str) {
        Some("queue") => queue(&server, &args).await,
        Some("wallet") => wallet(&server, &args).await,
        Some("resend") => resend(&server, &args).await,
        Some("held") => held(&server, &args).await,
        _ => {
            eprintln!("usage: flood queue|wallet|resend|held --server URL [options] (see the file's doc)");
            std::process::exit(2);
        }
    };
    println!("{report}");
}
