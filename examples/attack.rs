//! Attack: the HTTP edge scenarios of issue 17 ("fair under attack") against a `tari-wallet-sync`
//! binary, so a build before and after can be measured with the same tool. Each scenario starts the
//! binary (`serve` over the demo chain, default settings but for what the scenario names), and nginx
//! where it needs one, all on 127.0.0.x; clients bind distinct 127/8 source addresses (Linux routes all
//! of them to loopback). Prints one line per figure and a JSON summary.
//!
//! ```text
//! cargo build --release -p tari-wallet-sync-plugin
//! cargo run --release --example attack -- all --bin target/release/tari-wallet-sync [--work DIR]
//! ```
//!
//! Scenarios:
//! - `spoof`: through nginx (X-Forwarded-For appended; `trusted_proxies` = nginx's address;
//!   `max_queued_per_client` 100 so that only the submission limit refuses), one client sends 45
//!   submissions, each with a fresh forged `Forwarded: for=` and `X-Forwarded-For`; then another sends
//!   30 with a victim's address forged, and the victim submits; then 101,000 submissions with forged
//!   addresses (empty bodies), and a newcomer submits. Figures: accepted of 45 (limit 30/h), the
//!   victim's answer, the newcomer's answer.
//! - `ping-hold`: 16 addresses x 32 HTTP/2 connections sending only a PING every second (below the
//!   run's `idle_timeout` of 5 s), reconnecting whenever closed; after twice the idle timeout, 64
//!   newcomers connect. Figure: newcomers refused.
//! - `tickets`: one job's token from 170 addresses asks for 100,000 events tickets while five other
//!   jobs' pages ask for a ticket and open their stream with it every 200 ms. Figure: refused to others.
//! - `sse-hold`: 16 addresses x 8 queued jobs x 4 event streams over HTTP/1.1, sending nothing more
//!   (`batch_delay` 1h keeps the jobs queued; `idle_timeout` 5 s); then 20 newcomers connect. Figure:
//!   newcomers refused.
//!
//! Timing figures on a shared, loaded machine are not comparable between runs; the counts are.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use http::{Method, StatusCode};
use rand::RngCore;
use tari_wallet_sync::{demo::chain::DemoWallet, service::ForwardedHeader};
use tari_wallet_sync_testkit::service::{
    TestSubmission,
    edge::{Answer, Http1, Http2, Nginx},
    sealed_submission,
};

const SUBMIT: &str = "/api/v1/wallet/sync";
/// nginx connects to the service from here: the one trusted proxy.
const NGINX_SOURCE: [u8; 4] = [127, 0, 0, 2];

fn usage() -> ! {
    eprintln!(
        "usage: attack <spoof|ping-hold|tickets|sse-hold|all> --bin PATH [--work DIR]\n\
         PATH: a tari-wallet-sync binary; DIR (default target/attack) keeps a demo chain between runs"
    );
    std::process::exit(2)
}

struct Args {
    scenario: String,
    bin: PathBuf,
    work: PathBuf,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| usage());
    let (mut bin, mut work) = (None, PathBuf::from("target/attack"));
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--bin", Some(value)) => bin = Some(PathBuf::from(value)),
            ("--work", Some(value)) => work = PathBuf::from(value),
            _ => usage(),
        }
    }
    Args {
        scenario,
        bin: bin.unwrap_or_else(|| usage()),
        work,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    std::fs::create_dir_all(&args.work).expect("the work directory");
    let template = demo_template(&args.bin, &args.work).await;
    let mut summary = serde_json::Map::new();
    let all = args.scenario == "all";
    let run = |name: &str| all || args.scenario == name;
    if !["spoof", "ping-hold", "tickets", "sse-hold", "all"].contains(&args.scenario.as_str()) {
        usage();
    }
    if run("spoof") {
        summary.insert("spoof".into(), spoof(&args.bin, &args.work, &template).await);
    }
    if run("ping-hold") {
        summary.insert("ping_hold".into(), ping_hold(&args.bin, &args.work, &template).await);
    }
    if run("tickets") {
        summary.insert("tickets".into(), tickets(&args.bin, &args.work, &template).await);
    }
    if run("sse-hold") {
        summary.insert("sse_hold".into(), sse_hold(&args.bin, &args.work, &template).await);
    }
    println!("{}", serde_json::Value::Object(summary));
}

fn ip(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::from([127, a, b, c])
}

/// A running binary on a port of its own, stopped when dropped.
struct Server {
    addr: SocketAddr,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Starts `bin serve` over a copy of the demo chain in `template` with `env` (`TWS_*`) on top of the
/// defaults, and waits until it answers.
async fn start_server(bin: &Path, work: &Path, template: &Path, env: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir_in(work).expect("a data directory");
    copy_dir(&template.join("demo"), &data.path().join("demo")).expect("copying the demo chain");
    let addr = free_port();
    let mut command = Command::new(bin);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .arg("--listen")
        .arg(addr.to_string())
        .env("TWS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("starting the binary");
    let server = Server {
        addr,
        child,
        _data: data,
    };
    wait_until_live(addr, Duration::from_secs(120)).await;
    server
}

async fn wait_until_live(addr: SocketAddr, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut http) = Http1::connect(ip(0, 0, 1), addr).await
            && let Ok(answer) = http.send(Method::GET, "/live", &[], None).await
            && answer.status == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not come up at {addr}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A data directory holding the demo chain `bin` builds (once per binary: its build may differ).
async fn demo_template(bin: &Path, work: &Path) -> PathBuf {
    let meta = std::fs::metadata(bin).expect("the binary");
    let name = format!(
        "demo-{}-{}",
        bin.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        meta.len()
    );
    let template = work.join(name);
    if template.join("demo/wallets.json").exists() {
        return template;
    }
    eprintln!("building the demo chain in {} (once)", template.display());
    let addr = free_port();
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(&template)
        .arg("--listen")
        .arg(addr.to_string())
        .env("TWS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("starting the binary");
    wait_until_live(addr, Duration::from_secs(1800)).await;
    let _ = child.kill();
    let _ = child.wait();
    template
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A wallet nobody paid: a job of it scans everything and owns nothing.
fn stranger() -> DemoWallet {
    let mut rng = rand::thread_rng();
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

/// An HTTP/1.1 client from one address that reconnects when its connection is closed (nginx closes a
/// keep-alive connection after 1,000 requests, for one).
struct Conn {
    local: IpAddr,
    server: SocketAddr,
    http: Option<Http1>,
}

impl Conn {
    async fn connect(local: IpAddr, server: SocketAddr) -> Conn {
        let http = Http1::connect(local, server).await.expect("a connection");
        Conn {
            local,
            server,
            http: Some(http),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        // A submission is JSON, and says so (a server since issue 17 refuses anything else with 415).
        let mut with_type: Vec<(&str, &str)> = headers.to_vec();
        if body.is_some()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            with_type.push(("content-type", "application/json"));
        }
        let headers = &with_type[..];
        let mut last = String::new();
        for _ in 0..2 {
            if self.http.as_ref().is_none_or(Http1::closed) {
                self.http = Some(Http1::connect(self.local, self.server).await?);
            }
            let http = self.http.as_mut().expect("connected");
            match http.send(method.clone(), path, headers, body.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    last = error;
                    self.http = None;
                }
            }
        }
        Err(last)
    }
}

async fn server_key(http: &mut Conn) -> [u8; 32] {
    let answer = http
        .send(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .expect("server key");
    hex::decode(answer.json()["public_key"].as_str().expect("a server key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// A submitted job: its id, the bearer header, its URLs.
struct Job {
    auth: String,
    status_url: String,
    events_url: String,
}

async fn submit(http: &mut Conn, public: &[u8; 32], headers: &[(&str, &str)]) -> (Answer, Option<Job>) {
    let submission: TestSubmission = sealed_submission(public, &stranger(), None);
    let body = Bytes::from(submission.to_string());
    let answer = match http.send(Method::POST, SUBMIT, headers, Some(body)).await {
        Ok(answer) => answer,
        Err(error) => {
            return (
                Answer {
                    status: StatusCode::BAD_GATEWAY,
                    body: Bytes::from(error),
                },
                None,
            );
        }
    };
    let job = (answer.status == StatusCode::ACCEPTED).then(|| {
        let json = answer.json();
        Job {
            auth: submission.auth(),
            status_url: json["status_url"].as_str().unwrap_or_default().to_string(),
            events_url: json["events_url"].as_str().unwrap_or_default().to_string(),
        }
    });
    (answer, job)
}

/// Waits until the job has left the queue and its scan (ready or failed), for at most `within`.
async fn wait_done(http: &mut Conn, job: &Job, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let state = match http
            .send(Method::GET, &job.status_url, &[("authorization", &job.auth)], None)
            .await
        {
            Ok(answer) => answer.json()["state"].as_str().unwrap_or("?").to_string(),
            Err(_) => "?".into(),
        };
        if !matches!(state.as_str(), "queued" | "scanning" | "?") || Instant::now() > deadline {
            return state;
        }
        // Slow enough to stay far below the per-client request limit (600/m).
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a refusal said: its code and, for `RATE_LIMITED`, its message's scope.
fn refusal(answer: &Answer) -> String {
    let json = answer.json();
    format!(
        "{} {} ({})",
        answer.status.as_u16(),
        json["error"]["code"].as_str().unwrap_or(""),
        json["error"]["message"].as_str().unwrap_or("")
    )
}

async fn spoof(bin: &Path, work: &Path, template: &Path) -> serde_json::Value {
    println!("== spoof: forged Forwarded / X-Forwarded-For through nginx (trusted_proxies = 127.0.0.2)");
    // The per-client queue share (8 waiting) raised, so only the submission limit refuses.
    let env = [
        ("TWS_TRUSTED_PROXIES", "127.0.0.2/32"),
        ("TWS_MAX_QUEUED_PER_CLIENT", "100"),
    ];
    let server = start_server(bin, work, template, &env).await;
    let nginx = match Nginx::start(server.addr, IpAddr::from(NGINX_SOURCE), ForwardedHeader::XForwardedFor).await {
        Ok(nginx) => nginx,
        Err(error) => panic!("{error}"),
    };

    // 45 submissions from one client as fast as it can, each forging a fresh address in both headers.
    let mut attacker = Conn::connect(ip(1, 0, 10), nginx.addr).await;
    let public = server_key(&mut attacker).await;
    let (mut accepted, mut refusals) = (0, std::collections::BTreeMap::<String, u32>::new());
    for n in 0..45u32 {
        let forged = format!("198.51.{}.{}", n / 250, n % 250 + 1);
        let forwarded = format!("for={forged}");
        let headers = [("forwarded", forwarded.as_str()), ("x-forwarded-for", forged.as_str())];
        let (answer, job) = submit(&mut attacker, &public, &headers).await;
        match job {
            Some(_) => accepted += 1,
            None => *refusals.entry(refusal(&answer)).or_default() += 1,
        }
    }
    println!("accepted submissions of 45 with forged addresses (limit 30/h): {accepted}; refused: {refusals:?}");

    // 30 submissions claiming to be the victim, then the victim's own.
    let victim_ip = ip(1, 0, 12);
    let mut forger = Conn::connect(ip(1, 0, 11), nginx.addr).await;
    let claimed = format!("for={victim_ip}");
    let mut forged_accepted = 0;
    for _ in 0..30 {
        let headers = [
            ("forwarded", claimed.as_str()),
            ("x-forwarded-for", &victim_ip.to_string()),
        ];
        if submit(&mut forger, &public, &headers).await.1.is_some() {
            forged_accepted += 1;
        }
    }
    let mut victim = Conn::connect(victim_ip, nginx.addr).await;
    let (answer, _) = submit(&mut victim, &public, &[]).await;
    let victim_result = if answer.status == StatusCode::ACCEPTED {
        "202 accepted".to_string()
    } else {
        refusal(&answer)
    };
    println!(
        "after 30 forged submissions as the victim ({forged_accepted} accepted), the victim's own: {victim_result}"
    );

    // 101,000 submissions (empty bodies: refused as malformed after the per-client submission limit has
    // counted them), each with a fresh forged address, then a newcomer's real submission.
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8u32 {
        let (nginx_addr, sent, ok) = (nginx.addr, sent.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let mut http = Conn::connect(ip(1, 0, 13), nginx_addr).await;
            for n in 0..101_000u32 / 8 {
                let id = worker * 101_000 / 8 + n;
                let forged = format!("10.{}.{}.{}", id >> 16, (id >> 8) & 255, id & 255);
                let forwarded = format!("for={forged}");
                let headers = [("forwarded", forwarded.as_str()), ("x-forwarded-for", forged.as_str())];
                let body = Some(Bytes::from_static(b"{}"));
                let Ok(answer) = http.send(Method::POST, SUBMIT, &headers, body).await else {
                    continue;
                };
                sent.fetch_add(1, Ordering::Relaxed);
                // Past the limits: refused for its body, not by a limit.
                if answer.status == StatusCode::BAD_REQUEST {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let flood_time = started.elapsed();
    let mut newcomer = Conn::connect(ip(1, 0, 14), nginx.addr).await;
    let (answer, _) = submit(&mut newcomer, &public, &[]).await;
    let newcomer_result = if answer.status == StatusCode::ACCEPTED {
        "202 accepted".to_string()
    } else {
        refusal(&answer)
    };
    let (sent, ok) = (sent.load(Ordering::Relaxed), ok.load(Ordering::Relaxed));
    println!(
        "{sent} forged-address submissions in {:.1} s ({ok} past the limits); then a newcomer's submission: {newcomer_result}",
        flood_time.as_secs_f64()
    );
    drop(nginx);
    serde_json::json!({
        "accepted_of_45": accepted,
        "refusals": refusals,
        "victim_after_30_forged": victim_result,
        "forged_as_victim_accepted": forged_accepted,
        "flood_requests": sent,
        "flood_past_limits": ok,
        "flood_seconds": flood_time.as_secs_f64(),
        "newcomer_after_flood": newcomer_result,
    })
}

async fn ping_hold(bin: &Path, work: &Path, template: &Path) -> serde_json::Value {
    println!("== ping-hold: 16 addresses x 32 HTTP/2 connections, a PING every 1 s (idle_timeout 5 s)");
    let env = [("TWS_IDLE_TIMEOUT", "5s"), ("TWS_SSE_KEEP_ALIVE", "2s")];
    let server = start_server(bin, work, template, &env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (connects, open) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut holders = Vec::new();
    for address in 1..=16u8 {
        for _ in 0..32 {
            let (stop, connects, open, addr) = (stop.clone(), connects.clone(), open.clone(), server.addr);
            holders.push(tokio::spawn(async move {
                // Hold a connection; when it is closed, take another at once.
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut held) = Http2::connect(ip(2, 0, address), addr, Duration::from_secs(1)).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    connects.fetch_add(1, Ordering::Relaxed);
                    open.fetch_add(1, Ordering::Relaxed);
                    while !stop.load(Ordering::Relaxed) && !held.closes_within(Duration::from_millis(200)).await {}
                    open.fetch_sub(1, Ordering::Relaxed);
                }
            }));
        }
    }
    // Past twice the idle timeout, newcomers try.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let held_then = open.load(Ordering::Relaxed);
    let mut refused = 0;
    let mut reasons = std::collections::BTreeMap::<String, u32>::new();
    for host in 1..=64u8 {
        let outcome = match Http1::connect(ip(3, 0, host), server.addr).await {
            Ok(mut http) => match http.send(Method::GET, "/live", &[], None).await {
                Ok(answer) if answer.status == StatusCode::OK => None,
                Ok(answer) => Some(refusal(&answer)),
                Err(error) => Some(format!("error: {error}")),
            },
            Err(error) => Some(format!("connect: {error}")),
        };
        if let Some(reason) = outcome {
            refused += 1;
            *reasons.entry(reason).or_default() += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for holder in holders {
        holder.abort();
    }
    let connects = connects.load(Ordering::Relaxed);
    println!(
        "holders' connections open at 12 s: {held_then} (connects so far {connects}); newcomers refused: {refused} of 64 {reasons:?}"
    );
    serde_json::json!({
        "holder_connections_open": held_then,
        "holder_connects": connects,
        "newcomers_refused_of_64": refused,
        "reasons": reasons,
    })
}

async fn tickets(bin: &Path, work: &Path, template: &Path) -> serde_json::Value {
    println!("== tickets: one job's token from 170 addresses, 100,000 tickets; five other pages meanwhile");
    let server = start_server(bin, work, template, &[]).await;
    let mut owner = Conn::connect(ip(4, 0, 1), server.addr).await;
    let public = server_key(&mut owner).await;
    let (_, flooded) = submit(&mut owner, &public, &[]).await;
    let flooded = Arc::new(flooded.expect("a job"));
    wait_done(&mut owner, &flooded, Duration::from_secs(120)).await;
    let mut others = Vec::new();
    for host in 2..=6u8 {
        let mut http = Conn::connect(ip(4, 0, host), server.addr).await;
        let (_, job) = submit(&mut http, &public, &[]).await;
        let job = job.expect("a job");
        wait_done(&mut http, &job, Duration::from_secs(120)).await;
        others.push((host, job));
    }

    let done = Arc::new(AtomicBool::new(false));
    // The other pages: a ticket, then their stream with it, every 200 ms until 2 s after the flood.
    let (asked, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reasons = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<String, u32>::new()));
    let mut pages = Vec::new();
    for (host, job) in others {
        let (done, asked, refused, reasons, addr) = (
            done.clone(),
            asked.clone(),
            refused.clone(),
            reasons.clone(),
            server.addr,
        );
        pages.push(tokio::spawn(async move {
            let mut http = Http1::connect(ip(4, 0, host), addr).await.expect("server");
            let ticket_url = job.events_url.replace("/events", "/events-ticket");
            while !done.load(Ordering::Relaxed) {
                asked.fetch_add(1, Ordering::Relaxed);
                let outcome = match http
                    .send(Method::POST, &ticket_url, &[("authorization", &job.auth)], None)
                    .await
                {
                    Ok(answer) if answer.status == StatusCode::OK => {
                        let url = answer.json()["events_url"].as_str().unwrap_or_default().to_string();
                        match http.send(Method::GET, &url, &[], None).await {
                            Ok(stream) if stream.status == StatusCode::OK => None,
                            Ok(stream) => Some(format!("stream {}", refusal(&stream))),
                            Err(error) => Some(format!("stream error: {error}")),
                        }
                    }
                    Ok(answer) => Some(format!("ticket {}", refusal(&answer))),
                    Err(error) => {
                        http = Http1::connect(ip(4, 0, host), addr).await.expect("server");
                        Some(format!("ticket error: {error}"))
                    }
                };
                if let Some(reason) = outcome {
                    refused.fetch_add(1, Ordering::Relaxed);
                    *reasons.lock().unwrap().entry(reason).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    let started = Instant::now();
    let (issued, flood_refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut flood = Vec::new();
    for host in 1..=170u8 {
        let (flooded, issued, flood_refused, addr) =
            (flooded.clone(), issued.clone(), flood_refused.clone(), server.addr);
        flood.push(tokio::spawn(async move {
            let mut http = Http1::connect(ip(5, 0, host), addr).await.expect("server");
            let ticket_url = flooded.events_url.replace("/events", "/events-ticket");
            for _ in 0..589 {
                match http
                    .send(Method::POST, &ticket_url, &[("authorization", &flooded.auth)], None)
                    .await
                {
                    Ok(answer) if answer.status == StatusCode::OK => issued.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => flood_refused.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        http = Http1::connect(ip(5, 0, host), addr).await.expect("server");
                        flood_refused.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for task in flood {
        let _ = task.await;
    }
    let flood_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    for page in pages {
        let _ = page.await;
    }
    let (issued, flood_refused) = (issued.load(Ordering::Relaxed), flood_refused.load(Ordering::Relaxed));
    let (asked, refused) = (asked.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    let reasons = reasons.lock().unwrap().clone();
    println!(
        "flood: {issued} tickets issued, {flood_refused} refused, in {:.1} s; other pages: {refused} of {asked} refused {reasons:?}",
        flood_time.as_secs_f64()
    );
    serde_json::json!({
        "flood_issued": issued,
        "flood_refused": flood_refused,
        "flood_seconds": flood_time.as_secs_f64(),
        "others_asked": asked,
        "others_refused": refused,
        "reasons": reasons,
    })
}

async fn sse_hold(bin: &Path, work: &Path, template: &Path) -> serde_json::Value {
    println!("== sse-hold: 16 addresses x 8 queued jobs x 4 event streams on HTTP/1.1 (idle_timeout 5 s)");
    let env = [
        ("TWS_IDLE_TIMEOUT", "5s"),
        ("TWS_SSE_KEEP_ALIVE", "2s"),
        ("TWS_BATCH_DELAY", "1h"),
    ];
    let server = start_server(bin, work, template, &env).await;
    let (streams_open, stream_refusals) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut holders = Vec::new();
    for address in 1..=16u8 {
        let (streams_open, stream_refusals, addr) = (streams_open.clone(), stream_refusals.clone(), server.addr);
        holders.push(tokio::spawn(async move {
            let from = ip(6, 0, address);
            let mut http = Conn::connect(from, addr).await;
            let public = server_key(&mut http).await;
            let mut jobs = Vec::new();
            for _ in 0..8 {
                if let (_, Some(job)) = submit(&mut http, &public, &[]).await {
                    jobs.push(job);
                }
            }
            drop(http);
            let (mut connections, mut streams) = (Vec::new(), Vec::new());
            for job in &jobs {
                for _ in 0..4 {
                    let Ok(mut connection) = Http1::connect(from, addr).await else {
                        stream_refusals.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    match connection
                        .open(Method::GET, &job.events_url, &[("authorization", &job.auth)], None)
                        .await
                    {
                        Ok(response) if response.status() == StatusCode::OK => {
                            streams_open.fetch_add(1, Ordering::Relaxed);
                            // Never read: the stream and its connection just stay.
                            streams.push(response);
                        }
                        _ => {
                            stream_refusals.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    connections.push(connection);
                }
            }
            // Hold everything until aborted.
            std::future::pending::<()>().await;
            drop((connections, streams));
        }));
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut refused = 0;
    let mut reasons = std::collections::BTreeMap::<String, u32>::new();
    for host in 1..=20u8 {
        let outcome = match Http1::connect(ip(7, 0, host), server.addr).await {
            Ok(mut http) => match http.send(Method::GET, "/live", &[], None).await {
                Ok(answer) if answer.status == StatusCode::OK => None,
                Ok(answer) => Some(refusal(&answer)),
                Err(error) => Some(format!("error: {error}")),
            },
            Err(error) => Some(format!("connect: {error}")),
        };
        if let Some(reason) = outcome {
            refused += 1;
            *reasons.entry(reason).or_default() += 1;
        }
    }
    let (open, stream_refused) = (
        streams_open.load(Ordering::Relaxed),
        stream_refusals.load(Ordering::Relaxed),
    );
    for holder in holders {
        holder.abort();
    }
    println!(
        "event streams held: {open} (refused {stream_refused}); after 15 s newcomers refused: {refused} of 20 {reasons:?}"
    );
    serde_json::json!({
        "streams_held": open,
        "streams_refused": stream_refused,
        "newcomers_refused_of_20": refused,
        "reasons": reasons,
    })
}
